"""The lifecycle columns of the deletion-risk CSV (empty cells for a row without lifecycle)."""

from __future__ import annotations

from shared.domain.history.fields import LifecycleFields, Trend

LIFECYCLE_CSV_COLUMNS: tuple[str, ...] = (
    "first_seen_at", "first_seen_source", "age_days", "in_grace_period", "protected", "zero_workers_since",
    "last_used_on", "at_risk_since", "days_at_risk", "usage_trend", "workers_trend", "lifecycle_state",
    "deletion_candidate", "reasons",
)  # fmt: skip


def trend_cell(trend: Trend) -> str:
    """``falling (10.0 vs 100.0 a day, -90.0%)``: the word and the numbers."""
    if trend.recent is None and trend.previous is None:
        return trend.direction
    change = "" if trend.change_percent is None else f", {trend.change_percent:+.1f}%"
    return f"{trend.direction} ({trend.recent} vs {trend.previous} a day{change})"


def _cell(value: object) -> object:
    return "" if value is None else value


def lifecycle_csv_cells(fields: LifecycleFields | None) -> list[object]:
    """The cells of :data:`LIFECYCLE_CSV_COLUMNS`; reasons joined with `` | ``."""
    if fields is None:
        return [""] * len(LIFECYCLE_CSV_COLUMNS)
    return [
        fields.first_seen_at.isoformat() if fields.first_seen_at else "",
        _cell(fields.first_seen_source),
        _cell(fields.age_days),
        fields.in_grace_period,
        fields.protected,
        _cell(fields.zero_workers_since),
        _cell(fields.last_used_on),
        _cell(fields.at_risk_since),
        fields.days_at_risk,
        trend_cell(fields.usage_trend),
        trend_cell(fields.workers_trend),
        fields.lifecycle_state,
        fields.deletion_candidate,
        " | ".join(fields.reasons),
    ]
