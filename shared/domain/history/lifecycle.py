"""The lifecycle fields of one model: age, how long unserved, unused, at risk, trends, and why.

Computed from the model's daily series (end-of-day states of past days, gaps as unknown) and its
current risk entry, with ``today`` passed in. Runs are bridged across gaps (a gap is unknown, not a
change) and the gap is named in the evidence. Day counts are ``today - since`` in days, so a model
unserved since 2026-10-25 has been so for 41 days on 2026-12-05.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from shared.domain.history.days import ONE_DAY, describe_gap, gaps
from shared.domain.history.fields import GapRange, LifecycleFields, LifecycleState, Trend, TrendDirection
from shared.domain.history.policy import LifecyclePolicy
from shared.domain.history.reference_events import FirstSeen
from shared.domain.history.rollup import LEVEL_RANK, RiskLevel
from shared.domain.history.series import DayPoint
from shared.domain.risk.models import ModelDeletionRiskInfo


def is_new_model(first_seen: FirstSeen | None, age: int | None, policy: LifecyclePolicy) -> bool:
    """First seen by a sighting that is not the watcher's first load, fewer than ``new_model_days`` ago."""
    return (
        first_seen is not None
        and first_seen.source != "watcher_initial"
        and age is not None
        and age < policy.new_model_days
    )


def current_level(info: ModelDeletionRiskInfo) -> RiskLevel:
    """The risk level of an entry: critical, at risk (any flag) or clear."""
    return "critical" if info.is_critical else "at_risk" if info.at_risk else "clear"


def run_start(points: Sequence[DayPoint], today: date, in_run: Callable[[DayPoint], bool]) -> date:
    """First day with data of the unbroken run that ends today (today is in it by assumption).

    Walks back over the days before today; gaps are skipped (unknown), the first day with data
    outside the run ends it. Today when no earlier day with data is in the run.
    """
    start = today
    for point in reversed(points):
        if point.day >= today or not point.has_data:
            continue
        if not in_run(point):
            break
        start = point.day
    return start


def trend(
    points: Sequence[DayPoint],
    today: date,
    value: Callable[[DayPoint], float | None],
    policy: LifecyclePolicy,
) -> Trend:
    """Mean per day with data over the last ``trend_window_days`` completed days against the window before."""
    window = policy.trend_window_days
    recent_first = today - window * ONE_DAY
    previous_first = recent_first - window * ONE_DAY
    recent: list[float] = []
    previous: list[float] = []
    for point in points:
        number = value(point) if point.has_data else None
        if number is None:
            continue
        if recent_first <= point.day < today:
            recent.append(number)
        elif previous_first <= point.day < recent_first:
            previous.append(number)
    recent_mean = round(sum(recent) / len(recent), 3) if recent else None
    previous_mean = round(sum(previous) / len(previous), 3) if previous else None
    change = None
    if recent_mean is not None and previous_mean:
        change = round((recent_mean - previous_mean) / previous_mean * 100, 1)
    direction: TrendDirection = "unknown"
    enough = len(recent) >= policy.trend_min_days and len(previous) >= policy.trend_min_days
    if enough and recent_mean is not None and previous_mean is not None:
        limit = policy.trend_change_percent / 100
        if recent_mean > previous_mean * (1 + limit) and recent_mean > 0:
            direction = "rising"
        elif recent_mean < previous_mean * (1 - limit):
            direction = "falling"
        else:
            direction = "flat"
    return Trend(
        direction=direction,
        recent=recent_mean,
        previous=previous_mean,
        recent_days=len(recent),
        previous_days=len(previous),
        change_percent=change,
    )


def _usage(point: DayPoint) -> float | None:
    return None if point.usage is None else float(point.usage)


def _workers(point: DayPoint) -> float | None:
    return point.workers_mean


def lifecycle_state(
    points: Sequence[DayPoint], today: date, *, protected: bool, in_grace: bool, policy: LifecyclePolicy
) -> LifecycleState:
    """The state risk-change events follow, with hysteresis: it moves only at UTC day boundaries.

    Protected and grace come from the policy and age; otherwise the state is read from the
    end-of-day levels of completed days (gaps bridged): the latest one with data decides between
    clear and at risk, and an at-risk run of ``min_days_at_risk`` days up to today makes a deletion
    candidate. A poll's noise during today never changes it; a candidate is released only when a
    whole UTC day ends clear. Without any completed day with data the state is clear.
    """
    if protected:
        return "protected"
    if in_grace:
        return "grace"
    past = [p for p in points if p.has_data and p.day < today]
    if not past or past[-1].risk_level in (None, "clear"):
        return "clear"
    since = run_start([*past, DayPoint(day=today, has_data=False)], today, lambda p: p.risk_level != "clear")
    since = min(since, past[-1].day)
    return "deletion_candidate" if (today - since).days >= policy.min_days_at_risk else "at_risk"


def compute_lifecycle(
    info: ModelDeletionRiskInfo,
    points: Sequence[DayPoint],
    *,
    first_seen: FirstSeen | None,
    today: date,
    policy: LifecyclePolicy,
    low_usage_threshold: float,
    preferred_hosts: Sequence[str] = (),
) -> LifecycleFields:
    """Every lifecycle field of one model; ``points`` is its series up to ``today`` (sorted by day)."""
    from shared.domain.history.reasons import reasons_for  # the sentences need the fields first

    age = (today - first_seen.at.date()).days if first_seen is not None else None
    in_grace = (
        first_seen is not None
        and first_seen.source != "watcher_initial"
        and age is not None
        and age < policy.grace_period_days
    )
    protection = policy.protection(info.name, info.baseline)
    level = current_level(info)
    at_risk_since: date | None = None
    if level != "clear":
        rank = LEVEL_RANK[level]
        at_risk_since = run_start(points, today, lambda p: LEVEL_RANK[p.risk_level or "clear"] >= rank)
    zero_since: date | None = None
    if info.worker_count == 0:
        zero_since = run_start(points, today, lambda p: p.workers_max == 0)
        today_point = points[-1] if points and points[-1].day == today else None
        if today_point is not None and today_point.has_data and (today_point.workers_max or 0) > 0:
            zero_since = today
    used = [p.day for p in points if p.has_data and (p.usage or 0) > 0]
    covered = [p.day for p in points if p.has_data]
    gap_ranges = gaps(covered, covered[0], today) if covered else []
    days_at_risk = (today - at_risk_since).days if at_risk_since is not None else 0
    state = lifecycle_state(points, today, protected=protection is not None, in_grace=in_grace, policy=policy)
    fields = LifecycleFields(
        first_seen_at=first_seen.at if first_seen is not None else None,
        first_seen_source=first_seen.source if first_seen is not None else None,
        age_days=age,
        in_grace_period=in_grace,
        new_model=is_new_model(first_seen, age, policy),
        protected=protection is not None,
        zero_workers_since=zero_since,
        last_used_on=used[-1] if used else None,
        at_risk_since=at_risk_since,
        days_at_risk=days_at_risk,
        usage_trend=trend(points, today, _usage, policy),
        workers_trend=trend(points, today, _workers, policy),
        lifecycle_state=state,
        deletion_candidate=state == "deletion_candidate",
        gaps=tuple(GapRange(first=a, last=b) for a, b in gap_ranges),
    )
    sentences = reasons_for(
        info,
        fields,
        today=today,
        policy=policy,
        protection=protection,
        low_usage_threshold=low_usage_threshold,
        preferred_hosts=preferred_hosts,
    )
    return fields.model_copy(update={"reasons": tuple(sentences)})


def gaps_within(fields: LifecycleFields, since: date, today: date) -> list[str]:
    """``no data …`` sentences for the gaps between ``since`` and ``today``."""
    return [describe_gap((g.first, g.last)) for g in fields.gaps if g.last >= since and g.first <= today]
