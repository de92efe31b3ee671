"""Issue 13: inputs are ordered by Kafka offset, and a future-dated input is rejected, never applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.analytics.inputs import FutureTimestampError, arrival_time, check_not_future
from services.analytics.recompute import basis_of
from services.analytics.state import AnalyticsState
from shared.domain.categories import ModelCategory
from shared.events.horde import SourceHealthReported
from tests.support.events import status_event, synthetic

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
IMAGE = ModelCategory.IMAGE_GENERATION


def status_with(count: int, at: datetime):  # type: ignore[no-untyped-def]
    entries = synthetic("status_models_image.json")
    assert isinstance(entries, list)
    changed = [dict(e, count=count) if i == 0 else e for i, e in enumerate(entries)]
    return status_event(changed, captured_at=at)


def test_a_later_record_wins_whatever_its_captured_at() -> None:
    state = AnalyticsState()
    assert state.apply(status_with(1, NOW + timedelta(days=1)), offset=3) == IMAGE
    assert state.apply(status_with(2, NOW), offset=4) == IMAGE, "not 'older' because of a wrong clock"
    assert state.inputs(IMAGE).status_seq == 4
    assert state.apply(status_with(3, NOW), offset=2) is None, "an earlier offset is a replay"
    assert state.apply(status_with(2, NOW), offset=5) is None, "the same content changes nothing"


def test_health_is_ordered_by_offset_too() -> None:
    state = AnalyticsState()
    later = SourceHealthReported(endpoint="status", model_type="image", ok=True, checked_at=NOW)
    earlier = later.model_copy(update={"checked_at": NOW + timedelta(hours=1)})
    assert state.apply_health(later, offset=1) == IMAGE
    assert state.apply_health(earlier, offset=0) is None


@pytest.mark.parametrize("ahead", [timedelta(days=1), timedelta(seconds=61)])
def test_a_future_captured_at_is_rejected_with_a_clear_reason(ahead: timedelta) -> None:
    reason = r"captured_at .* ahead of its arrival.*MAX_FUTURE_SECONDS"
    with pytest.raises(FutureTimestampError, match=reason):
        check_not_future(status_with(1, NOW + ahead), received_at=NOW, tolerance_seconds=60)


def test_small_skew_is_tolerated_and_clamped_where_it_is_reported() -> None:
    event = status_with(1, NOW + timedelta(seconds=30))
    check_not_future(event, received_at=NOW, tolerance_seconds=60)
    state = AnalyticsState()
    state.apply(event, offset=0)
    basis = basis_of(state.inputs(IMAGE), computed_at=int(NOW.timestamp()))
    assert basis.status_at_ms == int(NOW.timestamp()) * 1000, "never a time in the future"
    assert basis.status_seq == 0
    assert basis.to_fields()["status_at_ms"] == str(int(NOW.timestamp()) * 1000)


def test_future_health_times_are_rejected() -> None:
    ahead = NOW + timedelta(days=1)
    health = SourceHealthReported(
        endpoint="status", model_type="image", ok=True, checked_at=NOW, last_success_at=ahead
    )
    with pytest.raises(FutureTimestampError, match="last_success_at"):
        check_not_future(health, received_at=NOW, tolerance_seconds=60)


def test_arrival_is_the_earlier_of_now_and_the_record_timestamp() -> None:
    """A record dated ahead of its own write is rejected on every replay, not only while it is ahead."""
    written = NOW - timedelta(days=2)
    assert arrival_time(int(written.timestamp() * 1000), NOW) == written
    assert arrival_time(None, NOW) == NOW
    assert arrival_time(-1, NOW) == NOW
