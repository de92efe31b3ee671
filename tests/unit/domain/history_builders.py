"""Builders for the history tests: risk entries and day-by-day roll-ups with the clock passed in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from shared.domain.categories import ModelCategory
from shared.domain.history.rollup import CategoryDay, ModelObservation, RiskMark, fold_capture
from shared.domain.risk.models import DeletionRiskFlags, ModelDeletionRiskInfo

IMAGE = ModelCategory.IMAGE_GENERATION


def info(
    name: str = "m",
    *,
    workers: int = 0,
    usage_day: int = 0,
    usage_month: int = 0,
    usage_total: int = 0,
    critical: bool = False,
    baseline: str | None = "stable_diffusion_xl",
    **flags: bool,
) -> ModelDeletionRiskInfo:
    """A risk entry with exactly ``flags`` set (and ``no_active_workers`` when ``workers == 0``)."""
    values = DeletionRiskFlags(no_active_workers=workers == 0, **flags)
    count = values.flag_count()
    return ModelDeletionRiskInfo(
        name=name,
        category=IMAGE,
        deletion_risk_flags=values,
        at_risk=count > 0,
        risk_score=count,
        worker_count=workers,
        usage_day=usage_day,
        usage_month=usage_month,
        usage_total=usage_total,
        baseline=baseline,
        is_critical=critical,
        has_description=True,
    )


def obs(
    *, workers: int = 0, total: int = 0, day: int = 0, level: str = "at_risk", threads: int | None = None
) -> ModelObservation:
    flags: tuple[str, ...] = ("no_active_workers",) if workers == 0 else ()
    score = len(flags) if level != "clear" else 0
    return ModelObservation(
        day,
        day * 30,
        total,
        workers,
        workers if threads is None else threads,
        None,
        RiskMark(level=level, score=score, flags=flags if level != "clear" else ()),  # type: ignore[arg-type]
    )


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def one_capture_day(day: date, models: Mapping[str, ModelObservation], *, hour: int = 23) -> CategoryDay:
    """The roll-up of a day with one capture at ``hour``."""
    return fold_capture(None, category=IMAGE, captured_at=at(day, hour), observations=models)


def days_from(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]
