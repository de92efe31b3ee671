"""Growing the partitions of a running stack (issue 15): every category stays served and updated.

Stand-in → poller → Kafka → analytics → Redis → gateway run as processes at the production
``HORDE_KAFKA__PARTITION_REFRESH_SECONDS``. The test grows every topic from 4 to 8 partitions, which
moves text_generation (partition 2 → 4) and most light categories; the producers and the consumer
group follow the broker, ``python -m shared.repartition`` copies the current state to the new
partitions, and the next Horde change reaches the gateway from the new partitions.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

from devtools.devstack.processes import STACK_SERVICES, start_services, start_standin, stop_services
from shared.domain.categories import ModelCategory
from shared.settings import KafkaSettings
from shared.topics import ALL_TOPICS, partition_for
from tests.e2e.conftest import RunningStack
from tests.support.events import DATA, SYNTHETIC
from tests.support.kafka_broker import KafkaInfo
from tests.support.stack_files import stack_env

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(420)]

STATS = "/model_references/statistics"
BEFORE, AFTER = 4, 8
#: Categories the legacy reference files fill (the others are published empty: 404, D17).
OFFERED = 10


def frames_with_image_and_text_change(root: Path) -> Path:
    """Frame 0: the synthetic snapshot. Frame 1: every image and text model on more threads."""
    frames = root / "frames"
    first, second = frames / "0", frames / "1"
    shutil.copytree(SYNTHETIC, first)
    shutil.copytree(SYNTHETIC, second)
    for name in ("status_models_image.json", "status_models_text.json"):
        status = json.loads((second / name).read_text())
        for entry in status:
            entry["count"] += 5
        (second / name).write_text(json.dumps(status))
    return frames


def whole_reference(root: Path) -> Path:
    """Every legacy reference file, in the watcher's folder layout."""
    folder = root / "reference"
    shutil.copytree(DATA / "reference/image", folder / "image")
    shutil.copytree(DATA / "reference/text", folder / "text")
    return folder


@pytest.fixture
def growing_stack(kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path) -> Iterator[RunningStack]:
    if kafka.kind != "apache":  # CI runs the suite on Apache Kafka (.ci/run)
        pytest.skip(f"the {kafka.kind} broker cannot add partitions (no CreatePartitions API)")
    frames = frames_with_image_and_text_change(tmp_path)
    args = ["--data-dir", str(frames), "--reference-dir", str(DATA / "reference"), "--rate-limit", "100000"]
    standin = start_standin(args, tmp_path / "standin.log")
    try:
        env = stack_env(
            kafka_env=kafka.env(),
            redis_url=redis_url,
            prefix=f"grow{unique}",
            standin=standin.base_url,
            reference=whole_reference(tmp_path),
            workers_every=3,
            stats_every=3,
            reference_poll_every=2,
        )
        env["HORDE_KAFKA__TOPIC_PARTITIONS"] = str(BEFORE)
        services = start_services(STACK_SERVICES, env, tmp_path, ready_within=60)
        try:
            stack = RunningStack(services, standin, frames, f"grow{unique}.", redis_url, f"grow{unique}")
            stack.env = env  # type: ignore[attr-defined]
            yield stack
        finally:
            stop_services(services)
    finally:
        standin.stop()


def wait_for(fetch: Any, predicate: Any, *, within: float, what: str, stack: RunningStack) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fetch()
        except httpx.HTTPError as error:
            last = error
        else:
            if predicate(last):
                return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {str(last)[:1500]}\n{stack.logs()}")


def served(stack: RunningStack) -> dict[str, tuple[int, str | None]]:
    """Status code and reference version of every category's statistics."""
    answers = {}
    for category in ModelCategory:
        response = httpx.get(f"{stack.gateway}{STATS}/{category.value}", timeout=5)
        answers[category.value] = (response.status_code, response.headers.get("X-Reference-Version"))
    return answers


def with_stats(stack: RunningStack, category: ModelCategory) -> dict[str, Any]:
    response = httpx.get(f"{stack.gateway}{STATS}/{category.value}/with-stats", timeout=5)
    return response.json() if response.status_code == 200 else {}


def threads(body: dict[str, Any]) -> dict[str, int]:
    return {name: entry.get("thread_count") or 0 for name, entry in body.items()}


async def grow(kafka: KafkaInfo, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_partitions(
            {spec.with_prefix(prefix).name: NewPartitions(AFTER) for spec in ALL_TOPICS}
        )
    finally:
        await admin.close()


def logged(stack: RunningStack, name: str, text: str) -> bool:
    return text in stack.services[name].log_text()


def test_growing_the_partitions_keeps_every_category_served_and_updated(
    growing_stack: RunningStack, kafka: KafkaInfo
) -> None:
    stack = growing_stack
    image, text = ModelCategory.IMAGE_GENERATION, ModelCategory.TEXT_GENERATION
    assert partition_for(text, BEFORE) != partition_for(text, AFTER)
    moved = [c for c in ModelCategory if partition_for(c, BEFORE) != partition_for(c, AFTER)]
    assert len(moved) > 5
    first_image = wait_for(
        lambda: with_stats(stack, image), bool, within=120, what="image views", stack=stack
    )
    first_text = wait_for(lambda: with_stats(stack, text), bool, within=120, what="text views", stack=stack)
    # Every category the reference files fill is answered; the others 404 (D17).
    before = wait_for(
        lambda: served(stack),
        lambda a: (
            all(code in (200, 404) for code, _ in a.values())
            and sum(code == 200 for code, _ in a.values()) >= OFFERED
        ),
        within=90,
        what="every offered category answered",
        stack=stack,
    )

    asyncio.run(grow(kafka, stack.topic_prefix))
    for name in ("poller", "reference-watcher", "analytics"):
        wait_for(
            lambda name=name: logged(stack, name, "partition count changed"),
            bool,
            within=150,
            what=f"{name} to follow the new partition count",
            stack=stack,
        )
    env = os.environ | stack.env  # type: ignore[attr-defined]
    done = subprocess.run(
        [sys.executable, "-m", "shared.repartition"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    reference_topic = f"{stack.topic_prefix}reference.category.changed.v1"
    assert report["moved"][reference_topic] >= len([c for c in moved if before[c.value][0] == 200])

    # Still served, with the same reference, after the worker replayed the new partitions.
    wait_for(
        lambda: {c: (before[c], a) for c, a in served(stack).items() if a != before[c]},
        lambda changed: not changed,
        within=60,
        what="the same answers",
        stack=stack,
    )
    assert threads(with_stats(stack, image)) == threads(first_image)

    httpx.post(stack.standin.base_url + "/_control/advance", timeout=5).raise_for_status()
    for category, first in ((image, first_image), (text, first_text)):
        wait_for(
            lambda category=category: threads(with_stats(stack, category)),
            lambda now, first=first: now and now != threads(first),
            within=90,
            what=f"the new {category.value} snapshot at the gateway",
            stack=stack,
        )
    assert served(stack) == before
    assert KafkaSettings().partition_refresh_seconds == 30  # the production value ran here
