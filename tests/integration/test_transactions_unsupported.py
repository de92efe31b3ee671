"""Issue 13: a broker without transactions (the embedded Tansu) and ``HORDE_KAFKA__TRANSACTIONS``
left on: the producers do not start, the log says which setting to change, nothing is written."""

from __future__ import annotations

import logging

import pytest

from services.analytics.partition_producers import PartitionProducers
from shared.settings import KafkaSettings
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_transactions_on_a_broker_without_them_fail_clearly(
    kafka: KafkaInfo, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    if kafka.supports_transactions:
        pytest.skip("this broker supports transactions (tests/integration/test_transactional_fencing.py)")
    settings = KafkaSettings(bootstrap_servers=kafka.bootstrap_servers, topic_prefix=f"nt{unique}.")
    producers = PartitionProducers(settings, client_id="no-transactions")
    with caplog.at_level(logging.ERROR, logger="services.analytics.partition_producers"):
        await producers.own({0, 1})
    assert producers.producers == {}, "no partition can be written"
    messages = [r.getMessage() for r in caplog.records if r.name == "services.analytics.partition_producers"]
    assert len(messages) == 2, messages
    assert all("HORDE_KAFKA__TRANSACTIONS=false" in m for m in messages), messages
    await producers.close()
