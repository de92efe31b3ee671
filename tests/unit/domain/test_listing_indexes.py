"""Listing indexes built together for all views of a category equal one build per view (issue 15:
the recompute indexes each shared row once; the stored bytes must not move)."""

from __future__ import annotations

import pytest

from bench.synthetic import load_reference, load_snapshot
from shared.domain.categories import ModelCategory
from shared.domain.horde.runtime import CombinedModelStatistics
from shared.domain.risk.listing import VALID_SORT_FIELDS, sort_risk_models
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.trusted import copy_trusted
from shared.domain.views import CategoryViews, build_category_views
from shared.materialized.risk_listing import build_risk_index, build_risk_indexes
from shared.materialized.with_stats_listing import build_with_stats_index, build_with_stats_indexes

THRESHOLDS = RiskThresholds()
RUNTIME = (ModelCategory.TEXT_GENERATION, ModelCategory.IMAGE_GENERATION)


def _views(category: ModelCategory) -> CategoryViews:
    reference, snapshot = load_reference(category), load_snapshot(category)
    return build_category_views(reference, snapshot, THRESHOLDS, computed_at=1_782_000_000)


@pytest.mark.parametrize("category", RUNTIME)
def test_risk_indexes_built_together_equal_one_build_per_view(category: ModelCategory) -> None:
    runtime = _views(category).runtime
    assert runtime is not None
    total = runtime.category_total_month_usage
    together = build_risk_indexes(
        runtime.risk_models, category=category, category_total_month_usage=total, thresholds=THRESHOLDS
    )
    assert together.keys() == runtime.risk_models.keys()
    for flags, models in runtime.risk_models.items():
        alone = build_risk_index(
            models, category=category, category_total_month_usage=total, thresholds=THRESHOLDS
        )
        assert together[flags].model_dump_json() == alone.model_dump_json()


def test_risk_index_orders_are_the_domain_sort() -> None:
    runtime = _views(ModelCategory.TEXT_GENERATION).runtime
    assert runtime is not None
    models = runtime.risk_models[(False, False)]
    index = build_risk_index(
        models,
        category=ModelCategory.TEXT_GENERATION,
        category_total_month_usage=runtime.category_total_month_usage,
        thresholds=THRESHOLDS,
    )
    for field in VALID_SORT_FIELDS:
        for descending in (False, True):
            expected = [m.name for m in sort_risk_models(models, field, descending=descending)]
            order = index.orders[f"{field}:{'desc' if descending else 'asc'}"]
            assert [index.names[i] for i in order] == expected


def test_plain_and_variation_risk_lists_share_entries_without_variations() -> None:
    runtime = _views(ModelCategory.TEXT_GENERATION).runtime
    assert runtime is not None
    plain, variations = runtime.risk_models[(False, False)], runtime.risk_models[(False, True)]
    shared = [a is b for a, b in zip(plain, variations, strict=True) if b.backend_variations is None]
    assert shared
    assert all(shared)


@pytest.mark.parametrize("category", RUNTIME)
def test_with_stats_indexes_built_together_equal_one_build_per_view(category: ModelCategory) -> None:
    runtime = _views(category).runtime
    assert runtime is not None
    together = build_with_stats_indexes(runtime.with_stats)
    for flags, entries in runtime.with_stats.items():
        assert together[flags].model_dump_json() == build_with_stats_index(entries).model_dump_json()


def test_with_stats_views_with_other_columns_get_their_own_orders() -> None:
    """Views that are not flag variants of one merge (another column value) share nothing wrong."""
    runtime = _views(ModelCategory.TEXT_GENERATION).runtime
    assert runtime is not None
    full = runtime.with_stats[(True, True)]
    changed: dict[str, CombinedModelStatistics] = {
        name: copy_trusted(stats, {"thread_count": stats.thread_count + i % 7})
        for i, (name, stats) in enumerate(full.items())
    }
    views = {"full": full, "changed": changed, "fewer": dict(list(full.items())[:-3])}
    together = build_with_stats_indexes(views)
    for key, entries in views.items():
        assert together[key].model_dump_json() == build_with_stats_index(entries).model_dump_json()
