"""The past of a model folded day by day into a few numbers, so lifecycle fields cost O(1) per model.

``compute_lifecycle`` walks a model's whole series; a recompute of 720 text models with 400 days
each cannot. A :class:`PastSummary` is updated once per completed day (``add_day``) and answers the
same questions: the first zero-worker day after the last served one, the start of the current
at-risk and critical runs, the last day used, the last days' usage and workers for trends, the
gaps. :func:`lifecycle_from_summary` gives exactly the fields ``compute_lifecycle`` gives for the
same series (a property test checks it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.domain.history.days import ONE_DAY
from shared.domain.history.fields import GapRange, LifecycleFields, LifecycleState, Trend
from shared.domain.history.lifecycle import current_level, is_new_model, trend
from shared.domain.history.policy import LifecyclePolicy
from shared.domain.history.reasons import reasons_for
from shared.domain.history.reference_events import FirstSeen
from shared.domain.history.rollup import LEVEL_RANK, ModelDay
from shared.domain.history.series import DayPoint, _point
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.domain.trusted import build_trusted


@dataclass(slots=True)
class PastSummary:
    """What lifecycle fields need from a model's completed days (days added in increasing order)."""

    first_data_day: date | None = None
    last_data_day: date | None = None
    last_model_day: ModelDay | None = None
    last_level_rank: int = 0
    #: First day with data after the last day that had a worker (None: the last data day had one).
    zero_start: date | None = None
    #: Start of the run of days at rank >= 1 (at risk) and >= 2 (critical) up to the last data day.
    run_start: list[date | None] = field(default_factory=lambda: [None, None, None])
    last_used_on: date | None = None
    gaps: list[tuple[date, date]] = field(default_factory=list)
    #: The last points with data, enough for both trend windows.
    recent: deque[DayPoint] = field(default_factory=deque)
    #: ``(today, policy, usage trend, workers trend)``: trends use completed days only, so they are
    #: computed once per day and model, not once per recompute.
    trends: tuple[date, LifecyclePolicy, Trend, Trend] | None = None

    def add_day(
        self, day: date, model_day: ModelDay, *, generated: bool = False, window_days: int = 14
    ) -> None:
        """Take one completed day with data for this model (days in increasing order)."""
        if self.last_data_day is not None and day <= self.last_data_day:
            raise ValueError(f"day {day} added after {self.last_data_day}")
        previous = self.last_model_day if self.last_data_day == day - ONE_DAY else None
        point = _point(day, model_day, previous, generated)
        if self.first_data_day is None:
            self.first_data_day = day
        elif self.last_data_day is not None and day - self.last_data_day > ONE_DAY:
            self.gaps.append((self.last_data_day + ONE_DAY, day - ONE_DAY))
        if model_day.workers_max > 0:
            self.zero_start = None
        elif self.zero_start is None:
            self.zero_start = day
        rank = LEVEL_RANK[model_day.risk.level]
        for r in (1, 2):
            if rank >= r:
                if self.run_start[r] is None:
                    self.run_start[r] = day
            else:
                self.run_start[r] = None
        if (point.usage or 0) > 0:
            self.last_used_on = day
        self.recent.append(point)
        while self.recent and (day - self.recent[0].day).days >= window_days:
            self.recent.popleft()
        self.last_data_day, self.last_model_day, self.last_level_rank = day, model_day, rank
        self.trends = None

    def trends_on(self, today: date, policy: LifecyclePolicy) -> tuple[Trend, Trend]:
        """Usage and workers trends as of ``today`` (cached until the next day is added)."""
        held = self.trends
        if held is not None and held[0] == today and held[1] is policy:
            return held[2], held[3]
        points = list(self.recent)
        usage = trend(points, today, _usage_of, policy)
        workers = trend(points, today, _workers_of, policy)
        self.trends = (today, policy, usage, workers)
        return usage, workers


def _usage_of(point: DayPoint) -> float | None:
    return None if point.usage is None else float(point.usage)


def _workers_of(point: DayPoint) -> float | None:
    return point.workers_mean


def _state(
    summary: PastSummary, today: date, *, protected: bool, in_grace: bool, policy: LifecyclePolicy
) -> LifecycleState:
    if protected:
        return "protected"
    if in_grace:
        return "grace"
    if summary.last_data_day is None or summary.last_level_rank == 0:
        return "clear"
    since = summary.run_start[1] or summary.last_data_day
    return "deletion_candidate" if (today - since).days >= policy.min_days_at_risk else "at_risk"


def lifecycle_from_summary(
    info: ModelDeletionRiskInfo,
    summary: PastSummary,
    today_day: ModelDay | None,
    *,
    first_seen: FirstSeen | None,
    today: date,
    policy: LifecyclePolicy,
    low_usage_threshold: float,
    preferred_hosts: Sequence[str] = (),
) -> LifecycleFields:
    """The lifecycle fields of ``compute_lifecycle`` from a summary of the days before ``today``
    and today's roll-up of the model so far (None: no capture today yet)."""
    today_facts = None
    if today_day is not None:
        today_facts = (today_day.workers_max, today_day.usage_day_reported, today_day.total_last)
    return lifecycle_of(
        info, summary, today_facts, first_seen=first_seen, today=today, policy=policy,
        low_usage_threshold=low_usage_threshold, preferred_hosts=preferred_hosts,
    )  # fmt: skip


def today_usage(summary: PastSummary, today: date, reported: int, total: int) -> int:
    """Today's usage as its day point would say (``series._usage``): the ``total`` delta from the
    day before when that day has data and the counter did not go down, else the reported ``day``."""
    previous = summary.last_model_day if summary.last_data_day == today - ONE_DAY else None
    if previous is None:
        return reported
    delta = total - previous.total_last
    return reported if delta < 0 else delta


def lifecycle_of(
    info: ModelDeletionRiskInfo,
    summary: PastSummary,
    today_facts: tuple[int, int, int] | None,
    *,
    first_seen: FirstSeen | None,
    today: date,
    policy: LifecyclePolicy,
    low_usage_threshold: float,
    preferred_hosts: Sequence[str] = (),
) -> LifecycleFields:
    """:func:`lifecycle_from_summary` from what it needs of today: ``(workers_max, reported day
    usage, total)`` of today so far (None: no capture today). The recompute's hot path: no day
    point or roll-up is built for today, and the fields are built once."""
    age = (today - first_seen.at.date()).days if first_seen is not None else None
    in_grace = (
        first_seen is not None
        and first_seen.source != "watcher_initial"
        and age is not None
        and age < policy.grace_period_days
    )
    protection = policy.protection(info.name, info.baseline)
    level = current_level(info)
    at_risk_since = None
    if level != "clear":
        at_risk_since = summary.run_start[LEVEL_RANK[level]] or today
    zero_since = None
    if info.worker_count == 0:
        zero_since = summary.zero_start or today
        if today_facts is not None and today_facts[0] > 0:
            zero_since = today
    last_used = summary.last_used_on
    if today_facts is not None and today_usage(summary, today, today_facts[1], today_facts[2]) > 0:
        last_used = today
    gap_list = summary.gaps
    if summary.last_data_day is not None:
        end = today if today_facts is None else today - ONE_DAY
        if end > summary.last_data_day:
            gap_list = [*gap_list, (summary.last_data_day + ONE_DAY, end)]
    elif today_facts is None:
        gap_list = []
    usage_trend, workers_trend = summary.trends_on(today, policy)
    state = _state(summary, today, protected=protection is not None, in_grace=in_grace, policy=policy)
    # Every value below is computed here with its declared type: built without re-validation.
    values: dict[str, Any] = {
        "first_seen_at": first_seen.at if first_seen is not None else None,
        "first_seen_source": first_seen.source if first_seen is not None else None,
        "age_days": age,
        "in_grace_period": in_grace,
        "new_model": is_new_model(first_seen, age, policy),
        "protected": protection is not None,
        "zero_workers_since": zero_since,
        "last_used_on": last_used,
        "at_risk_since": at_risk_since,
        "days_at_risk": (today - at_risk_since).days if at_risk_since is not None else 0,
        "usage_trend": usage_trend,
        "workers_trend": workers_trend,
        "lifecycle_state": state,
        "deletion_candidate": state == "deletion_candidate",
        "gaps": tuple(_gap(a, b) for a, b in gap_list) if gap_list else (),
        "reasons": (),
    }
    fields = build_trusted(LifecycleFields, values)
    sentences = reasons_for(
        info, fields, today=today, policy=policy, protection=protection,
        low_usage_threshold=low_usage_threshold, preferred_hosts=preferred_hosts,
    )  # fmt: skip
    # The sentences need the other fields; the instance is not shared before this line, so its
    # own dict takes them instead of a second copy of every field.
    values["reasons"] = tuple(sentences)
    return fields


def _gap(first: date, last: date) -> GapRange:
    return build_trusted(GapRange, {"first": first, "last": last})
