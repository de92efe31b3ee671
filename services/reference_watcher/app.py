"""Composition root of the reference watcher: source, Kafka, ops endpoints, lifecycle.

The watcher is the single writer of the reference topic. Two replicas can run with leader
election (``HORDE_LEADER__ENABLED``, the default): only the lease holder polls and publishes
(fenced), and each leadership term rebuilds the published state from the topic first, so a
standby that takes over continues from what the previous leader published.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from faststream.kafka import KafkaBroker

from services.reference_watcher.publisher import PRODUCER, KafkaEventPublisher, KafkaHealthPublisher
from services.reference_watcher.sources import (
    FolderSource,
    GithubSource,
    HttpPolicy,
    ReferenceSource,
    V2ApiSource,
)
from services.reference_watcher.state import read_published_state
from services.reference_watcher.styles import (
    KafkaStylesPublisher,
    StylesSource,
    StylesWatcher,
    build_styles_source,
    read_published_styles,
)
from services.reference_watcher.watcher import ReferenceWatcher
from shared.kafka import LivePartitionCount, ensure_topics, make_broker
from shared.leader import LeaderLease, lead, lease_headers
from shared.redis_keys import RedisKeys
from shared.runtime import ReadinessCheck, ops_app, run_service
from shared.settings import ReferenceSettings, Settings
from shared.store.connection import open_redis
from shared.topics import REFERENCE_CHANGED, REFERENCE_SOURCE_HEALTH, STYLES_CHANGED, TopicSpec


def build_source(settings: ReferenceSettings, client: httpx.AsyncClient) -> ReferenceSource:
    """The configured source; HTTP sources share the process's one client."""
    policy = HttpPolicy(attempts=settings.max_attempts)
    if settings.source == "folder":
        return FolderSource(Path(settings.folder), settings.folder_layout)
    if settings.source == "github":
        return GithubSource(
            client,
            image_base_url=settings.github_image_base_url,
            text_base_url=settings.github_text_base_url,
            categories=settings.categories,
            policy=policy,
        )
    return V2ApiSource(
        client,
        base_url=settings.v2_api_base_url,
        categories=settings.categories,
        use_last_updated=settings.v2_use_last_updated,
        policy=policy,
    )


async def rebuild_watcher(
    settings: Settings,
    source: ReferenceSource,
    broker: KafkaBroker,
    *,
    spec: TopicSpec = REFERENCE_CHANGED,
    fence: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    health_spec: TopicSpec | None = None,
    partitions: LivePartitionCount | None = None,
) -> ReferenceWatcher:
    """Create the topics if allowed and rebuild the published state from the reference topic (the
    broker publishes). Poll outcomes go to ``health_spec`` (default: the deployment's
    ``reference.source-health`` topic), fenced like the changes. ``partitions``, when given, is
    the live count the process follows (it starts from the count the rebuild read)."""
    health_spec = health_spec or REFERENCE_SOURCE_HEALTH.with_prefix(settings.kafka.topic_prefix)
    if settings.kafka.create_topics:
        await ensure_topics(settings.kafka, (spec, health_spec))
    state = await read_published_state(
        settings.kafka, spec, timeout_seconds=settings.reference.startup_timeout_seconds
    )
    if partitions is not None:
        partitions.value = state.partitions
    return ReferenceWatcher(
        source,
        KafkaEventPublisher(broker, spec, fence),
        settings.reference,
        partitions=partitions if partitions is not None else state.partitions,
        published=state.snapshots,
        announce_absent=True,
        health=KafkaHealthPublisher(broker, health_spec, fence),
    )


@asynccontextmanager
async def open_watcher(
    settings: Settings,
    source: ReferenceSource,
    broker: KafkaBroker,
    *,
    spec: TopicSpec = REFERENCE_CHANGED,
    health_spec: TopicSpec | None = None,
    partitions: LivePartitionCount | None = None,
) -> AsyncIterator[ReferenceWatcher]:
    """Create the topics if allowed, rebuild the published state, connect the producer."""
    watcher = await rebuild_watcher(
        settings, source, broker, spec=spec, health_spec=health_spec, partitions=partitions
    )
    async with broker:
        yield watcher


async def open_styles_watcher(
    settings: Settings,
    source: StylesSource,
    broker: KafkaBroker,
    *,
    spec: TopicSpec,
    fence: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    partitions: LivePartitionCount | None = None,
) -> StylesWatcher:
    """Create the styles topic if allowed and read back the styles last published (broker open)."""
    if settings.kafka.create_topics:
        await ensure_topics(settings.kafka, (spec,))
    count, published = await read_published_styles(
        settings.kafka, spec, timeout_seconds=settings.reference.startup_timeout_seconds
    )
    return StylesWatcher(
        source,
        KafkaStylesPublisher(broker, spec, fence),
        settings.reference,
        partitions=partitions if partitions is not None else count,
        published=published,
    )


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The one HTTP client of the process (connection reuse, one timeout policy)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.reference.http_timeout_seconds),
        headers={"User-Agent": f"{settings.horde_api.client_name}/{PRODUCER}"},
        follow_redirects=True,
    )


async def serve(settings: Settings, *, spec: TopicSpec | None = None) -> int:
    """Run until SIGTERM; ``/readyz`` is ready once Kafka answers and, without leader election,
    the state is rebuilt (a standby is ready too: it is healthy, it only does not publish)."""
    spec = spec or REFERENCE_CHANGED.with_prefix(settings.kafka.topic_prefix)
    broker = make_broker(settings.kafka, client_id=PRODUCER)
    redis = open_redis(settings.redis)
    lease = (
        LeaderLease(redis, RedisKeys(settings.redis.key_prefix), PRODUCER, settings.leader)
        if settings.leader.enabled
        else None
    )
    started = False
    # Follows the broker: after the partitions grow, changes go to their new partitions.
    partitions = LivePartitionCount(settings.kafka, spec.name)

    async def kafka_ready() -> bool:
        return started and await broker.ping(timeout=1.0)

    async def redis_ready() -> bool:
        return bool(await redis.ping())

    async with http_client(settings) as client:
        source = build_source(settings.reference, client)

        styles_source = build_styles_source(settings.reference, client)
        styles_spec = STYLES_CHANGED.with_prefix(settings.kafka.topic_prefix)

        async def styles_runs(
            until: asyncio.Event, fence: Callable[[], Awaitable[Mapping[str, str]]] | None = None
        ) -> list[Coroutine[Any, Any, None]]:
            """The styles watcher's run, when a styles source is configured."""
            if styles_source is None:
                return []
            styles = await open_styles_watcher(
                settings, styles_source, broker, spec=styles_spec, fence=fence, partitions=partitions
            )
            return [styles.run(until)]

        async def term(term_stop: asyncio.Event) -> None:
            assert lease is not None
            fence = lambda: lease_headers(lease)  # noqa: E731
            watcher = await rebuild_watcher(
                settings, source, broker, spec=spec, fence=fence, partitions=partitions
            )
            await asyncio.gather(
                watcher.run(term_stop), partitions.follow(term_stop), *await styles_runs(term_stop, fence)
            )

        async def main(stop: asyncio.Event) -> None:
            nonlocal started
            if lease is None:
                opened = open_watcher(settings, source, broker, spec=spec, partitions=partitions)
                async with opened as watcher:
                    started = True
                    await asyncio.gather(watcher.run(stop), partitions.follow(stop), *await styles_runs(stop))
                return
            async with broker:
                started = True
                await lead(lease, stop, term)

        checks: dict[str, ReadinessCheck] = {"kafka": kafka_ready}
        if lease is not None:
            checks["redis"] = redis_ready
        try:
            return await run_service(
                PRODUCER,
                ops_app(checks),
                host=settings.http_host,
                port=settings.http_port,
                ops_port=settings.ops_port,
                api=False,
                main=main,
            )
        finally:
            await redis.aclose()
