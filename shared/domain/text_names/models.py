"""Value objects produced by the text-model name parser and the grouping helpers."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ExtraPartType(StrEnum):
    """Kinds of extra name parts; only ``date`` and ``leading_version`` are produced (kept for parity)."""

    DATE = "date"
    DESCRIPTOR = "descriptor"
    LEADING_VERSION = "leading_version"
    UNKNOWN = "unknown"


class ExtraNamePart(BaseModel):
    """A token removed from the base name that is neither size, version, quant nor variant."""

    model_config = ConfigDict(frozen=True)

    value: str
    #: Number of token separators (``-``, ``_``, space) before the part in the original name, i.e. the
    #: index of the part's first token among the separator-delimited parts of the original name (D39).
    position: int = Field(ge=0)
    inferred_type: ExtraPartType


class ParsedTextModelName(BaseModel):
    """The parts of one text-model name as given (backend and author prefixes are not stripped)."""

    model_config = ConfigDict(frozen=True)

    original_name: str
    base_name: str
    size: str | None = None
    variant: str | None = None
    #: The primary quantization/format token: the one upstream would report (first pattern in priority
    #: order ``Q*_K*``, ``Q*_0/1``, ``Q*``, ``GGUF…``, ``fp16…``, leftmost match of that pattern).
    quant: str | None = None
    #: Every quantization/format token removed from the name, upper-cased, in name order (D40).
    quants: tuple[str, ...] = ()
    version: str | None = None
    normalized_name: str
    extras: tuple[ExtraNamePart, ...] = ()


class TextModelGroup(BaseModel):
    """Text models sharing a base name; ``base_name`` is the display name, ``key`` the grouping key."""

    model_config = ConfigDict(frozen=True)

    key: str
    base_name: str
    variants: tuple[str, ...]
