"""Per-model deletion-risk entries of one category (§4.4) from reference records and merged stats.

Every reference model appears exactly once, also without Horde data (usage 0/0/0, no workers);
Horde-only names in the merged statistics are ignored. The category total is always the
category-wide monthly usage (D10). Entries are built without re-validation
(:mod:`shared.domain.trusted`): their inputs are validated records and merged statistics, and
``at_risk``/``risk_score`` come from the flags by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter

from shared.domain.categories import ModelCategory
from shared.domain.horde.runtime import BACKEND_ORDER, CombinedModelStatistics
from shared.domain.reference.records import ReferenceRecord
from shared.domain.risk.flags import (
    combine_flags,
    data_flags,
    download_flags,
    download_hosts,
    handler_kind,
    risk_verdict,
    usage_flags,
)
from shared.domain.risk.models import BackendVariationStats, ModelDeletionRiskInfo, UsageTrend
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.trusted import build_trusted

_GIB = 1024**3
_NO_STATS = CombinedModelStatistics()
_NO_TREND = UsageTrend()
_BACKEND_RANK: dict[str, int] = {backend: i for i, backend in enumerate(BACKEND_ORDER)}
_USAGE_MONTH = attrgetter("usage_month")


def category_total_month_usage(
    records: Sequence[ReferenceRecord], merged: Mapping[str, CombinedModelStatistics]
) -> int:
    """Σ monthly usage over the reference models of the category; Horde-only names never count."""
    return sum(merged[r.name].usage_stats.month for r in records if r.name in merged)


def usage_percentage(usage_month: int, category_total: int) -> float:
    """Share of the category's monthly usage in percent, 4 dp, capped at 100 (§4.4, D38)."""
    if category_total <= 0:
        return 0.0
    return min(100.0, round(usage_month / category_total * 100, 4))


def usage_trend(usage_day: int, usage_month: int, usage_total: int) -> UsageTrend:
    """Unrounded day/month and month/total ratios; null when the denominator is zero."""
    if usage_month <= 0 and usage_total <= 0:
        return _NO_TREND
    return build_trusted(
        UsageTrend,
        {
            "day_to_month_ratio": usage_day / usage_month if usage_month > 0 else None,
            "month_to_total_ratio": usage_month / usage_total if usage_total > 0 else None,
        },
    )


def backend_variation_stats(stats: CombinedModelStatistics) -> tuple[BackendVariationStats, ...] | None:
    """Variations in canonical, aphrodite, koboldcpp order (D23); null when there are none."""
    if not stats.backend_variations:
        return None
    ordered = sorted(
        stats.backend_variations.values(), key=lambda v: _BACKEND_RANK.get(v.backend, len(_BACKEND_RANK))
    )
    return tuple(
        build_trusted(
            BackendVariationStats,
            {
                "backend": v.backend,
                "variant_name": v.variant_name,
                "worker_count": v.worker_count,
                "performance": v.performance,
                "usage_day": v.usage_day,
                "usage_month": v.usage_month,
                "usage_total": v.usage_total,
            },
        )
        for v in ordered
    )


def build_risk_info(
    record: ReferenceRecord,
    stats: CombinedModelStatistics | None,
    *,
    category: ModelCategory,
    category_total: int,
    thresholds: RiskThresholds,
    include_backend_variations: bool = False,
) -> ModelDeletionRiskInfo:
    """Risk entry of one model; missing stats mean "no Horde data", i.e. zero usage and no workers."""
    stats = stats if stats is not None else _NO_STATS
    kind = handler_kind(category)
    usage = stats.usage_stats
    missing_description, missing_baseline = data_flags(record, category)
    flags = combine_flags(
        usage_flags(
            usage_day=usage.day,
            usage_month=usage.month,
            usage_total=usage.total,
            worker_count=stats.worker_count,
            category_total_month_usage=category_total,
            low_usage_threshold=thresholds.low_usage_threshold_for(category),
        ),
        download_flags(record.downloads, category, thresholds),
        missing_description=missing_description,
        missing_baseline=missing_baseline,
    )
    size_gb: float | None = None
    cost_benefit: float | None = None
    if kind == "image" and record.size_on_disk_bytes and record.size_on_disk_bytes > 0:
        raw_gib = record.size_on_disk_bytes / _GIB
        size_gb = round(raw_gib, 2)
        cost_benefit = round(usage.month / raw_gib, 2)
    verdict = risk_verdict(
        category, flags, usage_month=usage.month, worker_count=stats.worker_count, thresholds=thresholds
    )
    return build_trusted(
        ModelDeletionRiskInfo,
        {
            "name": record.name,
            "category": category,
            "deletion_risk_flags": flags,
            "at_risk": verdict.at_risk,
            "risk_score": verdict.risk_score,
            "worker_count": stats.worker_count,
            "usage_day": usage.day,
            "usage_month": usage.month,
            "usage_total": usage.total,
            "usage_hour": None,
            "usage_minute": None,
            "usage_percentage_of_category": usage_percentage(usage.month, category_total),
            "usage_trend": usage_trend(usage.day, usage.month, usage.total),
            "cost_benefit_score": cost_benefit,
            "size_gb": size_gb,
            "baseline": _baseline(record, kind),
            "nsfw": record.nsfw if kind != "generic" else None,
            "has_description": not missing_description,
            "download_count": len(record.downloads),
            "download_hosts": download_hosts(record.downloads),
            "backend_variations": (
                backend_variation_stats(stats) if include_backend_variations and kind == "text" else None
            ),
            "is_critical": verdict.is_critical,
            "has_warning": verdict.has_warning,
            "impact": None,
            "lifecycle": None,
        },
    )


def _baseline(record: ReferenceRecord, kind: str) -> str | None:
    """Image: the baseline or null; text: the raw cell, so an empty one stays ``""`` as upstream
    writes it (clients compare strings); other categories: null (upstream §4.4)."""
    if kind == "text":
        return record.baseline or ""
    return record.baseline if kind != "generic" else None


def analyze_category(
    records: Sequence[ReferenceRecord],
    merged: Mapping[str, CombinedModelStatistics],
    category: ModelCategory,
    thresholds: RiskThresholds,
    *,
    include_backend_variations: bool = False,
) -> list[ModelDeletionRiskInfo]:
    """One entry per reference record, sorted by ``usage_month`` desc; ties keep reference order."""
    foreign = [r.name for r in records if r.category is not category]
    if foreign:
        raise ValueError(f"records of another category than {category}: {foreign[:5]}")
    if len({r.name for r in records}) != len(records):
        raise ValueError("duplicate model names in records; each reference model must appear once")
    total = category_total_month_usage(records, merged)
    entries = [
        build_risk_info(
            record,
            merged.get(record.name),
            category=category,
            category_total=total,
            thresholds=thresholds,
            include_backend_variations=include_backend_variations,
        )
        for record in records
    ]
    entries.sort(key=_USAGE_MONTH, reverse=True)
    return entries
