"""Indexes of one Horde snapshot and the attribution of Horde names to reference models.

Recompute merges the same snapshot into the reference several times (with/without workers and
backend variations), and the real text stats carry ~8,000 names, so everything that depends
only on the snapshot is built once in :class:`HordeIndex` and everything that depends on the
reference once in :class:`ModelMatcher`; a merge is then dict lookups only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from shared.domain.categories import HordeModelType
from shared.domain.horde.payloads import HordeModelStatus, HordeSnapshot, HordeWorker
from shared.domain.horde.runtime import BACKEND_ORDER, Backend
from shared.domain.horde.spellings import (
    NAME_MEMO_SIZE,
    backend_spellings,
    normalize_horde_name,
    quantization_stems,
    split_user_tag,
)

Usage = tuple[int, int, int]


def worker_is_counted(worker: HordeWorker, model_type: HordeModelType) -> bool:
    """Whether a worker counts as serving: the status ``count`` rule (online, not in maintenance).

    AI Horde's status ``count`` sums threads of workers seen in the last 300 s and not in
    maintenance, and ``online`` means "checked in within 5 minutes"; counting the same set keeps
    ``worker_count`` and ``thread_count`` comparable. Workers of another type are ignored.
    """
    return worker.type == model_type and worker.online and not worker.maintenance_mode


def worker_in_maintenance(worker: HordeWorker, model_type: HordeModelType) -> bool:
    """An online worker of ``model_type`` in maintenance: it lists the model but serves nothing.

    Left out of ``worker_count`` (our rule, not upstream's: ``/v2/workers`` lists it) and reported
    apart as ``maintenance_worker_count`` so the difference is visible.
    """
    return worker.type == model_type and worker.online and worker.maintenance_mode


@lru_cache(maxsize=NAME_MEMO_SIZE)
def _match_candidates(key: str, model_type: HordeModelType) -> tuple[str, ...]:
    """Keys a Horde name may be a spelling of, most specific first (memoised).

    Image names match exactly (image workers use neither backend prefixes nor quant suffixes).
    Text names also try their quantisation stems and, for ``X::user#id``, ``X`` and its stems.
    """
    if model_type != "text":
        return (key,)
    candidates = [key, *quantization_stems(key)]
    untagged = split_user_tag(key)
    if untagged is not None:
        candidates += [untagged, *quantization_stems(untagged)]
    return tuple(dict.fromkeys(candidates))


def _status_order(status: HordeModelStatus) -> tuple[str, int, float, float, float, int, str]:
    """Raw name first, then every number: a total order, whatever the payload order."""
    return (
        status.name,
        status.count,
        status.jobs,
        status.queued,
        status.performance,
        status.eta,
        status.type or "",
    )


@dataclass(frozen=True, slots=True)
class HordeIndex:
    """One snapshot keyed by normalised name. Raw names that normalise alike are aggregated:
    they are distinct Horde counters (and worker sets), so summing them never double counts.

    A plain frozen dataclass rather than a pydantic model: it is an internal lookup structure
    built from already validated payloads, and re-validating 8,000-entry dicts would be waste.
    """

    model_type: HordeModelType
    #: Status entries per key, sorted by raw name (then numbers): the float sums of a merge must
    #: not depend on the payload order of entries whose names normalise alike.
    statuses: Mapping[str, tuple[HordeModelStatus, ...]]
    usage: Mapping[str, Usage]
    #: Counted workers (see :func:`worker_is_counted`) per model key, deduplicated by id.
    workers: Mapping[str, tuple[HordeWorker, ...]]
    #: Online workers in maintenance per model key (see :func:`worker_in_maintenance`), by id.
    maintenance: Mapping[str, tuple[HordeWorker, ...]]
    #: False when the snapshot has no workers payload yet (worker_count falls back to threads).
    has_workers: bool
    candidates: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_snapshot(cls, snapshot: HordeSnapshot) -> HordeIndex:
        """Index status, stats and workers of ``snapshot``; O(total names)."""
        statuses: dict[str, list[HordeModelStatus]] = {}
        for status in snapshot.status or ():
            statuses.setdefault(normalize_horde_name(status.name), []).append(status)

        sums: dict[str, list[int]] = {}
        stats = snapshot.stats
        windows = (stats.day, stats.month, stats.total) if stats is not None else ()
        keys_of: dict[str, str] = {}  # the three windows mostly share their names
        for position, window in enumerate(windows):
            for raw_name, value in window.items():
                key = keys_of.get(raw_name)
                if key is None:
                    key = keys_of[raw_name] = normalize_horde_name(raw_name)
                sums.setdefault(key, [0, 0, 0])[position] += value
        usage: dict[str, Usage] = {key: (day, month, total) for key, (day, month, total) in sums.items()}

        workers: dict[str, dict[str, HordeWorker]] = {}
        maintenance: dict[str, dict[str, HordeWorker]] = {}
        for worker in snapshot.workers or ():
            if worker_is_counted(worker, snapshot.model_type):
                into = workers
            elif worker_in_maintenance(worker, snapshot.model_type):
                into = maintenance
            else:
                continue
            for model in worker.models:
                into.setdefault(normalize_horde_name(model), {}).setdefault(worker.id, worker)

        keys = (statuses.keys() | usage.keys() | workers.keys() | maintenance.keys()) - {""}
        return cls(
            model_type=snapshot.model_type,
            statuses={
                key: tuple(sorted(value, key=_status_order)) if len(value) > 1 else (value[0],)
                for key, value in statuses.items()
            },
            usage=usage,
            workers={key: tuple(value.values()) for key, value in workers.items()},
            maintenance={key: tuple(value.values()) for key, value in maintenance.items()},
            has_workers=snapshot.workers is not None,
            candidates={key: _match_candidates(key, snapshot.model_type) for key in keys},
        )


class MatchedName(NamedTuple):
    """A Horde name key attributed to a reference model, under one backend spelling."""

    key: str
    backend: Backend
    #: The reference spelling it matched (original case), e.g. ``koboldcpp/Lumimaid-v0.2-8B``.
    spelling: str


class _Owner(NamedTuple):
    rank: int
    reference: str
    backend: Backend
    spelling: str


def _reference_spellings(name: str, model_type: HordeModelType) -> tuple[tuple[Backend, str], ...]:
    """Text models have three backend spellings; image models only their canonical name."""
    return backend_spellings(name) if model_type == "text" else (("canonical", name),)


@lru_cache(maxsize=NAME_MEMO_SIZE)
def _spelling_claims(name: str, model_type: HordeModelType) -> tuple[tuple[str, _Owner], ...]:
    """``(key, claim)`` of each spelling of reference ``name`` with a non-empty key (memoised)."""
    claims: list[tuple[str, _Owner]] = []
    for backend, spelling in _reference_spellings(name, model_type):
        key = normalize_horde_name(spelling)
        if key:
            claims.append((key, _Owner(BACKEND_ORDER.index(backend), name, backend, spelling)))
    return tuple(claims)


class ModelMatcher:
    """Which Horde names belong to which reference model; build once per (snapshot, reference).

    A Horde name belongs to reference model C when it is one of C's spellings, or such a
    spelling plus a quantisation suffix, or either with a ``::user#id`` tag — never a family
    member of another size (D12, D43). Each Horde name goes to at most one model, so usage is
    never counted twice. When spellings of two models collide case-insensitively, the key goes
    to the better backend rank (canonical < aphrodite < koboldcpp), then to the smaller
    reference name by code point: a rule independent of input order.
    """

    __slots__ = ("_matches", "index", "names")

    def __init__(self, names: Sequence[str], index: HordeIndex) -> None:
        self.index = index
        #: Reference names, deduplicated, in input order.
        self.names: tuple[str, ...] = tuple(dict.fromkeys(names))
        owners = _spelling_owners(self.names, index.model_type)
        matches: dict[str, list[MatchedName]] = {}
        for key, candidates in index.candidates.items():
            for candidate in candidates:
                owner = owners.get(candidate)
                if owner is not None:
                    matches.setdefault(owner.reference, []).append(
                        MatchedName(key, owner.backend, owner.spelling)
                    )
                    break
        self._matches = {reference: tuple(sorted(found)) for reference, found in matches.items()}

    def matches(self, name: str) -> tuple[MatchedName, ...]:
        """The Horde name keys attributed to reference ``name``, sorted by key; ``()`` if none."""
        return self._matches.get(name, ())

    def matched_keys(self) -> Iterable[str]:
        """Every Horde key attributed to some reference model (each exactly once)."""
        for found in self._matches.values():
            for match in found:
                yield match.key


def _spelling_owners(names: Iterable[str], model_type: HordeModelType) -> dict[str, _Owner]:
    owners: dict[str, _Owner] = {}
    for name in names:
        for key, claim in _spelling_claims(name, model_type):
            current = owners.get(key)
            if current is None or (claim.rank, claim.reference) < (current.rank, current.reference):
                owners[key] = claim
    return owners
