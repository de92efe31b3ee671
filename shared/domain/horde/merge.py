"""Merge a Horde snapshot into per-model runtime statistics (upstream §4.2, amended).

Amendments (decisions.md): usage is the sum over the model's own spellings only and does not
depend on ``include_backend_variations`` (D12, D43); usage is 0/0/0, never null, when unused
(D13); ``worker_count`` counts distinct workers over all spellings, ``thread_count`` the status
threads (D45, D18); ``worker_summaries`` may be ``{}`` (D19); status numbers are aggregated
over spellings instead of taken from one entry (D45); backends come in a fixed order (D23).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.domain.horde.index import HordeIndex, MatchedName, ModelMatcher
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


@dataclass(frozen=True, slots=True)
class _StatusAggregate:
    queued_jobs: float
    queued: float
    performance: float
    eta: int


@dataclass(frozen=True, slots=True)
class _Aggregate:
    """Everything the Horde says about a set of matched names."""

    usage: UsageStats
    statuses: tuple[tuple[str, HordeModelStatus], ...]
    thread_count: int
    workers: Mapping[str, HordeWorker]

    @property
    def status(self) -> _StatusAggregate | None:
        return _aggregate_status([status for _, status in self.statuses])


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


_EMPTY = _Aggregate(usage=UsageStats(), statuses=(), thread_count=0, workers={})


def _aggregate(matches: Sequence[MatchedName], index: HordeIndex) -> _Aggregate:
    if not matches:
        return _EMPTY
    day = month = total = 0
    statuses: list[tuple[str, HordeModelStatus]] = []
    workers: dict[str, HordeWorker] = {}
    for match in matches:
        key_day, key_month, key_total = index.usage.get(match.key, (0, 0, 0))
        day, month, total = day + key_day, month + key_month, total + key_total
        statuses.extend((match.key, status) for status in index.statuses.get(match.key, ()))
        for worker in index.workers.get(match.key, ()):
            workers.setdefault(worker.id, worker)
    return _Aggregate(
        usage=UsageStats(day=day, month=month, total=total),
        statuses=tuple(statuses),
        thread_count=sum(status.count for _, status in statuses),
        workers=workers,
    )


def _worker_count(aggregate: _Aggregate, index: HordeIndex) -> int:
    """Distinct workers when a workers payload exists, else the status threads (D45, D20)."""
    return len(aggregate.workers) if index.has_workers else aggregate.thread_count


def _worker_summaries(workers: Mapping[str, HordeWorker]) -> dict[str, WorkerSummary]:
    """Summaries keyed by worker id, ordered by name (case-insensitive), then name, then id."""
    ordered = sorted(workers.values(), key=lambda worker: (worker.name.casefold(), worker.name, worker.id))
    return {
        worker.id: WorkerSummary(
            id=worker.id,
            name=worker.name,
            performance=worker.performance,
            online=worker.online,
            trusted=worker.trusted,
            uptime=worker.uptime,
        )
        for worker in ordered
    }


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
    name: str, matches: Sequence[MatchedName], index: HordeIndex
) -> dict[str, BackendVariation]:
    """Per backend in the order canonical, aphrodite, koboldcpp (D23).

    A backend is listed when the Horde reports a status, usage or a serving worker for it.
    """
    variations: dict[str, BackendVariation] = {}
    spellings: dict[Backend, str] = {match.backend: match.spelling for match in matches}
    for backend in BACKEND_ORDER:
        own = [match for match in matches if match.backend == backend]
        if not own:
            continue
        aggregate = _aggregate(own, index)
        status = aggregate.status
        usage = aggregate.usage
        if status is None and not aggregate.workers and not (usage.day or usage.month or usage.total):
            continue
        variations[backend] = BackendVariation(
            backend=backend,
            variant_name=_variant_name(aggregate, spellings.get(backend, name)),
            worker_count=_worker_count(aggregate, index),
            thread_count=aggregate.thread_count,
            performance=status.performance if status else None,
            queued=status.queued if status else None,
            queued_jobs=status.queued_jobs if status else None,
            eta=status.eta if status else None,
            usage_day=usage.day,
            usage_month=usage.month,
            usage_total=usage.total,
        )
    return variations


def _merge_one(
    name: str, matcher: ModelMatcher, *, include_workers: bool, include_backend_variations: bool
) -> CombinedModelStatistics:
    index = matcher.index
    matches = matcher.matches(name)
    aggregate = _aggregate(matches, index)
    status = aggregate.status
    summaries = _worker_summaries(aggregate.workers) if include_workers and index.has_workers else None
    return CombinedModelStatistics(
        queued_jobs=status.queued_jobs if status else None,
        performance=status.performance if status else None,
        eta=status.eta if status else None,
        queued=status.queued if status else None,
        usage_stats=aggregate.usage,
        worker_summaries=summaries,
        backend_variations=(
            _backend_variations(name, matches, index) if include_backend_variations else None
        ),
        worker_count=_worker_count(aggregate, index),
        thread_count=aggregate.thread_count,
        worker_count_source="workers" if index.has_workers else "status",
    )


def merge_matched(
    matcher: ModelMatcher, *, include_workers: bool, include_backend_variations: bool
) -> dict[str, CombinedModelStatistics]:
    """Merge with a prebuilt matcher: reuse one matcher for all flag combinations of a recompute."""
    return {
        name: _merge_one(
            name,
            matcher,
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
