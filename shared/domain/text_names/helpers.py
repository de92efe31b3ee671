"""Name helpers on top of the parser: prefixes, base names, grouping keys and grouping (spec §4.10).

Grouping is separator- and case-insensitive (D40): ``Llama_3_8B_Instruct`` (base ``Llama_3``) and
``Llama-3-8B`` (base ``Llama-3``) share the key ``llama-3``. Base names themselves keep the name's
own separators, because the upstream test oracles (``Angelic_Eclipse_12B`` → ``Angelic_Eclipse``)
and clients see them as display names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from shared.domain.categories import TEXT_BACKENDS
from shared.domain.text_names.models import TextModelGroup
from shared.domain.text_names.parser import parse_text_model_name

_BACKEND_PREFIXES: tuple[str, ...] = tuple(f"{backend}/" for backend in TEXT_BACKENDS)

# The Horde appends the worker owner's ``::username#id`` to models served under a custom name.
_USER_SUFFIX = re.compile(r"::[^:]*#[0-9]+\s*\Z")

_GROUP_SEPARATOR_RUN = re.compile(r"[-_ .]+")

#: Entries of the base-name and group-key memos (short strings). Every recompute asks for each
#: reference name several times, and a miss costs a full parse (~20 µs): the bound must stay above
#: the reference names of one recompute (719 today, 71,900 in the 100× benchmark) or every call
#: would miss and cost would stop being linear.
NAME_CACHE_SIZE = 1 << 17


def strip_backend_prefix(name: str) -> str:
    """Remove one leading ``aphrodite/`` or ``koboldcpp/`` (case-sensitive, as upstream)."""
    for prefix in _BACKEND_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def strip_user_suffix(name: str) -> str:
    """Remove a trailing ``::username#123`` owner tag; anything else containing ``::`` is kept."""
    return _USER_SUFFIX.sub("", name)


@lru_cache(maxsize=NAME_CACHE_SIZE)
def get_base_model_name(name: str) -> str:
    """Base name without backend, author or owner tag: the display name of the model's group (memoised).

    Order: drop a ``::user#id`` suffix, one backend prefix, then everything up to and including
    the *first* ``/`` (upstream rule; the stats index uses the last segment, D43), then parse.
    """
    stripped = strip_backend_prefix(strip_user_suffix(name))
    _, slash, rest = stripped.partition("/")
    return parse_text_model_name(rest if slash else stripped).base_name


def is_quantized_variant(name: str) -> bool:
    """True when the name carries any quantization or format token (``Q4_K_M``, ``GGUF``, ``fp16``…)."""
    return parse_text_model_name(name).quant is not None


def get_model_size(name: str) -> str | None:
    """Parameter-count token, upper-cased (``7B``, ``8X7B``, ``125M``), or None."""
    return parse_text_model_name(name).size


def get_model_variant(name: str) -> str | None:
    """Variant token in its original case (``Instruct``, ``BASE``), or None."""
    return parse_text_model_name(name).variant


def normalize_group_key(text: str) -> str:
    """Fold case and separators: lower-case, runs of ``-``/``_``/space/``.`` → ``-``, trimmed.

    Idempotent. ``.`` is folded too so ``Qwen2.5`` and ``Qwen2_5`` group together.
    """
    return _GROUP_SEPARATOR_RUN.sub("-", text.lower()).strip("-")


@lru_cache(maxsize=NAME_CACHE_SIZE)
def group_key(name: str) -> str:
    """Grouping key of a full model name: ``normalize_group_key(get_base_model_name(name))`` (memoised).

    Not idempotent when applied to its own output (``Foo-7B-8B`` → ``foo-8b`` → ``foo``), because the
    parser removes only one size/version/variant/date; keys are always in normal form, though.
    """
    return normalize_group_key(get_base_model_name(name))


def _alias_index(aliases: Mapping[str, str]) -> dict[str, str]:
    index: dict[str, str] = {}
    for alias, canonical in aliases.items():
        key = normalize_group_key(alias)
        if index.get(key, canonical) != canonical:
            raise ValueError(f"alias {alias!r} maps to both {index[key]!r} and {canonical!r}")
        index[key] = canonical
    return index


def group_text_models_by_base(
    names: Iterable[str], aliases: Mapping[str, str] | None = None
) -> dict[str, TextModelGroup]:
    """Group names by base model, keyed by display name, groups and members in first-seen order.

    Each name's base (``get_base_model_name``) is first resolved through ``aliases`` (alias base
    name → canonical group name, matched by :func:`normalize_group_key`, one step, no chains);
    members fall in the same group when the resolved names have the same key. A group's display
    name is the resolved name of its first member. Raises ValueError when two aliases that fold to
    the same key name different canonicals.
    """
    alias_index = _alias_index(aliases or {})
    display: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for name in names:
        base = get_base_model_name(name)
        resolved = alias_index.get(normalize_group_key(base), base)
        key = normalize_group_key(resolved)
        display.setdefault(key, resolved)
        members.setdefault(key, []).append(name)
    return {
        display[key]: TextModelGroup(key=key, base_name=display[key], variants=tuple(variants))
        for key, variants in members.items()
    }
