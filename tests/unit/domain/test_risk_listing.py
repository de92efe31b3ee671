"""Building deletion-risk responses (§4.8, §5.3 as amended): D8, D9, D10, D11 and sorting."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.risk.flags import risk_verdict
from shared.domain.risk.listing import (
    VALID_SORT_FIELDS,
    UnknownSortFieldError,
    build_risk_response,
    parse_sort_field,
    sort_risk_models,
)
from shared.domain.risk.models import CategoryDeletionRiskResponse, DeletionRiskFlags, ModelDeletionRiskInfo
from shared.domain.risk.presets import UnknownPresetError
from shared.domain.risk.thresholds import RiskThresholds

IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION
DEFAULTS = RiskThresholds()


def _info(
    name: str, category: ModelCategory = TEXT, *, flags: DeletionRiskFlags | None = None, **kw: Any
) -> ModelDeletionRiskInfo:
    f = flags or DeletionRiskFlags()
    verdict = risk_verdict(
        category,
        f,
        usage_month=kw.get("usage_month", 0),
        worker_count=kw.get("worker_count", 0),
        thresholds=DEFAULTS,
    )
    return ModelDeletionRiskInfo(
        name=name, category=category, deletion_risk_flags=f, **kw, **verdict._asdict()
    )


NO_WORKERS = DeletionRiskFlags(no_active_workers=True)
MODELS = [
    _info("llama-2-7b", usage_month=50, worker_count=2),
    _info("llama-2-13b", usage_month=30, worker_count=0, flags=NO_WORKERS),
    _info("mistral-7b", usage_month=15, worker_count=1),
    _info("qwen-7b", usage_month=5, worker_count=0, flags=NO_WORKERS),
]
TOTAL = 100


def _build(models: list[ModelDeletionRiskInfo] = MODELS, **kw: Any) -> CategoryDeletionRiskResponse:
    return build_risk_response(
        models, category=TEXT, category_total_month_usage=TOTAL, thresholds=DEFAULTS, **kw
    )


def test_plain_response() -> None:
    response = _build()
    assert [m.name for m in response.models] == [m.name for m in MODELS]
    assert (response.total_count, response.returned_count, response.offset, response.limit) == (4, 4, 0, None)
    assert response.summary.total_models == 4


def test_total_count_is_after_grouping_before_pagination() -> None:  # D9
    grouped = _build(grouped=True)
    assert [m.name for m in grouped.models] == ["llama-2", "mistral", "qwen"]
    assert grouped.total_count == 3  # upstream: 4 (pre-grouping count)
    paged = _build(grouped=True, offset=1, limit=1)
    assert paged.total_count == 3
    assert paged.returned_count == 1
    assert [m.name for m in paged.models] == ["mistral"]


def test_total_count_same_with_and_without_pagination() -> None:  # D9
    for kw in ({}, {"grouped": True}, {"preset": "no_workers"}, {"grouped": True, "preset": "no_workers"}):
        full = _build(**kw)
        paged = _build(**kw, offset=1, limit=1)
        assert full.total_count == paged.total_count == len(full.models)
        assert full.summary == paged.summary  # summary describes the unsliced list


def test_preset_total_count_is_filtered_count() -> None:  # D9
    response = _build(preset="no_workers")
    assert [m.name for m in response.models] == ["llama-2-13b", "qwen-7b"]
    assert response.total_count == 2  # upstream: 4 (pre-filter count)


def test_summary_describes_filtered_list_with_category_wide_total() -> None:  # D10
    response = _build(preset="no_workers")
    assert response.summary.total_models == 2
    assert response.summary.models_with_no_active_workers == 2
    assert response.category_total_month_usage == response.summary.category_total_month_usage == TOTAL
    # upstream: summary.category_total_month_usage = 35 (Σ of the filtered list)


def test_grouped_summary_describes_groups() -> None:  # D10
    response = _build(grouped=True)
    assert response.summary.total_models == 3
    assert response.summary.models_with_no_active_workers == 1  # llama-2 has 2 workers (D26), qwen none
    assert response.summary.category_total_month_usage == TOTAL


def test_grouped_and_ungrouped_answers_differ_and_are_stable() -> None:  # D8
    models = list(MODELS)
    first_ungrouped = _build(models)
    grouped = _build(models, grouped=True)
    second_ungrouped = _build(models)
    assert first_ungrouped == second_ungrouped
    assert grouped != first_ungrouped
    assert grouped == _build(models, grouped=True)
    assert models == MODELS  # nothing shared was mutated (D1)


def test_grouping_ignored_for_image() -> None:
    models = [_info("Anything v3", IMAGE, usage_month=5, worker_count=1), _info("Anything v5", IMAGE)]
    response = build_risk_response(
        models, category=IMAGE, category_total_month_usage=5, thresholds=DEFAULTS, grouped=True
    )
    assert [m.name for m in response.models] == ["Anything v3", "Anything v5"]


def test_unknown_preset_rejected_even_without_models() -> None:  # D11
    with pytest.raises(UnknownPresetError, match="Valid presets: deletion_candidates"):
        _build([], preset="nope")


def test_empty_preset_means_no_preset() -> None:  # D11 (upstream behaviour kept)
    assert _build(preset="").total_count == 4


def test_unknown_sort_field_lists_valid_values() -> None:  # D11
    with pytest.raises(UnknownSortFieldError) as caught:
        parse_sort_field("popularity")
    assert ", ".join(VALID_SORT_FIELDS) in str(caught.value)
    with pytest.raises(UnknownSortFieldError):
        _build([], sort_by="popularity")


@pytest.mark.parametrize(("offset", "limit"), [(-1, None), (0, 0)])
def test_invalid_page_rejected(offset: int, limit: int | None) -> None:
    with pytest.raises(ValueError, match="must be >="):
        _build(offset=offset, limit=limit)


def test_offset_without_limit_and_past_the_end() -> None:
    assert [m.name for m in _build(offset=2).models] == ["mistral-7b", "qwen-7b"]
    beyond = _build(offset=10, limit=5)
    assert beyond.returned_count == 0
    assert beyond.total_count == 4
    assert beyond.limit == 5


# --- sorting -----------------------------------------------------------------------------------


def test_sort_fields_are_the_frontend_columns() -> None:
    assert set(VALID_SORT_FIELDS) == {
        "name",
        "baseline",
        "worker_count",
        "usage_day",
        "usage_month",
        "usage_total",
        "usage_percentage_of_category",
        "size_gb",
        "risk_score",
    }


def test_sort_is_stable_with_nulls_last_both_ways() -> None:
    models = [
        _info("a", size_gb=None),
        _info("b", size_gb=2.0),
        _info("c", size_gb=1.0),
        _info("d", size_gb=2.0),
        _info("e", size_gb=None),
    ]
    assert [m.name for m in sort_risk_models(models, "size_gb")] == ["c", "b", "d", "a", "e"]
    assert [m.name for m in sort_risk_models(models, "size_gb", descending=True)] == ["b", "d", "c", "a", "e"]


def test_name_and_baseline_sort_case_insensitively() -> None:
    models = [_info("beta", baseline="Y"), _info("Alpha", baseline=None), _info("alpha", baseline="x")]
    assert [m.name for m in sort_risk_models(models, "name")] == ["Alpha", "alpha", "beta"]
    assert [m.name for m in sort_risk_models(models, "baseline")] == ["alpha", "beta", "Alpha"]


def test_sort_by_risk_score_and_in_response() -> None:
    models = [
        _info("a", flags=DeletionRiskFlags(low_usage=True)),
        _info("b", flags=DeletionRiskFlags(low_usage=True, missing_baseline=True)),
        _info("c"),
    ]
    assert [m.name for m in sort_risk_models(models, "risk_score", descending=True)] == ["b", "a", "c"]
    response = _build(models, sort_by="risk_score", descending=True, limit=2)
    assert [m.name for m in response.models] == ["b", "a"]
    assert response.total_count == 3


def test_sort_by_usage_day() -> None:  # D11: usage_day is a valid sort key
    models = [_info("a", usage_day=1), _info("b", usage_day=3), _info("c", usage_day=2)]
    assert [m.name for m in sort_risk_models(models, "usage_day", descending=True)] == ["b", "c", "a"]


def test_grouped_summary_average_rounded_like_ungrouped() -> None:  # D25
    models = [
        _info("a-7b", usage_month=1, worker_count=1, flags=DeletionRiskFlags(missing_baseline=True)),
        _info("b-7b", usage_month=1, worker_count=1, flags=DeletionRiskFlags(missing_baseline=True)),
        _info("c-7b", usage_month=1, worker_count=1),
    ]
    response = build_risk_response(
        models, category=TEXT, category_total_month_usage=3, thresholds=DEFAULTS, grouped=True
    )
    assert response.summary.average_risk_score == 0.67  # upstream grouped path: 0.666…


def test_two_llama_variants_group_into_one_entry() -> None:  # §4.11 oracle, total_count amended by D9
    models = [
        _info("llama-2-7b-Q4_K_M", usage_month=2, worker_count=1),
        _info("llama-2-7b-Q8", usage_month=1, worker_count=1),
    ]
    response = build_risk_response(
        models, category=TEXT, category_total_month_usage=3, thresholds=DEFAULTS, grouped=True
    )
    assert [m.name for m in response.models] == ["llama-2"]
    assert response.returned_count == 1
    assert response.summary.total_models == 1
    assert response.total_count == 1  # upstream: 2 (pre-grouping)


def test_lumimaid_family_grouped_from_exact_usage() -> None:  # §4.15 text example with D12 usage
    models = [
        _info("NeverSleep/Lumimaid-v0.2-8B", usage_month=100, worker_count=1),
        _info("NeverSleep/Lumimaid-v0.2-12B", usage_month=50, worker_count=1),
    ]
    response = build_risk_response(
        models, category=TEXT, category_total_month_usage=150, thresholds=DEFAULTS, grouped=True
    )
    [group] = response.models
    assert group.name == "Lumimaid"
    assert group.usage_month == 150
    assert group.usage_percentage_of_category == 100.0
