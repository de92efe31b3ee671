"""Issue 13 heartbeat: the reference entries and summary from the watcher's poll outcomes (pure),
and the analytics state keeping the latest outcome per category by offset."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.analytics.inputs import FutureTimestampError, check_not_future
from services.analytics.state import AnalyticsState
from shared.domain.categories import ModelCategory
from shared.domain.heartbeat import Heartbeat, build_heartbeat
from shared.events.reference import ReferenceSourceHealthReported

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
IMAGE = ModelCategory.IMAGE_GENERATION
CLIP = ModelCategory.CLIP


def _report(category: ModelCategory, version: str, **fields: Any) -> ReferenceSourceHealthReported:
    values: dict[str, Any] = {
        "category": category, "source": "folder:image/x.json", "ok": True, "checked_at": NOW,
        "last_success_at": NOW, "source_version": version, "content_changed_at": NOW - timedelta(hours=1),
        "published_version": version, "next_attempt_at": NOW + timedelta(seconds=300),
    }  # fmt: skip
    return ReferenceSourceHealthReported(**(values | fields))


def _record(report: ReferenceSourceHealthReported) -> dict[str, Any]:
    """As the gateway reads it back from the source-health hash."""
    return dict(json.loads(report.model_dump_json()))


def _beat(
    served: dict[ModelCategory, str], reports: dict[ModelCategory, ReferenceSourceHealthReported]
) -> Heartbeat:
    pointers = {c: {"reference_version": v, "reference_detected_at_ms": "1000"} for c, v in served.items()}
    health = {c: {"reference": _record(r)} for c, r in reports.items()}
    return build_heartbeat(pointers, health, now=NOW.timestamp())


def test_served_matches_source_compares_the_served_and_the_source_version() -> None:
    beat = _beat({IMAGE: "v1", CLIP: "v1"}, {IMAGE: _report(IMAGE, "v1"), CLIP: _report(CLIP, "v2")})
    entries = {e.category: e for e in beat.sources.reference}
    assert entries[IMAGE].served_matches_source is True
    assert entries[CLIP].served_matches_source is False  # the source moved on; not served yet
    assert entries[CLIP].source_version == "v2"
    assert entries[IMAGE].served_detected_at == datetime.fromtimestamp(1, UTC)
    assert entries[IMAGE].last_content_change_at == NOW - timedelta(hours=1)
    assert entries[IMAGE].next_attempt_at == NOW + timedelta(seconds=300)
    assert entries[IMAGE].source == "folder:image/x.json"
    assert beat.reference.degraded is False
    assert beat.schema_version == 2


def test_a_failing_reference_category_degrades_the_reference_summary_only() -> None:
    failing = _report(CLIP, "v1", ok=False, consecutive_failures=4, error="payload rejected: bad")
    beat = _beat({CLIP: "v1"}, {IMAGE: _report(IMAGE, "v1"), CLIP: failing})
    assert beat.reference.degraded is True
    assert beat.reference.consecutive_failures == 4
    assert beat.reference.seconds_until_retry == 300.0
    assert beat.ai_horde.degraded is False
    clip = next(e for e in beat.sources.reference if e.category is CLIP)
    assert (clip.ok, clip.last_error, clip.served_matches_source) == (False, "payload rejected: bad", True)


def test_without_poll_reports_the_entries_keep_what_the_pointer_says() -> None:
    beat = _beat({IMAGE: "v1"}, {})
    image = next(e for e in beat.sources.reference if e.category is IMAGE)
    assert (image.served_version, image.ok, image.served_matches_source) == ("v1", None, None)
    assert image.last_content_change_at == datetime.fromtimestamp(1, UTC)  # the served detection
    assert image.consecutive_failures == 0
    assert beat.reference.model_dump() == {
        "degraded": False,
        "consecutive_failures": 0,
        "seconds_until_retry": None,
    }
    nothing = next(e for e in beat.sources.reference if e.category is CLIP)
    assert (nothing.served_version, nothing.source_version, nothing.served_matches_source) == (
        None,
        None,
        None,
    )


def test_analytics_keeps_the_latest_reference_poll_by_offset() -> None:
    state = AnalyticsState()
    first, second = _report(CLIP, "v1"), _report(CLIP, "v2")
    assert state.apply(first, offset=3) == CLIP
    assert state.apply(second, offset=4) == CLIP
    assert state.apply(first, offset=2) is None, "an earlier offset is a replay"
    assert state.inputs(CLIP).reference_health == second
    assert state.inputs(CLIP).health == {}  # the AI Horde endpoints are apart


def test_a_future_dated_reference_poll_is_rejected() -> None:
    ahead = _report(CLIP, "v1", checked_at=NOW + timedelta(days=1))
    with pytest.raises(FutureTimestampError, match="checked_at"):
        check_not_future(ahead, received_at=NOW, tolerance_seconds=60)
    check_not_future(_report(CLIP, "v1"), received_at=NOW, tolerance_seconds=60)
