"""The in-memory inputs of the categories this worker owns, rebuilt from Kafka on assignment.

Only the newest event of each input is kept; an older or identical event (a replay, a duplicate,
a late record after a rebalance) changes nothing, which keeps recomputes idempotent. "Newer" is
the record's offset in its partition (every event of one input lands on one partition), never
the producer's clock: one record with a wrong ``captured_at`` cannot make later ones "older".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.categories import CATEGORY_OF_MODEL_TYPE, RUNTIME_CATEGORIES, ModelCategory
from shared.domain.horde.payloads import HordeSnapshot
from shared.domain.reference.records import ReferenceSnapshot
from shared.events.horde import (
    HordeStatsCaptured,
    HordeStatusCaptured,
    HordeWorkersCaptured,
    SourceHealthReported,
)
from shared.events.reference import ReferenceCategoryChanged, ReferenceSourceHealthReported
from shared.events.styles import StylesChanged

HordeEvent = HordeStatusCaptured | HordeStatsCaptured | HordeWorkersCaptured
HealthEvent = SourceHealthReported | ReferenceSourceHealthReported
InputEvent = ReferenceCategoryChanged | HordeEvent | HealthEvent | StylesChanged

#: The category whose models styles name (the styles topic's records live on its partition).
STYLES_CATEGORY = ModelCategory.IMAGE_GENERATION


_SLOTS: dict[type[HordeEvent], str] = {
    HordeStatusCaptured: "status",
    HordeStatsCaptured: "stats",
    HordeWorkersCaptured: "workers",
}


@dataclass
class CategoryInputs:
    """Latest accepted inputs of one category."""

    reference: ReferenceCategoryChanged | None = None
    #: Position of the reference record in its partition: orders references without clocks.
    reference_seq: int = -1
    status: HordeStatusCaptured | None = None
    stats: HordeStatsCaptured | None = None
    workers: HordeWorkersCaptured | None = None
    #: Offset of the record each Horde input was taken from (-1: none yet): orders them.
    status_seq: int = -1
    stats_seq: int = -1
    workers_seq: int = -1
    #: Latest poll outcome per AI Horde endpoint (status, stats, workers) of the model type.
    health: dict[str, SourceHealthReported] = field(default_factory=dict)
    #: Offset of the health record held per endpoint.
    health_seq: dict[str, int] = field(default_factory=dict)
    #: The AI Horde styles in force (image generation only) and their record position.
    styles: StylesChanged | None = None
    styles_seq: int = -1
    #: Latest poll outcome of the reference source for this category, and its record's offset.
    reference_health: ReferenceSourceHealthReported | None = None
    reference_health_seq: int = -1

    def reference_snapshot(self) -> ReferenceSnapshot | None:
        """The reference as the domain takes it."""
        if self.reference is None:
            return None
        return ReferenceSnapshot(
            category=self.reference.category, version=self.reference.version, records=self.reference.records
        )

    def horde_snapshot(self) -> HordeSnapshot | None:
        """The Horde data as the domain takes it (``None`` outside image/text)."""
        model_type = RUNTIME_CATEGORIES.get(self.reference.category) if self.reference else None
        if model_type is None:
            return None
        return HordeSnapshot(
            model_type=model_type,
            status=self.status.entries if self.status else None,
            stats=self.stats.stats if self.stats else None,
            workers=self.workers.workers if self.workers else None,
        )


@dataclass
class AnalyticsState:
    """Inputs per owned category."""

    categories: dict[ModelCategory, CategoryInputs] = field(default_factory=dict)

    def inputs(self, category: ModelCategory) -> CategoryInputs:
        return self.categories.setdefault(category, CategoryInputs())

    def apply_health(self, event: HealthEvent, *, offset: int) -> ModelCategory | None:
        """Keep the newest poll outcome per endpoint (AI Horde) or of the reference; returns the
        category whose health changed."""
        if isinstance(event, ReferenceSourceHealthReported):
            held = self.inputs(event.category)
            if offset <= held.reference_health_seq:
                return None
            held.reference_health, held.reference_health_seq = event, offset
            return event.category
        category = CATEGORY_OF_MODEL_TYPE[event.model_type]
        inputs = self.inputs(category)
        if offset <= inputs.health_seq.get(event.endpoint, -1):
            return None
        inputs.health[event.endpoint] = event
        inputs.health_seq[event.endpoint] = offset
        return category

    def apply(self, event: InputEvent, *, offset: int) -> ModelCategory | None:
        """Take ``event`` if it is newer than what we hold; returns the category it changed."""
        if isinstance(event, ReferenceCategoryChanged):
            inputs = self.inputs(event.category)
            if offset <= inputs.reference_seq or (
                inputs.reference is not None and inputs.reference.version == event.version
            ):
                inputs.reference_seq = max(inputs.reference_seq, offset)
                return None
            inputs.reference, inputs.reference_seq = event, offset
            return event.category
        if isinstance(event, SourceHealthReported | ReferenceSourceHealthReported):
            return self.apply_health(event, offset=offset)
        if isinstance(event, StylesChanged):
            return self.apply_styles(event, offset=offset)
        category = CATEGORY_OF_MODEL_TYPE[event.model_type]
        inputs = self.inputs(category)
        slot = _SLOTS[type(event)]
        held: HordeEvent | None = getattr(inputs, slot)
        seq = f"{slot}_seq"
        if offset <= getattr(inputs, seq):
            return None
        setattr(inputs, seq, offset)
        if held is not None and event.content_hash == held.content_hash:
            return None
        setattr(inputs, slot, event)
        return category

    def apply_styles(self, event: StylesChanged, *, offset: int) -> ModelCategory | None:
        """Take newer styles (by record position, as the reference); returns image generation."""
        inputs = self.inputs(STYLES_CATEGORY)
        if offset <= inputs.styles_seq or (
            inputs.styles is not None and inputs.styles.version == event.version
        ):
            inputs.styles_seq = max(inputs.styles_seq, offset)
            return None
        inputs.styles, inputs.styles_seq = event, offset
        return STYLES_CATEGORY

    def forget(self, categories: set[ModelCategory]) -> None:
        """Drop categories this worker no longer owns (their new owner rebuilds them)."""
        for category in categories:
            self.categories.pop(category, None)
