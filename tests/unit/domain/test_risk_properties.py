"""Property tests for deletion-risk analysis, grouping and listing (hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.categories import ModelCategory
from shared.domain.horde.runtime import CombinedModelStatistics, UsageStats
from shared.domain.reference.records import DownloadEntry, ReferenceRecord
from shared.domain.risk.analysis import analyze_category, category_total_month_usage
from shared.domain.risk.grouping import group_risk_models
from shared.domain.risk.listing import build_risk_response
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.text_names import group_key

DEFAULTS = RiskThresholds()
FAMILIES = ("llama-2", "Llama_2", "mistral", "Qwen2.5-Coder", "NeverSleep/Lumimaid-v0.2")
SIZES = ("7b", "13B", "70b")
SUFFIXES = ("", "-Q4_K_M", "-GGUF", "-Instruct")
NAMES = tuple(f"{f}-{s}{q}" for f in FAMILIES for s in SIZES for q in SUFFIXES)
URLS = (None, "https://huggingface.co/x", "https://civitai.com/y", "junk", "https://cdn-lfs.huggingface.co/z")

usage = st.integers(min_value=0, max_value=10_000)
stats_strategy = st.builds(
    CombinedModelStatistics,
    usage_stats=st.builds(UsageStats, day=usage, month=usage, total=usage),
    worker_count=st.integers(min_value=0, max_value=5),
)


Inputs = tuple[ModelCategory, list[ReferenceRecord], dict[str, CombinedModelStatistics]]


@st.composite
def category_inputs(draw: st.DrawFn) -> Inputs:
    category = draw(st.sampled_from([ModelCategory.TEXT_GENERATION, ModelCategory.IMAGE_GENERATION]))
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=12))
    records = [
        ReferenceRecord(
            name=name,
            category=category,
            description=draw(st.sampled_from([None, "", "desc"])),
            baseline=draw(st.sampled_from([None, "sdxl"])),
            downloads=tuple(
                DownloadEntry(file_url=u) for u in draw(st.lists(st.sampled_from(URLS), max_size=3))
            ),
            size_on_disk_bytes=draw(st.sampled_from([None, 0, 3 * 1024**3, 7_000_000_123])),
        )
        for name in names
    ]
    known = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    merged = {name: draw(stats_strategy) for name in known}
    merged.update({f"horde-only-{i}": draw(stats_strategy) for i in range(draw(st.integers(0, 2)))})
    return category, records, merged


def _analyze(
    category: ModelCategory, records: list[ReferenceRecord], merged: dict[str, CombinedModelStatistics]
) -> list[ModelDeletionRiskInfo]:
    return analyze_category(records, merged, category, DEFAULTS, include_backend_variations=True)


def _group(models: list[ModelDeletionRiskInfo], total: int) -> list[ModelDeletionRiskInfo]:
    return group_risk_models(models, category_total_month_usage=total, thresholds=DEFAULTS)


@given(category_inputs())
def test_percentages_within_0_and_100(inputs: Inputs) -> None:
    category, records, merged = inputs
    total = category_total_month_usage(records, merged)
    models = _analyze(category, records, merged)
    for model in [*models, *_group(models, total)]:
        assert 0.0 <= model.usage_percentage_of_category <= 100.0
    if total > 0:
        assert abs(sum(m.usage_percentage_of_category for m in models) - 100.0) <= 0.0001 * len(models)


@given(category_inputs())
def test_grouped_usage_equals_sum_of_members(inputs: Inputs) -> None:
    category, records, merged = inputs
    total = category_total_month_usage(records, merged)
    models = _analyze(category, records, merged)
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for m in models:
        sums = expected[group_key(m.name)]
        sums[0] += m.usage_day
        sums[1] += m.usage_month
        sums[2] += m.usage_total
        sums[3] = max(sums[3], m.worker_count)
    groups = _group(models, total)
    assert {
        group_key(g.name): [g.usage_day, g.usage_month, g.usage_total, g.worker_count] for g in groups
    } == expected
    assert sum(g.usage_month for g in groups) == total


@given(category_inputs())
def test_every_reference_model_appears_exactly_once(inputs: Inputs) -> None:
    category, records, merged = inputs
    models = _analyze(category, records, merged)
    assert sorted(m.name for m in models) == sorted(r.name for r in records)
    months = [m.usage_month for m in models]
    assert months == sorted(months, reverse=True)


@given(category_inputs(), st.randoms(use_true_random=False))
def test_output_independent_of_input_order_except_reference_tie_break(inputs: Inputs, rnd: Random) -> None:
    category, records, merged = inputs
    shuffled = list(records)
    rnd.shuffle(shuffled)
    shuffled_merged = dict(reversed(list(merged.items())))
    original = _analyze(category, records, merged)
    permuted = _analyze(category, shuffled, shuffled_merged)
    assert {m.name: m for m in original} == {m.name: m for m in permuted}
    # Order: usage_month desc; within equal usage, the (permuted) reference order.
    position = {r.name: i for i, r in enumerate(shuffled)}
    assert [m.name for m in permuted] == sorted(
        (m.name for m in original),
        key=lambda n: (-next(x.usage_month for x in original if x.name == n), position[n]),
    )
    total = category_total_month_usage(records, merged)

    def grouped_numbers(models: list[ModelDeletionRiskInfo]) -> dict[str, tuple[object, ...]]:
        return {
            group_key(g.name): (
                g.usage_day,
                g.usage_month,
                g.usage_total,
                g.worker_count,
                g.usage_percentage_of_category,
                g.deletion_risk_flags,
                g.is_critical,
                g.download_count,
                set(g.download_hosts),
            )
            for g in _group(models, total)
        }

    assert grouped_numbers(original) == grouped_numbers(permuted)


@given(category_inputs(), st.booleans(), st.integers(0, 5), st.one_of(st.none(), st.integers(1, 5)))
def test_response_counts_are_consistent(
    inputs: Inputs, grouped: bool, offset: int, limit: int | None
) -> None:
    category, records, merged = inputs
    total = category_total_month_usage(records, merged)
    response = build_risk_response(
        _analyze(category, records, merged),
        category=category,
        category_total_month_usage=total,
        thresholds=DEFAULTS,
        grouped=grouped,
        offset=offset,
        limit=limit,
    )
    assert response.summary.total_models == response.total_count  # D9, D10
    assert response.returned_count == len(response.models) <= response.total_count
    assert response.category_total_month_usage == response.summary.category_total_month_usage == total
