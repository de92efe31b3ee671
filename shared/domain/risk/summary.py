"""Summary counters of a deletion-risk list (§4.5).

One function for every path (ungrouped, grouped, filtered), so the counters always describe exactly
the list they are given and the average is always rounded to 2 dp (D10, D25). The category total
is passed in: it is the category-wide figure, the same meaning as the response field (D10).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.risk.models import CategoryDeletionRiskSummary, ModelDeletionRiskInfo


def summarize(
    models: Sequence[ModelDeletionRiskInfo], category_total_month_usage: int
) -> CategoryDeletionRiskSummary:
    """Count flags and verdicts over ``models``; average risk score 2 dp, 0.0 for an empty list."""
    n = len(models)

    def count(flag: str) -> int:
        return sum(1 for m in models if getattr(m.deletion_risk_flags, flag))

    return CategoryDeletionRiskSummary(
        total_models=n,
        models_at_risk=sum(1 for m in models if m.at_risk),
        models_critical=sum(1 for m in models if m.is_critical),
        models_with_warnings=sum(1 for m in models if m.has_warning),
        models_with_zero_day_usage=count("zero_usage_day"),
        models_with_zero_month_usage=count("zero_usage_month"),
        models_with_zero_total_usage=count("zero_usage_total"),
        models_with_no_active_workers=count("no_active_workers"),
        models_with_no_downloads=count("no_download_urls"),
        models_with_non_preferred_hosts=count("has_non_preferred_host"),
        models_with_multiple_hosts=count("has_multiple_hosts"),
        models_with_low_usage=count("low_usage"),
        average_risk_score=round(sum(m.risk_score for m in models) / n, 2) if n else 0.0,
        category_total_month_usage=category_total_month_usage,
    )
