"""Process wiring: settings → topics → broker → HTTP client → poller beside the ops HTTP server.

Everything is created in ``serve`` (never at import time) and closed in reverse order, so a
SIGTERM stops the loops, closes the connection pool and flushes the producer before exit 0.
"""

from __future__ import annotations

import logging
import sys

import httpx
from pydantic import ValidationError

from services.poller.budget import RequestBudget
from services.poller.client import HordeApiClient
from services.poller.polling import Poller
from services.poller.publishing import PollerTopics, broker_publisher
from shared.kafka import ensure_topics, make_broker
from shared.logging import configure_logging
from shared.runtime import ops_app, run_process, run_service
from shared.settings import LiveHordeApiSettings, Settings

log = logging.getLogger(__name__)

SERVICE = "poller"


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
    client = HordeApiClient(api, RequestBudget(api.max_requests_per_minute), transport=transport)
    try:
        await broker.start()
        poller = Poller(
            client, broker_publisher(broker), api, partitions=settings.kafka.topic_partitions, topics=topics
        )

        async def kafka_ready() -> bool:
            return await broker.ping(timeout=2.0)

        log.info(
            "poller starting",
            extra={
                "base_url": api.base_url,
                "model_types": api.model_types,
                "max_requests_per_minute": api.max_requests_per_minute,
                "schedules": [f"{e}/{t} every {i:g}s" for e, t, i in poller.schedules()],
            },
        )
        return await run_service(
            SERVICE,
            ops_app({"kafka": kafka_ready}),
            host=settings.http_host,
            port=settings.http_port,
            ops_port=settings.ops_port,
            api=False,
            main=poller.run,
        )
    finally:
        await client.aclose()
        await broker.stop()


def main() -> None:
    """Console script ``horde-poller``: read settings from the environment and run."""
    settings = Settings()
    configure_logging(SERVICE, settings.log_level, json_lines=settings.log_json)
    try:
        LiveHordeApiSettings.model_validate(settings.horde_api.model_dump())
    except ValidationError as exc:
        log.error("invalid settings: %s", exc.errors()[0]["msg"])
        print(f"horde-poller: invalid settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(run_process(serve(settings)))
