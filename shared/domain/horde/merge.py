"""Merge a Horde snapshot into per-model runtime statistics (upstream §4.2, amended).

Amendments (docs/contract.md): usage is the sum over the model's own spellings only and does not
depend on ``include_backend_variations`` (D12, D43); usage is 0/0/0, never null, when unused
(D13); ``worker_count`` counts distinct workers over all spellings, ``thread_count`` the status
threads (D45, D18); ``worker_summaries`` may be ``{}`` (D19); status numbers are aggregated
over spellings instead of taken from one entry (D45); backends come in a fixed order (D23).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from shared.domain.horde.index import HordeIndex, MatchedName, ModelMatcher, Usage
from shared.domain.horde.payloads import HordeModelStatus, HordeSnapshot, HordeWorker
from shared.domain.horde.runtime import (
    BACKEND_ORDER,
    Backend,
    BackendVariation,
    CombinedModelStatistics,
    UsageStats,
    WorkerSummary,
)
from shared.domain.horde.spellings import normalize_horde_name
from shared.domain.trusted import build_trusted


class _StatusAggregate(NamedTuple):
    queued_jobs: float
    queued: float
    performance: float
    eta: int


class _Aggregate(NamedTuple):
    """Everything the Horde says about a set of matched names; usage as (day, month, total)."""

    usage: Usage
    #: ``(key, status)`` pairs, keys in match order, each key's statuses in index order.
    statuses: tuple[tuple[str, HordeModelStatus], ...]
    thread_count: int
    workers: Mapping[str, HordeWorker]
    #: Distinct online workers in maintenance listing one of the names (not in ``workers``).
    maintenance: int
    #: The aggregate of ``statuses`` (:func:`_aggregate_status`), None without statuses.
    status: _StatusAggregate | None


def _aggregate_status(statuses: Sequence[HordeModelStatus]) -> _StatusAggregate | None:
    """Jobs and queued are summed, eta is the maximum, performance the thread-weighted mean.

    Spellings without threads carry no weight; when no spelling has threads (orphan entries
    only) the plain mean of the reported speeds is kept, so a single entry reads as the Horde
    reports it.
    """
    if not statuses:
        return None
    threads = sum(status.count for status in statuses)
    if threads > 0:
        performance = sum(status.performance * status.count for status in statuses) / threads
    else:
        performance = sum(status.performance for status in statuses) / len(statuses)
    return _StatusAggregate(
        queued_jobs=sum(status.jobs for status in statuses),
        queued=sum(status.queued for status in statuses),
        performance=performance,
        eta=max(status.eta for status in statuses),
    )


_EMPTY = _Aggregate(usage=(0, 0, 0), statuses=(), thread_count=0, workers={}, maintenance=0, status=None)
_NO_USAGE = UsageStats()


def _aggregate(matches: Sequence[MatchedName], index: HordeIndex) -> _Aggregate:
    if not matches:
        return _EMPTY
    usage_of, statuses_of, workers_of = index.usage, index.statuses, index.workers
    day = month = total = 0
    statuses: list[tuple[str, HordeModelStatus]] = []
    workers: dict[str, HordeWorker] = {}
    resting: set[str] = set()
    for match in matches:
        key = match.key
        usage = usage_of.get(key)
        if usage is not None:
            day, month, total = day + usage[0], month + usage[1], total + usage[2]
        key_statuses = statuses_of.get(key)  # most keys have no status and no worker
        if key_statuses:
            statuses.extend([(key, status) for status in key_statuses])
        key_workers = workers_of.get(key)
        if key_workers:
            for worker in key_workers:
                workers.setdefault(worker.id, worker)
        key_resting = index.maintenance.get(key)
        if key_resting:
            resting.update(worker.id for worker in key_resting)
    if not statuses:
        return _Aggregate((day, month, total), (), 0, workers, len(resting), None)
    return _Aggregate(
        usage=(day, month, total),
        statuses=tuple(statuses),
        thread_count=sum(status.count for _, status in statuses),
        workers=workers,
        maintenance=len(resting),
        status=_aggregate_status([status for _, status in statuses]),
    )


def _worker_count(aggregate: _Aggregate, index: HordeIndex) -> int:
    """Distinct workers when a workers payload exists, else the status threads (D45, D20)."""
    return len(aggregate.workers) if index.has_workers else aggregate.thread_count


def _worker_summary(worker: HordeWorker) -> WorkerSummary:
    return build_trusted(
        WorkerSummary,
        {
            "id": worker.id,
            "name": worker.name,
            "performance": worker.performance,
            "online": worker.online,
            "trusted": worker.trusted,
            "uptime": worker.uptime,
        },
    )


def _worker_summaries(
    workers: Mapping[str, HordeWorker], memo: dict[int, WorkerSummary]
) -> dict[str, WorkerSummary]:
    """Summaries keyed by worker id, ordered by name (case-insensitive), then name, then id.

    ``memo`` holds the (frozen) summary of each worker object already summarised in this merge
    (keyed by object identity; the index outlives the merge): a worker serving many models is
    summarised once.
    """
    if not workers:
        return {}
    ordered = sorted(workers.values(), key=lambda worker: (worker.name.casefold(), worker.name, worker.id))
    summaries: dict[str, WorkerSummary] = {}
    for worker in ordered:
        summary = memo.get(id(worker))
        if summary is None:
            summary = memo[id(worker)] = _worker_summary(worker)
        summaries[worker.id] = summary
    return summaries


def _variant_name(aggregate: _Aggregate, spelling: str) -> str:
    """The Horde's own name for this backend if it reported one, else the real spelling (D44).

    Prefers the status filed under the exact spelling, then the busiest one, then by name.
    """
    if not aggregate.statuses:
        return spelling
    exact = normalize_horde_name(spelling)
    _, chosen = min(aggregate.statuses, key=lambda item: (item[0] != exact, -item[1].count, item[1].name))
    return chosen.name


def _backend_variations(
    name: str, matches: Sequence[MatchedName], index: HordeIndex, whole: _Aggregate
) -> dict[str, BackendVariation]:
    """Per backend in the order canonical, aphrodite, koboldcpp (D23).

    A backend is listed when the Horde reports a status, usage or a serving worker for it.
    ``whole`` is the aggregate of all ``matches``: it is reused when they share one backend.
    """
    variations: dict[str, BackendVariation] = {}
    if not matches:
        return variations
    by_backend: dict[Backend, list[MatchedName]] = {}
    spellings: dict[Backend, str] = {}
    for match in matches:
        by_backend.setdefault(match.backend, []).append(match)
        spellings[match.backend] = match.spelling
    for backend in BACKEND_ORDER:
        own = by_backend.get(backend)
        if not own:
            continue
        aggregate = whole if len(by_backend) == 1 else _aggregate(own, index)
        status = aggregate.status
        day, month, total = aggregate.usage
        if status is None and not aggregate.workers and not (day or month or total):
            continue
        variations[backend] = build_trusted(
            BackendVariation,
            {
                "backend": backend,
                "variant_name": _variant_name(aggregate, spellings.get(backend, name)),
                "worker_count": _worker_count(aggregate, index),
                "thread_count": aggregate.thread_count,
                "performance": status.performance if status else None,
                "queued": status.queued if status else None,
                "queued_jobs": status.queued_jobs if status else None,
                "eta": status.eta if status else None,
                "usage_day": day,
                "usage_month": month,
                "usage_total": total,
            },
        )
    return variations


def _usage_stats(usage: Usage) -> UsageStats:
    day, month, total = usage
    if not (day or month or total):
        return _NO_USAGE
    return build_trusted(UsageStats, {"day": day, "month": month, "total": total})


def _merge_one(
    name: str,
    matcher: ModelMatcher,
    summary_memo: dict[int, WorkerSummary],
    *,
    include_workers: bool,
    include_backend_variations: bool,
) -> CombinedModelStatistics:
    index = matcher.index
    matches = matcher.matches(name)
    aggregate = _aggregate(matches, index)
    status = aggregate.status
    summaries = (
        _worker_summaries(aggregate.workers, summary_memo) if include_workers and index.has_workers else None
    )
    variations = _backend_variations(name, matches, index, aggregate) if include_backend_variations else None
    return build_trusted(
        CombinedModelStatistics,
        {
            "queued_jobs": status.queued_jobs if status else None,
            "performance": status.performance if status else None,
            "eta": status.eta if status else None,
            "queued": status.queued if status else None,
            "usage_stats": _usage_stats(aggregate.usage),
            "worker_summaries": summaries,
            "backend_variations": variations,
            "worker_count": _worker_count(aggregate, index),
            "thread_count": aggregate.thread_count,
            "worker_count_source": "workers" if index.has_workers else "status",
            "maintenance_worker_count": aggregate.maintenance,
        },
    )


def merge_matched(
    matcher: ModelMatcher, *, include_workers: bool, include_backend_variations: bool
) -> dict[str, CombinedModelStatistics]:
    """Merge with a prebuilt matcher: reuse one matcher for all flag combinations of a recompute.

    Results are built without re-validation (:mod:`shared.domain.trusted`): every value comes from
    the validated snapshot or is computed here with the declared type.
    """
    summary_memo: dict[int, WorkerSummary] = {}
    return {
        name: _merge_one(
            name,
            matcher,
            summary_memo,
            include_workers=include_workers,
            include_backend_variations=include_backend_variations,
        )
        for name in matcher.names
    }


def merge_category(
    records_or_names: Sequence[str],
    snapshot: HordeSnapshot,
    *,
    include_workers: bool,
    include_backend_variations: bool,
    index: HordeIndex | None = None,
) -> dict[str, CombinedModelStatistics]:
    """One entry per reference name, in input order (duplicates once); Horde-only names never appear.

    Pass ``index`` (built from the same ``snapshot``) to skip re-indexing the snapshot.
    """
    matcher = ModelMatcher(records_or_names, index or HordeIndex.from_snapshot(snapshot))
    return merge_matched(
        matcher, include_workers=include_workers, include_backend_variations=include_backend_variations
    )


def category_total_month_usage(merged: Mapping[str, CombinedModelStatistics]) -> int:
    """Σ ``usage_stats.month`` over the merged reference models: the category-wide total (D1)."""
    return sum(stats.usage_stats.month for stats in merged.values())
