"""Decoding of input records: which topic carries which event, and how a bad record fails."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ValidationError

from services.analytics.state import InputEvent
from shared.events.horde import (
    HordeStatsCaptured,
    HordeStatusCaptured,
    HordeWorkersCaptured,
    SourceHealthReported,
)
from shared.events.reference import ReferenceCategoryChanged, ReferenceSourceHealthReported
from shared.events.styles import StylesChanged
from shared.topics import (
    HORDE_SOURCE_HEALTH,
    HORDE_STATS_CAPTURED,
    HORDE_STATUS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    REFERENCE_CHANGED,
    REFERENCE_SOURCE_HEALTH,
    STYLES_CHANGED,
    TopicSpec,
)


class PoisonRecordError(ValueError):
    """A record that can never be processed: it goes to the dead-letter topic."""


class FutureTimestampError(PoisonRecordError):
    """A record dated further in the future than the tolerated clock skew."""


@dataclass(frozen=True)
class InputTopics:
    """The input topics (prefixed per deployment) and the event type each carries."""

    reference: TopicSpec
    status: TopicSpec
    stats: TopicSpec
    workers: TopicSpec
    health: TopicSpec
    reference_health: TopicSpec
    styles: TopicSpec = STYLES_CHANGED

    @classmethod
    def with_prefix(cls, prefix: str) -> InputTopics:
        return cls(
            REFERENCE_CHANGED.with_prefix(prefix),
            HORDE_STATUS_CAPTURED.with_prefix(prefix),
            HORDE_STATS_CAPTURED.with_prefix(prefix),
            HORDE_WORKERS_CAPTURED.with_prefix(prefix),
            HORDE_SOURCE_HEALTH.with_prefix(prefix),
            REFERENCE_SOURCE_HEALTH.with_prefix(prefix),
            STYLES_CHANGED.with_prefix(prefix),
        )

    def all(self) -> tuple[TopicSpec, ...]:
        return (
            self.reference,
            self.status,
            self.stats,
            self.workers,
            self.health,
            self.reference_health,
            self.styles,
        )

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
            self.reference_health.name: ReferenceSourceHealthReported,
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
        | ReferenceSourceHealthReported
        | StylesChanged,
    )
    return event


def check_not_future(event: InputEvent, *, received_at: datetime, tolerance_seconds: float) -> None:
    """Raise ``FutureTimestampError`` if a time of ``event`` lies more than ``tolerance_seconds``
    after ``received_at`` (the earlier of the record's Kafka timestamp and now: a record dated
    ahead of its own write is rejected on every replay, not only while its date is ahead).

    A future time would freeze its input (every later, real record would look older) and report
    a snapshot time that has not happened; it never reaches an answer.
    """
    if isinstance(event, ReferenceCategoryChanged | StylesChanged):
        return  # ordered by offset; ``detected_at`` is clamped where it is reported
    times = (
        {"checked_at": event.checked_at, "last_success_at": event.last_success_at,
         "content_changed_at": event.content_changed_at}
        if isinstance(event, SourceHealthReported | ReferenceSourceHealthReported)
        else {"captured_at": event.captured_at}
    )  # fmt: skip
    for name, moment in times.items():
        if moment is None:
            continue
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        ahead = (aware - received_at).total_seconds()
        if ahead > tolerance_seconds:
            raise FutureTimestampError(
                f"{type(event).__name__}.{name} {aware.isoformat()} is {ahead:.0f} s ahead of its "
                f"arrival ({received_at.isoformat()}), beyond the tolerated clock skew of "
                f"{tolerance_seconds:g} s (HORDE_ANALYTICS__MAX_FUTURE_SECONDS); a future time would "
                "make every later record look older"
            )


def arrival_time(record_timestamp_ms: int | None, now: datetime) -> datetime:
    """The earlier of now and the record's Kafka timestamp (when the broker has one)."""
    if record_timestamp_ms is None or record_timestamp_ms <= 0:
        return now
    return min(now, datetime.fromtimestamp(record_timestamp_ms / 1000, UTC))
