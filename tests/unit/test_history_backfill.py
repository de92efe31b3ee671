"""The backfill's roll-ups: real days at their capture dates, the generated sequence marked as such."""

from __future__ import annotations

from datetime import date, timedelta

from devtools.devstack.history_backfill import DEFAULT_DATA, IMAGE, TEXT, rollups

TODAY = date(2026, 12, 6)


def test_real_days_and_a_generated_sequence_before_the_recorded_history() -> None:
    days = rollups(DEFAULT_DATA, 10, TODAY, {TEXT: TODAY - timedelta(days=3)})
    by = {(r.category, r.day): r for r in days}
    real_2023 = by[(IMAGE, date(2023, 7, 9))]
    assert not real_2023.generated  # the 2023-07 reference with the real stats and workers
    assert len(real_2023.models) == 228
    assert by[(IMAGE, date(2024, 6, 8))].generated  # real status, synthetic stats
    assert by[(TEXT, date(2025, 6, 25))].generated  # real stats, synthetic status
    image_days = sorted(d for c, d in by if c is IMAGE and d.year == 2026)
    assert image_days == [TODAY - timedelta(days=n) for n in range(10, 0, -1)]
    assert all(by[(IMAGE, d)].generated for d in image_days)
    # Recorded text history starts 3 days ago: nothing on or after that day is written.
    assert max(d for c, d in by if c is TEXT) == TODAY - timedelta(days=4)
    # Some served models lose their workers during the sequence; totals never go down.
    first, last = by[(IMAGE, image_days[0])], by[(IMAGE, image_days[-1])]
    lost = [n for n, m in last.models.items() if m.workers_max == 0 and first.models[n].workers_max > 0]
    assert lost
    assert all(last.models[n].total_last >= first.models[n].total_last for n in first.models)
