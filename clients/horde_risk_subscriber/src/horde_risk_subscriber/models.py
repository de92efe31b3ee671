"""The event models, as the analytics workers publish them (schema version 1).

A copy, not an import: the kit must install without the services' packages. A test in the
project (``tests/unit/test_subscriber_kit_models.py``) compares these models' JSON schemas with
``shared.events.risk`` so the copy cannot drift.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ModelCategory(StrEnum):
    """Model-reference categories (risk events exist for the two with AI Horde data)."""

    BLIP = "blip"
    CLIP = "clip"
    CODEFORMER = "codeformer"
    CONTROLNET = "controlnet"
    CONTROLNET_ANNOTATOR = "controlnet_annotator"
    ESRGAN = "esrgan"
    GFPGAN = "gfpgan"
    SAFETY_CHECKER = "safety_checker"
    IMAGE_GENERATION = "image_generation"
    TEXT_GENERATION = "text_generation"
    VIDEO_GENERATION = "video_generation"
    AUDIO_GENERATION = "audio_generation"
    MISCELLANEOUS = "miscellaneous"
    LORA = "lora"
    TI = "ti"


ChangeKind = Literal[
    "added",
    "removed",
    "flags",
    "risk_score",
    "is_critical",
    "has_warning",
    "workers_crossed_zero",
    "lifecycle_state",
]


class DeletionRiskFlags(BaseModel):
    """The eleven risk flags."""

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


class StyleUse(BaseModel):
    """A style that names the model, with every style category that includes it."""

    model_config = ConfigDict(frozen=True)

    name: str
    categories: tuple[str, ...] = ()


class HostingWorker(BaseModel):
    """A worker serving the model now; ``serves_only_this``: it serves no other reference model."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    serves_only_this: bool = False


class ModelImpact(BaseModel):
    """What removing the model would break or free (schema 3): styles naming it, the workers
    serving it, the disk it takes (GiB, null for text), and for text its family and whether
    no other member of the family is served."""

    model_config = ConfigDict(frozen=True)

    styles: tuple[StyleUse, ...] = ()
    hosting_workers: tuple[HostingWorker, ...] = ()
    sole_serving_workers: int = Field(default=0, ge=0)
    disk_reclaimed_gb: float | None = None
    size_on_disk_bytes: int | None = None
    family: str | None = None
    leaves_family_unserved: bool | None = None


TrendDirection = Literal["rising", "falling", "flat", "unknown"]
LifecycleState = Literal["protected", "grace", "clear", "at_risk", "deletion_candidate"]
FirstSeenSource = Literal["model_mod_data", "watcher", "watcher_initial"]


class Trend(BaseModel):
    """Daily mean of the last window of completed days against the window before."""

    model_config = ConfigDict(frozen=True)

    direction: TrendDirection = "unknown"
    recent: float | None = None
    previous: float | None = None
    recent_days: int = 0
    previous_days: int = 0
    change_percent: float | None = None


class GapRange(BaseModel):
    """Days without data, inclusive."""

    model_config = ConfigDict(frozen=True)

    first: date
    last: date


class LifecycleFields(BaseModel):
    """Age, history and policy of the model (schema 4): how long it has been at risk, since when
    it has had no worker, its usage and worker trends, and one sentence of evidence per reason."""

    model_config = ConfigDict(frozen=True)

    first_seen_at: datetime | None = None
    first_seen_source: FirstSeenSource | None = None
    age_days: int | None = None
    in_grace_period: bool = False
    new_model: bool = False
    protected: bool = False
    zero_workers_since: date | None = None
    last_used_on: date | None = None
    at_risk_since: date | None = None
    days_at_risk: int = Field(default=0, ge=0)
    usage_trend: Trend = Field(default_factory=Trend)
    workers_trend: Trend = Field(default_factory=Trend)
    lifecycle_state: LifecycleState = "clear"
    deletion_candidate: bool = False
    gaps: tuple[GapRange, ...] = ()
    reasons: tuple[str, ...] = ()


class RiskState(BaseModel):
    """A model's deletion risk (the parts whose change is an event, plus context numbers)."""

    model_config = ConfigDict(frozen=True)

    deletion_risk_flags: DeletionRiskFlags
    risk_score: int
    at_risk: bool
    is_critical: bool
    has_warning: bool
    has_workers: bool
    worker_count: int
    usage_month: int
    impact: ModelImpact | None = None
    lifecycle_state: LifecycleState | None = None
    lifecycle: LifecycleFields | None = None


class RiskBasis(BaseModel):
    """Which inputs a risk state was computed from."""

    model_config = ConfigDict(frozen=True)

    generation: str
    reference_version: str
    horde_status_at_ms: int
    horde_stats_at_ms: int


class DeletionRiskChanged(BaseModel):
    """A model's risk state moved from ``previous`` to ``current`` (``None``: not in the reference)."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1, 2, 3, 4] = 4
    category: ModelCategory
    model: str
    previous: RiskState | None
    current: RiskState | None
    changes: tuple[ChangeKind, ...]
    basis: RiskBasis
    detected_at: AwareDatetime
    sequence: int = Field(
        0,
        ge=0,
        description="Position of this event among the category's risk events (1, 2, 3 …; never "
        "reused). 0 only in schema 1 records.",
    )

    @property
    def turned_critical(self) -> bool:
        """The model is critical now and was not before."""
        was = self.previous is not None and self.previous.is_critical
        return self.current is not None and self.current.is_critical and not was


class DeletionRiskCurrent(BaseModel):
    """The current risk state of one model (the compacted topic keeps the latest per model)."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1, 2, 3, 4] = 4
    category: ModelCategory
    model: str
    state: RiskState
    basis: RiskBasis
    sequence: int = Field(
        0,
        ge=0,
        description="``sequence`` of the change event that produced this state (its id is this "
        "record's ``ce_id``). 0 only in schema 1 records.",
    )


class CloudEvent(BaseModel):
    """The CloudEvents 1.0 attributes of a record (Kafka headers, binary content mode)."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None = None
    specversion: str = "1.0"
    datacontenttype: str = "application/json"
