"""Session fixtures: a real Kafka-protocol broker and a real Redis for every integration test.

Sources, in order: ``KAFKA_BOOTSTRAP_SERVERS`` / ``REDIS_URL``; testcontainers when a Docker
engine answers; local processes on free loopback ports. Tests get unique topic prefixes, group
ids and Redis key prefixes, so they share the session's servers without seeing each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from devtools.devstack.broker import probe, start_tansu, stop_process
from devtools.devstack.redis_server import start_redis_server
from tests.support.kafka_broker import KafkaInfo, docker_available, external_kind


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaInfo]:
    """The session's broker (external, testcontainers or embedded)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        if not probe(external):
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={external} does not answer the Kafka protocol")
        yield KafkaInfo(external, external_kind(), managed=False)
        return
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as container:
            yield KafkaInfo(container.get_bootstrap_server(), "apache", managed=True)
        return
    address, process, log_path = start_tansu()
    try:
        yield KafkaInfo(address, "tansu", managed=True, process=process, log_path=log_path)
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The session's Redis URL (external, testcontainers or a local redis-server)."""
    external = os.environ.get("REDIS_URL")
    if external:
        yield external
        return
    if docker_available():
        from testcontainers.redis import RedisContainer

        with RedisContainer() as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    url, process = start_redis_server()
    try:
        yield url
    finally:
        stop_process(process)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the session's Redis for one test (a module may define its own ``redis``)."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic names, group ids and key prefixes."""
    return uuid.uuid4().hex[:10]


def pytest_report_header() -> list[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    kind = f"external {external_kind()} at {external}" if external else "embedded or testcontainers"
    return [f"kafka broker: {kind}", f"redis: {os.environ.get('REDIS_URL', 'local or testcontainers')}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``real_kafka`` tests unless the external broker is Apache Kafka."""
    external_apache = bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")) and external_kind() == "apache"
    if external_apache or docker_available():
        return
    skip = pytest.mark.skip(
        reason="needs Apache Kafka (KAFKA_BOOTSTRAP_SERVERS); the embedded broker lacks it"
    )
    for item in items:
        if "real_kafka" in item.keywords:
            item.add_marker(skip)
