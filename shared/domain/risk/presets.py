"""The seven deletion-risk filter presets (§4.7), with the thresholds that really apply (D33), and
the three lifecycle presets of docs/history.md (``long_at_risk``, ``declining``, ``new_models``).

Validation is a separate function (``parse_preset``) so a caller can reject an unknown preset
before fetching or analysing anything (D11).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.domain.categories import ModelCategory
from shared.domain.risk.flag_table import preset_flags
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.domain.risk.thresholds import RiskThresholds


class DeletionRiskFilterPreset(StrEnum):
    """Preset names, matched exactly (case-sensitive), in upstream order."""

    DELETION_CANDIDATES = "deletion_candidates"
    ZERO_USAGE = "zero_usage"
    NO_WORKERS = "no_workers"
    MISSING_DATA = "missing_data"
    HOST_ISSUES = "host_issues"
    CRITICAL = "critical"
    LOW_USAGE = "low_usage"
    #: Lifecycle presets (docs/history.md): need the rows' lifecycle fields.
    LONG_AT_RISK = "long_at_risk"
    DECLINING = "declining"
    NEW_MODELS = "new_models"


VALID_PRESETS: tuple[str, ...] = tuple(p.value for p in DeletionRiskFilterPreset)
#: Flags that decide each flag-defined preset (``flag_table.RISK_FLAGS`` membership).
PRESET_FLAGS: dict[DeletionRiskFilterPreset, tuple[str, ...]] = {
    p: preset_flags(p.value) for p in DeletionRiskFilterPreset
}


class UnknownPresetError(ValueError):
    """An unknown preset name; the message lists the valid names (upstream wording)."""

    def __init__(self, preset: str) -> None:
        self.preset = preset
        self.valid = VALID_PRESETS
        super().__init__(f"Unknown preset: '{preset}'. Valid presets: {', '.join(VALID_PRESETS)}")


class PresetInfo(BaseModel):
    """Name and human description of one preset."""

    model_config = ConfigDict(frozen=True)

    name: DeletionRiskFilterPreset
    description: str


def parse_preset(name: str | DeletionRiskFilterPreset) -> DeletionRiskFilterPreset:
    """The preset called ``name`` exactly, else :class:`UnknownPresetError`."""
    try:
        return DeletionRiskFilterPreset(name)
    except ValueError:
        raise UnknownPresetError(str(name)) from None


def _pct(value: float) -> str:
    return f"{value:g} %"


def available_presets(category: ModelCategory, thresholds: RiskThresholds) -> list[PresetInfo]:
    """Presets with descriptions that state the thresholds used for ``category`` (D33)."""
    low = _pct(thresholds.low_usage_threshold_for(category))
    texts = {
        DeletionRiskFilterPreset.DELETION_CANDIDATES: (
            f"Models with any risk flag, monthly usage below {low} of the category's monthly usage, "
            "or no active workers"
        ),
        DeletionRiskFilterPreset.ZERO_USAGE: "Models with no usage in the past month",
        DeletionRiskFilterPreset.NO_WORKERS: "Models no worker currently serves",
        DeletionRiskFilterPreset.MISSING_DATA: "Models missing a description or a baseline",
        DeletionRiskFilterPreset.HOST_ISSUES: (
            "Models without download URLs, with several or unknown hosts, or with no file on a "
            f"preferred host ({', '.join(thresholds.preferred_file_hosts) or 'none configured'})"
        ),
        DeletionRiskFilterPreset.CRITICAL: _critical_text(category, thresholds),
        DeletionRiskFilterPreset.LOW_USAGE: (
            f"Models with monthly usage below {low} of the category's monthly usage"
        ),
        DeletionRiskFilterPreset.LONG_AT_RISK: (
            "Models at risk for at least `days_at_risk` days (query parameter; default the minimum days "
            "at risk of a deletion candidate)"
        ),
        DeletionRiskFilterPreset.DECLINING: (
            "Models whose daily usage or workers fell over the last 7 completed days against the 7 before"
        ),
        DeletionRiskFilterPreset.NEW_MODELS: "Models first seen recently (not in the watcher's first load)",
    }
    return [PresetInfo(name=p, description=texts[p]) for p in DeletionRiskFilterPreset]


def _critical_text(category: ModelCategory, thresholds: RiskThresholds) -> str:
    if category is ModelCategory.TEXT_GENERATION:
        return (
            f"Models with fewer than {thresholds.text_gen_critical_usage_threshold} uses in the past "
            f"month and fewer than {thresholds.text_gen_critical_worker_threshold} workers"
        )
    return "Models with no usage in the past month and no active workers"


def matches_preset(
    model: ModelDeletionRiskInfo, preset: DeletionRiskFilterPreset, thresholds: RiskThresholds
) -> bool:
    """Whether ``model`` belongs to ``preset``; thresholds are those of the model's category (D33)."""
    flags = model.deletion_risk_flags.__dict__
    match preset:
        case DeletionRiskFilterPreset.DELETION_CANDIDATES:
            low = thresholds.low_usage_threshold_for(model.category)
            return model.at_risk or model.usage_percentage_of_category < low or model.worker_count == 0
        case DeletionRiskFilterPreset.ZERO_USAGE:
            return model.usage_month == 0
        case DeletionRiskFilterPreset.NO_WORKERS:
            return model.worker_count == 0
        case DeletionRiskFilterPreset.CRITICAL:
            return model.is_critical
        case DeletionRiskFilterPreset.LONG_AT_RISK:  # the day count is filtered per request
            return model.lifecycle is not None and model.lifecycle.at_risk_since is not None
        case DeletionRiskFilterPreset.DECLINING:
            life = model.lifecycle
            return life is not None and "falling" in (
                life.usage_trend.direction,
                life.workers_trend.direction,
            )
        case DeletionRiskFilterPreset.NEW_MODELS:
            return model.lifecycle is not None and model.lifecycle.new_model
        case _:  # missing_data, host_issues, low_usage: any of the preset's flags
            return any(flags[name] for name in PRESET_FLAGS[preset])


def apply_preset(
    models: Sequence[ModelDeletionRiskInfo],
    preset: str | DeletionRiskFilterPreset,
    thresholds: RiskThresholds,
) -> list[ModelDeletionRiskInfo]:
    """The models matching ``preset``, in input order; unknown names raise :class:`UnknownPresetError`."""
    chosen = parse_preset(preset)
    return [m for m in models if matches_preset(m, chosen, thresholds)]
