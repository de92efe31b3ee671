"""Scenario 2: Redis loses everything (FLUSHDB, then a restart without persistence).

Nothing is published meanwhile: the workers notice on their own that Redis no longer holds what
they wrote (``HORDE_ANALYTICS__VERIFY_INTERVAL_SECONDS``) and rewrite every view from the state
they rebuilt from Kafka. The gateway must serve the same generations again; the time to recovery
is measured from the loss to the moment every view answers as before.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
import redis

from devtools.devstack.broker import stop_process
from devtools.devstack.redis_server import start_redis_server
from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys
from tests.chaos.results import record
from tests.chaos.stack import PREFIX, ChaosStack, running_stack, wait_until
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

CATEGORIES = ("image_generation", "text_generation")
VIEWS = [
    f"{PREFIX}/{category}{suffix}"
    for category in CATEGORIES
    for suffix in ("", "/with-stats", "/deletion-risk", "/deletion-risk?group_text_models=true")
]


def generations(stack: ChaosStack) -> dict[str, str | None]:
    """The generation each view answers from now (``None``: not a 200)."""
    found: dict[str, str | None] = {}
    for view in VIEWS:
        try:
            answer = stack.http.get(stack.gateway + view)
        except httpx.HTTPError:
            found[view] = None
            continue
        found[view] = answer.headers.get("X-Generation") if answer.status_code == 200 else None
    return found


class StatusWatch(threading.Thread):
    """Counts the gateway's answers to one view while Redis is gone."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.statuses: dict[str, int] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.halt.is_set():
                try:
                    key = str(client.get(self.url).status_code)
                except httpx.HTTPError as error:
                    key = type(error).__name__
                self.statuses[key] = self.statuses.get(key, 0) + 1
                self.halt.wait(0.05)

    def stop(self) -> dict[str, int]:
        self.halt.set()
        self.join(timeout=10)
        return self.statuses


def pointers(stack: ChaosStack, url: str) -> dict[str, str | None]:
    """The generation of every category's pointer in Redis (``None``: missing or unreachable)."""
    try:
        client = redis.Redis.from_url(url, socket_timeout=2)
        found = {
            category: client.hget(RedisKeys(stack.key_prefix).current(ModelCategory(category)), "generation")
            for category in CATEGORIES
        }
        client.close()
    except redis.RedisError:
        return dict.fromkeys(CATEGORIES)
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in found.items()}


def recover(
    stack: ChaosStack, url: str, before: tuple[dict[str, str | None], dict[str, str | None]], what: str
) -> None:
    """Wait until Redis holds the same pointers and every view answers from them again."""
    wait_until(
        lambda: pointers(stack, url) == before[0] and generations(stack) == before[1],
        within=60, what=f"every view back after {what}", stack=stack,
    )  # fmt: skip


def test_views_rebuild_themselves_after_flushdb_and_a_redis_restart(
    kafka: KafkaInfo, unique: str, tmp_path: Path
) -> None:
    url, server = start_redis_server()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        with running_stack(tmp_path, kafka_env=kafka.env(), redis_url=url, unique=unique) as stack:
            views = wait_until(
                lambda: (found := generations(stack)) and all(found.values()) and found,
                within=60, what="every view", stack=stack,
            )  # fmt: skip
            before = (pointers(stack, url), views)
            assert all(before[0].values())

            watch = StatusWatch(stack.gateway + VIEWS[1])
            watch.start()
            lost_at = time.monotonic()
            redis.Redis.from_url(url).flushdb()
            recover(stack, url, before, "FLUSHDB")
            after_flush = time.monotonic() - lost_at
            flush_statuses = watch.stop()

            watch = StatusWatch(stack.gateway + VIEWS[1])
            watch.start()
            lost_at = time.monotonic()
            stop_process(server)
            url_again, server = start_redis_server(port)
            assert url_again == url
            recover(stack, url, before, "the Redis restart")
            after_restart = time.monotonic() - lost_at
            restart_statuses = watch.stop()

            assert not stack.crashed(), stack.crashed()
            assert not stack.not_ready(), stack.not_ready()
    finally:
        stop_process(server)

    record("redis.recovery_after_flushdb", after_flush, "s", f"gateway answers meanwhile {flush_statuses}")
    record(
        "redis.recovery_after_restart", after_restart, "s", f"gateway answers meanwhile {restart_statuses}"
    )
    server_errors = [
        f"{k} x{n}"
        for k, n in [*flush_statuses.items(), *restart_statuses.items()]
        if k.startswith("5") and k != "503"
    ]
    assert not server_errors, f"while Redis was empty or down the gateway answered {server_errors}"
