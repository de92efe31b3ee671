"""The domain's flag lists follow the flag table (issue 15: one table of risk flags)."""

from __future__ import annotations

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.risk.flag_table import FLAG_COUNTERS, RISK_FLAGS, RiskFlag, preset_flags
from shared.domain.risk.flags import DownloadFlags, UsageFlags, combine_flags, has_warning
from shared.domain.risk.models import DeletionRiskFlags, ModelDeletionRiskInfo
from shared.domain.risk.presets import DeletionRiskFilterPreset, matches_preset
from shared.domain.risk.summary import summarize
from shared.domain.risk.thresholds import RiskThresholds


def _only(name: str) -> DeletionRiskFlags:
    return DeletionRiskFlags(**{name: True})


@pytest.mark.parametrize("flag", RISK_FLAGS, ids=lambda f: f.name)
def test_combine_flags_takes_each_flag_from_the_source_field_of_its_name(flag: RiskFlag) -> None:
    name = flag.name
    usage = UsageFlags(**{name: True}) if name in UsageFlags._fields else UsageFlags()
    downloads = DownloadFlags(**{name: True}) if name in DownloadFlags._fields else DownloadFlags()
    combined = combine_flags(
        usage, downloads,
        missing_description=name == "missing_description", missing_baseline=name == "missing_baseline",
    )  # fmt: skip
    assert combined == _only(name)


@pytest.mark.parametrize("flag", RISK_FLAGS, ids=lambda f: f.name)
def test_warning_presets_and_counters_follow_the_table(flag: RiskFlag) -> None:
    name, kind, presets, counter = flag.name, flag.kind, flag.presets, flag.summary_counter
    flags = _only(name)
    assert has_warning(flags) == (kind == "download")
    model = ModelDeletionRiskInfo(
        name="m", category=ModelCategory.IMAGE_GENERATION, deletion_risk_flags=flags, at_risk=True,
        risk_score=1, worker_count=1, usage_month=5, usage_percentage_of_category=50.0,
    )  # fmt: skip
    thresholds = RiskThresholds()
    for preset in (DeletionRiskFilterPreset.MISSING_DATA, DeletionRiskFilterPreset.HOST_ISSUES,
                   DeletionRiskFilterPreset.LOW_USAGE):  # fmt: skip
        assert matches_preset(model, preset, thresholds) == (preset.value in presets), preset
        assert (name in preset_flags(preset.value)) == (preset.value in presets)
    summary = summarize([model], 10).model_dump()
    for each, counted in FLAG_COUNTERS.items():
        assert summary[each] == (1 if counted == name else 0)
    assert (counter is not None) == (name in FLAG_COUNTERS.values())
