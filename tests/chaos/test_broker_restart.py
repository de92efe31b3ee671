"""Scenario 3: the Kafka broker restarts; every service reconnects and resumes, nothing is lost
or duplicated downstream.

Needs a broker that keeps its data across a restart, so it runs on a dedicated single-node Apache
Kafka started for this test (``devtools.devstack.kafka_process``; the session broker belongs to CI),
never on the embedded broker, which is memory-only. A frame published while the broker is down
must reach the gateway once it is back (the poller retries what it could not publish), and so
must a frame published after the restart. The gateway keeps answering from Redis throughout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.devstack.kafka_process import KafkaProcess, unavailable_reason
from shared.topics import RISK_CHANGED
from tests.chaos.results import record
from tests.chaos.stack import MARKED_MODEL, ConsistencyReader, running_stack, workers_of_frame
from tests.support.analytics import read_topic
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.chaos, pytest.mark.real_kafka, pytest.mark.timeout(420)]


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[KafkaProcess]:
    libs = Path(os.environ["CHAOS_KAFKA_LIBS"]) if os.environ.get("CHAOS_KAFKA_LIBS") else None
    reason = unavailable_reason(libs)
    if reason is not None:
        pytest.skip(f"cannot start a restartable Apache Kafka: {reason}")
    broker = KafkaProcess(tmp_path / "kafka", libs=libs)
    started = time.monotonic()
    broker.start()
    record(
        "broker_restart.kafka_start", time.monotonic() - started, "s", "dedicated Apache Kafka, first start"
    )
    yield broker
    broker.stop(timeout=30)


def test_services_resume_after_a_broker_restart(
    own_kafka: KafkaProcess, redis_url: str, unique: str, tmp_path: Path
) -> None:
    assert own_kafka.bootstrap is not None
    info = KafkaInfo(own_kafka.bootstrap, "apache", managed=True)
    with running_stack(
        tmp_path / "stack", kafka_env=info.env(), redis_url=redis_url, unique=unique, frames=4
    ) as stack:
        stack.set_frame(1)
        stack.wait_for_frame(1, within=60)
        reader = ConsistencyReader(stack.gateway)
        reader.start()
        try:
            stopped_at = time.monotonic()
            shutdown = own_kafka.stop()
            stack.set_frame(2)  # published by the stand-in while the broker is down
            time.sleep(3)  # the poller fails to publish it at least once
            own_kafka.start_again()
            back_at = time.monotonic()
            stack.wait_for_frame(2, within=120)
            resumed_at = time.monotonic()
            stack.set_frame(3)
            stack.wait_for_frame(3, within=60)
            after = time.monotonic() - resumed_at
        finally:
            seen = reader.stop()
        assert not stack.crashed(), stack.crashed()
        assert not stack.not_ready(), stack.not_ready()
        risk_topic = RISK_CHANGED.with_prefix(stack.topic_prefix).name
        records = asyncio.run(  # as our (read_committed) consumers read it
            read_topic(
                own_kafka.bootstrap,
                risk_topic,
                idle_seconds=3,
                within=60,
                committed=info.supports_transactions,
            )
        )

    record("broker_restart.downtime", back_at - stopped_at, "s", f"graceful shutdown took {shutdown:.1f} s")
    record(
        "broker_restart.recovery",
        resumed_at - back_at,
        "s",
        "broker answering → frame published during the outage at the gateway",
    )
    record(
        "broker_restart.total",
        resumed_at - stopped_at,
        "s",
        "broker stopped → frame published meanwhile at the gateway",
    )
    record("broker_restart.next_frame", after, "s", "frame published after the restart → at the gateway")
    assert not seen.server_errors, seen.server_errors[:5]
    assert not seen.inconsistencies, seen.inconsistencies[:5]
    ids = [headers["ce_id"] for _, _, headers in records]
    duplicates = {event_id: n for event_id, n in Counter(ids).items() if n > 1}
    assert not duplicates, f"{len(duplicates)} duplicate risk event ids"
    marked = [
        json.loads(value)["current"]["has_workers"]
        for key, value, _ in records
        if key == f"image_generation/{MARKED_MODEL}".encode() and value is not None
    ]
    assert all(a != b for a, b in itertools.pairwise(marked)), marked
    assert marked[-1] == (workers_of_frame(3) > 0), marked
