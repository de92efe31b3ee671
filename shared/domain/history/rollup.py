"""The daily roll-up of one category: per model and UTC day, what its captures showed.

A worker folds every accepted capture into the current day's roll-up and publishes the whole
roll-up (a compacted record keyed by category and day), so a restarted worker continues from the
last published roll-up and loses nothing of the day. Folding is idempotent: a capture at or before
the roll-up's last capture changes nothing (replays, duplicates).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.categories import ModelCategory
from shared.domain.history.days import utc_day
from shared.domain.horde.runtime import CombinedModelStatistics
from shared.domain.risk.models import DELETION_RISK_FLAG_NAMES, ModelDeletionRiskInfo
from shared.domain.trusted import build_trusted

#: Version of the roll-up record on the ``analytics.history.daily.v1`` topic.
ROLLUP_SCHEMA_VERSION = 1

RiskLevel = Literal["clear", "at_risk", "critical"]
#: Order of the levels: a run of a level counts days at that level or above.
LEVEL_RANK: dict[str, int] = {"clear": 0, "at_risk": 1, "critical": 2}


class RiskMark(BaseModel):
    """The risk state of a model at one capture (the last one of a day is the day's end state)."""

    model_config = ConfigDict(frozen=True)

    level: RiskLevel = "clear"
    score: int = Field(default=0, ge=0)
    flags: tuple[str, ...] = ()


class ModelDay(BaseModel):
    """One model on one UTC day: counts over the day's captures and the end-of-day values."""

    model_config = ConfigDict(frozen=True)

    polls: int = Field(ge=1)
    polls_with_workers: int = Field(ge=0)
    workers_min: int = Field(ge=0)
    workers_max: int = Field(ge=0)
    workers_sum: int = Field(ge=0)
    threads_min: int = Field(ge=0)
    threads_max: int = Field(ge=0)
    queued_max: float | None = None
    queued_last: float | None = None
    #: The stats' ``day`` counter (the Horde's past 24 hours) at the day's last capture.
    usage_day_reported: int = Field(ge=0)
    usage_month_last: int = Field(ge=0)
    #: The stats' ``total`` counter at the day's first and last capture.
    total_first: int = Field(ge=0)
    total_last: int = Field(ge=0)
    risk: RiskMark = Field(default_factory=RiskMark)


ReferenceEventKind = Literal["first_seen", "changed", "removed"]


class ReferenceEvent(BaseModel):
    """A reference change of one model: first seen, changed (with the fields) or removed."""

    model_config = ConfigDict(frozen=True)

    model: str
    kind: ReferenceEventKind
    at: datetime
    version: str
    fields: tuple[str, ...] = ()
    #: First seen in the watcher's first load: the model existed before, its age is a lower bound.
    initial: bool = False


class CategoryDay(BaseModel):
    """The roll-up of one category on one UTC day (one compacted record per category and day)."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = ROLLUP_SCHEMA_VERSION
    category: ModelCategory
    day: date
    captures: int = Field(default=0, ge=0)
    first_captured_at: datetime | None = None
    last_captured_at: datetime | None = None
    #: True when any capture of the day was generated (backfill), not observed.
    generated: bool = False
    models: dict[str, ModelDay] = Field(default_factory=dict)
    reference_events: tuple[ReferenceEvent, ...] = ()

    @property
    def has_data(self) -> bool:
        """A day with reference events but no capture is still a gap in the runtime series."""
        return self.captures > 0


class ModelObservation(NamedTuple):
    """What one capture says about one model."""

    usage_day: int
    usage_month: int
    usage_total: int
    worker_count: int
    thread_count: int
    queued: float | None
    risk: RiskMark


def risk_mark(info: ModelDeletionRiskInfo) -> RiskMark:
    """The risk state of one (ungrouped) deletion-risk entry."""
    level: RiskLevel = "critical" if info.is_critical else "at_risk" if info.at_risk else "clear"
    values = info.deletion_risk_flags.__dict__
    flags = tuple(name for name in DELETION_RISK_FLAG_NAMES if values[name])
    return build_trusted(RiskMark, {"level": level, "score": info.risk_score, "flags": flags})


def observe(info: ModelDeletionRiskInfo, stats: CombinedModelStatistics | None) -> ModelObservation:
    """The observation of one model from its risk entry and merged statistics (None: no Horde data)."""
    return ModelObservation(
        info.usage_day,
        info.usage_month,
        info.usage_total,
        info.worker_count,
        stats.thread_count if stats is not None else 0,
        stats.queued if stats is not None else None,
        risk_mark(info),
    )


def _first(observation: ModelObservation) -> ModelDay:
    workers = observation.worker_count
    return build_trusted(
        ModelDay,
        {
            "polls": 1,
            "polls_with_workers": 1 if workers > 0 else 0,
            "workers_min": workers,
            "workers_max": workers,
            "workers_sum": workers,
            "threads_min": observation.thread_count,
            "threads_max": observation.thread_count,
            "queued_max": observation.queued,
            "queued_last": observation.queued,
            "usage_day_reported": observation.usage_day,
            "usage_month_last": observation.usage_month,
            "total_first": observation.usage_total,
            "total_last": observation.usage_total,
            "risk": observation.risk,
        },
    )


def _max_optional(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _fold_model(held: ModelDay | None, observation: ModelObservation) -> ModelDay:
    if held is None:
        return _first(observation)
    workers, threads = observation.worker_count, observation.thread_count
    return build_trusted(
        ModelDay,
        {
            "polls": held.polls + 1,
            "polls_with_workers": held.polls_with_workers + (1 if workers > 0 else 0),
            "workers_min": min(held.workers_min, workers),
            "workers_max": max(held.workers_max, workers),
            "workers_sum": held.workers_sum + workers,
            "threads_min": min(held.threads_min, threads),
            "threads_max": max(held.threads_max, threads),
            "queued_max": _max_optional(held.queued_max, observation.queued),
            "queued_last": observation.queued,
            "usage_day_reported": observation.usage_day,
            "usage_month_last": observation.usage_month,
            "total_first": held.total_first,
            "total_last": observation.usage_total,
            "risk": observation.risk,
        },
    )


def observations_of(
    risk_models: Iterable[ModelDeletionRiskInfo], stats: Mapping[str, CombinedModelStatistics]
) -> dict[str, ModelObservation]:
    """Observations of every ungrouped risk entry with its merged statistics."""
    return {info.name: observe(info, stats.get(info.name)) for info in risk_models}


def empty_day(category: ModelCategory, day: date) -> CategoryDay:
    """A roll-up without captures (a gap until the first capture of the day arrives)."""
    return CategoryDay(category=category, day=day)


def fold_capture(
    rollup: CategoryDay | None,
    *,
    category: ModelCategory,
    captured_at: datetime,
    observations: Mapping[str, ModelObservation],
    generated: bool = False,
) -> CategoryDay:
    """The roll-up after one capture; a capture not after the last one returns ``rollup`` unchanged.

    Models absent from this capture keep what the day already holds for them (a model removed at
    noon still has its morning). A capture of another day than ``rollup.day`` is refused.
    """
    day = utc_day(captured_at)
    if rollup is None:
        rollup = empty_day(category, day)
    if rollup.category is not category or rollup.day != day:
        raise ValueError(
            f"capture of {category} on {day} folded into the roll-up of {rollup.category} {rollup.day}"
        )
    if rollup.last_captured_at is not None and captured_at <= rollup.last_captured_at:
        return rollup
    models = dict(rollup.models)
    for name, observation in observations.items():
        models[name] = _fold_model(models.get(name), observation)
    return rollup.model_copy(
        update={
            "captures": rollup.captures + 1,
            "first_captured_at": rollup.first_captured_at or captured_at,
            "last_captured_at": captured_at,
            "generated": rollup.generated or generated,
            "models": models,
        }
    )


def add_reference_events(rollup: CategoryDay, events: Iterable[ReferenceEvent]) -> CategoryDay:
    """The roll-up with ``events`` added once (same model, kind and version: kept once).

    Events are filed under the day they were recorded; ``at`` is when the watcher detected the change
    (earlier when the worker learnt of it late). An event detected after the roll-up's day is refused.
    """
    held = list(rollup.reference_events)
    seen = {(e.model, e.kind, e.version) for e in held}
    for event in events:
        if utc_day(event.at) > rollup.day:
            raise ValueError(f"reference event of {utc_day(event.at)} added to the roll-up of {rollup.day}")
        key = (event.model, event.kind, event.version)
        if key not in seen:
            seen.add(key)
            held.append(event)
    if len(held) == len(rollup.reference_events):
        return rollup
    return rollup.model_copy(update={"reference_events": tuple(held)})
