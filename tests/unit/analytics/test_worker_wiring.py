"""Issue 15: the worker only wires the pieces and drives them from the consumer group's callbacks
— checked with fakes of the consumer and the store: an assignment claims tokens and replays from
the start, records are applied once caught up and written by the loop, a revocation forgets it all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from services.analytics.inputs import InputTopics
from services.analytics.worker import AnalyticsWorker
from shared.domain.categories import ModelCategory
from shared.domain.risk.thresholds import RiskThresholds
from shared.topics import categories_of_partition, partition_for
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic
from tests.unit.analytics.fakes import FakeClaims, FakeStore

PARTITIONS = 3
IMAGE = ModelCategory.IMAGE_GENERATION
P = partition_for(IMAGE, PARTITIONS)
TOPICS = InputTopics.with_prefix("wiring")
NOW = datetime.now(UTC)


class FakeConsumer:
    """A consumer whose owned partitions hold ``ends`` records; positions move as records are fed."""

    def __init__(self, ends: dict[TopicPartition, int]) -> None:
        self.ends = ends
        self.positions = dict.fromkeys(ends, 0)
        self.rewound: list[TopicPartition] = []

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in partitions}

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self.rewound.extend(partitions)
        for tp in partitions:
            self.positions[tp] = 0

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends[tp]

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        """The topics' partition count is unknown here: the worker keeps the configured one."""
        return None


def record(topic: str, offset: int, event: BaseModel) -> ConsumerRecord[Any, Any]:
    body = event.model_dump_json().encode()
    return ConsumerRecord(
        topic, P, offset, int(NOW.timestamp() * 1000), 0, b"k", body, None, 1, len(body), []
    )


async def test_assignment_replay_write_and_revocation() -> None:
    claims = FakeClaims()
    store = FakeStore(claims)
    worker = AnalyticsWorker(
        topics=TOPICS, partitions=PARTITIONS, store=store, thresholds=RiskThresholds(),  # type: ignore[arg-type]
        broker=None, consumer_name="unit",  # type: ignore[arg-type]
    )  # fmt: skip
    reference_tp = TopicPartition(TOPICS.reference.name, P)
    status_tp = TopicPartition(TOPICS.status.name, P)
    stats_tp = TopicPartition(TOPICS.stats.name, P)
    consumer = FakeConsumer({reference_tp: 1, status_tp: 1, stats_tp: 1})
    await worker.on_assigned(consumer, set(consumer.ends))  # type: ignore[arg-type]
    assert sorted(consumer.rewound) == sorted(consumer.ends), "replayed from the beginning"
    owned = set(categories_of_partition(P, PARTITIONS))
    assert set(claims.held) == owned, "a fencing token per owned category"
    assert worker.tenure.settled

    stop = asyncio.Event()
    loop = asyncio.create_task(worker.materialise_forever(stop))
    try:
        events = {
            reference_tp: reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json"),
            status_tp: status_event(synthetic("status_models_image.json"), captured_at=NOW),  # type: ignore[arg-type]
            stats_tp: stats_event(synthetic("stats_models_image.json"), captured_at=NOW),  # type: ignore[arg-type]
        }
        for tp, event in events.items():
            consumer.positions[tp] = 1
            await worker.handle_records((record(tp.topic, 0, event),))
        for _ in range(600):
            if IMAGE in store.pointers:
                break
            await asyncio.sleep(0.05)
        assert IMAGE in store.pointers, "written once every partition of the category caught up"
        assert worker.generations_written == 1
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(loop, 30)

    await worker.on_revoked()
    assert worker.state.categories == {}
    assert worker.tenure.owned_categories() == set()
    assert worker.fences.tokens == {}
    assert worker.materialiser.pointers == {}
    assert not worker.tenure.settled, "no write until the next assignment"
