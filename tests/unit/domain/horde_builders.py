"""Small builders for hand-written Horde snapshots in the merge and index tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.domain.categories import HordeModelType
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeSnapshot, HordeWorker


def status(
    name: str,
    count: int,
    *,
    jobs: float = 0.0,
    queued: float = 0.0,
    performance: float = 0.0,
    eta: int = 0,
) -> HordeModelStatus:
    return HordeModelStatus(
        name=name, count=count, jobs=jobs, queued=queued, performance=performance, eta=eta
    )


def worker(
    worker_id: str,
    models: Sequence[str],
    *,
    name: str | None = None,
    model_type: str = "text",
    online: bool = True,
    maintenance: bool = False,
    threads: int = 1,
) -> HordeWorker:
    return HordeWorker(
        id=worker_id,
        name=name or worker_id,
        type=model_type,
        online=online,
        maintenance_mode=maintenance,
        threads=threads,
        performance="1.0 tokens per second",
        uptime=60,
        models=tuple(models),
    )


def snapshot(
    model_type: HordeModelType = "text",
    *,
    statuses: Sequence[HordeModelStatus] | None = None,
    day: Mapping[str, int] | None = None,
    month: Mapping[str, int] | None = None,
    total: Mapping[str, int] | None = None,
    workers: Sequence[HordeWorker] | None = None,
) -> HordeSnapshot:
    has_stats = day is not None or month is not None or total is not None
    return HordeSnapshot(
        model_type=model_type,
        status=tuple(statuses) if statuses is not None else None,
        stats=HordeModelStats(day=dict(day or {}), month=dict(month or {}), total=dict(total or {}))
        if has_stats
        else None,
        workers=tuple(workers) if workers is not None else None,
    )
