"""How the AI Horde spells a reference model, and how we normalise Horde names before matching.

Text workers advertise a reference model under backend-prefixed spellings (upstream §1.3) and
often with a quantisation suffix or a ``::user#id`` tag; the real stats capture also carries
names with pasted whitespace. These helpers turn all of that into comparable keys, so the
index can match in O(1) and never by guessing families (D12, D43).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from shared.domain.horde.runtime import Backend

#: Separator of a worker's user tag in custom model names: ``koboldcpp/X::user#123``.
USER_TAG_SEPARATOR: Final = "::"

#: Entries of the memos over Horde and reference names (here and in ``horde.index``). Every snapshot
#: repeats almost all names of the previous one, so a recompute at real size (~4k names, ~3 MiB
#: for all memos) only hits. The bound caps the memory (~340 B an entry, ~90 MB per memo) if names
#: churn, and is above the ~165k Horde names of the 100× benchmark: an LRU memo smaller than the
#: names of one recompute would miss on every call.
NAME_MEMO_SIZE: Final = 1 << 18

# One trailing token per match, preceded by ``-``, ``_`` or ``.`` (``.`` is our extension of
# upstream §2.3: GGUF file names use it, e.g. ``L3-8B-Lunaris-v1.Q5_K_M``). K-quants (with the
# ``_XL`` of "dynamic" quants), legacy quants, i-quants, imatrix markers, container formats and
# precisions. A bare token with no separator before it is never stripped.
_TRAILING_TOKEN: Final = re.compile(
    r"[-_.](?:"
    r"q[2-8]_k(?:_(?:[smlh]|xl))?"
    r"|q[2-8]_[01]"
    r"|q[2-8]"
    r"|iq[1-4]_(?:xxs|xs|s|m|nl)"
    r"|iq[1-4]"
    r"|i1|imat|imatrix"
    r"|gguf|ggml|gptq|awq|exl2"
    r"|fp16|fp32|bf16|int8|int4"
    r")$",
    re.IGNORECASE,
)
#: No token with its separator is longer than this (``-imatrix``, ``-iq4_xxs``): search the tail only.
_LONGEST_TOKEN: Final = 9
#: Every token above ends in one of these characters (either case).
_TOKEN_LAST_CHARS: Final = frozenset("012345678fhklmqstxFHKLMQSTX")
# Control whitespace pasted into worker configs; removed wherever it occurs.
_CONTROL_WHITESPACE: Final = re.compile(r"[\n\r\t\v\f]+")
# Spaces around a path separator and repeated separators (``koboldcpp/ Gryphe/..``, ``koboldcpp//X``).
_SLASH_RUN: Final = re.compile(r"\s*/+\s*")
_MESSY_SLASH: Final = re.compile(r"\s/|/\s|//")


def backend_spellings(canonical: str) -> tuple[tuple[Backend, str], ...]:
    """The Horde spellings of a text reference name, in the order canonical, aphrodite, koboldcpp.

    koboldcpp usually drops the author (the part up to the first ``/``, §1.3), but real workers
    also report ``koboldcpp/<author>/<model>`` (97 such names in the 2025-06 text stats match a
    reference model), so both koboldcpp spellings belong to the model (D12); aphrodite keeps the
    author. An exact duplicate spelling is listed once, under the first backend that produces it.
    """
    model_part = canonical.split("/", 1)[1] if "/" in canonical else canonical
    candidates: tuple[tuple[Backend, str], ...] = (
        ("canonical", canonical),
        ("aphrodite", f"aphrodite/{canonical}"),
        ("koboldcpp", f"koboldcpp/{model_part}"),
        ("koboldcpp", f"koboldcpp/{canonical}"),
    )
    seen: set[str] = set()
    result: list[tuple[Backend, str]] = []
    for backend, spelling in candidates:
        if spelling not in seen:
            seen.add(spelling)
            result.append((backend, spelling))
    return tuple(result)


def strip_one_quantization_token(name: str) -> str:
    """``name`` without its last quantisation/format token, or ``name`` itself if it has none."""
    if name[-1:] not in _TOKEN_LAST_CHARS:
        return name  # fast path: most names end in a size (`-7B`) or a version
    start = len(name) - _LONGEST_TOKEN
    found = _TRAILING_TOKEN.search(name, start if start > 0 else 0)
    return name[: found.start()] if found else name


def quantization_stems(name: str) -> tuple[str, ...]:
    """Successively shorter forms of ``name``, one trailing token removed per step (not ``name``).

    ``X.i1-Q4_K_S`` → ``("X.i1", "X")``. The matcher tries them in this order, so the longest
    known spelling wins: a reference name that itself ends in a token (``..._FP16``) still
    matches its own quantised uploads.
    """
    stems: list[str] = []
    current = name
    while True:
        shorter = strip_one_quantization_token(current)
        if shorter == current:
            return tuple(stems)
        stems.append(shorter)
        current = shorter


def strip_quantization_suffix(name: str) -> str:
    """``name`` without every trailing quantisation and format token (upstream §2.3, extended).

    Unlike upstream's five single passes, a format token after a quant is removed too
    (``X-Q4_K_M-GGUF`` → ``X``, not ``X-Q4_K_M``) and ``.`` also separates (``X.Q5_K_M`` → ``X``).
    """
    stems = quantization_stems(name)
    return stems[-1] if stems else name


@lru_cache(maxsize=NAME_MEMO_SIZE)
def normalize_horde_name(name: str) -> str:
    """The matching key of a Horde or reference name: case-folded and cleaned of pasted whitespace.

    Removes ``\\n``/``\\t``/``\\r`` anywhere (the real text stats hold ``koboldcpp/\\nmagnum-12b-v2 ``),
    trims surrounding spaces, spaces around ``/`` and repeated ``/``, then lower-cases (upstream
    matching is case-insensitive). Inner spaces of image names (``Anything v5``) and backslashes
    (a Windows path is not a spelling) are kept. An all-whitespace name gives ``""``, which
    matches nothing. Memoised.
    """
    if name.isprintable() and name == name.strip() and not _MESSY_SLASH.search(name):
        return name.lower()  # fast path: most names need no cleaning
    cleaned = _CONTROL_WHITESPACE.sub("", name)
    cleaned = _SLASH_RUN.sub("/", cleaned)
    return cleaned.strip().lower()


def split_user_tag(key: str) -> str | None:
    """The model part of a worker's custom ``model::user#id`` name, or None if untagged.

    AI Horde treats ``X::user#id`` as the known model ``X`` offered by one user's worker
    (``is_known_text_model`` splits on ``::``), so it is a spelling of ``X``, not a new model.
    """
    if USER_TAG_SEPARATOR not in key:
        return None
    model = key.split(USER_TAG_SEPARATOR, 1)[0].strip()
    return model or None
