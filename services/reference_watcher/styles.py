"""The AI Horde styles as a watched source: fetch both files, validate, publish on change.

Same rules as the reference: the files are read from a local folder (offline) or from GitHub's
raw URLs with ``If-None-Match`` (a 304 reuses the remembered bytes); a pair of files that does not
parse is rejected with an error naming the file and the place, counted
``hma_reference_rejected_total{category="styles",reason="invalid_payload"}``, and the previously
published styles stay in force. The version is the content hash of the parsed styles, and the
last published one is read back from the compacted topic at start, so a restart publishes nothing
when nothing changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, SupportsIndex

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from pydantic import ValidationError

from services.reference_watcher.publisher import FencedPublisher
from services.reference_watcher.sources import HttpPolicy, get_with_retries
from shared.domain.categories import ModelCategory
from shared.domain.impact.styles import StyleCatalog, StylesFormatError, parse_styles
from shared.events.styles import STYLES_KEY, StylesChanged
from shared.kafka import (
    consumer_options,
    content_hash,
    drain_to_end,
    kafka_client_options,
    topic_partitions,
)
from shared.metrics import REFERENCE_REJECTED
from shared.settings import KafkaSettings, ReferenceSettings
from shared.topics import TopicSpec, partition_for

log = logging.getLogger(__name__)

FILES = ("styles.json", "categories.json")


@dataclass(frozen=True, slots=True)
class StylesFetched:
    """Both files' bytes, and where they came from."""

    styles: bytes
    categories: bytes
    origin: str


class StylesSource(Protocol):
    name: str

    async def fetch(self) -> StylesFetched:
        """Both files now; raises on any failure (the previous styles stay in force)."""
        ...


class FolderStylesSource:
    """``styles.json`` and ``categories.json`` of a local folder."""

    name = "folder"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def fetch(self) -> StylesFetched:
        styles, categories = await asyncio.to_thread(lambda: [(self.folder / f).read_bytes() for f in FILES])
        return StylesFetched(styles, categories, str(self.folder))


class GithubStylesSource:
    """The files of Haidra-Org/AI-Horde-Styles on raw.githubusercontent.com, with ETags."""

    name = "github"

    def __init__(self, client: httpx.AsyncClient, base_url: str, policy: HttpPolicy | None = None) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.policy = policy or HttpPolicy()
        self._cache: dict[str, tuple[str, bytes]] = {}

    async def _get(self, url: str) -> bytes:
        cached = self._cache.get(url)
        headers = {"If-None-Match": cached[0]} if cached else None
        response = await get_with_retries(self.client, url, self.policy, headers)
        if response.status_code == 304 and cached is not None:
            return cached[1]
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code} from {url}")
        etag = response.headers.get("ETag")
        if etag:
            self._cache[url] = (etag, response.content)
        return response.content

    async def fetch(self) -> StylesFetched:
        styles, categories = [await self._get(f"{self.base_url}/{f}") for f in FILES]
        return StylesFetched(styles, categories, self.base_url)


def styles_version(catalog: StyleCatalog) -> str:
    """Content hash of the parsed styles: equal styles, equal versions."""
    return "sha256:" + content_hash(catalog.model_dump(mode="json"))


class StylesPublisher(Protocol):
    async def publish(self, event: StylesChanged, *, partition: int) -> None: ...


class KafkaStylesPublisher(FencedPublisher):
    """One record per styles change, key ``styles``, on the image generation partition."""

    async def publish(self, event: StylesChanged, *, partition: int) -> None:
        await self.send(
            event, key=STYLES_KEY, partition=partition, event_id=f"{STYLES_KEY}:{event.version}",
            time=event.detected_at, subject=STYLES_KEY,
        )  # fmt: skip


class StylesWatcher:
    """Polls the styles source and publishes each new version once."""

    def __init__(
        self,
        source: StylesSource,
        publisher: StylesPublisher,
        settings: ReferenceSettings,
        *,
        partitions: SupportsIndex,
        published: StylesChanged | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self.publisher = publisher
        self.settings = settings
        self.partitions = partitions
        #: The styles last published (the topic's latest record).
        self.published = published
        self._clock = clock
        self._handled: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:
                log.exception("styles poll failed", extra={"source": self.source.name})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.poll_interval_seconds)

    async def poll_once(self) -> StylesChanged | None:
        """Fetch, validate and publish if changed; returns the event published, if any."""
        try:
            fetched = await self.source.fetch()
        except Exception as exc:
            log.error(
                "styles fetch failed; keeping the previous styles",
                extra={"source": self.source.name, "error": f"{type(exc).__name__}: {exc}"},
            )
            return None
        digest = hashlib.sha256(fetched.styles + b"\x00" + fetched.categories).hexdigest()
        if digest == self._handled:
            return None
        try:
            catalog = parse_styles(fetched.styles, fetched.categories)
        except StylesFormatError as exc:
            self._handled = digest
            REFERENCE_REJECTED.labels("styles", "invalid_payload").inc()
            log.error(
                "styles rejected; keeping the previous styles",
                extra={"source": self.source.name, "origin": fetched.origin, "error": str(exc)},
            )
            return None
        version = styles_version(catalog)
        if self.published is not None and self.published.version == version:
            self._handled = digest
            return None
        event = StylesChanged(
            version=version,
            previous_version=self.published.version if self.published else None,
            source=f"{self.source.name}:{fetched.origin}",
            detected_at=self._clock(),
            styles=catalog.styles,
            categories=catalog.categories,
        )
        await self.publisher.publish(
            event, partition=partition_for(ModelCategory.IMAGE_GENERATION, self.partitions)
        )
        self.published, self._handled = event, digest
        log.info("styles published", extra={"version": version, "styles": len(catalog.styles)})
        return event


async def read_published_styles(
    settings: KafkaSettings, spec: TopicSpec, *, timeout_seconds: float
) -> tuple[int, StylesChanged | None]:
    """The topic's partition count and its latest styles event (None when empty)."""
    partitions = await topic_partitions(settings, spec.name)
    if not partitions:
        raise RuntimeError(f"topic {spec.name} does not exist; create it or enable kafka.create_topics")
    options = consumer_options(settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=options["max_partition_fetch_bytes"],
        fetch_max_bytes=options["fetch_max_bytes"], request_timeout_ms=30_000,
        **kafka_client_options(settings),
    )  # fmt: skip
    latest: list[StylesChanged | None] = [None]

    def apply(value: bytes | None) -> None:
        if value is None:
            latest[0] = None
            return
        try:
            latest[0] = StylesChanged.model_validate_json(value)
        except ValidationError as exc:
            log.warning("unreadable record on the styles topic; skipped", extra={"error": str(exc)})

    async def read() -> None:
        tps = [TopicPartition(spec.name, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        await drain_to_end(consumer, tps, ends, lambda record: apply(record.value), fetch_timeout_ms=1000)

    await consumer.start()
    try:
        await asyncio.wait_for(read(), timeout_seconds)
    finally:
        await consumer.stop()
    return len(partitions), latest[0]


def build_styles_source(settings: ReferenceSettings, client: httpx.AsyncClient) -> StylesSource | None:
    """The configured styles source (None when ``styles_source`` is ``off``)."""
    choice = settings.styles_source
    if choice == "auto":
        choice = "folder" if settings.source == "folder" else "github"
    if choice == "off":
        return None
    if choice == "folder":
        return FolderStylesSource(Path(settings.styles_folder))
    return GithubStylesSource(
        client, settings.styles_github_base_url, HttpPolicy(attempts=settings.max_attempts)
    )
