"""Issue 13: a poison record too large to dead-letter whole, and analytics started before Kafka.

Scenario 20 MB poison: a 20 MB record (zstd-compressed to a few KB on the wire, so the topic
takes it) lands on the status topic. Its dead-letter record must exist, truncated, with the
original size and coordinates in its headers, and the worker must go on with the next frame.

Scenario late broker: an analytics worker starts 20 s before Apache Kafka does (a dedicated
broker, stopped after its first start). It must neither exit nor claim readiness while Kafka is
down, and become ready and take its share of the categories once Kafka answers, without restart.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devtools.devstack.kafka_process import KafkaProcess, unavailable_reason
from devtools.devstack.ports import free_port
from devtools.devstack.processes import ServiceProcess
from shared.domain.categories import ModelCategory
from shared.settings import KafkaSettings
from shared.topics import HORDE_STATUS_CAPTURED, partition_for
from tests.chaos.results import record
from tests.chaos.stack import running_stack, wait_until
from tests.support.kafka_broker import KafkaInfo
from tests.support.stack_files import stack_env

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]

POISON_BYTES = 20 * 1024 * 1024
LATE_SECONDS = 20


async def publish_poison(bootstrap: str, topic: str, partition: int) -> tuple[int, int, int]:
    """Send the 20 MB poison; returns its partition, offset and size."""
    poison = b'{"schema_version": 1, "entries": "' + b"x" * POISON_BYTES + b'"}'
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, compression_type="zstd", max_request_size=32 * 1024 * 1024
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, poison, key=b"image", partition=partition)
    finally:
        await producer.stop()
    return sent.partition, sent.offset, len(poison)


async def dead_letters(bootstrap: str, topic: str, within: float) -> list[dict[str, str]]:
    """Headers of the records on ``topic`` (waits up to ``within`` seconds for the first)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
        max_partition_fetch_bytes=32 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
    )  # fmt: skip
    await consumer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        found: list[dict[str, str]] = []
        while not found and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            found += [
                {k: v.decode() for k, v in r.headers} | {"value_bytes": str(len(r.value or b""))}
                for part in batch.values()
                for r in part
            ]
        return found
    finally:
        await consumer.stop()


def test_a_20_mb_poison_record_is_dead_lettered_truncated(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path
) -> None:
    """At the production size limit (16 MiB): the integration test shortens it to 1 MiB."""
    with running_stack(
        tmp_path, kafka_env=kafka.env(), redis_url=redis_url, unique=unique, frames=2, wait_for_text=False
    ) as stack:
        spec = HORDE_STATUS_CAPTURED.with_prefix(stack.topic_prefix)
        partition = partition_for(ModelCategory.IMAGE_GENERATION, KafkaSettings().topic_partitions)
        started = time.monotonic()
        where = asyncio.run(publish_poison(kafka.bootstrap_servers, spec.name, partition))
        found = asyncio.run(dead_letters(kafka.bootstrap_servers, spec.dead_letter, within=60))
        dead_lettered = time.monotonic() - started
        stack.set_frame(1)
        stack.wait_for_frame(1, within=60)
        failures = [
            line
            for name in stack.analytics()
            for line in stack.recent_log(name)
            if line.get("message", "").startswith("dead-letter publish failed")
        ]
        assert not stack.crashed(), stack.crashed()

    record("poison.dead_lettered", dead_lettered, "s", f"{where[2]} bytes → truncated dead letter")
    assert found, "no dead-letter record for the 20 MB poison"
    headers = found[0]
    assert headers["dlq_truncated"] == "true"
    assert headers["dlq_original_bytes"] == str(where[2])
    assert (headers["dlq_source_topic"], headers["dlq_source_partition"], headers["dlq_source_offset"]) == (
        spec.name, str(where[0]), str(where[1]))  # fmt: skip
    assert int(headers["value_bytes"]) < where[2]
    assert not failures, failures


@pytest.fixture
def late_kafka(tmp_path: Path) -> Iterator[KafkaProcess]:
    """A dedicated Apache Kafka, started once (ports and storage fixed) and stopped again."""
    libs = Path(os.environ["CHAOS_KAFKA_LIBS"]) if os.environ.get("CHAOS_KAFKA_LIBS") else None
    reason = unavailable_reason(libs)
    if reason is not None:
        pytest.skip(f"cannot start a restartable Apache Kafka: {reason}")
    broker = KafkaProcess(tmp_path / "kafka", libs=libs)
    broker.start()
    broker.stop(timeout=30)
    yield broker
    broker.stop(timeout=30)


def _readyz(process: ServiceProcess) -> int | None:
    try:
        return httpx.get(process.base_url + "/readyz", timeout=3).status_code
    except httpx.HTTPError:
        return None


@pytest.mark.real_kafka
def test_analytics_started_before_the_broker_becomes_ready_without_a_restart(
    late_kafka: KafkaProcess, redis_url: str, unique: str, tmp_path: Path
) -> None:
    assert late_kafka.bootstrap is not None
    info = KafkaInfo(late_kafka.bootstrap, "apache", managed=True)
    env = stack_env(
        kafka_env=info.env(), redis_url=redis_url, prefix=f"chaos{unique}", standin="http://127.0.0.1:9",
        reference=tmp_path, workers_every=1, stats_every=2, reference_poll_every=1,
    )  # fmt: skip
    early = ServiceProcess(
        "analytics-early", "services.analytics", free_port(), env, log_path=tmp_path / "early.log"
    )
    early.start()
    try:
        wait_until(lambda: _readyz(early) is not None, within=60, what="the early worker's HTTP server")
        started = time.monotonic()
        answers: list[int | None] = []
        while time.monotonic() - started < LATE_SECONDS:
            answers.append(_readyz(early))
            assert early.running(), f"analytics exited while Kafka was down:\n{early.log_text()[-3000:]}"
            time.sleep(1)
        pid = early.process.pid if early.process else None
        late_kafka.start_again()
        back_at = time.monotonic()
        wait_until(lambda: _readyz(early) == 200, within=120, what="the early worker to be ready")
        ready_after = time.monotonic() - back_at
        with running_stack(
            tmp_path / "stack", kafka_env=info.env(), redis_url=redis_url, unique=unique, wait_for_text=False
        ) as stack:
            wait_until(
                lambda: any(
                    '"partitions assigned; replaying"' in line and '"categories": []' not in line
                    for line in early.log_text().splitlines()
                ),
                within=60, what="the early worker to own categories", stack=stack,
            )  # fmt: skip
            assert early.running()
            assert early.process is not None
            assert early.process.pid == pid, "restarted"
    finally:
        early.stop(timeout=20)

    retries = early.log_text().count("Kafka not reachable at start; retrying")
    record("late_broker.ready_after", ready_after, "s", f"broker answering → /readyz 200; {retries} retries")
    assert set(answers) == {503}, f"readiness while Kafka was down: {answers}"
    assert retries >= 2
