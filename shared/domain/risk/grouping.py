"""Grouping deletion-risk entries by model family (§4.11 as amended).

Fixed against upstream: usage and worker flags of a group come from its aggregated numbers while
data and host flags are OR-ed (D26); backend variations are kept and merged per backend (D27);
the percentage is recomputed from the summed month, so it never exceeds 100 (D38); a ratio of 0.0
counts in weighted trends (D42); hosts keep first-seen order (D23); the result is re-sorted by
``usage_month`` desc, ties by name (D24). Groups are built from validated entries without
re-validation (:mod:`shared.domain.trusted`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from shared.domain.horde.runtime import BACKEND_ORDER
from shared.domain.risk.analysis import usage_percentage
from shared.domain.risk.flags import DownloadFlags, UsageFlags, combine_flags, risk_verdict, usage_flags
from shared.domain.risk.models import BackendVariationStats, ModelDeletionRiskInfo, UsageTrend
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.text_names import get_base_model_name, group_key
from shared.domain.trusted import build_trusted, copy_trusted

NameFn = Callable[[str], str]


def merge_ratio(values: Sequence[float | None], weights: Sequence[int]) -> float | None:
    """Usage-weighted mean over members with a ratio, divided by all weights; 0.0 counts (D42).

    Without any weight (no monthly usage at all) the plain mean is used, so 0.0 ratios still give 0.0.
    """
    total_weight = sum(weights)
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None]
    if not pairs:
        return None
    if total_weight <= 0:
        return sum(v for v, _ in pairs) / len(pairs)
    return sum(v * w for v, w in pairs) / total_weight


def merge_usage_trends(trends: Sequence[UsageTrend], weights: Sequence[int]) -> UsageTrend:
    """Both ratios merged with :func:`merge_ratio`, weights being members' monthly usage."""
    return build_trusted(
        UsageTrend,
        {
            "day_to_month_ratio": merge_ratio([t.day_to_month_ratio for t in trends], weights),
            "month_to_total_ratio": merge_ratio([t.month_to_total_ratio for t in trends], weights),
        },
    )


def merge_backend_variations(
    members: Iterable[ModelDeletionRiskInfo],
) -> tuple[BackendVariationStats, ...] | None:
    """One entry per backend: usage summed, workers max (like the group), performance worker-weighted."""
    by_backend: dict[str, list[BackendVariationStats]] = {}
    for member in members:
        for variation in member.backend_variations or ():
            by_backend.setdefault(variation.backend, []).append(variation)
    if not by_backend:
        return None
    rank: dict[str, int] = {backend: i for i, backend in enumerate(BACKEND_ORDER)}
    ordered = sorted(by_backend, key=lambda b: rank.get(b, len(rank)))
    return tuple(_merge_one_backend(by_backend[backend]) for backend in ordered)


def _merge_one_backend(variations: Sequence[BackendVariationStats]) -> BackendVariationStats:
    rated = [(v.performance, v.worker_count) for v in variations if v.performance is not None]
    performance: float | None = None
    if rated:
        weight = sum(w for _, w in rated)
        performance = (
            sum(p * w for p, w in rated) / weight if weight > 0 else sum(p for p, _ in rated) / len(rated)
        )
    return build_trusted(
        BackendVariationStats,
        {
            "backend": variations[0].backend,
            "variant_name": variations[0].variant_name,
            "worker_count": max(v.worker_count for v in variations),
            "performance": performance,
            "usage_day": sum(v.usage_day for v in variations),
            "usage_month": sum(v.usage_month for v in variations),
            "usage_total": sum(v.usage_total for v in variations),
        },
    )


def _sum_optional(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def merge_group(
    name: str,
    members: Sequence[ModelDeletionRiskInfo],
    *,
    category_total_month_usage: int,
    thresholds: RiskThresholds,
) -> ModelDeletionRiskInfo:
    """One entry for a family of two or more members (first member = first in list order)."""
    first = members[0]
    category = first.category
    day = sum(m.usage_day for m in members)
    month = sum(m.usage_month for m in members)
    total = sum(m.usage_total for m in members)
    workers = max(m.worker_count for m in members)
    sizes = [m.size_gb for m in members if m.size_gb is not None]
    raw_size = sum(sizes) / len(sizes) if sizes and sum(sizes) > 0 else None
    hosts: dict[str, None] = {}
    for member in members:
        hosts.update(dict.fromkeys(member.download_hosts))

    def any_flag(flag: str) -> bool:
        return any(getattr(m.deletion_risk_flags, flag) for m in members)

    usage: UsageFlags = usage_flags(
        usage_day=day,
        usage_month=month,
        usage_total=total,
        worker_count=workers,
        category_total_month_usage=category_total_month_usage,
        low_usage_threshold=thresholds.low_usage_threshold_for(category),
    )
    downloads = DownloadFlags(*(any_flag(f) for f in DownloadFlags._fields))
    flags = combine_flags(
        usage,
        downloads,
        missing_description=any_flag("missing_description"),
        missing_baseline=any_flag("missing_baseline"),
    )
    verdict = risk_verdict(category, flags, usage_month=month, worker_count=workers, thresholds=thresholds)
    return build_trusted(
        ModelDeletionRiskInfo,
        {
            "name": name,
            "category": category,
            "deletion_risk_flags": flags,
            "at_risk": verdict.at_risk,
            "risk_score": verdict.risk_score,
            "worker_count": workers,
            "usage_day": day,
            "usage_month": month,
            "usage_total": total,
            "usage_hour": _sum_optional(m.usage_hour for m in members),
            "usage_minute": _sum_optional(m.usage_minute for m in members),
            "usage_percentage_of_category": usage_percentage(month, category_total_month_usage),
            "usage_trend": merge_usage_trends(
                [m.usage_trend for m in members], [m.usage_month for m in members]
            ),
            "cost_benefit_score": round(month / raw_size, 2) if raw_size is not None else None,
            "size_gb": round(raw_size, 2) if raw_size is not None else None,
            "baseline": first.baseline,
            "nsfw": first.nsfw,
            "has_description": all(m.has_description for m in members),
            "download_count": sum(m.download_count for m in members),
            "download_hosts": tuple(hosts),
            "backend_variations": merge_backend_variations(members),
            "is_critical": verdict.is_critical,
            "has_warning": verdict.has_warning,
            "impact": None,
            "lifecycle": None,
        },
    )


def sort_grouped(models: Iterable[ModelDeletionRiskInfo]) -> list[ModelDeletionRiskInfo]:
    """``usage_month`` desc, ties by name (case-insensitive, then exact) so order is defined (D24)."""
    by_name = sorted(models, key=lambda m: (m.name.casefold(), m.name))
    return sorted(by_name, key=lambda m: m.usage_month, reverse=True)


def group_risk_models(
    models: Sequence[ModelDeletionRiskInfo],
    *,
    category_total_month_usage: int,
    thresholds: RiskThresholds,
    key: NameFn | None = None,
    display: NameFn | None = None,
) -> list[ModelDeletionRiskInfo]:
    """Merge entries sharing ``key(name)``; a group is named ``display(first member's name)``.

    ``key``/``display`` default to ``group_key``/``get_base_model_name`` of ``shared.domain.text_names``
    (pass others, e.g. alias-resolving ones). A single-member group only changes its name and keeps
    everything else, variations included (D27).
    """
    key = key or group_key
    display = display or get_base_model_name
    groups: dict[str, list[ModelDeletionRiskInfo]] = {}
    for model in models:
        groups.setdefault(key(model.name), []).append(model)
    merged: list[ModelDeletionRiskInfo] = []
    for members in groups.values():
        name = display(members[0].name)
        if len(members) == 1:
            only = members[0]
            merged.append(only if only.name == name else copy_trusted(only, {"name": name}))
        else:
            merged.append(
                merge_group(
                    name,
                    members,
                    category_total_month_usage=category_total_month_usage,
                    thresholds=thresholds,
                )
            )
    return sort_grouped(merged)
