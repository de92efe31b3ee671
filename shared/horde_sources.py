"""Every AI Horde endpoint the poller reads, one row each: path and query per model type, the
cadence setting, the payload model, the snapshot event and its topic.

Polling one more endpoint is one row here plus its payload model, its event class (a subclass of
``_Captured`` in ``shared.events.horde``), its topic in ``shared.topics`` and its interval in
``HordeApiSettings``; the poller's client, schedules, normalisation, hashing and publishing and the
AsyncAPI catalogue read the row. ``Endpoint`` (``shared.events.horde``) lists the names; it is
part of ``SourceHealthReported``'s schema, so a new name there is a contract change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter

from shared.domain.categories import HordeModelType
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeWorker
from shared.events.horde import Endpoint, HordeStatsCaptured, HordeStatusCaptured, HordeWorkersCaptured
from shared.topics import HORDE_STATS_CAPTURED, HORDE_STATUS_CAPTURED, HORDE_WORKERS_CAPTURED, TopicSpec

__all__ = ["HORDE_SOURCES", "SOURCE", "WORKER_FIELDS", "Endpoint", "HordeSource"]

#: ``X-Fields`` mask for ``/v2/workers``: only what analytics reads (the full payload is large).
WORKER_FIELDS = "id,name,type,online,trusted,maintenance_mode,performance,uptime,threads,models"


@dataclass(frozen=True, slots=True)
class HordeSource:
    """One polled endpoint.

    ``order`` sorts a list payload before hashing and publishing, so a mere reordering by the
    server does not look like a change (``None``: the payload is an object).
    """

    endpoint: Endpoint
    #: URL path and query parameters for each model type.
    requests: Mapping[HordeModelType, tuple[str, Mapping[str, str]]]
    #: Field of ``HordeApiSettings`` with the seconds between two polls.
    cadence_setting: str
    payload: TypeAdapter[Any]
    event: type[BaseModel]
    #: Field of ``event`` that carries the payload.
    event_field: str
    topic: TopicSpec
    headers: Mapping[str, str] = field(default_factory=dict)
    order: Callable[[Any], Any] | None = None


#: The polled endpoints, in the order their polls are scheduled (the fast-changing first).
HORDE_SOURCES: tuple[HordeSource, ...] = (
    HordeSource(
        "status",
        {t: ("/v2/status/models", {"type": t, "model_state": "known"}) for t in ("image", "text")},
        "status_interval_seconds",
        TypeAdapter(tuple[HordeModelStatus, ...]),
        HordeStatusCaptured,
        "entries",
        HORDE_STATUS_CAPTURED,
        order=lambda e: (e.name, e.type or ""),
    ),
    HordeSource(
        "workers",
        {t: ("/v2/workers", {"type": t}) for t in ("image", "text")},
        "workers_interval_seconds",
        TypeAdapter(tuple[HordeWorker, ...]),
        HordeWorkersCaptured,
        "workers",
        HORDE_WORKERS_CAPTURED,
        headers={"X-Fields": WORKER_FIELDS},
        order=lambda w: w.id,
    ),
    HordeSource(
        "stats",
        {"image": ("/v2/stats/img/models", {"model_state": "known"}), "text": ("/v2/stats/text/models", {})},
        "stats_interval_seconds",
        TypeAdapter(HordeModelStats),
        HordeStatsCaptured,
        "stats",
        HORDE_STATS_CAPTURED,
    ),
)

#: Each endpoint's row.
SOURCE: dict[Endpoint, HordeSource] = {source.endpoint: source for source in HORDE_SOURCES}
