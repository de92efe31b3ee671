"""Event payloads carried on Kafka (pydantic, versioned) and their CloudEvents envelope."""

from shared.events.cloudevents import CloudEventAttributes
from shared.events.dead_letter import DeadLetterReason
from shared.events.horde import (
    HordeStatsCaptured,
    HordeStatusCaptured,
    HordeWorkersCaptured,
    SourceHealthReported,
)
from shared.events.reference import ModifiedModel, ReferenceCategoryChanged, ReferenceSourceHealthReported

__all__ = [
    "CloudEventAttributes",
    "DeadLetterReason",
    "HordeStatsCaptured",
    "HordeStatusCaptured",
    "HordeWorkersCaptured",
    "ModifiedModel",
    "ReferenceCategoryChanged",
    "ReferenceSourceHealthReported",
    "SourceHealthReported",
]
