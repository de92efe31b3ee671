"""What a generation is based on: the typed form of the fields its ``current`` pointer hash holds.

The analytics worker computes one ``GenerationBasis`` per generation; the store writes it as the
pointer's string fields (``to_fields``, in a fixed order, byte-identical to the plain dict it
replaces) and the readers parse those fields back (``from_fields``). Parsing is tolerant: a pointer
written before a field existed lacks it and reads as "none" (-1 for offsets, 0 for times), which
is what the swap and the gateway assumed of a missing field before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime

#: The Horde capture times of a basis, in ms (0: none).
HORDE_TIMES = ("status_at_ms", "stats_at_ms", "workers_at_ms")


@dataclass(frozen=True, slots=True)
class GenerationBasis:
    """Input versions, capture times and record offsets behind one generation (all times in ms)."""

    #: Unix seconds when the views were computed.
    computed_at: int
    reference_version: str = ""
    reference_detected_at_ms: int = 0
    #: Offsets of the input records: the store orders generations by these, never by clocks.
    reference_seq: int = -1
    status_at_ms: int = 0
    stats_at_ms: int = 0
    workers_at_ms: int = 0
    status_seq: int = -1
    stats_seq: int = -1
    workers_seq: int = -1
    status_hash: str = ""
    stats_hash: str = ""
    workers_hash: str = ""
    view_schema: int = 0
    #: Models in the reference in force (the gateway answers 404 for a reference without any, D17);
    #: ``None`` without a reference.
    reference_models: int | None = None
    styles_version: str = ""
    #: The input topics' partition count the offsets were read under: a larger count is newer
    #: whatever the offsets (``shared.store.generations.MONOTONIC_FIELDS``); -1 when unknown.
    partitions: int = -1

    def to_fields(self) -> dict[str, str]:
        """The pointer hash fields, in declaration order (what the store writes)."""
        out: dict[str, str] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            out[spec.name] = "" if value is None else str(value)
        return out

    @classmethod
    def from_fields(cls, raw: Mapping[str, str]) -> GenerationBasis:
        """Parse pointer fields (unknown fields such as ``owner_epoch`` are ignored; missing or
        empty ones take their defaults)."""
        values: dict[str, object] = {}
        for spec in fields(cls):
            text = raw.get(spec.name)
            if text is None or (text == "" and spec.name != "reference_version"):
                continue
            values[spec.name] = text if isinstance(getattr(_DEFAULTS, spec.name), str) else int(text)
        values.setdefault("computed_at", 0)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def captured_at_ms(self) -> int:
        """The newest of the three Horde capture times (0: no Horde data)."""
        return max(self.status_at_ms, self.stats_at_ms, self.workers_at_ms)

    def captured_at(self) -> datetime:
        """When the Horde data of the generation was captured (the epoch without any)."""
        return datetime.fromtimestamp(self.captured_at_ms / 1000, UTC)


_DEFAULTS = GenerationBasis(computed_at=0)


def newest_capture_ms(raw: Mapping[str, str]) -> int:
    """``captured_at_ms`` of a pointer read as fields (a partial read is enough: the three times)."""
    return max(int(raw.get(name) or 0) for name in HORDE_TIMES)
