"""The daily series of one model and of a category, derived from roll-ups (gaps stay gaps).

Usage of a day is the growth of the stats' ``total`` counter from the previous day's last capture
to this day's last capture when both days have data (the delta wins); otherwise the stats' ``day``
counter at the day's last capture. When both exist and disagree beyond the tolerance the point
says so (``usage_disagrees``, with the reported value), and a ``total`` that went down is reported
as a counter reset and the reported ``day`` value is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.history.days import ONE_DAY, day_range
from shared.domain.history.rollup import CategoryDay, ModelDay, RiskLevel
from shared.domain.trusted import build_trusted

UsageSource = Literal["total_delta", "stats_day"]

#: A ``day`` value within this many uses (or this share) of the ``total`` delta agrees with it.
DISAGREE_ABSOLUTE = 5
DISAGREE_RELATIVE = 0.10


class DayPoint(BaseModel):
    """One model on one day of its series; every value is null on a day without data."""

    model_config = ConfigDict(frozen=True)

    day: date
    has_data: bool
    generated: bool = False
    usage: int | None = None
    usage_source: UsageSource | None = None
    usage_reported: int | None = None
    usage_disagrees: bool = False
    usage_note: str | None = None
    workers_min: int | None = None
    workers_max: int | None = None
    workers_mean: float | None = None
    share_polls_with_workers: float | None = None
    threads_min: int | None = None
    threads_max: int | None = None
    queued_max: float | None = None
    risk_level: RiskLevel | None = None
    risk_score: int | None = None
    flags: tuple[str, ...] = ()


def disagrees(delta: int, reported: int) -> bool:
    """True when the reported ``day`` value is off the ``total`` delta by more than the tolerance."""
    return abs(delta - reported) > max(DISAGREE_ABSOLUTE, DISAGREE_RELATIVE * max(delta, reported))


def _usage(held: ModelDay, previous: ModelDay | None) -> tuple[int, UsageSource, bool, str | None]:
    reported = held.usage_day_reported
    if previous is None:
        return reported, "stats_day", False, None
    delta = held.total_last - previous.total_last
    if delta < 0:
        note = (
            f"total went down from {previous.total_last} to {held.total_last} (counter reset); stats day used"
        )
        return reported, "stats_day", True, note
    if disagrees(delta, reported):
        return (
            delta,
            "total_delta",
            True,
            f"stats day {reported} disagrees with the total delta {delta}; delta used",
        )
    return delta, "total_delta", False, None


def _point(day: date, held: ModelDay, previous: ModelDay | None, generated: bool) -> DayPoint:
    """The day point of a model day; built without re-validation (every value computed here)."""
    usage, source, disagree, note = _usage(held, previous)
    return build_trusted(
        DayPoint,
        {
            "day": day,
            "has_data": True,
            "generated": generated,
            "usage": usage,
            "usage_source": source,
            "usage_reported": held.usage_day_reported,
            "usage_disagrees": disagree,
            "usage_note": note,
            "workers_min": held.workers_min,
            "workers_max": held.workers_max,
            "workers_mean": round(held.workers_sum / held.polls, 3),
            "share_polls_with_workers": round(held.polls_with_workers / held.polls, 4),
            "threads_min": held.threads_min,
            "threads_max": held.threads_max,
            "queued_max": held.queued_max,
            "risk_level": held.risk.level,
            "risk_score": held.risk.score,
            "flags": held.risk.flags,
        },
    )


def point_of(day: date, held: ModelDay, previous: ModelDay | None, generated: bool) -> DayPoint:
    """Public name of the day point builder (the store renders points when it writes them)."""
    return _point(day, held, previous, generated)


def by_day(rollups: Iterable[CategoryDay]) -> dict[date, CategoryDay]:
    """Roll-ups indexed by day (a later record of the same day replaces an earlier one)."""
    return {rollup.day: rollup for rollup in rollups}


def model_series(days: Mapping[date, CategoryDay], model: str, first: date, last: date) -> list[DayPoint]:
    """The model's point for every day of ``first..last``; a day without its data is a gap point."""
    held: dict[date, ModelDay] = {}
    generated: set[date] = set()
    for day in day_range(first - ONE_DAY, last):
        rollup = days.get(day)
        if rollup is None or not rollup.has_data:
            continue
        if rollup.generated:
            generated.add(day)
        model_day = rollup.models.get(model)
        if model_day is not None:
            held[day] = model_day
    return series_of(held, generated, first, last)


def series_of(held: Mapping[date, ModelDay], generated: set[date], first: date, last: date) -> list[DayPoint]:
    """The series from a model's days (as materialised in Redis); ``held`` may include ``first - 1``."""
    points: list[DayPoint] = []
    for day in day_range(first, last):
        model_day = held.get(day)
        if model_day is None:
            points.append(DayPoint(day=day, has_data=False))
        else:
            points.append(_point(day, model_day, held.get(day - ONE_DAY), day in generated))
    return points


class CategoryDayPoint(BaseModel):
    """One day of a category's summary; counts are null on a day without data."""

    model_config = ConfigDict(frozen=True)

    day: date
    has_data: bool
    generated: bool = False
    models: int | None = None
    models_at_risk: int | None = None
    models_critical: int | None = None
    zero_worker_models: int | None = None
    category_usage: int | None = None
    captures: int | None = None


def category_series(days: Mapping[date, CategoryDay], first: date, last: date) -> list[CategoryDayPoint]:
    """Per day: models, at risk, critical, models without any worker all day, and the category usage."""
    points: list[CategoryDayPoint] = []
    for day in day_range(first, last):
        rollup = days.get(day)
        if rollup is None or not rollup.has_data:
            points.append(CategoryDayPoint(day=day, has_data=False))
            continue
        before = days.get(day - ONE_DAY)
        previous = before.models if before is not None and before.has_data else {}
        at_risk = critical = zero = usage = 0
        for name, held in rollup.models.items():
            level = held.risk.level
            at_risk += level != "clear"
            critical += level == "critical"
            zero += held.workers_max == 0
            usage += _usage(held, previous.get(name))[0]
        points.append(
            CategoryDayPoint(
                day=day,
                has_data=True,
                generated=rollup.generated,
                models=len(rollup.models),
                models_at_risk=at_risk,
                models_critical=critical,
                zero_worker_models=zero,
                category_usage=usage,
                captures=rollup.captures,
            )
        )
    return points
