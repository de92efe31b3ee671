"""Deletion-risk output models (upstream §3.7 names and field order).

All models are frozen so a cached answer can never be changed by a later request (D1). Sequences
are tuples for the same reason; they serialise as JSON arrays like upstream's lists.
``is_critical`` and ``has_warning`` are plain fields computed once from the thresholds in force when
the answer was built, so a stored answer says what it said when it was computed.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.categories import ModelCategory
from shared.domain.history.fields import LifecycleFields
from shared.domain.impact.models import ModelImpact
from shared.domain.risk.flag_table import FLAG_COUNTERS, FLAG_NAMES


class UsageTrend(BaseModel):
    """Share of the month used in the last day, and of all time used in the last month."""

    model_config = ConfigDict(frozen=True)

    day_to_month_ratio: float | None = None
    month_to_total_ratio: float | None = None


class BackendVariationStats(BaseModel):
    """Runtime numbers of one backend spelling (canonical, aphrodite, koboldcpp) of a text model."""

    model_config = ConfigDict(frozen=True)

    backend: str
    variant_name: str
    worker_count: int = Field(default=0, ge=0)
    performance: float | None = None
    usage_day: int = Field(default=0, ge=0)
    usage_month: int = Field(default=0, ge=0)
    usage_total: int = Field(default=0, ge=0)


# The typed mirror of ``flag_table.RISK_FLAGS``: same names, same order (checked below at import).
class DeletionRiskFlags(BaseModel):
    """The eleven risk flags, in the serialisation order of upstream §3.7."""

    model_config = ConfigDict(frozen=True)

    zero_usage_day: bool = False
    zero_usage_month: bool = False
    zero_usage_total: bool = False
    no_active_workers: bool = False
    has_multiple_hosts: bool = False
    has_non_preferred_host: bool = False
    has_unknown_host: bool = False
    no_download_urls: bool = False
    missing_description: bool = False
    missing_baseline: bool = False
    low_usage: bool = False

    def any_flags(self) -> bool:
        """True when at least one flag is set (this is ``at_risk``)."""
        return self.flag_count() > 0

    def flag_count(self) -> int:
        """Number of flags set, 0–11 (this is the unweighted ``risk_score``)."""
        values = self.__dict__
        return sum(1 for name in DELETION_RISK_FLAG_NAMES if values[name])


#: The flag field names of :class:`DeletionRiskFlags`, in serialisation order (from the flag table).
DELETION_RISK_FLAG_NAMES: tuple[str, ...] = FLAG_NAMES
if tuple(DeletionRiskFlags.model_fields) != FLAG_NAMES:  # pragma: no cover - a wrong edit fails at import
    raise RuntimeError("DeletionRiskFlags fields must be flag_table.RISK_FLAGS names, in order")


class ModelDeletionRiskInfo(BaseModel):
    """Deletion-risk assessment of one reference model, or of one family when grouped."""

    model_config = ConfigDict(frozen=True)

    name: str
    category: ModelCategory
    deletion_risk_flags: DeletionRiskFlags = Field(default_factory=DeletionRiskFlags)
    at_risk: bool = False
    risk_score: int = Field(default=0, ge=0)
    worker_count: int = Field(default=0, ge=0)
    usage_day: int = Field(default=0, ge=0)
    usage_month: int = Field(default=0, ge=0)
    usage_total: int = Field(default=0, ge=0)
    usage_hour: int | None = None
    usage_minute: int | None = None
    usage_percentage_of_category: float = Field(default=0.0, ge=0, le=100)
    usage_trend: UsageTrend = Field(default_factory=UsageTrend)
    cost_benefit_score: float | None = None
    size_gb: float | None = None
    baseline: str | None = None
    nsfw: bool | None = None
    has_description: bool = False
    download_count: int = Field(default=0, ge=0)
    download_hosts: tuple[str, ...] = ()
    backend_variations: tuple[BackendVariationStats, ...] | None = None
    is_critical: bool = False
    has_warning: bool = False
    #: What removing the model would break or free (ungrouped rows of image/text; null otherwise).
    impact: ModelImpact | None = None
    #: Age, history and policy of the model (``docs/history.md``); null for a group of several
    #: models and where no history is kept (categories without Horde data).
    lifecycle: LifecycleFields | None = None

    @model_validator(mode="after")
    def _score_matches_flags(self) -> Self:
        """Reject an entry whose ``at_risk``/``risk_score`` contradict its flags (a builder bug)."""
        count = self.deletion_risk_flags.flag_count()
        if self.at_risk != (count > 0) or self.risk_score != count:
            raise ValueError("at_risk and risk_score must match deletion_risk_flags")
        return self

    @property
    def flag_count(self) -> int:
        """Same as ``risk_score``; not serialised (upstream parity)."""
        return self.risk_score


class CategoryDeletionRiskSummary(BaseModel):
    """Counters over one list of risk entries (the list a response returns before pagination)."""

    model_config = ConfigDict(frozen=True)

    total_models: int = Field(default=0, ge=0)
    models_at_risk: int = Field(default=0, ge=0)
    models_critical: int = Field(default=0, ge=0)
    models_with_warnings: int = Field(default=0, ge=0)
    models_with_zero_day_usage: int = Field(default=0, ge=0)
    models_with_zero_month_usage: int = Field(default=0, ge=0)
    models_with_zero_total_usage: int = Field(default=0, ge=0)
    models_with_no_active_workers: int = Field(default=0, ge=0)
    models_with_no_downloads: int = Field(default=0, ge=0)
    models_with_non_preferred_hosts: int = Field(default=0, ge=0)
    models_with_multiple_hosts: int = Field(default=0, ge=0)
    models_with_low_usage: int = Field(default=0, ge=0)
    average_risk_score: float = Field(default=0.0, ge=0)
    #: Category-wide monthly usage, the same value as the response field of that name (D10).
    category_total_month_usage: int = Field(default=0, ge=0)


class CategoryDeletionRiskResponse(BaseModel):
    """One page of deletion-risk entries of a category with a summary of the whole filtered list."""

    model_config = ConfigDict(frozen=True)

    category: ModelCategory
    category_total_month_usage: int = Field(ge=0)
    #: Entries after grouping and preset filtering, before pagination (D9).
    total_count: int = Field(ge=0)
    returned_count: int = Field(ge=0)
    offset: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, ge=1)
    models: tuple[ModelDeletionRiskInfo, ...] = ()
    summary: CategoryDeletionRiskSummary = Field(default_factory=CategoryDeletionRiskSummary)


if not set(FLAG_COUNTERS) <= set(CategoryDeletionRiskSummary.model_fields):  # pragma: no cover
    raise RuntimeError("every flag_table summary_counter must be a CategoryDeletionRiskSummary field")
