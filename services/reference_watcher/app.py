"""Composition root of the reference watcher: source, Kafka, ops endpoints, lifecycle.

Run one replica: the watcher is the single writer of the reference topic, and two replicas
would publish each change twice (harmless for consumers, which keep the latest state per
category, but noisy).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from faststream.kafka import KafkaBroker

from services.reference_watcher.publisher import PRODUCER, KafkaEventPublisher
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
from shared.kafka import ensure_topics, make_broker
from shared.runtime import ops_app, run_service
from shared.settings import ReferenceSettings, Settings
from shared.topics import REFERENCE_CHANGED, STYLES_CHANGED, TopicSpec


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


@asynccontextmanager
async def open_watcher(
    settings: Settings,
    source: ReferenceSource,
    broker: KafkaBroker,
    *,
    spec: TopicSpec = REFERENCE_CHANGED,
) -> AsyncIterator[ReferenceWatcher]:
    """Create the topic if allowed, rebuild the published state from it, connect the producer."""
    if settings.kafka.create_topics:
        await ensure_topics(settings.kafka, (spec,))
    state = await read_published_state(
        settings.kafka, spec, timeout_seconds=settings.reference.startup_timeout_seconds
    )
    async with broker:
        yield ReferenceWatcher(
            source,
            KafkaEventPublisher(broker, spec),
            settings.reference,
            partitions=state.partitions,
            published=state.snapshots,
            announce_absent=True,
        )


async def open_styles_watcher(
    settings: Settings, source: StylesSource, broker: KafkaBroker, *, spec: TopicSpec
) -> StylesWatcher:
    """Create the styles topic if allowed and read back the styles last published (broker open)."""
    if settings.kafka.create_topics:
        await ensure_topics(settings.kafka, (spec,))
    partitions, published = await read_published_styles(
        settings.kafka, spec, timeout_seconds=settings.reference.startup_timeout_seconds
    )
    return StylesWatcher(
        source,
        KafkaStylesPublisher(broker, spec),
        settings.reference,
        partitions=partitions,
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
    """Run until SIGTERM; ``/readyz`` is ready once the state is rebuilt and Kafka answers."""
    spec = spec or REFERENCE_CHANGED.with_prefix(settings.kafka.topic_prefix)
    broker = make_broker(settings.kafka, client_id=PRODUCER)
    started = False

    async def kafka_ready() -> bool:
        return started and await broker.ping(timeout=1.0)

    async with http_client(settings) as client:
        source = build_source(settings.reference, client)

        async def main(stop: asyncio.Event) -> None:
            nonlocal started
            async with open_watcher(settings, source, broker, spec=spec) as watcher:
                runs = [watcher.run(stop)]
                styles_source = build_styles_source(settings.reference, client)
                if styles_source is not None:
                    styles_spec = STYLES_CHANGED.with_prefix(settings.kafka.topic_prefix)
                    styles = await open_styles_watcher(settings, styles_source, broker, spec=styles_spec)
                    runs.append(styles.run(stop))
                started = True
                await asyncio.gather(*runs)

        return await run_service(
            PRODUCER,
            ops_app({"kafka": kafka_ready}),
            host=settings.http_host,
            port=settings.http_port,
            ops_port=settings.ops_port,
            api=False,
            main=main,
        )
