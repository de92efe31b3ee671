"""Every view the workers materialise, computed from one reference and one Horde snapshot.

``build_category_views`` is the single entry point of the recompute: pure and deterministic
(the same inputs and ``computed_at`` give the same bytes from ``render_views``). View names are
the Redis view names the gateway reads; they encode the flags of the upstream routes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, TypeAdapter

from shared.domain.categories import ModelCategory, has_runtime_data
from shared.domain.history.enrich import LifecycleContext, enrich
from shared.domain.horde.index import HordeIndex, ModelMatcher
from shared.domain.horde.merge import merge_matched
from shared.domain.horde.payloads import HordeSnapshot
from shared.domain.horde.runtime import CombinedModelStatistics
from shared.domain.impact.compute import broken_styles, compute_impacts
from shared.domain.impact.models import BrokenStyle
from shared.domain.impact.styles import StyleCatalog
from shared.domain.reference.records import ReferenceRecord, ReferenceSnapshot
from shared.domain.risk.analysis import analyze_category, category_total_month_usage
from shared.domain.risk.listing import build_risk_response
from shared.domain.risk.models import CategoryDeletionRiskResponse, ModelDeletionRiskInfo
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.statistics import (
    CategoryStatistics,
    compute_category_statistics,
    group_records_for_statistics,
)
from shared.domain.text_names import get_base_model_name, group_key
from shared.domain.trusted import copy_trusted

#: Bumped whenever the rendered bytes change for the same inputs (part of every generation id).
#: 2: maintenance_worker_count, whole queued/queued_jobs as integers, text baseline "", base names
#: keep their own characters, koboldcpp/<author>/<model> counted (issue 12).
#: 3: ungrouped risk rows carry ``impact`` (styles, hosting workers, disk, text family; issue 18).
#: 4: risk rows carry ``lifecycle`` (history: age, days at risk, trends, reasons; issue 17).
VIEW_SCHEMA_VERSION = 4

WITH_STATS_FLAGS: tuple[tuple[bool, bool], ...] = ((False, False), (True, False), (False, True), (True, True))
RISK_FLAGS: tuple[tuple[bool, bool], ...] = ((False, False), (True, False), (False, True))


def statistics_view(grouped: bool) -> str:
    """View name of the category statistics."""
    return "statistics.grouped" if grouped else "statistics"


def with_stats_view(include_workers: bool, include_backend_variations: bool) -> str:
    """View name of the with-stats map for one flag combination."""
    return (
        "with-stats"
        + (".workers" if include_workers else "")
        + (".variations" if include_backend_variations else "")
    )


def effective_risk_flags(
    category: ModelCategory, grouped: bool, include_backend_variations: bool
) -> tuple[bool, bool]:
    """Grouping and variations only apply to text; variations only ungrouped (upstream §5.3)."""
    text = category is ModelCategory.TEXT_GENERATION
    grouped = grouped and text
    return grouped, include_backend_variations and text and not grouped


def risk_view(grouped: bool, include_backend_variations: bool) -> str:
    """View name of a deletion-risk listing (flags already made effective)."""
    return (
        "deletion-risk"
        + (".grouped" if grouped else "")
        + (".variations" if include_backend_variations else "")
    )


@dataclass(frozen=True)
class RuntimeViews:
    """Views that need Horde data: with-stats maps and deletion-risk responses."""

    with_stats: Mapping[tuple[bool, bool], Mapping[str, CombinedModelStatistics]]
    risk_models: Mapping[tuple[bool, bool], tuple[ModelDeletionRiskInfo, ...]]
    risk: Mapping[tuple[bool, bool], CategoryDeletionRiskResponse]
    category_total_month_usage: int
    #: Styles naming a model absent from the reference (image generation with styles known).
    broken_styles: tuple[BrokenStyle, ...] = ()


@dataclass(frozen=True)
class CategoryViews:
    """All views of one category for one (reference, Horde snapshot) basis."""

    category: ModelCategory
    statistics: CategoryStatistics
    statistics_grouped: CategoryStatistics
    runtime: RuntimeViews | None


def merge_all_flags(matcher: ModelMatcher) -> dict[tuple[bool, bool], dict[str, CombinedModelStatistics]]:
    """The four with-stats maps from one full merge.

    The flag sets differ only in the two optional fields ``worker_summaries`` and
    ``backend_variations``, so the lighter maps are shallow copies of the full one without them;
    merging four times was the costliest phase of a recompute.
    """
    full = merge_matched(matcher, include_workers=True, include_backend_variations=True)
    maps: dict[tuple[bool, bool], dict[str, CombinedModelStatistics]] = {}
    for workers, variations in WITH_STATS_FLAGS:
        drop: dict[str, None] = {}
        if not workers:
            drop["worker_summaries"] = None
        if not variations:
            drop["backend_variations"] = None
        maps[(workers, variations)] = (
            {name: copy_trusted(stats, drop) for name, stats in full.items()} if drop else full
        )
    return maps


def analyze_all(
    reference: ReferenceSnapshot,
    full: Mapping[str, CombinedModelStatistics],
    thresholds: RiskThresholds,
    lifecycle: LifecycleContext | None = None,
) -> dict[bool, list[ModelDeletionRiskInfo]]:
    """Ungrouped risk entries without and (text only) with backend variations.

    Variations only add one field, so the plain list is the variations list without it (entries
    without variations are shared, being immutable); image has no variations view (upstream §5.3),
    so it is analysed once.
    """
    category = reference.category
    if category is not ModelCategory.TEXT_GENERATION:
        entries = analyze_category(reference.records, full, category, thresholds)
        return {False: enrich(entries, lifecycle, thresholds) if lifecycle is not None else entries}
    variations = analyze_category(
        reference.records, full, category, thresholds, include_backend_variations=True
    )
    if lifecycle is not None:  # lifecycle and graced flags (docs/history.md), before any view
        variations = enrich(variations, lifecycle, thresholds)
    plain = [
        entry if entry.backend_variations is None else copy_trusted(entry, {"backend_variations": None})
        for entry in variations
    ]
    return {False: plain, True: variations}


def risk_responses(
    category: ModelCategory,
    analyses: Mapping[bool, list[ModelDeletionRiskInfo]],
    total: int,
    thresholds: RiskThresholds,
) -> dict[tuple[bool, bool], CategoryDeletionRiskResponse]:
    """The default response of every effective (grouped, variations) flag set of ``category``."""
    risk: dict[tuple[bool, bool], CategoryDeletionRiskResponse] = {}
    for grouped, with_variations in RISK_FLAGS:
        if effective_risk_flags(category, grouped, with_variations) != (grouped, with_variations):
            continue
        risk[(grouped, with_variations)] = build_risk_response(
            analyses[with_variations],
            category=category,
            category_total_month_usage=total,
            thresholds=thresholds,
            grouped=grouped,
        )
    return risk


def with_impacts(
    analyses: dict[bool, list[ModelDeletionRiskInfo]],
    reference: ReferenceSnapshot,
    full: Mapping[str, CombinedModelStatistics],
    styles: StyleCatalog | None,
) -> dict[bool, list[ModelDeletionRiskInfo]]:
    """The ungrouped entries with their ``impact`` (what removing each model breaks or frees)."""
    impacts = compute_impacts(reference.records, full, reference.category, styles)
    # An entry both lists share (no variations) stays shared: one copy, indexed once downstream.
    copies: dict[int, ModelDeletionRiskInfo] = {}

    def with_impact(entry: ModelDeletionRiskInfo) -> ModelDeletionRiskInfo:
        copy = copies.get(id(entry))
        if copy is None:
            copy = copies[id(entry)] = copy_trusted(entry, {"impact": impacts[entry.name]})
        return copy

    return {flag: [with_impact(entry) for entry in entries] for flag, entries in analyses.items()}


def _runtime_views(
    reference: ReferenceSnapshot,
    horde: HordeSnapshot,
    thresholds: RiskThresholds,
    styles: StyleCatalog | None = None,
    lifecycle: LifecycleContext | None = None,
) -> RuntimeViews:
    matcher = ModelMatcher(reference.names(), HordeIndex.from_snapshot(horde))
    with_stats = merge_all_flags(matcher)
    full = with_stats[(True, True)]
    total = category_total_month_usage(reference.records, full)
    analyses = with_impacts(analyze_all(reference, full, thresholds, lifecycle), reference, full, styles)
    risk = risk_responses(reference.category, analyses, total, thresholds)
    risk_models = {flags: tuple(response.models) for flags, response in risk.items()}
    broken = (
        broken_styles(reference.records, styles)
        if reference.category is ModelCategory.IMAGE_GENERATION
        else ()
    )
    return RuntimeViews(with_stats, risk_models, risk, total, broken)


def _group_namer(records: tuple[ReferenceRecord, ...]) -> Callable[[str], str]:
    """Group name of a model: the base name of the first member of its group (as in risk grouping)."""
    first: dict[str, str] = {}
    for record in records:
        first.setdefault(group_key(record.name), get_base_model_name(record.name))
    return lambda name: first[group_key(name)]


def static_statistics(
    reference: ReferenceSnapshot, *, computed_at: int
) -> tuple[CategoryStatistics, CategoryStatistics]:
    """Plain and grouped statistics; grouping applies to text only, other categories reuse the plain."""
    records = reference.records
    statistics = compute_category_statistics(records, reference.category, computed_at=computed_at)
    if reference.category is not ModelCategory.TEXT_GENERATION:
        return statistics, statistics
    grouped_records = group_records_for_statistics(records, _group_namer(records))
    grouped = compute_category_statistics(grouped_records, reference.category, computed_at=computed_at)
    return statistics, grouped


def build_category_views(
    reference: ReferenceSnapshot,
    horde: HordeSnapshot | None,
    thresholds: RiskThresholds,
    *,
    computed_at: int,
    styles: StyleCatalog | None = None,
    lifecycle: LifecycleContext | None = None,
) -> CategoryViews:
    """Compute every view of ``reference.category``; runtime views only with a Horde snapshot
    (``styles``: the AI Horde styles in force, for the impact of image models)."""
    category = reference.category
    statistics, statistics_grouped = static_statistics(reference, computed_at=computed_at)
    runtime = None
    if (
        horde is not None
        and has_runtime_data(category)
        and horde.status is not None
        and horde.stats is not None
    ):
        runtime = _runtime_views(reference, horde, thresholds, styles, lifecycle)
    return CategoryViews(category, statistics, statistics_grouped, runtime)


#: One serialiser call per map instead of one per entry (rendering ~4x faster, same bytes).
_WITH_STATS_JSON: TypeAdapter[dict[str, CombinedModelStatistics]] = TypeAdapter(
    dict[str, CombinedModelStatistics]
)


def _json_map(entries: Mapping[str, CombinedModelStatistics]) -> bytes:
    return _WITH_STATS_JSON.dump_json(entries if isinstance(entries, dict) else dict(entries))


def _json_model(model: BaseModel) -> bytes:
    """``model.model_dump_json().encode()`` without the round trip through ``str``."""
    return type(model).__pydantic_serializer__.to_json(model)


def render_views(views: CategoryViews) -> dict[str, bytes]:
    """JSON bytes of every default (unfiltered, unsorted, unpaged) response, by view name."""
    rendered = {
        statistics_view(False): _json_model(views.statistics),
        statistics_view(True): _json_model(views.statistics_grouped),
    }
    if views.runtime is not None:
        for (workers, variations), entries in views.runtime.with_stats.items():
            rendered[with_stats_view(workers, variations)] = _json_map(entries)
        for (grouped, variations), response in views.runtime.risk.items():
            rendered[risk_view(grouped, variations)] = _json_model(response)
    return rendered
