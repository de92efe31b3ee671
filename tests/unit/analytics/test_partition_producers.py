"""Issue 13, fenced Kafka writes: what the transactional producers are named and how our readers
read (no broker needed; the fencing itself is tested on Apache Kafka in
tests/integration/test_transactional_fencing.py and tests/chaos/test_event_ids_and_fencing.py)."""

from __future__ import annotations

import pytest

from services.analytics.partition_producers import PartitionProducers
from shared.kafka import isolation_level
from shared.settings import KafkaSettings


def test_every_owner_of_a_partition_uses_the_same_transactional_id() -> None:
    """The id names the partition, not the worker: the next owner's producer fences the previous."""
    settings = KafkaSettings(topic_prefix="staging.")
    first = PartitionProducers(settings, client_id="analytics-pod-a")
    second = PartitionProducers(settings, client_id="analytics-pod-b")
    assert first.transactional_id(3) == second.transactional_id(3) == "staging.horde-analytics-risk-3"
    assert len({first.transactional_id(p) for p in range(settings.topic_partitions)}) == 4


def test_deployments_sharing_a_cluster_do_not_fence_each_other() -> None:
    one = PartitionProducers(KafkaSettings(topic_prefix="a."), client_id="x")
    other = PartitionProducers(KafkaSettings(topic_prefix="b."), client_id="x")
    assert one.transactional_id(0) != other.transactional_id(0)


def test_readers_see_committed_records_only_when_writers_use_transactions() -> None:
    assert KafkaSettings().transactions, "on by default (Apache Kafka); local runs turn it off"
    assert isolation_level(KafkaSettings()) == "read_committed"
    assert isolation_level(KafkaSettings(transactions=False)) == "read_uncommitted"


async def test_a_partition_without_a_producer_is_not_written() -> None:
    producers = PartitionProducers(KafkaSettings(), client_id="x")
    with pytest.raises(KeyError):
        async with producers.transaction(0):
            pass
