"""Parse a text-model name into base name, size, variant, quantization, version and extras.

The stages and their order follow upstream (spec §4.9) because grouping and usage matching depend
on the exact base names upstream produced. Two upstream defects are fixed on purpose:

* D40: ``_`` separates tokens like ``-``. Upstream delimited quant and variant tokens with ``\\b``,
  and ``_`` is a word character, so ``Angelic_Eclipse_12B_Q4_K_M`` kept ``Q4_K_M`` in its base.
  Here those tokens are delimited by "not a letter or digit" instead; quant tokens that themselves
  contain ``_`` (``Q4_K_M``, ``Q5_1``) are still matched whole because the longer patterns are
  tried first. Every quantization/format token is removed (upstream removed only the first), so
  ``X-Q4_K_M-GGUF`` has base ``X``; ``quant`` keeps upstream's choice of the primary token and
  ``quants`` lists all of them. The base name keeps the name's own characters: only runs of one
  repeated separator collapse (``--`` → ``-``), as upstream; a mixed run left by a removal stays
  (``Impish_QWEN_14B-1M`` → ``Impish_QWEN_-1M``). Families are found by ``group_key``, which
  ignores separators and case, so the display name never has to be rewritten to group.
* D39: a date's ``position`` is measured in the original name (upstream mixed the shortened
  working string with the original). Rule: the number of token separators (``-``, ``_``, space)
  before the date in the original name, i.e. the index of its first token in
  ``re.split(r"[-_ ]", original_name)``. ``.`` is not counted: it belongs to numbers (``V2.5``).

Only one size, version, variant and date are extracted (upstream behaviour): remaining tokens of
those kinds stay in the base, which is why re-parsing a base name can shorten it further.
"""

from __future__ import annotations

import re
from functools import lru_cache

from shared.domain.text_names.models import ExtraNamePart, ExtraPartType, ParsedTextModelName

# "Not a letter or digit" on both sides: like \b, except that `_` counts as a separator (D40).
_TOKEN_START = r"(?<![^\W_])"
_TOKEN_END = r"(?![^\W_])"


def _token(body: str) -> re.Pattern[str]:
    return re.compile(f"{_TOKEN_START}(?:{body}){_TOKEN_END}", re.IGNORECASE)


_LEADING_VERSION = re.compile(r"^([0-9]+\.[0-9]+(?:\.[0-9]+)?)[_-]")

_SIZE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?<![A-Za-z])[0-9]+\.?[0-9]*[BMK][0-9]*(?![A-Za-z])", re.IGNORECASE),
    re.compile(r"(?<![A-Za-z])[0-9]+x[0-9]+[BMK](?![A-Za-z])", re.IGNORECASE),  # MoE: 8x7B
)

_VERSION_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?<![A-Za-z0-9])v[0-9]+(?:\.[0-9]+)+(?![A-Za-z0-9])", re.IGNORECASE),
    re.compile(r"(?<![A-Za-z0-9])v[0-9]+(?![A-Za-z0-9.])", re.IGNORECASE),
)

# Priority order matters: the first pattern with a match supplies the primary `quant`.
_QUANT_PATTERNS: tuple[re.Pattern[str], ...] = (
    _token(r"Q[2-8]_K(?:_[SMLH])?"),
    _token(r"Q[2-8]_[01]"),
    _token(r"Q[2-8]"),
    _token(r"GGUF|GGML|GPTQ|AWQ|EXL2"),
    _token(r"fp16|fp32|int8|int4"),
)

_VARIANT_PATTERNS: tuple[re.Pattern[str], ...] = (
    _token(r"Instruct|Chat|Code|Base|Uncensored|Finetune|FT"),
    _token(r"Thinking|Reasoning"),
    _token(r"turbo|preview|latest"),
)

_DATE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?<![A-Za-z0-9])[0-9]{2}-[0-9]{4}(?![A-Za-z0-9])"),  # MM-YYYY
    re.compile(r"(?<![A-Za-z0-9])[0-9]{4}-[0-9]{2}(?![A-Za-z0-9])"),  # YYYY-MM
    re.compile(r"(?<![A-Za-z0-9])[0-9]{4}(?![A-Za-z0-9])"),  # YYMM / MMDD codes
)

# Runs of one repeated separator collapse to one (upstream §4.9 step 7); mixed runs are the name's own.
_SEPARATOR_RUN = re.compile(r"([-_ .])\1+")
_EDGE_SEPARATORS = "-_ ."
_POSITION_SEPARATORS = frozenset("-_ ")

_NORMALIZE_TO_UNDERSCORE = re.compile(r"[-. ]")
_UNDERSCORE_RUN = re.compile(r"_+")


class _Working:
    """The working string plus, for each of its characters, its index in the original name."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._origin = list(range(len(text)))

    def take_first(self, patterns: tuple[re.Pattern[str], ...]) -> tuple[str, int] | None:
        """Remove the leftmost match of the first pattern that matches; return it and its origin."""
        for pattern in patterns:
            match = pattern.search(self.text)
            if match is not None:
                return self.remove(match)
        return None

    def remove(self, match: re.Match[str]) -> tuple[str, int]:
        start, end = match.span()
        origin = self._origin[start]  # every pattern matches at least one character
        self.text = self.text[:start] + self.text[end:]
        del self._origin[start:end]
        return match.group(0), origin


def normalize_model_name(name: str) -> str:
    """Lower-case, ``-``/``.``/space → ``_``, collapse ``_`` runs, strip ``_`` (``/`` is kept)."""
    folded = _NORMALIZE_TO_UNDERSCORE.sub("_", name.lower())
    return _UNDERSCORE_RUN.sub("_", folded).strip("_")


def _date_position(original: str, index: int) -> int:
    return sum(1 for ch in original[:index] if ch in _POSITION_SEPARATORS)


@lru_cache(maxsize=16384)
def parse_text_model_name(name: str) -> ParsedTextModelName:
    """Split ``name`` (as given, prefixes included) into its parts; see the module docstring."""
    work = _Working(name)
    extras: list[ExtraNamePart] = []

    leading = _LEADING_VERSION.match(work.text)
    if leading is not None:
        work.remove(leading)
        extras.append(
            ExtraNamePart(value=leading.group(1), position=0, inferred_type=ExtraPartType.LEADING_VERSION)
        )

    size = work.take_first(_SIZE_PATTERNS)
    version = work.take_first(_VERSION_PATTERNS)

    quants: list[tuple[int, str]] = []
    for pattern in _QUANT_PATTERNS:
        while (match := pattern.search(work.text)) is not None:
            value, origin = work.remove(match)
            quants.append((origin, value.upper()))
    primary_quant = quants[0][1] if quants else None

    variant = work.take_first(_VARIANT_PATTERNS)

    date = work.take_first(_DATE_PATTERNS)
    if date is not None:
        extras.append(
            ExtraNamePart(
                value=date[0], position=_date_position(name, date[1]), inferred_type=ExtraPartType.DATE
            )
        )

    base = _SEPARATOR_RUN.sub(r"\1", work.text).strip(_EDGE_SEPARATORS)
    return ParsedTextModelName(
        original_name=name,
        base_name=base or name,
        size=size[0].upper() if size else None,
        variant=variant[0] if variant else None,
        quant=primary_quant,
        quants=tuple(value for _, value in sorted(quants)),
        version=version[0] if version else None,
        normalized_name=normalize_model_name(name),
        extras=tuple(extras),
    )
