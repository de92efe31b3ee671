"""The lifecycle policy: grace period, protected models, minimum days at risk, trend thresholds."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.risk.models import DeletionRiskFlags

#: The golden image models (by name); see ``docs/history.md`` on names and baselines.
GOLDEN_MODELS: tuple[str, ...] = (
    "stable_diffusion",
    "stable_diffusion_2.1",
    "stable_diffusion_xl",
    "stable_diffusion_3",
)

#: The flags a model in its grace period does not get (usage has not had time to build up).
USAGE_FLAG_NAMES: tuple[str, ...] = ("zero_usage_day", "zero_usage_month", "zero_usage_total", "low_usage")


class LifecyclePolicy(BaseModel):
    """Settings of the lifecycle-aware deletion risk (``HORDE_HISTORY__*``)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    grace_period_days: int = Field(default=30, ge=0)
    """A model first seen fewer days ago than this gets no usage flags (``in_grace_period``)."""
    protected_models: tuple[str, ...] = GOLDEN_MODELS
    """Model names (case-insensitive) that are never deletion candidates."""
    protected_baselines: tuple[str, ...] = ()
    """Baselines (case-insensitive) whose models are never deletion candidates."""
    min_days_at_risk: int = Field(default=14, ge=0)
    """Days a model must have been at risk before it is a deletion candidate."""
    trend_window_days: int = Field(default=7, ge=1)
    """Length of each of the two windows a trend compares (completed days)."""
    trend_min_days: int = Field(default=4, ge=1)
    """Days with data each window needs for a trend; fewer: ``unknown``."""
    trend_change_percent: float = Field(default=25.0, gt=0)
    """Change of the daily mean beyond which a trend is ``rising`` or ``falling``."""
    new_model_days: int = Field(default=30, ge=1)
    """Age in days below which the ``new_models`` preset lists a model."""

    def protection(self, name: str, baseline: str | None) -> str | None:
        """Why the model is protected (``golden model …``/``protected baseline …``), or None."""
        models, baselines = _folded(self.protected_models, self.protected_baselines)
        folded = name.casefold()
        if folded in models:
            kind = "golden model" if folded in _GOLDEN else "protected model"
            return f"{kind} {name}"
        if baseline and baseline.casefold() in baselines:
            return f"protected baseline {baseline}"
        return None


_GOLDEN = frozenset(GOLDEN_MODELS)


@cache
def _folded(models: tuple[str, ...], baselines: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """The protected names and baselines case-folded, once per policy (asked once per model)."""
    return frozenset(m.casefold() for m in models), frozenset(b.casefold() for b in baselines)


def without_usage_flags(flags: DeletionRiskFlags) -> DeletionRiskFlags:
    """The flags of a model in grace: usage flags cleared, everything else kept."""
    if not any(getattr(flags, name) for name in USAGE_FLAG_NAMES):
        return flags
    return flags.model_copy(update=dict.fromkeys(USAGE_FLAG_NAMES, False))
