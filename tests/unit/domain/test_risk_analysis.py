"""Per-model risk entries and category analysis (upstream §4.4, §4.6) with D10, D13 fixes."""

from __future__ import annotations

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.horde.runtime import BackendVariation, CombinedModelStatistics, UsageStats
from shared.domain.reference.records import DownloadEntry, ReferenceRecord
from shared.domain.risk.analysis import analyze_category, build_risk_info, category_total_month_usage
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.domain.risk.thresholds import RiskThresholds

IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION
DEFAULTS = RiskThresholds()
HF = "https://huggingface.co/x.safetensors"
GIB = 1024**3


def _record(name: str, category: ModelCategory = IMAGE, **kw: object) -> ReferenceRecord:
    fields: dict[str, object] = {
        "description": "d",
        "baseline": "stable_diffusion_xl",
        "downloads": (DownloadEntry(file_url=HF),),
    }
    fields.update(kw)
    return ReferenceRecord(name=name, category=category, **fields)


def _stats(
    day: int = 0, month: int = 0, total: int = 0, workers: int = 0, **kw: object
) -> CombinedModelStatistics:
    return CombinedModelStatistics(
        usage_stats=UsageStats(day=day, month=month, total=total),
        worker_count=workers,
        **kw,
    )


def _info(
    record: ReferenceRecord, stats: CombinedModelStatistics | None, total: int, **kw: bool
) -> ModelDeletionRiskInfo:
    return build_risk_info(
        record, stats, category=record.category, category_total=total, thresholds=DEFAULTS, **kw
    )


@pytest.mark.parametrize(
    ("usage", "d2m", "m2t"),
    [((200, 1000, 2000), 0.2, 0.5), ((10, 1000, 10000), 0.01, 0.1), ((5, 0, 100), None, 0.0)],
)
def test_usage_trend_ratios(usage: tuple[int, int, int], d2m: float | None, m2t: float | None) -> None:
    # spec §4.4 prints m2t 0.05 for 5/0/100; the formula month/total and upstream's test give 0.0 (not null)
    info = _info(_record("m"), _stats(*usage, workers=1), 10_000)
    assert info.usage_trend.day_to_month_ratio == d2m
    assert info.usage_trend.month_to_total_ratio == m2t


def test_size_and_cost_benefit_from_bytes() -> None:
    info = _info(_record("m", size_on_disk_bytes=5 * GIB), _stats(1, 1000, 2000, 1), 10_000)
    assert info.size_gb == 5.0
    assert info.cost_benefit_score == 200.0


def test_size_and_cost_benefit_rounded_to_2_dp_from_unrounded_size() -> None:
    info = _info(_record("m", size_on_disk_bytes=3 * GIB + 123_456_789), _stats(1, 1000, 2000, 1), 10_000)
    raw = (3 * GIB + 123_456_789) / GIB
    assert info.size_gb == round(raw, 2)
    assert info.cost_benefit_score == round(1000 / raw, 2)


def test_no_size_gives_null_size_and_cost_benefit() -> None:
    info = _info(_record("m"), _stats(1, 1000, 2000, 1), 10_000)
    assert info.size_gb is None
    assert info.cost_benefit_score is None


def test_size_only_for_image_records() -> None:
    info = _info(_record("m", TEXT, size_on_disk_bytes=5 * GIB), _stats(1, 1000, 2000, 1), 10_000)
    assert info.size_gb is None
    assert info.cost_benefit_score is None


def test_popular_model_is_clean() -> None:
    info = _info(_record("pop"), _stats(100, 5000, 9000, 50), 10_000)
    assert not info.at_risk
    assert info.risk_score == 0
    assert info.usage_percentage_of_category == 50.0
    assert not info.is_critical
    assert not info.has_warning


def test_percentage_rounded_to_4_dp_and_zero_without_total() -> None:
    assert _info(_record("m"), _stats(0, 1, 1, 1), 3).usage_percentage_of_category == 33.3333
    assert _info(_record("m"), _stats(0, 0, 0, 1), 0).usage_percentage_of_category == 0.0


def test_reserved_and_record_fields() -> None:
    record = _record("m", nsfw=True, downloads=(DownloadEntry(file_url=HF), DownloadEntry(file_url=None)))
    info = _info(record, _stats(1, 1, 1, 1), 1)
    assert info.usage_hour is None
    assert info.usage_minute is None
    assert info.baseline == "stable_diffusion_xl"
    assert info.nsfw is True
    assert info.download_count == 2
    assert info.download_hosts == ("huggingface.co",)
    assert info.has_description


def test_generic_category_has_no_baseline_nsfw_or_missing_baseline() -> None:
    record = _record("lora", ModelCategory.LORA, baseline=None, nsfw=True)
    info = _info(record, None, 0)
    assert info.baseline is None
    assert info.nsfw is None
    assert not info.deletion_risk_flags.missing_baseline


def test_text_hosts_reported_but_not_flagged() -> None:  # D36
    record = _record("t", TEXT, downloads=(DownloadEntry(file_url="https://civitai.com/x"),))
    info = _info(record, _stats(1, 100, 1000, 1), 100)
    assert info.download_hosts == ("civitai.com",)
    assert not info.has_warning


def test_missing_stats_mean_never_used_and_no_workers() -> None:  # D13
    info = _info(_record("m"), None, 100)
    flags = info.deletion_risk_flags
    assert (info.usage_day, info.usage_month, info.usage_total, info.worker_count) == (0, 0, 0, 0)
    assert flags.zero_usage_day
    assert flags.zero_usage_month
    assert flags.zero_usage_total
    assert flags.no_active_workers
    assert flags.low_usage


def test_never_used_image_model_without_workers_is_critical() -> None:  # D13
    assert _info(_record("m"), _stats(), 100).is_critical


def test_image_critical_rules() -> None:
    assert not _info(_record("m"), _stats(0, 0, 0, workers=1), 100).is_critical
    assert not _info(_record("m"), _stats(1, 100, 100, workers=0), 100).is_critical


def test_text_critical_rules() -> None:
    assert _info(_record("t", TEXT), _stats(0, 0, 0, 0), 100).is_critical
    assert not _info(_record("t", TEXT), _stats(1, 100, 100, 5), 100).is_critical


def test_is_critical_and_has_warning_are_serialised() -> None:
    dumped = _info(_record("m"), _stats(), 100).model_dump()
    assert dumped["is_critical"] is True
    assert "has_warning" in dumped
    assert "flag_count" not in dumped


def test_is_critical_follows_the_thresholds_it_was_built_with() -> None:
    record = _record("t", TEXT)
    strict = RiskThresholds(text_gen_critical_usage_threshold=200, text_gen_critical_worker_threshold=10)
    built = build_risk_info(
        record, _stats(1, 100, 100, 5), category=TEXT, category_total=100, thresholds=strict
    )
    assert built.is_critical


def test_backend_variations_only_for_text_when_requested_in_backend_order() -> None:
    variations = {
        "koboldcpp": BackendVariation(backend="koboldcpp", variant_name="koboldcpp/m", usage_month=5),
        "canonical": BackendVariation(backend="canonical", variant_name="m", worker_count=2, performance=3.0),
    }
    stats = _stats(0, 5, 5, 2, backend_variations=variations)
    text = _info(_record("m", TEXT), stats, 5, include_backend_variations=True)
    assert text.backend_variations is not None
    assert [v.backend for v in text.backend_variations] == ["canonical", "koboldcpp"]
    assert text.backend_variations[1].usage_month == 5
    assert _info(_record("m", TEXT), stats, 5).backend_variations is None
    assert _info(_record("m"), stats, 5, include_backend_variations=True).backend_variations is None
    empty = _stats(0, 5, 5, 2, backend_variations={})
    assert _info(_record("m", TEXT), empty, 5, include_backend_variations=True).backend_variations is None


def test_analyze_orders_by_month_desc_and_keeps_every_reference_model() -> None:
    records = [_record("low"), _record("high"), _record("never"), _record("medium")]
    merged = {
        "high": _stats(1, 100, 100, 1),
        "medium": _stats(1, 50, 50, 1),
        "low": _stats(1, 10, 10, 1),
        "horde-only": _stats(1, 10_000, 10_000, 9),
    }
    result = analyze_category(records, merged, IMAGE, DEFAULTS)
    assert [m.name for m in result] == ["high", "medium", "low", "never"]


def test_ties_keep_reference_order() -> None:
    records = [_record(n) for n in ("c", "a", "b")]
    merged = {n: _stats(0, 7, 7, 1) for n in ("a", "b", "c")}
    assert [m.name for m in analyze_category(records, merged, IMAGE, DEFAULTS)] == ["c", "a", "b"]


def test_category_total_is_category_wide_and_ignores_horde_only_names() -> None:  # D10
    records = [_record("a"), _record("b")]
    merged = {"a": _stats(0, 30, 30, 1), "b": _stats(0, 70, 70, 1), "x": _stats(0, 999, 999, 1)}
    assert category_total_month_usage(records, merged) == 100
    result = analyze_category(records, merged, IMAGE, DEFAULTS)
    assert [m.usage_percentage_of_category for m in result] == [70.0, 30.0]


def test_analyze_rejects_records_of_another_category() -> None:
    with pytest.raises(ValueError, match="another category"):
        analyze_category([_record("t", TEXT)], {}, IMAGE, DEFAULTS)


def test_analyze_rejects_duplicate_names() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        analyze_category([_record("a"), _record("a")], {}, IMAGE, DEFAULTS)


def test_analysis_does_not_mutate_inputs() -> None:  # D1
    records = [_record("a"), _record("b")]
    merged = {"a": _stats(0, 30, 30, 1)}
    before = (list(records), dict(merged))
    analyze_category(records, merged, IMAGE, DEFAULTS)
    assert (records, merged) == before


def test_empty_text_baseline_stays_an_empty_string_on_the_wire() -> None:
    """Upstream wire format: a text record's baseline is the raw cell, so an empty one is ``""``, not
    null (clients compare strings); image keeps null for a missing baseline, generic categories null."""
    text = ModelCategory.TEXT_GENERATION
    records = [
        ReferenceRecord(name="a/B-7B", category=text),
        ReferenceRecord(name="a/C-7B", category=text, baseline="x"),
    ]
    entries = {e.name: e for e in analyze_category(records, {}, text, RiskThresholds())}
    assert entries["a/B-7B"].baseline == ""
    assert entries["a/B-7B"].deletion_risk_flags.missing_baseline
    assert entries["a/C-7B"].baseline == "x"
