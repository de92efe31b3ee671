"""Series, gaps, lifecycle fields, policy and hysteresis, with the clock passed in (``today``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.history.lifecycle import compute_lifecycle, lifecycle_state
from shared.domain.history.policy import LifecyclePolicy, without_usage_flags
from shared.domain.history.reference_events import FirstSeen
from shared.domain.history.rollup import CategoryDay, ModelObservation
from shared.domain.history.series import by_day, category_series, model_series
from shared.domain.risk.models import DeletionRiskFlags
from tests.unit.domain.history_builders import days_from, info, obs, one_capture_day

POLICY = LifecyclePolicy()
TODAY = date(2026, 12, 5)
GAP = {date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 5)}
OLD = FirstSeen(datetime(2024, 1, 1, tzinfo=UTC), "model_mod_data")


def _history(spec: dict[date, ModelObservation], first: date, last: date) -> list:
    days = by_day(one_capture_day(day, {"m": o}) for day, o in spec.items())
    return model_series(days, "m", first, last)


def _unserved_since_oct_25() -> dict[date, ModelObservation]:
    """Workers until 2026-10-24, none from 2026-10-25; 3 uses a day until 10-20; poller down 11-03..05."""
    spec: dict[date, ModelObservation] = {}
    total = 1000
    for day in days_from(date(2026, 10, 1), 66):
        if day in GAP or day > TODAY:
            continue
        total += 3 if day <= date(2026, 10, 20) else 0
        workers = 2 if day < date(2026, 10, 25) else 0
        level = "clear" if workers else "at_risk"
        spec[day] = obs(workers=workers, total=total, day=3 if day <= date(2026, 10, 20) else 0, level=level)
    return spec


def test_series_usage_is_the_total_delta_and_gaps_are_null_not_zero() -> None:
    points = _history(_unserved_since_oct_25(), date(2026, 10, 1), TODAY)
    by = {p.day: p for p in points}
    assert by[date(2026, 10, 2)].usage == 3
    assert by[date(2026, 10, 2)].usage_source == "total_delta"
    assert by[date(2026, 10, 1)].usage_source == "stats_day"  # no previous day: the reported value
    for day in GAP:
        assert not by[day].has_data
        assert by[day].usage is None
        assert by[day].workers_max is None
    assert by[date(2026, 11, 6)].usage_source == "stats_day"  # the day after a gap has no delta


def test_disagreeing_day_value_is_reported_and_the_delta_wins() -> None:
    spec = {date(2026, 11, 1): obs(total=100, day=10), date(2026, 11, 2): obs(total=150, day=20)}
    point = _history(spec, date(2026, 11, 1), date(2026, 11, 2))[1]
    assert point.usage == 50
    assert point.usage_reported == 20
    assert point.usage_disagrees
    assert point.usage_note == "stats day 20 disagrees with the total delta 50; delta used"


def test_total_going_down_is_a_counter_reset_and_the_day_value_is_used() -> None:
    spec = {date(2026, 11, 1): obs(total=100, day=1), date(2026, 11, 2): obs(total=40, day=7)}
    point = _history(spec, date(2026, 11, 1), date(2026, 11, 2))[1]
    assert (point.usage, point.usage_source, point.usage_disagrees) == (7, "stats_day", True)
    assert point.usage_note is not None
    assert "counter reset" in point.usage_note


def test_issue_example_no_worker_for_41_days_since_october_25_with_the_gap_named() -> None:
    points = _history(_unserved_since_oct_25(), date(2026, 10, 1), TODAY)
    fields = compute_lifecycle(
        info(workers=0), points, first_seen=OLD, today=TODAY, policy=POLICY, low_usage_threshold=0.0065
    )
    assert fields.zero_workers_since == date(2026, 10, 25)
    assert fields.last_used_on == date(2026, 10, 20)
    assert fields.at_risk_since == date(2026, 10, 25)
    assert fields.days_at_risk == 41
    assert fields.lifecycle_state == "deletion_candidate"
    assert fields.deletion_candidate
    assert (
        "no worker has served it for 41 days, since 2026-10-25 (no data 2026-11-03 to 2026-11-05)"
        in fields.reasons
    )
    assert [(g.first, g.last) for g in fields.gaps] == [(date(2026, 11, 3), date(2026, 11, 5))]
    assert fields.age_days == (TODAY - date(2024, 1, 1)).days
    assert fields.first_seen_source == "model_mod_data"


def test_served_model_has_no_zero_workers_since() -> None:
    points = _history(_unserved_since_oct_25(), date(2026, 10, 1), TODAY)
    fields = compute_lifecycle(
        info(workers=1), points, first_seen=OLD, today=TODAY, policy=POLICY, low_usage_threshold=0.0065
    )
    assert fields.zero_workers_since is None
    assert fields.at_risk_since is None
    assert fields.days_at_risk == 0


def test_trends_compare_the_last_7_completed_days_with_the_7_before_with_numbers() -> None:
    spec: dict[date, ModelObservation] = {}
    total = 0
    for day in days_from(TODAY - timedelta(days=15), 15):
        per_day = 20 if day < TODAY - timedelta(days=7) else 5
        total += per_day
        spec[day] = obs(workers=4 if per_day == 20 else 1, total=total, day=per_day, level="clear")
    points = _history(spec, TODAY - timedelta(days=15), TODAY)
    fields = compute_lifecycle(
        info(workers=1), points, first_seen=OLD, today=TODAY, policy=POLICY, low_usage_threshold=0.0065
    )
    assert fields.usage_trend.direction == "falling"
    assert (fields.usage_trend.recent, fields.usage_trend.previous) == (5.0, 20.0)
    assert (fields.usage_trend.recent_days, fields.usage_trend.previous_days) == (7, 7)
    assert fields.usage_trend.change_percent == -75.0
    assert fields.workers_trend.direction == "falling"
    assert (fields.workers_trend.recent, fields.workers_trend.previous) == (1.0, 4.0)


def test_trend_is_unknown_without_enough_days_with_data() -> None:
    spec = {TODAY - timedelta(days=1): obs(total=5, day=5)}
    points = _history(spec, TODAY - timedelta(days=14), TODAY)
    fields = compute_lifecycle(
        info(workers=0), points, first_seen=OLD, today=TODAY, policy=POLICY, low_usage_threshold=0.0065
    )
    assert fields.usage_trend.direction == "unknown"
    assert fields.usage_trend.recent == 5.0
    assert fields.usage_trend.previous is None


def test_low_usage_reason_names_usage_share_and_threshold() -> None:
    entry = info(workers=1, usage_day=1, usage_month=3, usage_total=9, low_usage=True)
    entry = entry.model_copy(update={"usage_percentage_of_category": 0.0004})
    fields = compute_lifecycle(
        entry, [], first_seen=OLD, today=TODAY, policy=POLICY, low_usage_threshold=0.0065
    )
    assert "used 3 times this month, 0.0004% of the category, threshold 0.0065%" in fields.reasons


def test_model_in_grace_period_and_grace_flags_cleared() -> None:
    new = FirstSeen(datetime(2026, 11, 25, tzinfo=UTC), "watcher")
    fields = compute_lifecycle(
        info(workers=0, zero_usage_month=True),
        [],
        first_seen=new,
        today=TODAY,
        policy=POLICY,
        low_usage_threshold=0.0065,
    )
    assert fields.in_grace_period
    assert fields.age_days == 10
    assert fields.lifecycle_state == "grace"
    assert not fields.deletion_candidate
    assert any(
        r.startswith("in its grace period: first seen 2026-11-25 (10 days ago, grace 30 days)")
        for r in fields.reasons
    )
    cleared = without_usage_flags(
        DeletionRiskFlags(zero_usage_month=True, low_usage=True, no_active_workers=True)
    )
    assert cleared == DeletionRiskFlags(no_active_workers=True)


def test_watcher_first_load_never_starts_a_grace_period() -> None:
    initial = FirstSeen(datetime(2026, 11, 25, tzinfo=UTC), "watcher_initial")
    fields = compute_lifecycle(
        info(workers=0), [], first_seen=initial, today=TODAY, policy=POLICY, low_usage_threshold=0.0065
    )
    assert not fields.in_grace_period
    assert fields.age_days == 10


def test_protected_golden_model_by_name_and_configured_baseline_is_never_a_candidate() -> None:
    points = _history(_unserved_since_oct_25(), date(2026, 10, 1), TODAY)
    golden = compute_lifecycle(
        info("stable_diffusion", workers=0),
        points,
        first_seen=OLD,
        today=TODAY,
        policy=POLICY,
        low_usage_threshold=0.0065,
    )
    assert golden.protected
    assert golden.lifecycle_state == "protected"
    assert not golden.deletion_candidate
    assert golden.days_at_risk == 41  # the facts are still reported
    assert "protected (golden model stable_diffusion): never a deletion candidate" in golden.reasons
    by_baseline = LifecyclePolicy(protected_baselines=("stable_diffusion_xl",))
    assert (
        by_baseline.protection("any fine-tune", "stable_diffusion_xl")
        == "protected baseline stable_diffusion_xl"
    )
    assert LifecyclePolicy(protected_models=("Mine",)).protection("mine", None) == "protected model mine"


def test_hysteresis_a_clear_poll_today_does_not_release_a_candidate_a_clear_day_does() -> None:
    spec = {day: obs(workers=0) for day in days_from(TODAY - timedelta(days=20), 20)}
    points = _history(spec, TODAY - timedelta(days=20), TODAY)
    served_now = compute_lifecycle(
        info(workers=3), points, first_seen=OLD, today=TODAY, policy=POLICY, low_usage_threshold=0.0065
    )
    assert served_now.at_risk_since is None  # the facts follow the current poll ...
    assert served_now.lifecycle_state == "deletion_candidate"  # ... the state waits for the day's end
    spec[TODAY - timedelta(days=1)] = obs(workers=3, level="clear")
    released = lifecycle_state(
        _history(spec, TODAY - timedelta(days=20), TODAY),
        TODAY,
        protected=False,
        in_grace=False,
        policy=POLICY,
    )
    assert released == "clear"


def test_candidate_needs_the_minimum_days_at_risk() -> None:
    spec = {day: obs(workers=0) for day in days_from(TODAY - timedelta(days=13), 13)}
    points = _history(spec, TODAY - timedelta(days=13), TODAY)
    fields = compute_lifecycle(
        info(workers=0), points, first_seen=OLD, today=TODAY, policy=POLICY, low_usage_threshold=0.0065
    )
    assert fields.days_at_risk == 13
    assert fields.lifecycle_state == "at_risk"
    longer = LifecyclePolicy(min_days_at_risk=13)
    assert compute_lifecycle(
        info(workers=0), points, first_seen=OLD, today=TODAY, policy=longer, low_usage_threshold=0.0065
    ).deletion_candidate


def test_category_series_counts_and_gaps() -> None:
    days = by_day(
        [
            one_capture_day(
                date(2026, 11, 1),
                {"a": obs(workers=0, total=10), "b": obs(workers=2, total=5, level="clear")},
            ),
            one_capture_day(
                date(2026, 11, 2),
                {"a": obs(workers=0, total=12), "b": obs(workers=2, total=9, level="clear")},
            ),
            CategoryDay(category=one_capture_day(date(2026, 11, 3), {}).category, day=date(2026, 11, 3)),
        ]
    )
    series = category_series(days, date(2026, 11, 1), date(2026, 11, 4))
    assert series[1].models_at_risk == 1
    assert series[1].zero_worker_models == 1
    assert series[1].category_usage == 6
    assert not series[2].has_data
    assert series[2].category_usage is None
    assert not series[3].has_data


@given(
    st.lists(st.sampled_from(["clear", "at_risk", "critical", None]), min_size=1, max_size=40),
    st.integers(0, 5),
    st.booleans(),
)
def test_lifecycle_invariants(levels: list[str | None], workers_now: int, critical_now: bool) -> None:
    """Runs end today and start on a day with data; the state ignores today's point (hysteresis)."""
    first = TODAY - timedelta(days=len(levels) - 1)
    spec = {
        day: obs(workers=0 if level != "clear" else 1, level=level)
        for day, level in zip(days_from(first, len(levels)), levels, strict=True)
        if level is not None
    }
    points = _history(spec, first, TODAY)
    entry = info(workers=workers_now, critical=critical_now and workers_now == 0)
    fields = compute_lifecycle(
        entry, points, first_seen=OLD, today=TODAY, policy=POLICY, low_usage_threshold=0.0065
    )
    assert fields.days_at_risk >= 0
    if fields.at_risk_since is not None:
        assert fields.at_risk_since <= TODAY
        assert fields.at_risk_since == TODAY or any(
            p.has_data and p.day == fields.at_risk_since for p in points
        )
    if fields.zero_workers_since is not None:
        assert workers_now == 0
        assert fields.zero_workers_since <= TODAY
    past_only = [p for p in points if p.day < TODAY]
    assert (
        lifecycle_state(past_only, TODAY, protected=False, in_grace=False, policy=POLICY)
        == fields.lifecycle_state
    )
    assert fields.deletion_candidate == (fields.lifecycle_state == "deletion_candidate")
