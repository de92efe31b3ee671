"""Two poller (and two watcher) processes behind one Redis lease: one acts, the other takes over.

Real processes against the session's broker and Redis and the AI Horde stand-in. Each poller
sends its own ``Client-Agent`` contact, so the stand-in's request log says who polled. Takeover
times are printed as ``LEADER:`` lines; the bounds asserted are the lease plus a generous margin
for a loaded machine, and one test runs at the production lease values (10 s / 3 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from devtools.devstack.ports import free_port
from devtools.devstack.processes import ServiceProcess, start_standin
from shared.domain.categories import ModelCategory
from shared.kafka import drain_to_end, topic_partitions
from shared.leader import TOKEN_HEADER
from shared.redis_keys import RedisKeys
from shared.settings import KafkaSettings, LeaderSettings
from shared.topics import HORDE_SOURCE_HEALTH, REFERENCE_CHANGED
from tests.support.events import DATA, SYNTHETIC
from tests.support.kafka_broker import KafkaInfo
from tests.support.stack_files import reference_folder

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

#: Slack on top of lease + renew interval for a takeover on a busy two-core machine.
MARGIN_SECONDS = 15.0
SHORT = {"HORDE_LEADER__LEASE_SECONDS": "2", "HORDE_LEADER__RENEW_INTERVAL_SECONDS": "0.5"}


def wait_until(predicate: Any, *, within: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")


def leading(service: ServiceProcess, name: str) -> bool:
    """The replica's own ``hma_leader{service}`` gauge."""
    try:
        text = httpx.get(service.base_url + "/metrics", timeout=2).text
    except httpx.HTTPError:
        return False
    return f'hma_leader{{service="{name}"}} 1.0' in text


def lease_value(redis_url: str, prefix: str, name: str) -> tuple[int, int] | None:
    """(pid, token) of the current lease holder, from Redis."""
    with redis.Redis.from_url(redis_url) as client:
        raw = client.get(RedisKeys(prefix).leader_lease(name))
    if raw is None:
        return None
    holder, token = raw.decode().rsplit("|", 1)
    return int(holder.split(":")[1]), int(token)


def requests_by(standin: ServiceProcess) -> list[tuple[float, str]]:
    """(time, contact) of every AI Horde request the stand-in received."""
    body = httpx.get(standin.base_url + "/_control/requests", timeout=5).json()
    return [(r["time"], (r["client_agent"] or "").rsplit(":", 1)[-1]) for r in body["requests"]]


async def _records(bootstrap: str, topic: str) -> list[Any]:
    numbers = await topic_partitions(KafkaSettings(bootstrap_servers=bootstrap), topic)
    partitions = [TopicPartition(topic, p) for p in numbers]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        async with asyncio.timeout(30):
            await drain_to_end(consumer, partitions, ends, records.append)
        return records
    finally:
        await consumer.stop()


def records(kafka: KafkaInfo, topic: str) -> list[Any]:
    return asyncio.run(_records(kafka.bootstrap_servers, topic))


def token_of(record: Any) -> int | None:
    value = dict(record.headers or ()).get(TOKEN_HEADER)
    return int(value) if value is not None else None


def cont(process: ServiceProcess) -> None:
    if process.process is not None and process.process.poll() is None:
        os.kill(process.process.pid, signal.SIGCONT)


class Pair:
    """Two replicas of one service, started together; stopped (and resumed if paused) at the end."""

    def __init__(self, name: str, module: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.replicas = [
            ServiceProcess(
                f"{name}-{letter}",
                module,
                free_port(),
                env | {"HORDE_HORDE_API__CONTACT": f"{letter}@example.org"},
                log_path=log_dir / f"{name}-{letter}.log",
            )
            for letter in "ab"
        ]

    def __enter__(self) -> Pair:
        for replica in self.replicas:
            replica.start()
        try:
            for replica in self.replicas:
                replica.wait_ready(timeout=60)  # a standby is ready too
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        for replica in self.replicas:
            cont(replica)
            replica.stop(timeout=20)

    def leader(self) -> tuple[ServiceProcess, ServiceProcess]:
        """(leader, standby) once exactly one replica says it leads."""

        def one() -> list[ServiceProcess]:
            found = [r for r in self.replicas if leading(r, self.name)]
            return found if len(found) == 1 else []

        found = wait_until(one, within=60, what=f"exactly one {self.name} leader")[0]
        return found, next(r for r in self.replicas if r is not found)

    def logs(self) -> str:
        return "\n".join(f"--- {r.name}\n{r.log_text()[-3000:]}" for r in self.replicas)


def contact(replica: ServiceProcess) -> str:
    return replica.env["HORDE_HORDE_API__CONTACT"]


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[ServiceProcess]:
    args = [
        "--data-dir",
        str(SYNTHETIC),
        "--reference-dir",
        str(DATA / "reference"),
        "--rate-limit",
        "100000",
    ]
    process = start_standin(args, tmp_path / "standin.log")
    try:
        yield process
    finally:
        process.stop()


def poller_env(kafka: KafkaInfo, redis_url: str, prefix: str, standin: ServiceProcess) -> dict[str, str]:
    return kafka.env() | {
        "HORDE_KAFKA__TOPIC_PREFIX": f"{prefix}.",
        "HORDE_REDIS__URL": redis_url,
        "HORDE_REDIS__KEY_PREFIX": prefix,
        "HORDE_LOG_JSON": "true",
        "HORDE_HORDE_API__BASE_URL": standin.base_url + "/api",
        "HORDE_HORDE_API__MODEL_TYPES": '["image"]',
        "HORDE_HORDE_API__STATUS_INTERVAL_SECONDS": "1",
        "HORDE_HORDE_API__WORKERS_INTERVAL_SECONDS": "5",
        "HORDE_HORDE_API__STATS_INTERVAL_SECONDS": "30",
        "HORDE_HORDE_API__MAX_REQUESTS_PER_MINUTE": "600",
    }


def assert_one_poller_then_takeover(pair: Pair, standin: ServiceProcess, lease: LeaderSettings) -> None:
    """Only the leader polls; after kill -9 the standby polls within lease + renew + margin."""
    leader, standby = pair.leader()
    wait_until(lambda: len(requests_by(standin)) >= 5, within=60, what="the leader to poll")
    assert {who for _, who in requests_by(standin)} == {contact(leader)}, "both replicas polled"

    assert leader.process is not None
    killed_at = time.time()
    leader.process.kill()
    leader.process.wait(timeout=10)

    def standby_polled() -> float | None:
        times = [t for t, who in requests_by(standin) if who == contact(standby)]
        return min(times) if times else None

    bound = lease.lease_seconds + lease.renew_interval_seconds + MARGIN_SECONDS
    first = wait_until(standby_polled, within=bound + 30, what="the standby to take over", interval=0.1)
    takeover = first - killed_at
    print(f"LEADER: poller takeover {takeover:.2f} s after kill -9 (lease {lease.lease_seconds:g} s)")
    assert takeover <= bound, pair.logs()
    assert leading(standby, "poller")
    wait_until(
        lambda: sum(1 for t, who in requests_by(standin) if who == contact(standby) and t > first) >= 3,
        within=30,
        what="polling to continue",
    )


@pytest.mark.parametrize(
    ("env", "lease"),
    [
        pytest.param(SHORT, LeaderSettings(lease_seconds=2, renew_interval_seconds=0.5), id="short-lease"),
        pytest.param({}, LeaderSettings(), id="production-lease"),
    ],
)
def test_two_pollers_one_polls_and_the_standby_takes_over_after_kill(
    kafka: KafkaInfo,
    redis_url: str,
    unique: str,
    tmp_path: Path,
    standin: ServiceProcess,
    env: dict[str, str],
    lease: LeaderSettings,
) -> None:
    """Exactly one poller sends requests; kill -9 it and the other continues within the lease.

    The production case sets no lease variables at all, so it runs the shipped defaults."""
    if not env:
        assert (lease.lease_seconds, lease.renew_interval_seconds) == (10.0, 3.0)
    prefix = f"le{unique}"
    with Pair(
        "poller", "services.poller", poller_env(kafka, redis_url, prefix, standin) | env, tmp_path
    ) as pair:
        assert_one_poller_then_takeover(pair, standin, lease)


def test_paused_poller_leader_is_fenced_when_it_resumes(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path, standin: ServiceProcess
) -> None:
    """SIGSTOP the leader until the standby has taken over, then SIGCONT it: the old leader
    sends no request and publishes no record after it resumes, and the new one keeps polling."""
    prefix = f"lf{unique}"
    health = HORDE_SOURCE_HEALTH.with_prefix(f"{prefix}.").name
    with Pair(
        "poller", "services.poller", poller_env(kafka, redis_url, prefix, standin) | SHORT, tmp_path
    ) as pair:
        old, new = pair.leader()
        assert old.process is not None
        wait_until(lambda: len(requests_by(standin)) >= 3, within=60, what="the leader to poll")
        held = lease_value(redis_url, prefix, "poller")
        assert held is not None
        assert held[0] == old.process.pid
        old_token = held[1]

        os.kill(old.process.pid, signal.SIGSTOP)
        wait_until(lambda: leading(new, "poller"), within=60, what="the standby to take over")
        new_token = wait_until(lambda: lease_value(redis_url, prefix, "poller"), within=10, what="new lease")[
            1
        ]
        assert new_token > old_token
        resumed_at = time.time()
        os.kill(old.process.pid, signal.SIGCONT)

        wait_until(
            lambda: "no longer leading" in old.log_text(), within=30, what="the old leader to step down"
        )
        wait_until(
            lambda: sum(1 for t, who in requests_by(standin) if who == contact(new) and t > resumed_at) >= 5,
            within=30,
            what="the new leader to keep polling",
        )
        assert not leading(old, "poller")
        assert leading(new, "poller")
        late = [t for t, who in requests_by(standin) if who == contact(old) and t >= resumed_at]
        assert late == [], f"the resumed old leader polled: {late}\n{pair.logs()}"
        published = records(kafka, health)
        stale = [r for r in published if token_of(r) == old_token and r.timestamp >= resumed_at * 1000]
        assert stale == [], "the resumed old leader published"
        assert {token_of(r) for r in published} <= {old_token, new_token}
        assert any(token_of(r) == new_token for r in published)


def test_two_watchers_one_publishes_and_the_standby_takes_over_after_kill(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path
) -> None:
    """Only the leading watcher publishes (one record per category); after kill -9 the standby
    rebuilds the published state from the topic (re-publishes nothing) and publishes the next
    change with a larger fencing token."""
    prefix = f"lw{unique}"
    topic = REFERENCE_CHANGED.with_prefix(f"{prefix}.").name
    folder = reference_folder(tmp_path, with_clip=False)
    env = (
        kafka.env()
        | SHORT
        | {
            "HORDE_KAFKA__TOPIC_PREFIX": f"{prefix}.",
            "HORDE_REDIS__URL": redis_url,
            "HORDE_REDIS__KEY_PREFIX": prefix,
            "HORDE_REFERENCE__SOURCE": "folder",
            "HORDE_REFERENCE__FOLDER": str(folder),
            "HORDE_REFERENCE__POLL_INTERVAL_SECONDS": "1",
        }
    )

    def categories() -> list[str]:
        return sorted(json.loads(r.value)["category"] for r in records(kafka, topic))

    with Pair("reference-watcher", "services.reference_watcher", env, tmp_path) as pair:
        leader, standby = pair.leader()
        every = sorted(c.value for c in ModelCategory)
        wait_until(lambda: len(categories()) >= len(every), within=60, what="the first reference events")
        time.sleep(3)  # several polls of both replicas: still one record per category
        # image and text from the folder; every other category once, as empty (D17)
        assert categories() == every, pair.logs()
        held = lease_value(redis_url, prefix, "reference-watcher")
        assert held is not None
        assert leader.process is not None
        assert held[0] == leader.process.pid

        killed_at = time.time()
        leader.process.kill()
        leader.process.wait(timeout=10)
        shutil.copy(DATA / "reference/image/clip.json", folder / "image/clip.json")
        wait_until(
            lambda: categories().count("clip") == 2, within=60, what="the standby to publish the change"
        )
        print(f"LEADER: watcher published the next change {time.time() - killed_at:.2f} s after kill -9")
        published = records(kafka, topic)
        assert sorted(json.loads(r.value)["category"] for r in published) == sorted([*every, "clip"])
        clip = [r for r in published if json.loads(r.value)["category"] == "clip"][-1]
        clip_token = token_of(clip)
        assert clip_token is not None
        assert clip_token > held[1]
        assert leading(standby, "reference-watcher")
