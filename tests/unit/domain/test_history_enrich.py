"""Lifecycle on risk entries: grace removes usage flags and re-derives the verdict; CSV cells."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.domain.history.enrich import LifecycleContext, enrich
from shared.domain.history.fields import LifecycleFields, Trend
from shared.domain.history.lifecycle_csv import LIFECYCLE_CSV_COLUMNS, lifecycle_csv_cells, trend_cell
from shared.domain.history.policy import LifecyclePolicy
from shared.domain.history.reference_events import FirstSeen
from shared.domain.risk.thresholds import RiskThresholds
from tests.unit.domain.history_builders import IMAGE, info

TODAY = date(2026, 12, 5)


def _context(**first_seen: FirstSeen) -> LifecycleContext:
    return LifecycleContext(category=IMAGE, today=TODAY, policy=LifecyclePolicy(), first_seen=first_seen)


def test_grace_removes_usage_flags_and_rederives_the_verdict() -> None:
    entry = info("new", workers=0, zero_usage_month=True, zero_usage_day=True, zero_usage_total=True)
    assert entry.risk_score == 4
    new = FirstSeen(datetime(2026, 11, 30, tzinfo=UTC), "watcher")
    (graced,) = enrich([entry], _context(new=new), RiskThresholds())
    assert graced.deletion_risk_flags.no_active_workers
    assert not graced.deletion_risk_flags.zero_usage_month
    assert graced.risk_score == 1
    assert graced.lifecycle is not None
    assert graced.lifecycle.in_grace_period
    assert graced.lifecycle.lifecycle_state == "grace"


def test_out_of_grace_entries_keep_their_flags_and_get_lifecycle() -> None:
    entry = info("old", workers=0, zero_usage_month=True)
    (kept,) = enrich([entry], _context(), RiskThresholds())
    assert kept.deletion_risk_flags == entry.deletion_risk_flags
    assert kept.lifecycle is not None
    assert kept.lifecycle.first_seen_source is None
    assert kept.lifecycle.zero_workers_since == TODAY


def test_csv_cells_name_every_column_and_show_trend_numbers() -> None:
    falling = Trend(
        direction="falling", recent=10.0, previous=100.0, recent_days=7, previous_days=5, change_percent=-90.0
    )
    fields = LifecycleFields(usage_trend=falling, reasons=("a", "b"), days_at_risk=3)
    cells = lifecycle_csv_cells(fields)
    assert len(cells) == len(LIFECYCLE_CSV_COLUMNS)
    assert dict(zip(LIFECYCLE_CSV_COLUMNS, cells, strict=True))["reasons"] == "a | b"
    assert trend_cell(falling) == "falling (10.0 vs 100.0 a day, -90.0%)"
    assert trend_cell(Trend()) == "unknown"
    assert lifecycle_csv_cells(None) == [""] * len(LIFECYCLE_CSV_COLUMNS)


def test_lifecycle_presets_and_the_long_at_risk_day_filter() -> None:
    """``long_at_risk`` (N per request), ``declining`` and ``new_models`` select on the rows' lifecycle."""
    from shared.domain.history.fields import LifecycleFields as Fields
    from shared.materialized.risk_listing import RiskQuery, build_risk_index, run_risk_query

    falling = Trend(direction="falling", recent=1.0, previous=9.0, recent_days=7, previous_days=7)
    rows = [
        info("a", workers=0).model_copy(update={"lifecycle": Fields(at_risk_since=TODAY, days_at_risk=20)}),
        info("b", workers=0).model_copy(update={"lifecycle": Fields(at_risk_since=TODAY, days_at_risk=3)}),
        info("c", workers=2).model_copy(update={"lifecycle": Fields(usage_trend=falling, new_model=True)}),
        info("d", workers=2),
    ]
    index = build_risk_index(rows, category=IMAGE, category_total_month_usage=0, thresholds=RiskThresholds())
    assert index.days_at_risk == (20, 3, 0, 0)

    def names(**query: object) -> list[str]:
        return [index.names[i] for i in run_risk_query(index, RiskQuery(**query)).selected]  # type: ignore[arg-type]

    assert names(preset="long_at_risk", min_days_at_risk=14) == ["a"]
    assert names(preset="long_at_risk", min_days_at_risk=0) == ["a", "b"]
    assert names(preset="declining") == ["c"]
    assert names(preset="new_models") == ["c"]
