"""Deletion-risk change events, for downstream services that act on risk without polling.

``DeletionRiskChanged`` goes to the history topic for every change of a model's risk state;
``DeletionRiskCurrent`` goes to a compacted topic keyed ``category/model`` (a tombstone when the
model leaves the reference), so a consumer that starts late rebuilds every model's current risk
from Kafka alone.

Schema 2 numbers the events of a category: ``sequence`` grows by one with every change the
category's owner publishes, and the event id hashes category, model, generation and sequence
(``shared.domain.risk.changes.risk_event_id``). An id therefore names one event: a category that
returns to an earlier generation (A → B → A) gets new ids, while a re-delivery (a producer retry,
the next owner finishing a crashed publish) carries the same id. Schema 1 records (ids per model
and generation) read back with ``sequence`` 0.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.domain.categories import ModelCategory
from shared.domain.history.fields import LifecycleFields, LifecycleState
from shared.domain.impact.models import ModelImpact
from shared.domain.risk.changes import ChangeKind, signature
from shared.domain.risk.models import DeletionRiskFlags, ModelDeletionRiskInfo


class RiskState(BaseModel):
    """The parts of a model's deletion risk whose change is an event, plus context numbers."""

    model_config = ConfigDict(frozen=True)

    deletion_risk_flags: DeletionRiskFlags
    risk_score: int
    at_risk: bool
    is_critical: bool
    has_warning: bool
    has_workers: bool
    #: Context only: a change of these alone is not an event.
    worker_count: int
    usage_month: int
    #: Context only (schema 3): what removing the model would break or free.
    impact: ModelImpact | None = None
    #: Schema 4: the lifecycle state (a change is an event) and the lifecycle fields (context).
    lifecycle_state: LifecycleState | None = None
    lifecycle: LifecycleFields | None = None

    def signature(self) -> tuple[object, ...]:
        """The change signature (see ``shared.domain.risk.changes.signature``)."""
        return signature(
            self.deletion_risk_flags,
            self.risk_score,
            self.is_critical,
            self.has_warning,
            self.has_workers,
            self.lifecycle_state,
        )

    @classmethod
    def of(cls, model: ModelDeletionRiskInfo) -> RiskState:
        """The state of one ungrouped risk entry."""
        return cls(
            deletion_risk_flags=model.deletion_risk_flags,
            risk_score=model.risk_score,
            at_risk=model.at_risk,
            is_critical=model.is_critical,
            has_warning=model.has_warning,
            has_workers=model.worker_count > 0,
            worker_count=model.worker_count,
            usage_month=model.usage_month,
            impact=model.impact,
            lifecycle_state=model.lifecycle.lifecycle_state if model.lifecycle is not None else None,
            lifecycle=model.lifecycle,
        )


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

    #: 2: ``sequence`` (unique event ids); 3: ``RiskState.impact`` (removal impact); 4: ``lifecycle_state``
    #: and ``lifecycle`` (history). Older records stay readable.
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


class DeletionRiskCurrent(BaseModel):
    """The current risk state of one model (latest record per key on the compacted topic)."""

    model_config = ConfigDict(frozen=True)

    #: 2: ``sequence`` (unique event ids); 3: ``RiskState.impact`` (removal impact); 4: ``lifecycle_state``
    #: and ``lifecycle`` (history). Older records stay readable.
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
