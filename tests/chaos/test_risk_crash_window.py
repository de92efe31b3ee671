"""Scenario 1, the narrowest window, made deterministic: a worker dies after publishing a model's
risk change and before publishing its current state.

The next owner reads the current-state topic (old state for that model) and computes the same
generation, so it finds the same change again, with the same id. It must publish the model's
current state but not the change a second time: it reads the last change id of each partition it
takes over. The crash is simulated by failing the current-state publish of the second model.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from redis.asyncio import Redis

from services.analytics.risk_events import RiskChangePublisher, read_current_states, read_last_changes
from shared.domain.categories import ModelCategory
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.events.risk import RiskBasis
from shared.kafka import ensure_topics, make_producer
from shared.redis_keys import RedisKeys
from shared.settings import KafkaSettings
from shared.store.risk_stream import RiskEventStream
from shared.topics import RISK_CHANGED, RISK_CURRENT, partition_for
from tests.support.analytics import read_topic
from tests.support.events import at_risk_models
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

CATEGORY = ModelCategory.IMAGE_GENERATION
BASIS = RiskBasis(generation="g1", reference_version="r1", horde_status_at_ms=1, horde_stats_at_ms=1)


class Crash(Exception):
    """The process died here."""


def models() -> list[ModelDeletionRiskInfo]:
    return at_risk_models(CATEGORY, 4)


@pytest.fixture
async def settings(kafka: KafkaInfo, unique: str) -> KafkaSettings:
    chosen = KafkaSettings(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_idempotence=kafka.supports_idempotence,
        transactions=kafka.supports_transactions,
        topic_prefix=f"crash{unique}.",
    )
    await ensure_topics(
        chosen, (RISK_CHANGED.with_prefix(chosen.topic_prefix), RISK_CURRENT.with_prefix(chosen.topic_prefix))
    )
    return chosen


async def new_owner(
    settings: KafkaSettings, redis: Redis, unique: str, *, crash_on_current: int | None
) -> int:
    """One owner's life: load what was published, publish the generation, maybe die half-way."""
    changed, current = (
        RISK_CHANGED.with_prefix(settings.topic_prefix),
        RISK_CURRENT.with_prefix(settings.topic_prefix),
    )
    producer = make_producer(settings, client_id="crash-test")
    keys = RedisKeys(f"crash{unique}")
    publisher = RiskChangePublisher(
        changed=changed, current=current, partitions=settings.topic_partitions,
        stream=RiskEventStream(redis, keys), producer=producer,
    )  # fmt: skip
    partitions = {partition_for(CATEGORY, settings.topic_partitions)}
    publisher.load(
        await read_current_states(settings, current, partitions),
        await read_last_changes(settings, changed, partitions),
    )
    current_publishes = 0
    real_send = producer.send_and_wait

    async def send_and_wait(topic: str, *args: Any, **kwargs: Any) -> Any:
        nonlocal current_publishes
        if topic == current.name:
            current_publishes += 1
            if current_publishes == crash_on_current:
                raise Crash
        return await real_send(topic, *args, **kwargs)

    producer.send_and_wait = send_and_wait  # type: ignore[method-assign]
    await producer.start()
    try:
        return await publisher.publish(CATEGORY, models(), BASIS)
    finally:
        await producer.stop()


async def test_a_change_published_just_before_a_crash_is_not_published_again(
    settings: KafkaSettings, redis: Redis, kafka: KafkaInfo, unique: str
) -> None:
    with pytest.raises(Crash):
        await new_owner(settings, redis, unique, crash_on_current=2)
    published_after_crash = await new_owner(settings, redis, unique, crash_on_current=None)

    changed = await read_topic(
        kafka.bootstrap_servers, RISK_CHANGED.with_prefix(settings.topic_prefix).name, idle_seconds=2
    )
    current = await read_topic(
        kafka.bootstrap_servers, RISK_CURRENT.with_prefix(settings.topic_prefix).name, idle_seconds=2
    )
    ids = Counter(headers["ce_id"] for _, _, headers in changed)
    assert len(changed) == 4, [json.loads(v)["model"] for _, v, _ in changed if v]
    assert set(ids.values()) == {1}, "every change exactly once"
    assert {key.decode() for key, _, _ in current if key} == {f"{CATEGORY}/model-{n}" for n in range(4)}
    assert published_after_crash == 2, "the next owner published the two changes the dead one had not"
    assert [json.loads(v)["sequence"] for _, v, _ in changed if v] == [1, 2, 3, 4], "numbered without a gap"
    assert sorted(json.loads(v)["sequence"] for _, v, _ in current if v) == [1, 2, 3, 4]
