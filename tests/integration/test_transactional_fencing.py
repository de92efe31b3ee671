"""Issue 13, fenced Kafka writes: a risk publisher paused in the middle of a transaction and
resumed after the category's next owner started its producer adds nothing to what our
(read_committed) consumers see, whatever instant the pause hit.

The pause is made deterministic: the paused owner's send of its second record waits for an event
the test sets only after the successor has published (as SIGSTOP holds a process); Apache Kafka
and Redis are real.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from redis.asyncio import Redis

from services.analytics.partition_producers import Fenced, PartitionProducers
from services.analytics.risk_events import RiskChangePublisher, read_current_states, read_last_changes
from shared.domain.categories import ModelCategory
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.events.risk import RiskBasis
from shared.kafka import ensure_topics, make_producer
from shared.redis_keys import RedisKeys
from shared.settings import KafkaSettings
from shared.store.fencing import Fence, OwnerFence
from shared.store.risk_stream import RiskEventStream
from shared.topics import RISK_CHANGED, RISK_CURRENT, partition_for
from tests.support.analytics import read_topic
from tests.support.events import at_risk_models
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.real_kafka, pytest.mark.timeout(120)]

CATEGORY = ModelCategory.IMAGE_GENERATION
BASIS = RiskBasis(generation="g1", reference_version="r1", horde_status_at_ms=1, horde_stats_at_ms=1)


def models() -> list[ModelDeletionRiskInfo]:
    return at_risk_models(CATEGORY, 4)


@pytest.fixture
async def settings(kafka: KafkaInfo, unique: str) -> KafkaSettings:
    chosen = KafkaSettings(bootstrap_servers=kafka.bootstrap_servers, topic_prefix=f"txn{unique}.")
    assert chosen.transactions, "transactions are on by default"
    await ensure_topics(
        chosen, (RISK_CHANGED.with_prefix(chosen.topic_prefix), RISK_CURRENT.with_prefix(chosen.topic_prefix))
    )
    return chosen


class Owner:
    """One worker's publisher of the category's partition, as the worker wires it."""

    def __init__(self, settings: KafkaSettings, redis: Redis, keys: RedisKeys, name: str) -> None:
        self.settings = settings
        self.partition = partition_for(CATEGORY, settings.topic_partitions)
        self.plain = make_producer(settings, client_id=f"{name}-plain")
        self.producers = PartitionProducers(settings, client_id=name)
        self.publisher = RiskChangePublisher(
            changed=RISK_CHANGED.with_prefix(settings.topic_prefix),
            current=RISK_CURRENT.with_prefix(settings.topic_prefix),
            partitions=settings.topic_partitions, stream=RiskEventStream(redis, keys), producer=self.plain,
            transactions=self.producers,
        )  # fmt: skip
        self.fences = OwnerFence(redis, keys)

    async def assigned(self) -> Fence:
        """What the worker does at assignment: token, producers (fencing), published state."""
        fence = await self.fences.claim(CATEGORY)
        await self.plain.start()
        await self.publisher.own({self.partition})
        partitions = {self.partition}
        self.publisher.load(
            await read_current_states(self.settings, self.publisher.current, partitions),
            await read_last_changes(self.settings, self.publisher.changed, partitions),
        )
        return fence

    def pause_before_send(self, number: int, paused: asyncio.Event, resume: asyncio.Event) -> None:
        """Hold the ``number``-th send of the partition's producer until ``resume`` is set."""
        producer = self.producers.producers[self.partition]
        real_send = producer.send_and_wait
        sends = 0

        async def send_and_wait(*args: Any, **kwargs: Any) -> Any:
            nonlocal sends
            sends += 1
            if sends == number:
                paused.set()
                await resume.wait()
            return await real_send(*args, **kwargs)

        producer.send_and_wait = send_and_wait  # type: ignore[method-assign]

    async def close(self) -> None:
        await self.publisher.close()
        await self.plain.stop()


async def topic(settings: KafkaSettings, committed: bool) -> list[tuple[dict[str, Any], dict[str, str]]]:
    records = await read_topic(
        settings.bootstrap_servers, RISK_CHANGED.with_prefix(settings.topic_prefix).name, idle_seconds=2,
        committed=committed,
    )  # fmt: skip
    return [(json.loads(value), headers) for _, value, headers in records if value]


@pytest.mark.parametrize("redis_fence", [True, False], ids=["redis-and-kafka", "kafka-alone"])
async def test_a_publisher_paused_mid_transaction_adds_nothing_after_its_successor(
    settings: KafkaSettings, redis: Redis, unique: str, redis_fence: bool
) -> None:
    """With the Redis token the resumed zombie's publish ends quietly (0 events); without it
    (``kafka-alone``: only Kafka fences) its send is refused by the broker (``Fenced``). Either
    way the committed history holds the successor's four events only, numbered 1 to 4."""
    keys = RedisKeys(f"txn{unique}")
    zombie, successor = Owner(settings, redis, keys, "zombie"), Owner(settings, redis, keys, "successor")
    paused, resume = asyncio.Event(), asyncio.Event()
    try:
        zombie_fence = await zombie.assigned()
        zombie.pause_before_send(2, paused, resume)  # after its first change, in the same transaction
        task = asyncio.create_task(
            zombie.publisher.publish(CATEGORY, models(), BASIS, fence=zombie_fence if redis_fence else None)
        )
        await asyncio.wait_for(paused.wait(), 30)

        successor_fence = await successor.assigned()
        assert successor.publisher.sequences.get(CATEGORY, 0) == 0, (
            "the zombie's open transaction was aborted"
        )
        assert await successor.publisher.publish(CATEGORY, models(), BASIS, fence=successor_fence) == 4

        resume.set()
        if redis_fence:
            assert await asyncio.wait_for(task, 30) == 0
        else:
            with pytest.raises(Fenced):
                await asyncio.wait_for(task, 30)
    finally:
        resume.set()
        await zombie.close()
        await successor.close()

    committed = await topic(settings, committed=True)
    epochs = {int(headers["hma_owner_epoch"]) for _, headers in committed}
    assert epochs == {successor_fence.token}, "only the successor's records are committed"
    assert [event["sequence"] for event, _ in committed] == [1, 2, 3, 4]
    uncommitted = await topic(settings, committed=False)
    assert len(uncommitted) > len(committed), "the zombie's record was written, then aborted"
    stream = await redis.xrange(keys.risk_events(CATEGORY))
    assert len(stream) == 4, "the Redis stream got the successor's events only"


async def test_a_timed_out_producer_of_the_owner_is_started_again(
    settings: KafkaSettings, redis: Redis, unique: str
) -> None:
    """A fenced producer while the Redis token still holds (the transaction outlived the broker's
    timeout, no other owner): the publish fails (retried by the worker), the next one starts the
    producer again and publishes everything."""
    keys = RedisKeys(f"txn{unique}")
    owner, intruder = Owner(settings, redis, keys, "owner"), PartitionProducers(settings, client_id="x")
    try:
        fence = await owner.assigned()
        await intruder.own({owner.partition})  # bumps the id's epoch as a timeout would
        with pytest.raises(Fenced):
            await owner.publisher.publish(CATEGORY, models(), BASIS, fence=fence)
        assert owner.partition not in owner.producers.producers
        assert owner.publisher.sequences.get(CATEGORY, 0) == 0, "the aborted publish was forgotten"
        assert await owner.publisher.publish(CATEGORY, models(), BASIS, fence=fence) == 4
    finally:
        await intruder.close()
        await owner.close()
    assert [event["sequence"] for event, _ in await topic(settings, committed=True)] == [1, 2, 3, 4]


async def test_a_publish_that_fails_half_way_is_aborted_and_published_whole_by_the_retry(
    settings: KafkaSettings, redis: Redis, unique: str
) -> None:
    """A send fails in the middle of a publish (the broker away, say): the transaction is aborted,
    the publisher forgets what it had sent, and the retry publishes all four events with the
    same sequences: the committed history has each once, nothing of the failed attempt."""
    keys = RedisKeys(f"txn{unique}")
    owner = Owner(settings, redis, keys, "owner")
    try:
        fence = await owner.assigned()
        producer = owner.producers.producers[owner.partition]
        real_send, sends = producer.send_and_wait, 0

        async def failing_send(*args: Any, **kwargs: Any) -> Any:
            nonlocal sends
            sends += 1
            if sends == 4:
                raise KafkaConnectionError("the broker went away")
            return await real_send(*args, **kwargs)

        producer.send_and_wait = failing_send  # type: ignore[method-assign]
        with pytest.raises(KafkaConnectionError):
            await owner.publisher.publish(CATEGORY, models(), BASIS, fence=fence)
        assert owner.partition not in owner.producers.producers, "a failed producer is not reused"
        assert owner.publisher.sequences.get(CATEGORY, 0) == 0
        assert owner.publisher.states.get(CATEGORY) == {}
        assert await owner.publisher.publish(CATEGORY, models(), BASIS, fence=fence) == 4
    finally:
        await owner.close()
    committed = await topic(settings, committed=True)
    assert [event["sequence"] for event, _ in committed] == [1, 2, 3, 4]
    assert len({headers["ce_id"] for _, headers in committed}) == 4
    assert len(await redis.xrange(keys.risk_events(CATEGORY))) == 4
