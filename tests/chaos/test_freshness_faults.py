"""Scenarios of issue 13: answers never look fresh while frozen, and a future date freezes nothing.

1. Redis at ``maxmemory`` (``noeviction``): the workers cannot write new generations while the
   AI Horde (stand-in) moves on from frame 0 to frame 4 and the poller keeps polling. The gateway
   keeps serving frame 0, but it must say so: ``X-Data-Stale: true`` within the stale limit of
   the move (a poll confirms an answer only when it saw the same content), and fresh frame 4
   again once the limit is lifted. Then the same with a stuck worker (SIGSTOP, then SIGCONT).
2. One status snapshot dated a day ahead, published on the status topic: rejected to the
   dead-letter topic with its reason and an ERROR log line, and later real snapshots still reach
   the gateway, whose answers never report a time in the future.

The stale limit is shortened here to keep the scenario short; the production value (600 s) is
exercised by ``tests/integration/test_gateway_heartbeat.py``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devtools.devstack.broker import stop_process
from devtools.devstack.redis_server import start_redis_server
from shared.settings import KafkaSettings
from shared.topics import HORDE_STATUS_CAPTURED, partition_for_model_type
from tests.chaos.results import record
from tests.chaos.stack import IMAGE_WITH_STATS, MARK_BASE, MARKED_MODEL, ChaosStack, running_stack, wait_until
from tests.support.events import status_event
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]

STALE_AFTER = 20.0
#: Status is polled every second; the change reaches the gateway's pointer within a few more.
SLACK = 10.0


def image_answer(stack: ChaosStack) -> tuple[int | None, str | None, str | None]:
    """(frame shown, X-Data-Stale, X-Horde-Snapshot-At) of the image with-stats answer."""
    try:
        answer = stack.get(IMAGE_WITH_STATS)
    except Exception:
        return None, None, None
    if answer.status_code != 200:
        return None, None, None
    entry = answer.json().get(MARKED_MODEL, {})
    frame = entry.get("thread_count", 0) - MARK_BASE if isinstance(entry, dict) else None
    return frame, answer.headers.get("x-data-stale"), answer.headers.get("x-horde-snapshot-at")


def test_answers_turn_stale_while_redis_is_full_and_fresh_once_it_is_not(
    kafka: KafkaInfo, unique: str, tmp_path: Path
) -> None:
    url, server = start_redis_server()
    client = redis.Redis.from_url(url)
    try:
        env = {"HORDE_ANALYTICS__STALE_AFTER_SECONDS": str(STALE_AFTER)}
        with running_stack(
            tmp_path, kafka_env=kafka.env(), redis_url=url, unique=unique, frames=5, env=env
        ) as stack:
            wait_until(lambda: image_answer(stack)[:2] == (0, "false"), within=60, what="fresh frame 0",
                       stack=stack)  # fmt: skip
            # Full: nothing that allocates can be written any more (reads still work).
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", str(max(1, used // 2)))
            moved_at = time.monotonic()
            stack.set_frame(4)
            stale = wait_until(
                lambda: image_answer(stack)[1] == "true" and image_answer(stack),
                within=STALE_AFTER + SLACK + 30, what="the frozen answer to say it is stale", stack=stack,
            )  # fmt: skip
            stale_after = time.monotonic() - moved_at
            assert stale[0] == 0, f"still frame 0 (Redis is full), yet {stale}"
            frozen_lines = [
                line for name in stack.analytics() for line in stack.recent_log(name)
                if "OOM" in json.dumps(line) or "maxmemory" in json.dumps(line)
            ]  # fmt: skip
            assert frozen_lines, "the workers did fail to write (else this scenario proves nothing)"

            client.config_set("maxmemory", "0")
            lifted_at = time.monotonic()
            wait_until(lambda: image_answer(stack)[:2] == (4, "false"), within=60,
                       what="fresh frame 4 once Redis accepts writes", stack=stack)  # fmt: skip
            recovered_after = time.monotonic() - lifted_at

            # A stuck worker (SIGSTOP) while the poller keeps polling and the Horde moves on.
            worker = stack.services["analytics-1"].process
            assert worker is not None
            worker.send_signal(signal.SIGSTOP)
            try:
                stuck_at = time.monotonic()
                stack.set_frame(2)
                stuck = wait_until(
                    lambda: image_answer(stack)[1] == "true" and image_answer(stack),
                    within=STALE_AFTER + SLACK + 30, what="the stuck worker's answer to turn stale",
                    stack=stack,
                )  # fmt: skip
                stuck_stale_after = time.monotonic() - stuck_at
                assert stuck[0] == 4, f"still frame 4 (the worker is stopped), yet {stuck}"
            finally:
                worker.send_signal(signal.SIGCONT)
            wait_until(lambda: image_answer(stack)[:2] == (2, "false"), within=120,
                       what="fresh frame 2 once the worker runs again", stack=stack)  # fmt: skip
            assert not stack.crashed(), stack.crashed()
    finally:
        client.close()
        stop_process(server)
    record(
        "freshness.stale_after_horde_moved_on_redis_full", stale_after, "s",
        f"stale limit {STALE_AFTER:g} s; before issue 13: fresh for 44 s and more",
    )  # fmt: skip
    record("freshness.fresh_after_redis_limit_lifted", recovered_after, "s", "frame 4 served, not stale")
    record("freshness.stale_after_horde_moved_on_worker_stuck", stuck_stale_after, "s",
           f"stale limit {STALE_AFTER:g} s (SIGSTOP)")  # fmt: skip
    assert stale_after <= STALE_AFTER + SLACK, f"stale only after {stale_after:.1f} s"
    assert stuck_stale_after <= STALE_AFTER + SLACK, f"stale only after {stuck_stale_after:.1f} s"


async def _publish_future_snapshot(bootstrap: str, stack: ChaosStack) -> datetime:
    """A schema-valid image status snapshot (frame 3's numbers) dated a day ahead."""
    frames = json.loads((stack.frames / "003" / "status_models_image.json").read_text())
    ahead = datetime.now(UTC) + timedelta(days=1)
    event = status_event(frames, captured_at=ahead)
    topic = HORDE_STATUS_CAPTURED.with_prefix(stack.topic_prefix).name
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, event.model_dump_json().encode(), key=b"image",
            partition=partition_for_model_type("image", KafkaSettings().topic_partitions),
        )  # fmt: skip
    finally:
        await producer.stop()
    return ahead


async def _dead_letters(bootstrap: str, topic: str, within: float = 60) -> list[dict[str, str]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        deadline = asyncio.get_running_loop().time() + within
        while not found and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            found += [{k: v.decode() for k, v in r.headers} for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    return found


def test_a_future_dated_snapshot_is_rejected_and_later_snapshots_apply(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path
) -> None:
    with running_stack(
        tmp_path, kafka_env=kafka.env(), redis_url=redis_url, unique=unique, frames=4, wait_for_quiet=False
    ) as stack:
        asyncio.run(_publish_future_snapshot(kafka.bootstrap_servers, stack))
        dead_letter = HORDE_STATUS_CAPTURED.with_prefix(stack.topic_prefix).dead_letter
        reasons = asyncio.run(_dead_letters(kafka.bootstrap_servers, dead_letter))
        assert reasons, "the future-dated snapshot reached no dead-letter record"
        assert reasons[0]["dlq_error_type"] == "FutureTimestampError"
        assert "captured_at" in reasons[0]["dlq_error"]
        errors = wait_until(
            lambda: [
                line for name in stack.analytics() for line in stack.recent_log(name)
                if line.get("level") == "ERROR" and "captured_at" in str(line.get("message"))
            ],
            within=30, what="the ERROR log line of the rejection", stack=stack,
        )  # fmt: skip
        for frame in (1, 2):
            stack.set_frame(frame)
            stack.wait_for_frame(frame, within=60)
        _, stale, snapshot_at = image_answer(stack)
        assert stale == "false"
        assert snapshot_at is not None
        assert int(snapshot_at) <= time.time() + 1, "no answer reports a time in the future"
        assert not stack.crashed(), stack.crashed()
    record("future_snapshot.rejected", 1, "record", str(errors[0].get("message"))[:100])


def _probe(url: str) -> str:
    try:
        return str(httpx.get(url, timeout=3).status_code)
    except httpx.HTTPError as error:
        return type(error).__name__


def test_readiness_and_503_wording_while_workers_rewrite_lost_views(
    kafka: KafkaInfo, unique: str, tmp_path: Path
) -> None:
    """Issue 13: after Redis came back empty the gateway said "the analytics workers are starting"
    for up to 6 s and ``/readyz`` flapped. After a FLUSHDB (Redis answers all along) every probe
    must stay ready and a 503 meanwhile must say the views are being rewritten; after a restart,
    once a service is ready again it must stay ready (no flapping) while the views are rewritten."""
    url, server = start_redis_server()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        with running_stack(tmp_path, kafka_env=kafka.env(), redis_url=url, unique=unique) as stack:
            redis.Redis.from_url(url).flushdb()
            probes, details = _watch(stack, seconds=15)
            stack.wait_for_frame(0, within=60)
            stop_process(server)
            _, server = start_redis_server(port)
            after_restart, restart_details = _watch(stack, seconds=20, sequence=True)
            stack.wait_for_frame(0, within=60)
    finally:
        stop_process(server)
    record("redis_flush.readyz", sum(sum(c.values()) for c in probes.values()), "probes",
           "; ".join(f"{n} {dict(c)}" for n, c in probes.items()))  # fmt: skip
    record("redis_flush.gateway_503", sum(details.values()), "answers", str(dict(details))[:200])
    assert all(set(c) == {"200"} for c in probes.values()), probes
    assert all("being rewritten" in d for d in details), details
    flapped = {
        name: seen for name, seen in after_restart.items()
        if "200" in seen and any(code != "200" for code in seen[seen.index("200") :])
    }  # fmt: skip
    record("redis_restart.readyz_flaps", len(flapped), "services", str(restart_details)[:200])
    assert not flapped, flapped


def _watch(
    stack: ChaosStack, *, seconds: float, sequence: bool = False
) -> tuple[dict[str, Any], Counter[str]]:
    """Every service's ``/readyz`` answers (counts, or the sequence) and the 503 details of the
    image answer, every 0.1 s for ``seconds``."""
    seen: dict[str, Any] = {name: [] if sequence else Counter() for name in stack.services}
    details: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, service in stack.services.items():
            code = _probe(service.base_url + "/readyz")
            if sequence:
                seen[name].append(code)
            else:
                seen[name][code] += 1
        try:
            answer = stack.get(IMAGE_WITH_STATS)
        except httpx.HTTPError:
            continue
        if answer.status_code == 503:
            details[answer.json()["detail"][:60]] += 1
        time.sleep(0.1)
    return seen, details
