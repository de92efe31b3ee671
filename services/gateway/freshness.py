"""Freshness of an answer: when it was computed, what it is based on, whether a source is stale.

Computed per request from the pointer hash (no pydantic on the hot path): only the ``stale`` bit
depends on the clock, so the rendered JSON and headers are cached per (generation, sources, stale).
``Freshness`` is the documented shape of the same object.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from email.utils import formatdate
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from shared.store.generations import CurrentGeneration

#: Horde inputs each view family is computed from (statistics depend on the reference alone).
RUNTIME_SOURCES = ("horde_status", "horde_stats")
WORKER_SOURCES = (*RUNTIME_SOURCES, "horde_workers")
_ENDPOINT = {"horde_status": "status", "horde_stats": "stats", "horde_workers": "workers"}
#: The pointer field holding each source's snapshot time.
_BASIS_FIELD = {source: f"{endpoint}_at_ms" for source, endpoint in _ENDPOINT.items()}


class Freshness(BaseModel):
    """How old an answer is and what it is based on (also sent as ``X-*`` headers)."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    #: Id of the materialised generation the answer was read from.
    generation: str
    #: Unix seconds when the workers computed the generation.
    computed_at: int
    #: Version (content hash) of the model reference used.
    reference_version: str
    #: Unix seconds of the AI Horde snapshots used (null: not part of the basis).
    horde_status_at: int | None
    horde_stats_at: int | None
    horde_workers_at: int | None
    #: Inputs this answer needs that the generation lacks (e.g. ``horde_workers``).
    missing_sources: list[str] = []
    #: True when an input is missing, when the served Horde status was last confirmed (by a poll that
    #: saw the same content) longer ago than the limit, or when an input moved on at the AI Horde
    #: longer ago than the limit and this answer still shows the old content.
    stale: bool


def sources_of(view: str) -> tuple[str, ...]:
    """Horde inputs a view needs: none for statistics, status+stats for runtime views, workers too
    for the ``include_workers`` with-stats views (elsewhere a missing workers snapshot is reported
    per model by ``worker_count_source``)."""
    if view.startswith("statistics"):
        return ()
    return WORKER_SOURCES if ".workers" in view else RUNTIME_SOURCES


def _seconds(ms: str | None) -> int | None:
    return int(ms) // 1000 if ms and ms != "0" else None


@dataclass(frozen=True, slots=True)
class Provenance:
    """The freshness of one answer, pre-rendered (once per provenance, not per answer) as JSON and
    as headers."""

    stale: bool
    json: str
    headers: dict[str, str]
    #: ``headers`` as ASGI raw headers (lower-case names).
    raw: tuple[tuple[bytes, bytes], ...] = ()
    #: ``,"freshness":{...}}``: the end of every object body (its last field and closing brace).
    object_end: bytes = b"}"


def provenance(
    current: CurrentGeneration, view: str, *, stale_after_seconds: float, now: float | None = None
) -> Provenance:
    """Freshness of ``view`` of ``current`` at ``now`` (default: the time now)."""
    moment = time.time() if now is None else now
    too_old = moment > stale_from(current, view, stale_after_seconds=stale_after_seconds)
    return _render(current.generation, tuple(sorted(current.basis.items())), sources_of(view), too_old)


def stale_from(current: CurrentGeneration, view: str, *, stale_after_seconds: float) -> float:
    """Unix time from which ``provenance`` of ``view`` turns stale by age (``inf``: never by age):
    one stale limit after the served status was last confirmed by a poll that saw it, or after any
    input it needs moved on at the AI Horde.

    Everything else in a provenance is fixed by the pointer, so an answer rendered before this
    moment stays exact until then (``services.gateway.answer_cache`` relies on it)."""
    sources, basis = sources_of(view), current.basis
    status_at = _seconds(basis.get("status_at_ms"))
    if not sources or status_at is None:
        return math.inf
    # A snapshot published long ago is still current if a later poll found the same content; if
    # the AI Horde moved on, what we serve was true until then (or until its own capture).
    confirmed = _seconds(basis.get("status_confirmed_at_ms") or basis.get("status_moved_at_ms"))
    until = max(status_at, confirmed or 0) + stale_after_seconds
    for source in sources:
        if source == "horde_status":
            continue
        moved = _seconds(basis.get(f"{_ENDPOINT[source]}_moved_at_ms"))
        if moved is not None:
            served_at = _seconds(basis.get(_BASIS_FIELD[source])) or 0
            until = min(until, max(served_at, moved) + stale_after_seconds)
    return until


#: Pointers' provenances by (pointer identity, view): ``(pointer, stale_after, turns stale at,
#: fresh provenance, stale provenance)``. Cleared when full.
_REMEMBERED: dict[tuple[int, str], tuple[CurrentGeneration, float, float, Provenance, Provenance]] = {}
REMEMBERED_PROVENANCES = 512


def provenance_now(
    current: CurrentGeneration, view: str, *, stale_after_seconds: float, now: float | None = None
) -> tuple[Provenance, float]:
    """``provenance`` of ``view`` of ``current`` at ``now`` and the moment it turns stale by age
    (``stale_from``), worked out once per pointer object and view: pointers are immutable and the
    ``PointerCache`` hands out the same object until its content changes."""
    entry = _REMEMBERED.get((id(current), view))
    if entry is None or entry[0] is not current or entry[1] != stale_after_seconds:
        turns = stale_from(current, view, stale_after_seconds=stale_after_seconds)
        basis, sources = tuple(sorted(current.basis.items())), sources_of(view)
        fresh = _render(current.generation, basis, sources, False)
        old = _render(current.generation, basis, sources, True)
        if len(_REMEMBERED) >= REMEMBERED_PROVENANCES:
            _REMEMBERED.clear()
        entry = _REMEMBERED[(id(current), view)] = (current, stale_after_seconds, turns, fresh, old)
    turns = entry[2]
    moment = time.time() if now is None else now
    return (entry[4] if moment > turns else entry[3]), turns


@lru_cache(maxsize=512)
def _render(
    generation: str, basis_items: tuple[tuple[str, str], ...], sources: tuple[str, ...], too_old: bool
) -> Provenance:
    basis = dict(basis_items)
    missing = [s for s in sources if _seconds(basis.get(_BASIS_FIELD[s])) is None]
    stale = too_old or bool(missing)
    computed_at = int(basis.get("computed_at", "0"))
    fields: dict[str, object] = {
        "schema_version": 1,
        "generation": generation,
        "computed_at": computed_at,
        "reference_version": basis.get("reference_version", ""),
        "horde_status_at": _seconds(basis.get("status_at_ms")),
        "horde_stats_at": _seconds(basis.get("stats_at_ms")),
        "horde_workers_at": _seconds(basis.get("workers_at_ms")),
        "missing_sources": missing,
        "stale": stale,
    }
    headers = {
        "Last-Modified": formatdate(computed_at, usegmt=True),
        "X-Generation": generation,
        "X-Computed-At": str(computed_at),
        "X-Reference-Version": str(fields["reference_version"]),
        "X-Data-Stale": "true" if stale else "false",
        "Cache-Control": "no-cache",
    }
    for header, key in (
        ("X-Horde-Snapshot-At", "horde_status_at"),
        ("X-Horde-Stats-At", "horde_stats_at"),
        ("X-Horde-Workers-At", "horde_workers_at"),
    ):
        if fields[key] is not None:
            headers[header] = str(fields[key])
    if missing:
        headers["X-Missing-Sources"] = ",".join(missing)
    confirmed = _seconds(basis.get("status_confirmed_at_ms"))
    if confirmed is not None:
        # Header only: it moves on every poll, and the body (and its ETag) must not.
        headers["X-Horde-Confirmed-At"] = str(confirmed)
    moved = [_ENDPOINT[s] for s in sources if f"{_ENDPOINT[s]}_moved_at_ms" in basis]
    if moved:
        # Header only as well: the AI Horde has newer content of these inputs than this answer.
        headers["X-Horde-Moved-On"] = ",".join(moved)
    raw = tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    rendered = json.dumps(fields, separators=(",", ":"))
    return Provenance(stale, rendered, headers, raw, f',"freshness":{rendered}}}'.encode())
