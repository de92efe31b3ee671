"""Summary counters of a deletion-risk list (§4.5).

One function for every path (ungrouped, grouped, filtered), so the counters always describe exactly
the list they are given and the average is always rounded to 2 dp (D10, D25). The category total
is passed in: it is the category-wide figure, the same meaning as the response field (D10).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from shared.domain.risk.flag_table import FLAG_COUNTERS
from shared.domain.risk.models import (
    DELETION_RISK_FLAG_NAMES,
    CategoryDeletionRiskSummary,
    DeletionRiskFlags,
    ModelDeletionRiskInfo,
)


def flag_totals(models: Sequence[ModelDeletionRiskInfo]) -> dict[str, int]:
    """How many of ``models`` have each flag set, by flag name."""
    return _tally(models)[0]


def _tally(models: Sequence[ModelDeletionRiskInfo]) -> tuple[dict[str, int], int, int, int, int]:
    """Flag totals, at-risk, critical and warning counts and the risk-score sum, in one pass.

    Entries built by the analysis share one flags object per combination, so the flags are read
    once per distinct object rather than once per entry.
    """
    objects: dict[int, DeletionRiskFlags] = {}
    occurrences: Counter[int] = Counter()
    at_risk = critical = warnings = score = 0
    for model in models:
        flags = model.deletion_risk_flags
        objects[id(flags)] = flags
        occurrences[id(flags)] += 1
        at_risk += 1 if model.at_risk else 0
        critical += 1 if model.is_critical else 0
        warnings += 1 if model.has_warning else 0
        score += model.risk_score
    totals = dict.fromkeys(DELETION_RISK_FLAG_NAMES, 0)
    for key, times in occurrences.items():
        values = objects[key].__dict__
        for name in DELETION_RISK_FLAG_NAMES:
            if values[name]:
                totals[name] += times
    return totals, at_risk, critical, warnings, score


#: Exclusive deletion-risk states of a model, most severe first (a critical model also warns).
RISK_STATES = ("critical", "warning", "flagged", "clear")


def risk_state(model: ModelDeletionRiskInfo) -> str:
    """The model's most severe state: ``critical``, ``warning``, ``flagged`` (a flag below both
    verdicts) or ``clear`` (no flag)."""
    if model.is_critical:
        return "critical"
    if model.has_warning:
        return "warning"
    return "flagged" if model.at_risk else "clear"


def risk_state_counts(models: Sequence[ModelDeletionRiskInfo]) -> dict[str, int]:
    """Models per state, every state present (they sum to ``len(models)``)."""
    counts = dict.fromkeys(RISK_STATES, 0)
    for model in models:
        counts[risk_state(model)] += 1
    return counts


def summarize(
    models: Sequence[ModelDeletionRiskInfo], category_total_month_usage: int
) -> CategoryDeletionRiskSummary:
    """Count flags and verdicts over ``models``; average risk score 2 dp, 0.0 for an empty list."""
    n = len(models)
    count, at_risk, critical, warnings, score = _tally(models)
    return CategoryDeletionRiskSummary(
        total_models=n,
        models_at_risk=at_risk,
        models_critical=critical,
        models_with_warnings=warnings,
        average_risk_score=round(score / n, 2) if n else 0.0,
        category_total_month_usage=category_total_month_usage,
        **{counter: count[flag] for counter, flag in FLAG_COUNTERS.items()},
    )
