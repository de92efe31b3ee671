"""Grouping of deletion-risk entries (§4.11) with the D23, D24, D26, D27, D38, D42 fixes."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.risk.flags import risk_verdict
from shared.domain.risk.grouping import group_risk_models, merge_ratio, merge_usage_trends
from shared.domain.risk.models import (
    BackendVariationStats,
    DeletionRiskFlags,
    ModelDeletionRiskInfo,
    UsageTrend,
)
from shared.domain.risk.thresholds import RiskThresholds

TEXT = ModelCategory.TEXT_GENERATION
DEFAULTS = RiskThresholds()


def _info(name: str, *, flags: DeletionRiskFlags | None = None, **kw: Any) -> ModelDeletionRiskInfo:
    f = flags or DeletionRiskFlags()
    verdict = risk_verdict(
        TEXT,
        f,
        usage_month=kw.get("usage_month", 0),
        worker_count=kw.get("worker_count", 0),
        thresholds=DEFAULTS,
    )
    return ModelDeletionRiskInfo(name=name, category=TEXT, deletion_risk_flags=f, **kw, **verdict._asdict())


def _group(models: list[ModelDeletionRiskInfo], total: int = 100_000) -> list[ModelDeletionRiskInfo]:
    return group_risk_models(models, category_total_month_usage=total, thresholds=DEFAULTS)


LLAMA_Q4 = _info(
    "llama-2-7b-Q4_K_M",
    worker_count=5,
    usage_day=50,
    usage_month=1500,
    usage_total=25000,
    usage_percentage_of_category=2.5,
    size_gb=3.5,
)
LLAMA_Q8 = _info(
    "llama-2-7b-Q8",
    worker_count=8,
    usage_day=80,
    usage_month=2400,
    usage_total=40000,
    usage_percentage_of_category=4.0,
    size_gb=7.0,
)


# --- upstream oracles -------------------------------------------------------------------------


def test_single_member_is_renamed_and_otherwise_kept() -> None:
    [group] = _group([LLAMA_Q4], total=60_000)
    assert group.name == "llama-2"
    assert group.model_dump(exclude={"name"}) == LLAMA_Q4.model_dump(exclude={"name"})


def test_single_member_with_base_name_is_reused() -> None:
    model = _info("llama-2", usage_month=3)
    assert _group([model])[0] is model


def test_different_families_stay_apart() -> None:
    groups = _group([_info("llama-2-7b"), _info("mistral-7b")])
    assert {g.name for g in groups} == {"llama-2", "mistral"}


def test_two_quants_aggregate() -> None:
    [group] = _group([LLAMA_Q4, LLAMA_Q8], total=60_000)
    assert group.name == "llama-2"
    assert (group.usage_day, group.usage_month, group.usage_total) == (130, 3900, 65000)
    assert group.usage_percentage_of_category == 6.5
    assert group.worker_count == 8
    assert group.size_gb == 5.25
    assert group.cost_benefit_score == round(3900 / 5.25, 2)


def test_mean_size_ignores_missing_sizes() -> None:
    [group] = _group(
        [_info("foo-7b", usage_month=10, worker_count=1), _info("foo-13b", size_gb=6.0, usage_month=2)]
    )
    assert group.size_gb == 6.0
    assert group.cost_benefit_score == 2.0


def test_no_sizes_give_null_size() -> None:
    [group] = _group([_info("foo-7b"), _info("foo-13b")])
    assert group.size_gb is None
    assert group.cost_benefit_score is None


def test_fields_from_first_member_and_aggregates() -> None:
    a = _info(
        "foo-7b",
        baseline="llama",
        nsfw=True,
        has_description=True,
        download_count=1,
        usage_hour=2,
        download_hosts=("huggingface.co",),
    )
    b = _info(
        "foo-13b",
        baseline="other",
        nsfw=False,
        has_description=False,
        download_count=2,
        download_hosts=("civitai.com", "huggingface.co"),
    )
    [group] = _group([a, b])
    assert (group.baseline, group.nsfw) == ("llama", True)
    assert group.has_description is False
    assert group.download_count == 3
    assert group.usage_hour == 2
    assert group.usage_minute is None


def test_host_union_in_first_seen_order() -> None:  # D23
    a = _info("foo-7b", download_hosts=("b.example", "a.example"))
    b = _info("foo-13b", download_hosts=("c.example", "b.example"))
    assert _group([a, b])[0].download_hosts == ("b.example", "a.example", "c.example")


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("koboldcpp/SicariusSicariiStuff/Fiendish_LLAMA_3B", "Fiendish_LLAMA"),
        ("koboldcpp/allura-org/MS-Meadowlark-22B", "MS-Meadowlark"),
    ],
)
def test_group_display_names(name: str, base: str) -> None:
    assert _group([_info(name)])[0].name == base


def test_separator_and_case_variants_group_together() -> None:
    groups = _group([_info("Llama_3_8B", usage_month=5), _info("llama-3-70b", usage_month=1)])
    assert [g.name for g in groups] == ["Llama_3"]
    assert groups[0].usage_month == 6


@pytest.mark.parametrize(
    ("values", "weights", "expected"),
    [
        ([0.4, 0.6], [50, 50], 0.5),
        ([0.2, 0.8], [10, 90], 0.74),
        ([0.5, None], [50, 50], 0.25),
        ([None, None], [50, 50], None),
        ([], [], None),
    ],
)
def test_merge_ratio_oracles(values: list[float | None], weights: list[int], expected: float | None) -> None:
    result = merge_ratio(values, weights)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_zero_ratio_stays_zero() -> None:  # D42
    assert merge_ratio([0.0, 0.0], [10, 20]) == 0.0
    assert merge_ratio([0.0, 0.6], [50, 50]) == pytest.approx(0.3)
    trend = merge_usage_trends([UsageTrend(month_to_total_ratio=0.0)] * 2, [0, 0])
    assert trend.month_to_total_ratio == 0.0
    assert trend.day_to_month_ratio is None


def test_group_trend_is_usage_weighted() -> None:
    a = _info("foo-7b", usage_month=10, usage_trend=UsageTrend(day_to_month_ratio=0.2))
    b = _info("foo-13b", usage_month=90, usage_trend=UsageTrend(day_to_month_ratio=0.8))
    assert _group([a, b])[0].usage_trend.day_to_month_ratio == pytest.approx(0.74)


# --- D26: usage/worker flags recomputed, data/host flags OR-ed --------------------------------


def test_usage_and_worker_flags_recomputed_from_aggregates() -> None:  # D26
    q4 = _info(
        "mixtral-8x7b-Q4",
        usage_day=0,
        usage_month=100,
        usage_total=1000,
        worker_count=2,
        flags=DeletionRiskFlags(zero_usage_day=True),
    )
    q8 = _info(
        "mixtral-8x7b-Q8",
        usage_day=3,
        usage_month=0,
        usage_total=5,
        worker_count=0,
        flags=DeletionRiskFlags(no_active_workers=True, low_usage=True, zero_usage_month=True),
    )
    [group] = _group([q4, q8], total=1000)
    assert group.deletion_risk_flags == DeletionRiskFlags()  # 3/100/1005, 2 workers, 10 % of 1000
    assert not group.at_risk
    assert group.risk_score == 0


def test_upstream_mixtral_oracle_with_consistent_numbers() -> None:  # D26
    q4 = _info(
        "mixtral-8x7b-Q4",
        usage_month=5,
        usage_total=5,
        worker_count=0,
        flags=DeletionRiskFlags(zero_usage_day=True, no_active_workers=True),
    )
    q8 = _info(
        "mixtral-8x7b-Q8",
        usage_day=1,
        usage_month=1,
        usage_total=9,
        worker_count=0,
        flags=DeletionRiskFlags(no_active_workers=True, low_usage=True),
    )
    [group] = _group([q4, q8], total=1_000_000)
    assert group.deletion_risk_flags == DeletionRiskFlags(no_active_workers=True, low_usage=True)
    assert group.at_risk
    assert group.risk_score == 2
    assert group.is_critical  # recomputed: month 6 < 10 and 0 workers


def test_data_and_host_flags_are_ored() -> None:  # D26
    a = _info(
        "foo-7b",
        usage_month=50,
        usage_day=1,
        usage_total=50,
        worker_count=1,
        flags=DeletionRiskFlags(missing_description=True, has_unknown_host=True),
    )
    b = _info(
        "foo-13b",
        usage_month=50,
        usage_day=1,
        usage_total=50,
        worker_count=1,
        flags=DeletionRiskFlags(missing_baseline=True, no_download_urls=True),
    )
    [group] = _group([a, b], total=100)
    assert group.deletion_risk_flags == DeletionRiskFlags(
        missing_description=True, missing_baseline=True, has_unknown_host=True, no_download_urls=True
    )
    assert group.has_warning
    assert group.risk_score == 4


def test_group_is_critical_recomputed_from_group_numbers() -> None:
    a = _info("foo-7b", usage_month=4, worker_count=0)
    b = _info("foo-13b", usage_month=4, worker_count=0)
    assert a.is_critical
    assert b.is_critical
    assert _group([a, b], total=100)[0].is_critical  # 8 < 10 and 0 workers
    c = _info("foo-70b", usage_month=6, worker_count=0)
    assert not _group([a, c], total=100)[0].is_critical  # 10 is not < 10


# --- D38: percentage recomputed -----------------------------------------------------------------


def test_percentage_never_exceeds_100() -> None:  # D38
    # Three members of one family owning all usage: upstream summed 33.3333 * 2 + 33.3334 style
    # rounded parts could exceed 100 and fail validation.
    members = [_info(f"solo-{n}b", usage_month=1, usage_percentage_of_category=33.3333) for n in (1, 2, 3)]
    members[2] = members[2].model_copy(update={"usage_percentage_of_category": 33.3334})
    members.append(_info("solo-4b", usage_month=0, usage_percentage_of_category=0.0001))
    [group] = _group(members, total=3)
    assert group.usage_percentage_of_category == 100.0


def test_percentage_is_recomputed_from_summed_month() -> None:  # D38
    a = _info("foo-7b", usage_month=1, usage_percentage_of_category=33.3333)
    b = _info("foo-13b", usage_month=1, usage_percentage_of_category=33.3333)
    assert _group([a, b], total=3)[0].usage_percentage_of_category == 66.6667


# --- D27: backend variations kept -------------------------------------------------------------


def _bv(backend: str, name: str, workers: int, perf: float | None, month: int) -> BackendVariationStats:
    return BackendVariationStats(
        backend=backend,
        variant_name=name,
        worker_count=workers,
        performance=perf,
        usage_day=1,
        usage_month=month,
        usage_total=month * 2,
    )


def test_single_member_rename_keeps_backend_variations() -> None:  # D27
    model = _info(
        "NeverSleep/Lumimaid-v0.2-8B", backend_variations=(_bv("koboldcpp", "koboldcpp/x", 1, 2.0, 5),)
    )
    [group] = _group([model])
    assert group.name == "Lumimaid"
    assert group.backend_variations == model.backend_variations


def test_group_merges_backend_variations_per_backend() -> None:  # D27
    a = _info(
        "foo-7b",
        usage_month=10,
        backend_variations=(
            _bv("koboldcpp", "koboldcpp/foo-7b", 2, 10.0, 4),
            _bv("canonical", "foo-7b", 1, 4.0, 6),
        ),
    )
    b = _info(
        "foo-13b", usage_month=5, backend_variations=(_bv("koboldcpp", "koboldcpp/foo-13b", 6, 2.0, 5),)
    )
    c = _info("foo-70b", usage_month=0)
    [group] = _group([a, b, c])
    assert group.backend_variations is not None
    canonical, kobold = group.backend_variations
    assert canonical == _bv("canonical", "foo-7b", 1, 4.0, 6)
    assert kobold.backend == "koboldcpp"
    assert kobold.variant_name == "koboldcpp/foo-7b"
    assert kobold.worker_count == 6  # max, like the group's worker_count
    assert kobold.performance == pytest.approx((10.0 * 2 + 2.0 * 6) / 8)
    assert (kobold.usage_day, kobold.usage_month, kobold.usage_total) == (2, 9, 18)


def test_group_without_variations_has_none() -> None:
    assert _group([_info("foo-7b"), _info("foo-13b")])[0].backend_variations is None


# --- D24: ordering ------------------------------------------------------------------------------


def test_grouped_list_resorted_by_month_then_name() -> None:  # D24
    models = [
        _info("small-7b", usage_month=30),
        _info("beta-7b", usage_month=20),
        _info("beta-13b", usage_month=20),
        _info("alpha-7b", usage_month=10),
        _info("Zeta-7b", usage_month=10),
        _info("gamma-7b", usage_month=10),
    ]
    assert [g.name for g in _group(models)] == ["beta", "small", "alpha", "gamma", "Zeta"]


def test_grouping_does_not_mutate_input() -> None:  # D1
    models = [LLAMA_Q4, LLAMA_Q8]
    dumped = [m.model_dump() for m in models]
    _group(models)
    assert [m.model_dump() for m in models] == dumped


def test_custom_key_and_display_functions() -> None:
    groups = group_risk_models(
        [_info("a1", usage_month=1), _info("a2", usage_month=1), _info("b1")],
        category_total_month_usage=2,
        thresholds=DEFAULTS,
        key=lambda n: n[0],
        display=lambda n: n[0].upper(),
    )
    assert [(g.name, g.usage_month) for g in groups] == [("A", 2), ("B", 0)]


def test_group_size_and_cost_benefit_rounded_to_2_dp() -> None:  # D25
    a = _info("foo-7b", usage_month=10, size_gb=1.0)
    b = _info("foo-13b", usage_month=0, size_gb=1.0)
    c = _info("foo-70b", usage_month=0, size_gb=1.01)
    [group] = _group([a, b, c])
    assert group.size_gb == 1.0  # mean 1.00333…
    assert group.cost_benefit_score == round(10 / (3.01 / 3), 2)
