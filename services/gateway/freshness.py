"""Freshness of an answer: when it was computed, what it is based on, whether a source is stale."""

from __future__ import annotations

import time
from email.utils import formatdate

from pydantic import BaseModel, ConfigDict

from shared.store.generations import CurrentGeneration


class Freshness(BaseModel):
    """How old an answer is and what it is based on (also sent as ``X-*`` headers)."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    generation: str
    computed_at: int
    reference_version: str
    horde_status_at: int | None
    horde_stats_at: int | None
    horde_workers_at: int | None
    stale: bool


def _seconds(ms: str | None) -> int | None:
    return int(ms) // 1000 if ms and ms != "0" else None


def freshness_of(
    current: CurrentGeneration, *, stale_after_seconds: float, now: float | None = None
) -> Freshness:
    """Freshness of a generation; stale when its Horde status snapshot is older than the limit."""
    now = time.time() if now is None else now
    basis = current.basis
    status_at = _seconds(basis.get("status_at_ms"))
    stale = status_at is not None and now - status_at > stale_after_seconds
    return Freshness(
        generation=current.generation,
        computed_at=int(basis.get("computed_at", "0")),
        reference_version=basis.get("reference_version", ""),
        horde_status_at=status_at,
        horde_stats_at=_seconds(basis.get("stats_at_ms")),
        horde_workers_at=_seconds(basis.get("workers_at_ms")),
        stale=stale,
    )


def freshness_headers(freshness: Freshness, view: str) -> dict[str, str]:
    """Caching and provenance headers of an answer built from ``view`` of this generation."""
    headers = {
        "ETag": f'"{freshness.generation}-{view}"',
        "Last-Modified": formatdate(freshness.computed_at, usegmt=True),
        "X-Computed-At": str(freshness.computed_at),
        "X-Reference-Version": freshness.reference_version,
        "X-Data-Stale": "true" if freshness.stale else "false",
        "Cache-Control": "no-cache",
    }
    if freshness.horde_status_at is not None:
        headers["X-Horde-Snapshot-At"] = str(freshness.horde_status_at)
    if freshness.horde_stats_at is not None:
        headers["X-Horde-Stats-At"] = str(freshness.horde_stats_at)
    return headers
