"""Layout 2 of the listing indexes (``shared.materialized.index_codec``): the same index back,
layout 1 still read, and the fallback when a text would break the separator."""

from __future__ import annotations

import pytest

from bench.gateway_fill import category_inputs
from services.analytics.recompute import recompute
from shared.domain.categories import ModelCategory
from shared.domain.risk.thresholds import RiskThresholds
from shared.materialized.index_codec import MAGIC, decode_index, encode_index
from shared.materialized.risk_listing import RiskListingIndex
from shared.materialized.with_stats_listing import WithStatsIndex


@pytest.fixture(scope="module")
def views() -> dict[str, bytes]:
    category = ModelCategory.TEXT_GENERATION
    generation = recompute(category, category_inputs(category), RiskThresholds(), computed_at=1_700_000_000)
    assert generation is not None
    return generation.views


def _model(view: str) -> type[RiskListingIndex] | type[WithStatsIndex]:
    return RiskListingIndex if view.startswith("deletion-risk") else WithStatsIndex


def test_workers_store_layout_2_and_it_decodes_to_the_index_they_built(views: dict[str, bytes]) -> None:
    stored = {name: raw for name, raw in views.items() if name.endswith(".index") and "proposal" not in name}
    assert len(stored) == 7
    for name, raw in stored.items():
        assert raw.startswith(MAGIC), name
        model = _model(name)
        index = decode_index(model, raw)
        assert isinstance(index, model)
        # Validating the decoded fields again gives the same index: nothing unchecked slipped in.
        assert model.model_validate(index.model_dump()) == index, name
        assert encode_index(index) == raw


def test_layout_1_json_is_still_read(views: dict[str, bytes]) -> None:
    index = decode_index(RiskListingIndex, views["deletion-risk.index"])
    assert isinstance(index.category, ModelCategory)
    assert decode_index(RiskListingIndex, index.model_dump_json().encode()) == index


def test_a_text_holding_the_separator_is_stored_as_layout_1(views: dict[str, bytes]) -> None:
    index = decode_index(WithStatsIndex, views["with-stats.index"])
    odd = index.model_copy(update={"names": ("a\x00b", *index.names[1:])})
    raw = encode_index(odd)
    assert raw.startswith(b"{")
    assert decode_index(WithStatsIndex, raw) == odd


def test_an_empty_index_round_trips() -> None:
    empty = RiskListingIndex(
        category=ModelCategory.TEXT_GENERATION, category_total_month_usage=0, names=(), fragments=(),
        search_text=(), presets={}, orders={}, summary_rows=(), csv_rows=(),
    )  # fmt: skip
    assert decode_index(RiskListingIndex, encode_index(empty)) == empty
