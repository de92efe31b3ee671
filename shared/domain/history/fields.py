"""The lifecycle fields of a deletion-risk row and event (models only; formulas in ``lifecycle.py``).

Kept apart from the computation so the risk models can carry them without an import cycle.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TrendDirection = Literal["rising", "falling", "flat", "unknown"]
LifecycleState = Literal["protected", "grace", "clear", "at_risk", "deletion_candidate"]
FirstSeenSource = Literal["model_mod_data", "watcher", "watcher_initial"]


class Trend(BaseModel):
    """Daily mean of the last window of completed days against the window before, with the numbers."""

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
    """The lifecycle fields of a deletion-risk row and event (``docs/history.md``)."""

    model_config = ConfigDict(frozen=True)

    first_seen_at: datetime | None = None
    first_seen_source: FirstSeenSource | None = None
    age_days: int | None = None
    in_grace_period: bool = False
    #: First seen (not in the watcher's first load) fewer than ``NEW_MODEL_DAYS`` ago.
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
