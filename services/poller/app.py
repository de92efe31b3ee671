"""Process wiring: settings → topics → broker → HTTP client → poller beside the ops HTTP server.

Everything is created in ``serve`` (never at import time) and closed in reverse order, so a
SIGTERM stops the loops, closes the connection pool and flushes the producer before exit 0.
With leader election (``HORDE_LEADER__ENABLED``, the default) only the replica holding the lease
polls: each term starts a fresh :class:`Poller`, every publish is fenced, and every HTTP request
towards the AI Horde is refused once the lease has lapsed (a resumed, paused leader sends none).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import httpx

from services.poller.budget import RequestBudget
from services.poller.client import HordeApiClient
from services.poller.polling import Poller
from services.poller.publishing import PollerTopics, broker_publisher
from shared.kafka import LivePartitionCount, ensure_topics, make_broker
from shared.leader import LeaderLease, NotLeaderError, lead, lease_headers
from shared.redis_keys import RedisKeys
from shared.runtime import ReadinessCheck, ops_app, run_service
from shared.settings import LiveHordeApiSettings, Settings
from shared.store.connection import open_redis

log = logging.getLogger(__name__)

SERVICE = "poller"


class LeaderGatedTransport(httpx.AsyncBaseTransport):
    """Sends a request only while ``may_send()`` (the lease is held by this replica's clock)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, may_send: Callable[[], bool]) -> None:
        self._inner = inner
        self._may_send = may_send

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._may_send():
            raise NotLeaderError(f"{SERVICE}: not the leader; {request.url.path} not sent")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def serve(
    settings: Settings,
    *,
    topics: PollerTopics | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Run the poller until SIGTERM/SIGINT; returns the exit code (``transport``: tests only)."""
    topics = topics or PollerTopics.with_prefix(settings.kafka.topic_prefix)
    # Raises pydantic.ValidationError (before any connection) when the live AI Horde has no contact.
    api = LiveHordeApiSettings.model_validate(settings.horde_api.model_dump())
    if settings.kafka.create_topics:
        created = await ensure_topics(settings.kafka, topics.all())
        if created:
            log.info("created topics", extra={"topics": created})
    broker = make_broker(settings.kafka, client_id="horde-poller")
    redis = open_redis(settings.redis)
    lease = (
        LeaderLease(redis, RedisKeys(settings.redis.key_prefix), SERVICE, settings.leader)
        if settings.leader.enabled
        else None
    )
    if lease is not None:
        transport = LeaderGatedTransport(transport or httpx.AsyncHTTPTransport(), lease.held)
    client = HordeApiClient(api, RequestBudget(api.max_requests_per_minute), transport=transport)
    fence = (lambda: lease_headers(lease)) if lease is not None else None

    # Follows the broker: after the partitions grow, snapshots go to their new partitions.
    partitions = LivePartitionCount(settings.kafka, topics.status.name)

    def new_poller() -> Poller:
        return Poller(client, broker_publisher(broker, fence), api, partitions=partitions, topics=topics)

    try:
        await broker.start()
        poller = new_poller()

        async def kafka_ready() -> bool:
            return await broker.ping(timeout=2.0)

        async def redis_ready() -> bool:
            return bool(await redis.ping())

        async def main(stop: asyncio.Event) -> None:
            with contextlib.suppress(Exception):  # the follower retries
                await partitions.refresh(confirmed=True)
            following = asyncio.create_task(partitions.follow(stop))
            try:
                if lease is None:
                    await poller.run(stop)
                else:
                    await lead(lease, stop, lambda term_stop: new_poller().run(term_stop))
            finally:
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)

        checks: dict[str, ReadinessCheck] = {"kafka": kafka_ready}
        if lease is not None:
            checks["redis"] = redis_ready

        log.info(
            "poller starting",
            extra={
                "base_url": api.base_url,
                "model_types": api.model_types,
                "max_requests_per_minute": api.max_requests_per_minute,
                "schedules": [f"{e}/{t} every {i:g}s" for e, t, i in poller.schedules()],
                "leader_election": settings.leader.enabled,
            },
        )
        return await run_service(
            SERVICE,
            ops_app(checks),
            host=settings.http_host,
            port=settings.http_port,
            ops_port=settings.ops_port,
            api=False,
            main=main,
        )
    finally:
        await client.aclose()
        await broker.stop()
        await redis.aclose()


def check_settings(settings: Settings) -> None:
    """Polling the live AI Horde needs a contact (raises pydantic.ValidationError without one)."""
    LiveHordeApiSettings.model_validate(settings.horde_api.model_dump())
