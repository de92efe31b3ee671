"""Issue 15: intake on its own — records in, state and pending work out, poison to the dead-letter
sink, progress noted from the consumer's positions (fakes of the sink and the consumer)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from services.analytics.inputs import FutureTimestampError, InputTopics, PoisonRecordError
from services.analytics.intake import Intake, Pending
from services.analytics.lag import LagGauge
from services.analytics.ownership import Tenure
from services.analytics.state import AnalyticsState
from shared.domain.categories import ModelCategory
from shared.events.horde import SourceHealthReported
from shared.topics import partition_for
from tests.support.events import DATA, reference_event, status_event, synthetic

PARTITIONS = 3
IMAGE = ModelCategory.IMAGE_GENERATION
P = partition_for(IMAGE, PARTITIONS)
TOPICS = InputTopics.with_prefix("unit")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def record(
    topic: str, offset: int, value: bytes | BaseModel, *, headers: Any = ()
) -> ConsumerRecord[Any, Any]:
    body = value.model_dump_json().encode() if isinstance(value, BaseModel) else value
    stamp = int(NOW.timestamp() * 1000)
    return ConsumerRecord(topic, P, offset, stamp, 0, b"image", body, None, 5, len(body), list(headers))


class FakeDeadLetters:
    def __init__(self) -> None:
        self.records: list[tuple[ConsumerRecord[Any, Any], Exception]] = []

    async def __call__(self, record: ConsumerRecord[Any, Any], error: Exception) -> None:
        self.records.append((record, error))


class FakeConsumer:
    """Positions and fetch highwaters as a consumer reports them."""

    def __init__(self, positions: dict[TopicPartition, int], highwater: dict[TopicPartition, int]) -> None:
        self.positions = positions
        self.highwaters = highwater

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters.get(tp)


@pytest.fixture
def lag() -> Iterator[LagGauge]:
    gauge = LagGauge()
    yield gauge
    gauge.forget()


def intake_of(lag: LagGauge, *, tolerance: float = 60) -> tuple[Intake, FakeDeadLetters]:
    sink = FakeDeadLetters()
    intake = Intake(
        topics=TOPICS, state=AnalyticsState(), pending=Pending(), tenure=Tenure(PARTITIONS), lag=lag,
        dead_letters=sink, max_future_seconds=tolerance,
    )  # fmt: skip
    return intake, sink


async def test_accepted_events_mark_their_category_and_poison_goes_to_the_sink(lag: LagGauge) -> None:
    intake, sink = intake_of(lag)
    reference = reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json", detected_at=NOW)
    status = status_event(synthetic("status_models_image.json"), captured_at=NOW)  # type: ignore[arg-type]
    records = [
        record(TOPICS.reference.name, 0, reference),
        record(TOPICS.status.name, 0, b"{not json"),
        record(TOPICS.status.name, 1, status, headers=[("traceparent", TRACEPARENT)]),
        record(TOPICS.status.name, 2, b""),
    ]
    await intake.apply(records, now=NOW)
    assert [(r.offset, type(e)) for r, e in sink.records] == [(0, PoisonRecordError), (2, PoisonRecordError)]
    assert intake.pending.views == {IMAGE}
    assert intake.pending.health == set()
    inputs = intake.state.inputs(IMAGE)
    assert (inputs.reference_seq, inputs.status_seq) == (0, 1)


async def test_a_record_dated_beyond_the_tolerated_skew_is_dead_lettered_not_applied(lag: LagGauge) -> None:
    intake, sink = intake_of(lag, tolerance=60)
    ahead = status_event(synthetic("status_models_image.json"), captured_at=NOW + timedelta(hours=1))  # type: ignore[arg-type]
    await intake.apply([record(TOPICS.status.name, 0, ahead)], now=NOW)
    assert [type(e) for _, e in sink.records] == [FutureTimestampError]
    assert intake.state.inputs(IMAGE).status is None
    assert intake.pending.views == set()


async def test_a_health_event_marks_only_the_source_health(lag: LagGauge) -> None:
    intake, sink = intake_of(lag)
    health = SourceHealthReported(endpoint="status", model_type="image", ok=True, checked_at=NOW)
    await intake.apply([record(TOPICS.health.name, 0, health)], now=NOW)
    await intake.apply([record(TOPICS.health.name, 0, health)], now=NOW)  # a replay changes nothing
    assert sink.records == []
    assert intake.pending.health == {IMAGE}
    assert intake.pending.views == set()


async def test_progress_marks_a_partition_caught_up_at_its_target_and_sets_its_lag(lag: LagGauge) -> None:
    intake, _ = intake_of(lag)
    owned = TopicPartition(TOPICS.reference.name, P)
    foreign = TopicPartition(TOPICS.status.name, P)
    intake.tenure.own({owned: 10})
    consumer = FakeConsumer({owned: 6, foreign: 1}, {owned: 10, foreign: 3})
    await intake.track(consumer, {owned, foreign})
    assert not intake.tenure.category_ready(IMAGE)
    assert lag.exported == {owned}, "lag of owned partitions only"
    consumer.positions[owned] = 10
    await intake.track(consumer, {owned})
    assert intake.tenure.category_ready(IMAGE)
