"""Daily roll-ups: folding captures, idempotent replays, reference events, days in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.history.days import describe_gap, gaps, utc_day
from shared.domain.history.reference_events import events_of_diff
from shared.domain.history.rollup import (
    CategoryDay,
    ReferenceEvent,
    add_reference_events,
    fold_capture,
    observe,
    risk_mark,
)
from shared.domain.reference.diff import ModelChange, ReferenceDiff
from tests.unit.domain.history_builders import IMAGE, at, info, obs

DAY = date(2026, 11, 10)


def test_utc_day_converts_offsets_and_refuses_naive_times() -> None:
    late_in_new_york = datetime(2026, 11, 10, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert utc_day(late_in_new_york) == date(2026, 11, 11)
    with pytest.raises(ValueError, match="naive"):
        utc_day(datetime(2026, 11, 10, 12))


def test_fold_counts_min_max_share_and_end_of_day_state() -> None:
    rollup = None
    for hour, workers in ((1, 2), (9, 0), (17, 5)):
        rollup = fold_capture(
            rollup,
            category=IMAGE,
            captured_at=at(DAY, hour),
            observations={
                "m": obs(workers=workers, total=100 + hour, day=hour, level="clear" if workers else "at_risk")
            },
        )
    assert rollup is not None
    held = rollup.models["m"]
    assert (held.polls, held.polls_with_workers) == (3, 2)
    assert (held.workers_min, held.workers_max, held.workers_sum) == (0, 5, 7)
    assert (held.total_first, held.total_last, held.usage_day_reported) == (101, 117, 17)
    assert held.risk.level == "clear"
    assert rollup.captures == 3
    assert rollup.first_captured_at == at(DAY, 1)
    assert rollup.last_captured_at == at(DAY, 17)


def test_replayed_or_older_capture_changes_nothing() -> None:
    first = fold_capture(None, category=IMAGE, captured_at=at(DAY, 5), observations={"m": obs(workers=1)})
    again = fold_capture(first, category=IMAGE, captured_at=at(DAY, 5), observations={"m": obs(workers=9)})
    older = fold_capture(first, category=IMAGE, captured_at=at(DAY, 4), observations={"m": obs(workers=9)})
    assert again is first
    assert older is first


def test_capture_of_another_day_is_refused() -> None:
    rollup = fold_capture(None, category=IMAGE, captured_at=at(DAY, 5), observations={})
    with pytest.raises(ValueError, match="folded into"):
        fold_capture(rollup, category=IMAGE, captured_at=at(DAY + timedelta(days=1), 0), observations={})


def test_model_absent_from_a_later_capture_keeps_its_morning() -> None:
    rollup = fold_capture(None, category=IMAGE, captured_at=at(DAY, 5), observations={"gone": obs(workers=3)})
    rollup = fold_capture(rollup, category=IMAGE, captured_at=at(DAY, 6), observations={"other": obs()})
    assert rollup.models["gone"].workers_max == 3
    assert set(rollup.models) == {"gone", "other"}


def test_observation_and_risk_mark_from_a_risk_entry() -> None:
    entry = info(workers=0, usage_day=1, usage_month=2, usage_total=3, critical=True, missing_baseline=True)
    mark = risk_mark(entry)
    assert mark.level == "critical"
    assert mark.flags == ("no_active_workers", "missing_baseline")
    assert observe(entry, None).usage_total == 3


def test_reference_events_are_kept_once_and_refused_on_another_day() -> None:
    diff = ReferenceDiff(added=("new",), removed=("old",), modified=(ModelChange("m", ("description",)),))
    events = events_of_diff(diff, version="v2", at=at(DAY, 8), initial=False)
    assert [(e.model, e.kind) for e in events] == [
        ("new", "first_seen"),
        ("m", "changed"),
        ("old", "removed"),
    ]
    rollup = add_reference_events(CategoryDay(category=IMAGE, day=DAY), events)
    assert add_reference_events(rollup, events) is rollup
    assert not rollup.has_data  # reference events alone are no capture: the runtime series has a gap
    with pytest.raises(ValueError, match="reference event"):
        add_reference_events(
            rollup, [ReferenceEvent(model="x", kind="removed", at=at(DAY + timedelta(days=1)), version="v3")]
        )


def test_gaps_are_maximal_runs_of_missing_days() -> None:
    covered = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 6)]
    found = gaps(covered, date(2026, 11, 1), date(2026, 11, 8))
    assert found == [(date(2026, 11, 3), date(2026, 11, 5)), (date(2026, 11, 7), date(2026, 11, 8))]
    assert describe_gap(found[0]) == "no data 2026-11-03 to 2026-11-05"
    assert describe_gap((date(2026, 11, 7), date(2026, 11, 7))) == "no data 2026-11-07"


@given(
    st.lists(
        st.tuples(st.integers(0, 1439), st.integers(0, 4), st.integers(0, 1000)),
        min_size=1,
        max_size=30,
    )
)
def test_folding_is_idempotent_and_order_of_replays_does_not_matter(
    captures: list[tuple[int, int, int]],
) -> None:
    """Folding a sequence with every capture duplicated (a replay) gives the roll-up of folding it once."""
    start = datetime(2026, 11, 10, tzinfo=UTC)
    ordered = sorted({minute: (workers, total) for minute, workers, total in captures}.items())

    def fold(seq: list[tuple[int, tuple[int, int]]]) -> CategoryDay | None:
        rollup = None
        for minute, (workers, total) in seq:
            rollup = fold_capture(
                rollup,
                category=IMAGE,
                captured_at=start + timedelta(minutes=minute),
                observations={"m": obs(workers=workers, total=total)},
            )
        return rollup

    once = fold(ordered)
    twice = fold([item for item in ordered for _ in range(2)])
    assert once == twice
    assert once is not None
    held = once.models["m"]
    assert held.polls == len(ordered)
    assert held.workers_min <= held.workers_sum / held.polls <= held.workers_max
    assert 0 <= held.polls_with_workers <= held.polls
