"""Upstream §4.15 "Image deletion risk" worked example, end to end, with the amended D13 expectation.

Amended (D13): ``B`` has no Horde record, so its usage is 0/0/0 (never null). It therefore also gets
``zero_usage_day``, ``zero_usage_month``, ``zero_usage_total`` and ``low_usage`` (0 % < 0.0065 % of a
category total of 300): 7 flags instead of upstream's 3, and ``is_critical`` is true because it also
has no workers. The summary and the ``critical``/``low_usage`` presets change accordingly.
"""

from __future__ import annotations

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.horde.merge import merge_category
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeSnapshot
from shared.domain.horde.runtime import CombinedModelStatistics
from shared.domain.reference.records import DownloadEntry, ReferenceRecord
from shared.domain.risk.analysis import analyze_category, category_total_month_usage
from shared.domain.risk.listing import build_risk_response
from shared.domain.risk.models import CategoryDeletionRiskResponse, DeletionRiskFlags
from shared.domain.risk.thresholds import RiskThresholds

IMAGE = ModelCategory.IMAGE_GENERATION
DEFAULTS = RiskThresholds()
RECORDS = [
    ReferenceRecord(
        name="A",
        category=IMAGE,
        description="x",
        baseline="stable_diffusion_xl",
        downloads=(DownloadEntry(file_url="https://huggingface.co/a.safetensors"),),
        size_on_disk_bytes=2 * 1024**3,
    ),
    ReferenceRecord(
        name="B",
        category=IMAGE,
        baseline="stable_diffusion_1",
        downloads=(
            DownloadEntry(file_url="https://civitai.com/b.safetensors"),
            DownloadEntry(file_url="https://huggingface.co/b2"),
        ),
    ),
]
SNAPSHOT = HordeSnapshot(
    model_type="image",
    status=(HordeModelStatus(name="A", count=3),),
    stats=HordeModelStats(day={"A": 10}, month={"A": 300}, total={"A": 1000}),
)


@pytest.fixture(scope="module")
def merged() -> dict[str, CombinedModelStatistics]:
    return merge_category(["A", "B"], SNAPSHOT, include_workers=False, include_backend_variations=False)


def _response(
    merged: dict[str, CombinedModelStatistics], preset: str | None = None
) -> CategoryDeletionRiskResponse:
    models = analyze_category(RECORDS, merged, IMAGE, DEFAULTS)
    total = category_total_month_usage(RECORDS, merged)
    return build_risk_response(
        models, category=IMAGE, category_total_month_usage=total, thresholds=DEFAULTS, preset=preset
    )


def test_merge_gives_b_zero_usage_not_null(merged: dict[str, CombinedModelStatistics]) -> None:  # D13
    assert (merged["A"].usage_stats.day, merged["A"].usage_stats.month, merged["A"].usage_stats.total) == (
        10,
        300,
        1000,
    )
    assert merged["A"].worker_count == 3
    assert merged["B"].usage_stats.month == 0
    assert merged["B"].worker_count == 0
    assert category_total_month_usage(RECORDS, merged) == 300


def test_model_a(merged: dict[str, CombinedModelStatistics]) -> None:
    a = _response(merged).models[0]
    assert a.name == "A"
    assert a.deletion_risk_flags == DeletionRiskFlags()
    assert a.risk_score == 0
    assert not a.at_risk
    assert a.usage_percentage_of_category == 100.0
    assert a.size_gb == 2.0
    assert a.cost_benefit_score == 150.0
    assert a.usage_trend.day_to_month_ratio == pytest.approx(10 / 300)
    assert a.usage_trend.month_to_total_ratio == 0.3
    assert a.download_hosts == ("huggingface.co",)
    assert not a.is_critical
    assert not a.has_warning


def test_model_b_amended_for_d13(merged: dict[str, CombinedModelStatistics]) -> None:  # D13
    b = _response(merged).models[1]
    assert b.name == "B"
    assert b.deletion_risk_flags == DeletionRiskFlags(
        zero_usage_day=True,
        zero_usage_month=True,
        zero_usage_total=True,
        no_active_workers=True,
        has_multiple_hosts=True,
        missing_description=True,
        low_usage=True,
    )
    assert b.risk_score == 7
    assert b.at_risk
    assert b.is_critical  # upstream: false, because usage_stats was null (D13)
    assert b.has_warning
    assert b.usage_percentage_of_category == 0.0
    assert b.usage_trend.day_to_month_ratio is None
    assert b.usage_trend.month_to_total_ratio is None
    assert b.download_hosts == ("civitai.com", "huggingface.co")


def test_order_and_summary(merged: dict[str, CombinedModelStatistics]) -> None:
    response = _response(merged)
    assert [m.name for m in response.models] == ["A", "B"]
    assert response.total_count == response.returned_count == 2
    assert response.category_total_month_usage == 300
    s = response.summary
    assert (s.total_models, s.models_at_risk, s.models_with_warnings) == (2, 1, 1)
    assert s.models_critical == 1  # upstream 0 (D13)
    assert s.models_with_no_active_workers == 1
    assert s.models_with_multiple_hosts == 1
    assert (
        s.models_with_zero_day_usage == s.models_with_zero_month_usage == s.models_with_zero_total_usage == 1
    )
    assert s.models_with_low_usage == 1  # upstream 0 (D13)
    assert s.models_with_no_downloads == 0
    assert s.models_with_non_preferred_hosts == 0
    assert s.average_risk_score == 3.5  # upstream 1.5 (D13)
    assert s.category_total_month_usage == 300


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("deletion_candidates", ["B"]),
        ("zero_usage", ["B"]),
        ("no_workers", ["B"]),
        ("missing_data", ["B"]),
        ("host_issues", ["B"]),
        ("critical", ["B"]),  # upstream [] (D13)
        ("low_usage", ["B"]),  # upstream [] (D13)
    ],
)
def test_presets(merged: dict[str, CombinedModelStatistics], preset: str, expected: list[str]) -> None:
    response = _response(merged, preset)
    assert [m.name for m in response.models] == expected
    assert response.total_count == len(expected)  # D9
    assert response.category_total_month_usage == response.summary.category_total_month_usage == 300  # D10
