"""Decoding of input records: which topic carries which event, and how a bad record fails."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from services.analytics.state import InputEvent
from shared.events.horde import (
    HordeStatsCaptured,
    HordeStatusCaptured,
    HordeWorkersCaptured,
    SourceHealthReported,
)
from shared.events.reference import ReferenceCategoryChanged
from shared.events.styles import StylesChanged
from shared.topics import (
    HORDE_SOURCE_HEALTH,
    HORDE_STATS_CAPTURED,
    HORDE_STATUS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    REFERENCE_CHANGED,
    STYLES_CHANGED,
    TopicSpec,
)


class PoisonRecordError(ValueError):
    """A record that can never be processed: it goes to the dead-letter topic."""


@dataclass(frozen=True)
class InputTopics:
    """The input topics (prefixed per deployment) and the event type each carries."""

    reference: TopicSpec
    status: TopicSpec
    stats: TopicSpec
    workers: TopicSpec
    health: TopicSpec
    styles: TopicSpec = STYLES_CHANGED

    @classmethod
    def with_prefix(cls, prefix: str) -> InputTopics:
        return cls(
            REFERENCE_CHANGED.with_prefix(prefix),
            HORDE_STATUS_CAPTURED.with_prefix(prefix),
            HORDE_STATS_CAPTURED.with_prefix(prefix),
            HORDE_WORKERS_CAPTURED.with_prefix(prefix),
            HORDE_SOURCE_HEALTH.with_prefix(prefix),
            STYLES_CHANGED.with_prefix(prefix),
        )

    def all(self) -> tuple[TopicSpec, ...]:
        return (self.reference, self.status, self.stats, self.workers, self.health, self.styles)

    def spec(self, topic: str) -> TopicSpec:
        for spec in self.all():
            if spec.name == topic:
                return spec
        raise PoisonRecordError(f"record from unexpected topic {topic!r}")

    def event_type(self, topic: str) -> type[BaseModel]:
        models: dict[str, type[BaseModel]] = {
            self.reference.name: ReferenceCategoryChanged,
            self.status.name: HordeStatusCaptured,
            self.stats.name: HordeStatsCaptured,
            self.workers.name: HordeWorkersCaptured,
            self.health.name: SourceHealthReported,
            self.styles.name: StylesChanged,
        }
        if topic not in models:
            raise PoisonRecordError(f"record from unexpected topic {topic!r}")
        return models[topic]


def decode_record(topics: InputTopics, topic: str, value: bytes | None) -> InputEvent:
    """Validate one record value against its topic's schema; raise ``PoisonRecordError`` if it fails."""
    if not value:
        raise PoisonRecordError("empty record value")
    model = topics.event_type(topic)
    try:
        event = model.model_validate_json(value)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise PoisonRecordError(
            f"invalid {model.__name__}: {error.error_count()} error(s), first at {where}: {first['msg']}"
        ) from None
    assert isinstance(
        event,
        ReferenceCategoryChanged
        | HordeStatusCaptured
        | HordeStatsCaptured
        | HordeWorkersCaptured
        | SourceHealthReported
        | StylesChanged,
    )
    return event
