"""The day-by-day summary gives exactly the lifecycle fields of the full-series computation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.history.enrich import LifecycleContext, enrich
from shared.domain.history.lifecycle import compute_lifecycle
from shared.domain.history.policy import LifecyclePolicy
from shared.domain.history.reference_events import FirstSeen
from shared.domain.history.rollup import ModelObservation
from shared.domain.history.series import by_day, model_series
from shared.domain.history.summary import PastSummary, lifecycle_from_summary
from shared.domain.risk.thresholds import RiskThresholds
from tests.unit.domain.history_builders import IMAGE, info, obs, one_capture_day

TODAY = date(2026, 12, 5)
POLICY = LifecyclePolicy()
OLD = FirstSeen(datetime(2024, 1, 1, tzinfo=UTC), "model_mod_data")

day_spec = st.one_of(
    st.none(),  # a gap
    st.tuples(st.integers(0, 3), st.integers(0, 40), st.sampled_from(["clear", "at_risk", "critical"])),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(day_spec, min_size=0, max_size=45),
    st.integers(0, 3),
    st.booleans(),
    st.booleans(),
)
def test_summary_equals_full_series(
    specs: list[tuple[int, int, str] | None], workers_now: int, critical_now: bool, flagged_now: bool
) -> None:
    """Every field, for random series with gaps, today with or without data, any current state."""
    first = TODAY - timedelta(days=len(specs) - 1) if specs else TODAY
    total = 100
    observations: dict[date, ModelObservation] = {}
    for offset, spec in enumerate(specs):
        if spec is None:
            continue
        workers, used, level = spec
        total += used
        observations[first + timedelta(days=offset)] = obs(
            workers=workers, total=total, day=used, level=level
        )
    days = by_day(one_capture_day(day, {"m": o}) for day, o in observations.items())
    entry = info(
        workers=workers_now, critical=critical_now and workers_now == 0, missing_description=flagged_now
    )
    expected = compute_lifecycle(
        entry, model_series(days, "m", first, TODAY), first_seen=OLD, today=TODAY, policy=POLICY,
        low_usage_threshold=0.0065,
    )  # fmt: skip
    summary = PastSummary()
    for day in sorted(days):
        if day < TODAY:
            summary.add_day(day, days[day].models["m"])
    today_day = days[TODAY].models["m"] if TODAY in days else None
    found = lifecycle_from_summary(
        entry, summary, today_day, first_seen=OLD, today=TODAY, policy=POLICY, low_usage_threshold=0.0065
    )
    assert found == expected


def test_days_must_be_added_in_order() -> None:
    summary = PastSummary()
    rollup = one_capture_day(TODAY, {"m": obs()})
    summary.add_day(TODAY, rollup.models["m"])
    with pytest.raises(ValueError, match="added after"):
        summary.add_day(TODAY, rollup.models["m"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(day_spec, min_size=0, max_size=30),
    st.integers(0, 3),
    st.integers(0, 40),
    st.booleans(),
)
def test_the_recompute_path_equals_the_full_series_with_the_capture_as_today(
    specs: list[tuple[int, int, str] | None], workers_now: int, used_now: int, drop_total: bool
) -> None:
    """``enrich`` (no day point of today: the capture's workers, day usage and total only) gives
    the fields of the full series whose today is that one capture; a ``total`` below the day
    before's (a counter reset) included."""
    first = TODAY - timedelta(days=len(specs))
    total = 100
    observations: dict[date, ModelObservation] = {}
    for offset, spec in enumerate(specs):
        if spec is not None:
            workers, used, level = spec
            total += used
            observations[first + timedelta(days=offset)] = obs(
                workers=workers, total=total, day=used, level=level
            )
    total_now = 50 if drop_total else total + used_now
    observations[TODAY] = obs(workers=workers_now, total=total_now, day=used_now, level="clear")
    days = by_day(one_capture_day(day, {"m": o}) for day, o in observations.items())
    entry = info(
        "m", workers=workers_now, usage_day=used_now, usage_total=total_now, missing_description=True
    )
    thresholds = RiskThresholds()
    low = thresholds.low_usage_threshold_for(IMAGE)
    expected = compute_lifecycle(
        entry, model_series(days, "m", first, TODAY), first_seen=OLD, today=TODAY, policy=POLICY,
        low_usage_threshold=low, preferred_hosts=thresholds.preferred_file_hosts,
    )  # fmt: skip
    summary = PastSummary()
    for day in sorted(days):
        if day < TODAY:
            summary.add_day(day, days[day].models["m"])
    context = LifecycleContext(
        category=IMAGE, today=TODAY, policy=POLICY, summaries={"m": summary}, first_seen={"m": OLD}
    )
    (found,) = enrich([entry], context, thresholds)
    assert found.lifecycle == expected
