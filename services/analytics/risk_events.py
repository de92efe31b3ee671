"""Publishing deletion-risk changes: history topic, compacted current-state topic, Redis stream.

The previous state of every owned model comes from the compacted current-state topic, read when
partitions are assigned, so a replica that takes over (or a cold start) diffs against what was
really published. After a crash between writing Redis and publishing, the next owner computes the
same generation, finds the missing changes and publishes them with the same deterministic ids.

A model's change is published before its current state, so a crash between the two leaves the
change as the last record of its partition while the current-state topic still holds the old
state: the next owner reads that last id too and does not publish the change a second time. A
publish stops between two models when the worker loses its partitions (``keep_going``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from shared.domain.categories import ModelCategory
from shared.domain.risk.changes import changed_models
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.events.risk import DeletionRiskChanged, DeletionRiskCurrent, RiskBasis, RiskState
from shared.kafka import SOURCE_PREFIX, drain_to_end, encode_key, kafka_client_options, publish_event
from shared.metrics import EVENTS_PUBLISHED
from shared.redis_keys import RedisKeys
from shared.settings import KafkaSettings
from shared.topics import TopicSpec, partition_for

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

log = logging.getLogger(__name__)
PRODUCER = "analytics"
STREAM_LENGTH = 1000


def risk_event_id(category: ModelCategory, model: str, generation: str) -> str:
    """Same model and generation → same id (consumers drop duplicates by it)."""
    return hashlib.sha256(f"{category}/{model}@{generation}".encode()).hexdigest()[:32]


async def read_current_states(
    settings: KafkaSettings, spec: TopicSpec, partitions: set[int], *, limit_seconds: float = 30
) -> dict[ModelCategory, dict[str, RiskState]]:
    """Latest state per model on the owned partitions of the compacted current-state topic."""
    states: dict[ModelCategory, dict[str, RiskState]] = {}
    if not partitions:
        return states
    # "earliest": the reset aiokafka starts on assign() otherwise races seek_to_beginning and can
    # win with the *latest* offset, which silently reads nothing.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", **kafka_client_options(settings),
    )  # fmt: skip
    await consumer.start()
    try:
        assigned = [TopicPartition(spec.name, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await consumer.seek_to_beginning(*assigned)

        await asyncio.wait_for(
            drain_to_end(consumer, assigned, ends, lambda r: _apply_current(states, r.key, r.value)),
            limit_seconds,
        )
    finally:
        await consumer.stop()
    return states


async def read_last_event_ids(
    settings: KafkaSettings, spec: TopicSpec, partitions: set[int], *, limit_seconds: float = 30
) -> set[str]:
    """The id of the last change event on each owned partition of the history topic."""
    if not partitions:
        return set()
    # "earliest": the reset aiokafka starts on assign() otherwise races seek_to_beginning and can
    # win with the *latest* offset, which silently reads nothing.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", **kafka_client_options(settings),
    )  # fmt: skip
    await consumer.start()
    last: dict[TopicPartition, str] = {}
    try:
        assigned = [TopicPartition(spec.name, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        starts = await consumer.beginning_offsets(assigned)
        wanted = [tp for tp in assigned if ends[tp] > starts[tp]]
        for tp in assigned:
            if tp not in wanted:
                consumer.pause(tp)
        for tp in wanted:
            consumer.seek(tp, ends[tp] - 1)

        def remember(record: ConsumerRecord[Any, Any]) -> None:
            event_id = dict(record.headers or ()).get("ce_id")
            if event_id is not None:
                last[TopicPartition(record.topic, record.partition)] = event_id.decode()

        if wanted:
            await asyncio.wait_for(drain_to_end(consumer, wanted, ends, remember), limit_seconds)
    finally:
        await consumer.stop()
    return set(last.values())


def _apply_current(
    states: dict[ModelCategory, dict[str, RiskState]], key: bytes | None, value: bytes | None
) -> None:
    if key is None:
        return
    category_name, _, model = key.decode().partition("/")
    try:
        category = ModelCategory(category_name)
    except ValueError:
        return
    if not value:
        states.get(category, {}).pop(model, None)
        return
    try:
        record = DeletionRiskCurrent.model_validate_json(value)
    except ValidationError:
        log.warning("ignoring an unreadable current-risk record", extra={"key": key.decode()})
        return
    states.setdefault(category, {})[model] = record.state


class RiskChangePublisher:
    """Diffs each new risk state of a category against the published one and publishes changes."""

    def __init__(
        self, broker: KafkaBroker, *, changed: TopicSpec, current: TopicSpec, partitions: int,
        redis: Redis, keys: RedisKeys, tombstones: AIOKafkaProducer,
    ) -> None:  # fmt: skip
        self.broker = broker
        self.tombstones = tombstones
        self.changed = changed
        self.current = current
        self.partitions = partitions
        self.redis = redis
        self.keys = keys
        self.states: dict[ModelCategory, dict[str, RiskState]] = {}
        #: Last change id per owned partition at assignment (see the module doc).
        self.last_ids: set[str] = set()

    async def _publish(
        self,
        topic: TopicSpec,
        event: BaseModel,
        key: bytes,
        partition: int,
        event_id: str,
        now: datetime,
        subject: str,
    ) -> None:
        """A change and its current state go out with the same id, key, partition, time and subject."""
        await publish_event(
            self.broker, topic, event, key=key, partition=partition, event_id=event_id, time=now,
            producer=PRODUCER, subject=subject,
        )  # fmt: skip

    async def publish(
        self,
        category: ModelCategory,
        models: Sequence[ModelDeletionRiskInfo],
        basis: RiskBasis,
        *,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> int:
        """Publish every change of ``category``; returns how many events were published.

        Stops between two models once ``keep_going`` says no (the partitions are moving).
        """
        published = self.states.setdefault(category, {})
        previous = {name: state.signature() for name, state in published.items()}
        by_name = {m.name: m for m in models}
        now = datetime.now(UTC)
        partition = partition_for(category, self.partitions)
        count = 0
        for name, kinds in changed_models(previous, models):
            if not keep_going():
                log.info("risk publishing interrupted", extra={"category": category.value, "events": count})
                break
            current = RiskState.of(by_name[name]) if name in by_name else None
            event = DeletionRiskChanged(
                category=category, model=name, previous=published.get(name), current=current,
                changes=kinds, basis=basis, detected_at=now,
            )  # fmt: skip
            event_id = risk_event_id(category, name, basis.generation)
            key, subject = encode_key(category.value, name), f"{category}/{name}"
            republished = event_id in self.last_ids
            if republished:
                # Published by the previous owner, which died before recording its current state.
                self.last_ids.discard(event_id)
                log.info("risk change already published", extra={"category": category.value, "model": name})
            else:
                await self._publish(self.changed, event, key, partition, event_id, now, subject)
            if current is None:
                await self.tombstones.send_and_wait(self.current.name, None, key=key, partition=partition)
                published.pop(name, None)
            else:
                snapshot = DeletionRiskCurrent(category=category, model=name, state=current, basis=basis)
                await self._publish(self.current, snapshot, key, partition, event_id, now, subject)
                published[name] = current
            await self.redis.xadd(
                self.keys.risk_events(category),
                {"id": event_id, "source": SOURCE_PREFIX + PRODUCER, "data": event.model_dump_json()},
                maxlen=STREAM_LENGTH, approximate=True,
            )  # fmt: skip
            count += 0 if republished else 1
        if count:
            EVENTS_PUBLISHED.labels(self.changed.name).inc(count)
            log.info("risk changes published", extra={"category": category.value, "events": count})
        return count
