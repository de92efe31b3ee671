"""``model_mod_data.json`` (real, 298 image names): first-seen dates and their source."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from shared.domain.history.reference_events import (
    FirstSeen,
    first_seen,
    parse_mod_data,
    watcher_first_seen,
)
from shared.domain.history.rollup import ReferenceEvent

MOD_DATA = (
    Path(__file__).resolve().parents[2] / "fixtures" / "data" / "reference" / "image" / "model_mod_data.json"
)


def test_real_mod_data_gives_date_added_for_image_models() -> None:
    dates, skipped = parse_mod_data(json.loads(MOD_DATA.read_text()))
    assert len(dates) == 298
    assert skipped == []
    assert dates["2DN"].added == datetime.fromtimestamp(1748224319, UTC)
    assert dates["3DKX"].removed == datetime.fromtimestamp(1734378471, UTC)
    seen = first_seen("2DN", dates, {})
    assert seen == FirstSeen(datetime.fromtimestamp(1748224319, UTC), "model_mod_data")


def test_mod_data_wins_over_the_watcher_which_is_the_fallback() -> None:
    dates, _ = parse_mod_data({"a": {"date_added": 1700000000}, "b": {"date_added": None}})
    sighting = datetime(2026, 11, 1, tzinfo=UTC)
    events = [
        ReferenceEvent(model=name, kind="first_seen", at=sighting, version="v1", initial=False)
        for name in ("a", "b")
    ]
    watcher = watcher_first_seen(events)
    assert first_seen("a", dates, watcher).source == "model_mod_data"  # type: ignore[union-attr]
    assert first_seen("b", dates, watcher) == FirstSeen(sighting, "watcher")
    assert first_seen("c", dates, watcher) is None


def test_bad_mod_data_entries_are_skipped_with_a_reason() -> None:
    dates, skipped = parse_mod_data({"a": "nope", "b": {"date_added": "yesterday"}})
    assert "a" not in dates
    assert dates["b"].added is None
    assert skipped == ["'a': entry is not an object", "'b': date_added 'yesterday' is not a unix time"]
    assert parse_mod_data([1, 2]) == ({}, ["model_mod_data is a list, not an object"])
