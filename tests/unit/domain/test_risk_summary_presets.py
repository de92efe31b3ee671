"""Summary (§4.5, D10, D25) and filter presets (§4.7, D11, D33)."""

from __future__ import annotations

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.risk.flags import risk_verdict
from shared.domain.risk.models import DeletionRiskFlags, ModelDeletionRiskInfo
from shared.domain.risk.presets import (
    VALID_PRESETS,
    DeletionRiskFilterPreset,
    UnknownPresetError,
    apply_preset,
    available_presets,
    parse_preset,
)
from shared.domain.risk.summary import RISK_STATES, risk_state, risk_state_counts, summarize
from shared.domain.risk.thresholds import RiskThresholds

IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION
DEFAULTS = RiskThresholds()


def _info(
    name: str,
    category: ModelCategory = IMAGE,
    *,
    month: int = 100,
    workers: int = 1,
    pct: float = 1.0,
    **flags: bool,
) -> ModelDeletionRiskInfo:
    f = DeletionRiskFlags(**flags)
    verdict = risk_verdict(category, f, usage_month=month, worker_count=workers, thresholds=DEFAULTS)
    return ModelDeletionRiskInfo(
        name=name,
        category=category,
        deletion_risk_flags=f,
        usage_month=month,
        worker_count=workers,
        usage_percentage_of_category=pct,
        **verdict._asdict(),
    )


# --- §4.5 summary ----------------------------------------------------------------------------


def test_risk_states_are_exclusive_and_agree_with_the_summary() -> None:  # hma_risk_models
    names = list(DeletionRiskFlags.model_fields)
    models = [_info("clean"), _info("quiet", month=0, workers=0)]
    models += [_info(f"one-{name}", **{name: True}) for name in names]
    models += [_info("many", **dict.fromkeys(names[:4], True))]
    counts = risk_state_counts(models)
    summary = summarize(models, 500)
    assert list(counts) == list(RISK_STATES)
    assert sum(counts.values()) == len(models) == summary.total_models
    assert counts["critical"] == summary.models_critical
    assert counts["clear"] == summary.total_models - summary.models_at_risk
    assert counts["critical"] + counts["warning"] == sum(m.is_critical or m.has_warning for m in models)
    assert {risk_state(m) for m in models} == set(RISK_STATES)  # this set reaches every state


def test_summary_counts_at_risk_and_average() -> None:
    models = [_info("r", no_download_urls=True, no_active_workers=True), _info("clean")]
    summary = summarize(models, 500)
    assert summary.total_models == 2
    assert summary.models_at_risk == 1
    assert summary.models_with_no_downloads == 1
    assert summary.models_with_no_active_workers == 1
    assert summary.average_risk_score == 1.0


def test_summary_counts_specific_flags_and_rounds_average() -> None:
    models = [
        _info("a", no_download_urls=True),
        _info("b", has_non_preferred_host=True),
        _info("c", no_active_workers=True, low_usage=True),
    ]
    summary = summarize(models, 0)
    assert summary.models_at_risk == 3
    assert summary.models_with_non_preferred_hosts == 1
    assert summary.models_with_low_usage == 1
    assert summary.average_risk_score == 1.33


def test_summary_average_always_rounded_to_2_dp() -> None:  # D25
    models = [_info("a", zero_usage_day=True), _info("b", zero_usage_day=True), _info("c"), _info("d")]
    models += [_info("e"), _info("f")]  # 2 / 6 = 0.333…
    assert summarize(models, 0).average_risk_score == 0.33


def test_empty_summary() -> None:
    summary = summarize([], 42)
    assert summary.total_models == 0
    assert summary.average_risk_score == 0.0
    assert summary.category_total_month_usage == 42


def test_summary_category_total_is_category_wide_not_sum_of_list() -> None:  # D10
    summary = summarize([_info("a", month=5)], 1000)
    assert summary.category_total_month_usage == 1000


def test_summary_counts_critical_and_warnings() -> None:
    models = [
        _info("crit", month=0, workers=0, zero_usage_month=True, no_active_workers=True),
        _info("warn", has_multiple_hosts=True),
    ]
    summary = summarize(models, 10)
    assert summary.models_critical == 1
    assert summary.models_with_warnings == 1
    assert summary.models_with_multiple_hosts == 1
    assert summary.models_with_zero_month_usage == 1


def test_text_summary_critical() -> None:
    models = [_info("dead", TEXT, month=0, workers=0), _info("alive", TEXT, month=100, workers=5)]
    assert summarize(models, 100).models_critical == 1


# --- §4.7 presets ----------------------------------------------------------------------------


def test_preset_names_in_upstream_order() -> None:
    """Upstream's seven first, then the lifecycle presets of docs/history.md."""
    assert VALID_PRESETS == (
        "deletion_candidates",
        "zero_usage",
        "no_workers",
        "missing_data",
        "host_issues",
        "critical",
        "low_usage",
        "long_at_risk",
        "declining",
        "new_models",
    )


def test_unknown_preset_lists_valid_values() -> None:  # D11
    with pytest.raises(UnknownPresetError) as caught:
        parse_preset("bogus")
    assert str(caught.value) == (
        "Unknown preset: 'bogus'. Valid presets: deletion_candidates, zero_usage, no_workers, "
        "missing_data, host_issues, critical, low_usage, long_at_risk, declining, new_models"
    )
    assert caught.value.valid == VALID_PRESETS
    assert isinstance(caught.value, ValueError)


def test_preset_names_are_case_sensitive() -> None:  # D11
    with pytest.raises(UnknownPresetError):
        parse_preset("Critical")


def test_preset_validation_needs_no_models() -> None:  # D11: checkable before any fetch or analysis
    with pytest.raises(UnknownPresetError):
        apply_preset([], "nope", DEFAULTS)


def test_zero_usage_preset_is_value_based() -> None:
    models = [_info("zero", month=0), _info("used", month=1, zero_usage_day=True)]
    assert [m.name for m in apply_preset(models, "zero_usage", DEFAULTS)] == ["zero"]


def test_simple_presets_preserve_input_order() -> None:
    models = [
        _info("w0b", workers=0, no_active_workers=True),
        _info("md", missing_description=True),
        _info("mb", missing_baseline=True),
        _info("hosts", has_unknown_host=True),
        _info("w0a", workers=0, no_active_workers=True),
        _info("low", low_usage=True),
    ]

    def names(preset: str) -> list[str]:
        return [m.name for m in apply_preset(models, preset, DEFAULTS)]

    assert names("no_workers") == ["w0b", "w0a"]
    assert names("missing_data") == ["md", "mb"]
    assert names("host_issues") == ["hosts"]
    assert names("low_usage") == ["low"]
    assert names(DeletionRiskFilterPreset.CRITICAL) == []


@pytest.mark.parametrize(
    ("category", "pct", "expected"),
    [
        (IMAGE, 0.0064, True),
        (IMAGE, 0.0065, False),
        (IMAGE, 0.009, False),  # upstream's 0.01 % constant would have included it
        (TEXT, 0.019, True),
        (TEXT, 0.02, False),
    ],
)
def test_deletion_candidates_use_category_threshold(
    category: ModelCategory, pct: float, expected: bool
) -> None:  # D33
    model = _info("m", category, month=50, workers=3, pct=pct)
    assert (apply_preset([model], "deletion_candidates", DEFAULTS) == [model]) is expected


def test_deletion_candidates_include_at_risk_and_workerless() -> None:
    at_risk = _info("r", missing_description=True)
    no_workers = _info("w", workers=0)
    clean = _info("c")
    assert apply_preset([at_risk, clean, no_workers], "deletion_candidates", DEFAULTS) == [
        at_risk,
        no_workers,
    ]


def test_deletion_candidates_follow_configured_threshold() -> None:  # D33
    model = _info("m", pct=0.5)
    assert apply_preset(
        [model], "deletion_candidates", RiskThresholds(low_usage_threshold_percentage=1.0)
    ) == [model]


def test_preset_descriptions_state_real_thresholds() -> None:  # D33
    image = {p.name.value: p.description for p in available_presets(IMAGE, DEFAULTS)}
    text = {p.name.value: p.description for p in available_presets(TEXT, DEFAULTS)}
    assert list(image) == list(VALID_PRESETS)
    assert "0.0065 %" in image["deletion_candidates"]
    assert "0.0065 %" in image["low_usage"]
    assert "0.02 %" in text["deletion_candidates"]
    assert "0.02 %" in text["low_usage"]
    assert "0.1 %" not in " ".join(image.values()) + " ".join(text.values())
    assert "10" in text["critical"]
    assert "huggingface.co" in image["host_issues"]
