"""The poller: fetch each (endpoint, model type) on its own schedule, publish only what changed.

A snapshot event is published only when the content hash of the validated payload differs from
the last one published by this process, so a steady Horde costs no Kafka traffic and consumers
see one event per real change. A failed, partial or malformed answer is never published: the last
good snapshot stays in force downstream, and a :class:`SourceHealthReported` event says why.
After a restart the first good snapshot is published again; consumers dedupe by the
deterministic event id ``<endpoint>:<model_type>:<content_hash>``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, SupportsIndex

from pydantic import BaseModel

from services.poller.client import Endpoint, HordeApiClient, describe
from services.poller.publishing import EventPublisher, PollerTopics
from shared import tracing
from shared.domain.categories import HordeModelType
from shared.events.horde import SourceHealthReported
from shared.horde_sources import HORDE_SOURCES, SOURCE
from shared.kafka import content_hash, encode_key
from shared.metrics import POLL_CONSECUTIVE_FAILURES, POLL_LAST_SUCCESS, SNAPSHOTS_PUBLISHED
from shared.settings import HordeApiSettings
from shared.topics import partition_for_model_type

log = logging.getLogger(__name__)


class PollOutcome(StrEnum):
    """What one poll did."""

    PUBLISHED = "published"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(slots=True)
class _SourceState:
    last_hash: str | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    #: Content hash the last successful poll saw, and when that content was first seen.
    seen_hash: str | None = None
    seen_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Snapshot:
    event: BaseModel
    digest: str
    captured_at: datetime


class Poller:
    """Owns the per-source state; ``poll_once`` is the whole logic, ``run`` only schedules it."""

    def __init__(
        self,
        client: HordeApiClient,
        publish: EventPublisher,
        settings: HordeApiSettings,
        *,
        partitions: SupportsIndex,
        topics: PollerTopics | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._publish = publish
        self._settings = settings
        self._partitions = partitions
        self.topics = topics or PollerTopics()
        self._now = now
        self._state: dict[tuple[Endpoint, HordeModelType], _SourceState] = {}

    def schedules(self) -> list[tuple[Endpoint, HordeModelType, float]]:
        """Every (endpoint, model type, interval) polled (``shared.horde_sources`` order); each runs
        independently."""
        endpoints = [source.endpoint for source in HORDE_SOURCES]
        return [(e, t, self.interval(e)) for t in self._settings.model_types for e in endpoints]

    def last_hash(self, endpoint: Endpoint, model_type: HordeModelType) -> str | None:
        """Content hash of the last snapshot published for a source (``None``: none yet)."""
        return self._source(endpoint, model_type).last_hash

    def interval(self, endpoint: Endpoint) -> float:
        """Seconds between two polls of ``endpoint`` (its row's cadence setting)."""
        return float(getattr(self._settings, SOURCE[endpoint].cadence_setting))

    def _source(self, endpoint: Endpoint, model_type: HordeModelType) -> _SourceState:
        return self._state.setdefault((endpoint, model_type), _SourceState())

    @tracing.traced(lambda _, endpoint, model_type: f"poll {endpoint} {model_type}")
    async def poll_once(self, endpoint: Endpoint, model_type: HordeModelType) -> PollOutcome:
        """Fetch one source; publish its snapshot if the content changed; report health every time.

        Source errors are absorbed (reported, not raised); publishing errors propagate so the
        snapshot is retried on the next poll instead of being marked as sent.
        """
        state = self._source(endpoint, model_type)
        checked_at = self._now()
        try:
            snapshot = await self._fetch(endpoint, model_type)
        except Exception as exc:
            await self._report_failure(endpoint, model_type, state, checked_at, describe(exc))
            return PollOutcome.FAILED
        outcome = PollOutcome.UNCHANGED
        if snapshot.digest != state.last_hash:
            await self._publish(
                self.topics.snapshot_topic(endpoint),
                snapshot.event,
                key=encode_key(model_type),
                partition=partition_for_model_type(model_type, self._partitions),
                event_id=f"{endpoint}:{model_type}:{snapshot.digest}",
                time=snapshot.captured_at,
                subject=model_type,
            )
            state.last_hash = snapshot.digest
            SNAPSHOTS_PUBLISHED.labels(endpoint, model_type).inc()
            outcome = PollOutcome.PUBLISHED
            log.info(
                "snapshot changed; published",
                extra={"endpoint": endpoint, "model_type": model_type, "content_hash": snapshot.digest},
            )
        recovered = state.consecutive_failures > 0
        state.consecutive_failures = 0
        state.last_success_at = snapshot.captured_at
        if snapshot.digest != state.seen_hash:
            state.seen_hash, state.seen_since = snapshot.digest, snapshot.captured_at
        POLL_LAST_SUCCESS.labels(endpoint, model_type).set(snapshot.captured_at.timestamp())
        POLL_CONSECUTIVE_FAILURES.labels(endpoint, model_type).set(0)
        if recovered:
            log.info("source recovered", extra={"endpoint": endpoint, "model_type": model_type})
        # Every success is reported too, with the hash it saw: an unchanged snapshot confirms the
        # answers built from that content (and only those), so answers are stale when
        # confirmations stop or when the Horde moved on and our answers did not.
        await self._publish_health(endpoint, model_type, state, checked_at, ok=True, error=None)
        return outcome

    async def _fetch(self, endpoint: Endpoint, model_type: HordeModelType) -> _Snapshot:
        """Fetch and validate, normalise the order of list payloads, and hash what will be published.

        Sorting (status by name, workers by id) keeps a mere reordering by the server from
        looking like a change; the event carries exactly the hashed content.
        """
        source = SOURCE[endpoint]
        fetched = await self._client.fetch(source, model_type)
        payload: Any = fetched.payload
        if source.order is not None:
            payload = tuple(sorted(payload, key=source.order))
            digest = content_hash([item.model_dump(mode="json") for item in payload])
        else:
            digest = content_hash(payload.model_dump(mode="json"))
        event = source.event(
            model_type=model_type,
            source_url=fetched.url,
            captured_at=fetched.fetched_at,
            content_hash=digest,
            **{source.event_field: payload},
        )
        return _Snapshot(event, digest, fetched.fetched_at)

    async def _report_failure(
        self,
        endpoint: Endpoint,
        model_type: HordeModelType,
        state: _SourceState,
        checked_at: datetime,
        error: str,
    ) -> None:
        state.consecutive_failures += 1
        POLL_CONSECUTIVE_FAILURES.labels(endpoint, model_type).set(state.consecutive_failures)
        log.warning(
            "poll failed; last good snapshot stays in force",
            extra={
                "endpoint": endpoint,
                "model_type": model_type,
                "error": error,
                "consecutive_failures": state.consecutive_failures,
            },
        )
        await self._publish_health(endpoint, model_type, state, checked_at, ok=False, error=error)

    async def _publish_health(
        self,
        endpoint: Endpoint,
        model_type: HordeModelType,
        state: _SourceState,
        checked_at: datetime,
        *,
        ok: bool,
        error: str | None,
    ) -> None:
        rate = self._client.last_rate_limit
        event = SourceHealthReported(
            endpoint=endpoint,
            model_type=model_type,
            ok=ok,
            checked_at=checked_at,
            last_success_at=state.last_success_at,
            consecutive_failures=state.consecutive_failures,
            error=error,
            rate_limit_remaining=rate.remaining,
            rate_limit_limit=rate.limit,
            content_hash=state.seen_hash,
            content_changed_at=state.seen_since,
            next_attempt_at=checked_at + timedelta(seconds=self.interval(endpoint)),
        )
        await self._publish(
            self.topics.health,
            event,
            key=encode_key(model_type),
            partition=partition_for_model_type(model_type, self._partitions),
            event_id=f"health:{endpoint}:{model_type}:{checked_at.isoformat()}",
            time=checked_at,
            subject=model_type,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every schedule until ``stop`` is set, then cancel and await the loops."""
        tasks = [
            asyncio.create_task(
                self._loop(endpoint, model_type, interval), name=f"poll-{endpoint}-{model_type}"
            )
            for endpoint, model_type, interval in self.schedules()
        ]
        try:
            await stop.wait()
        finally:
            await cancel_all(tasks)

    async def _loop(self, endpoint: Endpoint, model_type: HordeModelType, interval: float) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.poll_once(endpoint, model_type)
            except Exception:
                log.exception(
                    "poll could not publish", extra={"endpoint": endpoint, "model_type": model_type}
                )
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


async def cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel tasks and wait until they have finished (cleanup in ``finally`` blocks runs)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
