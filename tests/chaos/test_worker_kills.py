"""Scenario 1: an analytics worker SIGKILLed during recompute, 20 times in a row.

Two replicas share the categories. Each round publishes a new stand-in frame (the marked model's
thread and worker counts change, and every third frame it loses its last worker, which flips a
risk flag), waits until the image recompute has most likely started, SIGKILLs one replica
(usually the owner of image generation), restarts it, and waits until the gateway shows the
round's frame. Meanwhile a reader hits with-stats and deletion-risk and checks that every answer
of one ``X-Generation`` agrees and that none is a 5xx. At the end no risk event id may appear
twice on the risk-change topic.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from shared.topics import RISK_CHANGED
from tests.chaos.results import record
from tests.chaos.stack import MARKED_MODEL, ChaosStack, ConsistencyReader, running_stack, workers_of_frame
from tests.support.analytics import read_topic
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]

ROUNDS = 20
SEED = 20240611


def image_owner(stack: ChaosStack) -> str | None:
    """The replica whose latest assignment holds image generation (from its own log)."""
    owners = []
    for name in stack.analytics():
        assignments = [
            line for line in stack.recent_log(name) if line.get("message") == "partitions assigned; replaying"
        ]
        if assignments and "image_generation" in assignments[-1].get("categories", []):
            owners.append(name)
    return owners[0] if len(owners) == 1 else None


def test_sigkilled_workers_lose_no_generation_and_duplicate_no_risk_event(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    env = kafka.env()
    # A restarted replica's JoinGroup waits for the killed member until this timeout: keep rounds short.
    env["HORDE_KAFKA__REBALANCE_TIMEOUT_MS"] = str(min(3000, int(env["HORDE_KAFKA__REBALANCE_TIMEOUT_MS"])))
    with running_stack(
        tmp_path,
        kafka_env=env,
        redis_url=redis_url,
        unique=unique,
        frames=ROUNDS + 1,
        replicas=2,
        wait_for_text=False,
    ) as stack:
        reader = ConsistencyReader(stack.gateway)
        reader.start()
        recoveries: list[float] = []
        owner_kills = 0
        try:
            for round_ in range(1, ROUNDS + 1):
                owner = image_owner(stack)
                replicas = stack.analytics()
                if owner is not None and rng.random() < 0.75:
                    victim = owner
                    owner_kills += 1
                else:
                    victim = rng.choice(replicas)
                stack.set_frame(round_)
                # The poller sees the frame within ~1 s and the owner recomputes right after.
                time.sleep(rng.uniform(0.4, 1.4))
                killed_at = time.monotonic()
                stack.kill(victim)
                stack.start(victim)
                stack.services[victim].wait_ready(timeout=60)
                stack.wait_for_frame(round_, within=60)
                recoveries.append(time.monotonic() - killed_at)
                assert not stack.crashed(), stack.crashed()
            # The gateway served the last frame; give the concurrent reader its next read of it.
            deadline = time.monotonic() + 10
            while ROUNDS not in reader.seen.frames_seen and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            seen = reader.stop()
        final = stack.get("/model_references/statistics/image_generation/with-stats").json()
        risk_topic = RISK_CHANGED.with_prefix(stack.topic_prefix).name
        # As our consumers read it: a killed worker's open transaction is aborted by its successor.
        records = asyncio.run(
            read_topic(
                kafka.bootstrap_servers,
                risk_topic,
                idle_seconds=3,
                within=60,
                committed=kafka.supports_transactions,
            )
        )

    record("worker_kills.rounds", ROUNDS, "SIGKILLs", f"{owner_kills} of them the image owner")
    record("worker_kills.recovery_mean", sum(recoveries) / len(recoveries), "s", "kill → frame at gateway")
    record("worker_kills.recovery_max", max(recoveries), "s")
    record("worker_kills.reader_requests", seen.requests, "requests", f"statuses {dict(seen.statuses)}")

    assert final[MARKED_MODEL]["thread_count"] == 100 + ROUNDS, "the final answer reflects the last frame"
    assert not seen.server_errors, seen.server_errors[:5]
    assert not seen.inconsistencies, seen.inconsistencies[:5]
    assert seen.frames_seen >= set(range(1, ROUNDS + 1)), "every round's frame was served"
    assert len(seen.with_stats) > ROUNDS, "the reader saw every generation"
    assert len(seen.risk) > ROUNDS

    ids = [headers["ce_id"] for _, _, headers in records]
    duplicates = {event_id: n for event_id, n in Counter(ids).items() if n > 1}
    record("worker_kills.risk_events", len(ids), "events", f"{len(duplicates)} duplicate ids")
    assert not duplicates, f"{len(duplicates)} duplicate risk event ids, e.g. {list(duplicates.items())[:5]}"
    image_sequences = [
        json.loads(value)["sequence"]
        for key, value, _ in records
        if value is not None and key is not None and key.startswith(b"image_generation/")
    ]
    # Per category the events are numbered 1, 2, 3 … across every kill: no gap, no repeat.
    assert image_sequences == list(range(1, len(image_sequences) + 1)), image_sequences[:50]
    changes = [
        json.loads(value)
        for key, value, _ in records
        if key == f"image_generation/{MARKED_MODEL}".encode() and value is not None
    ]
    has_workers = [change["current"]["has_workers"] for change in changes]
    # The marked model's "has workers" flips with the frames. A transition may be superseded (the
    # next frame arrives while it is being published), never repeated: the events alternate and
    # end on the last frame's state.
    assert all(a != b for a, b in itertools.pairwise(has_workers)), has_workers
    assert has_workers[-1] == (workers_of_frame(ROUNDS) > 0), has_workers
    record("worker_kills.marked_model_transitions", len(changes) - 1, "events")
