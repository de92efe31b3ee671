"""End to end: stand-in → poller → Kafka → analytics → Redis → gateway, as separate processes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from devtools.devstack.processes import ServiceProcess
from shared.topics import HORDE_STATUS_CAPTURED
from tests.e2e.conftest import RunningStack
from tests.support.events import SYNTHETIC
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

WITH_STATS = "/model_references/statistics/image_generation/with-stats"


def wait_for(fetch: Any, predicate: Any, *, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = fetch()
        if predicate(last):
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {str(last)[:300]}")


def get_with_stats(stack: RunningStack) -> httpx.Response:
    return httpx.get(stack.gateway + WITH_STATS, timeout=5)


def test_recorded_snapshot_reaches_the_gateway_and_a_new_one_replaces_it(stack: RunningStack) -> None:
    served = {e["name"]: e["count"] for e in json.loads((SYNTHETIC / "status_models_image.json").read_text())}
    try:
        response = wait_for(
            lambda: get_with_stats(stack),
            lambda r: r.status_code == 200,
            within=90,
            what="the first generation",
        )
    except AssertionError:
        raise AssertionError(stack.logs()) from None
    body = response.json()
    assert len(body) == 161
    assert {name: entry["thread_count"] for name, entry in body.items() if entry["thread_count"]} == {
        name: count for name, count in served.items() if name in body and count
    }
    assert response.headers["X-Reference-Version"]
    assert response.headers["ETag"]
    assert response.headers["X-Data-Stale"] == "false"

    httpx.post(stack.standin.base_url + "/_control/advance", timeout=5).raise_for_status()
    updated = wait_for(
        lambda: get_with_stats(stack).json(),
        lambda b: b.get("stable_diffusion", {}).get("thread_count") == 42,
        within=60,
        what="the new snapshot at the gateway",
    )
    assert updated["stable_diffusion"]["thread_count"] == 42


async def test_malformed_snapshot_is_rejected_and_the_previous_answer_kept(
    stack: RunningStack, kafka: KafkaInfo
) -> None:
    first = await asyncio.to_thread(
        wait_for,
        lambda: get_with_stats(stack),
        lambda r: r.status_code == 200,
        within=90,
        what="the first generation",
    )
    topic = HORDE_STATUS_CAPTURED.with_prefix(stack.topic_prefix)
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic.name, b'{"schema_version":1,"model_type":"image","entries":7}', key=b"image", partition=0
        )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic.dead_letter,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=60)
    finally:
        await consumer.stop()
    reason = {k: v.decode() for k, v in record.headers}
    assert reason["dlq_source_topic"] == topic.name
    assert "invalid HordeStatusCaptured" in reason["dlq_error"]
    analytics: ServiceProcess = stack.services["analytics"]
    log_lines = [json.loads(line) for line in analytics.log_text().splitlines() if line.startswith("{")]
    assert any("dead-letter" in line["message"] and line["level"] == "ERROR" for line in log_lines)
    assert analytics.running()
    after = await asyncio.to_thread(get_with_stats, stack)
    assert after.status_code == 200
    assert after.json() == first.json()
