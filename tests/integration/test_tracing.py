"""OpenTelemetry tracing with an in-memory exporter, against the real broker and Redis.

One connected trace runs from the poller's AI Horde poll through the Kafka record (W3C trace
context in its headers, beside the CloudEvents ones) and the analytics recompute to the Redis
write of the generation; the gateway records exactly one server span per request, replayed
answers included. With the ``OTEL_*`` variables unset, tracing stays off.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from devtools.horde_standin.app import create_app as create_standin
from devtools.horde_standin.scenario import Scenario
from services.gateway.app import create_app
from services.poller.budget import RequestBudget
from services.poller.client import HordeApiClient
from services.poller.polling import Poller
from services.poller.publishing import PollerTopics, broker_publisher
from shared import tracing
from shared.domain.categories import ModelCategory
from shared.kafka import ensure_topics, make_broker
from shared.redis_keys import RedisKeys
from shared.settings import HordeApiSettings
from shared.store.generations import GenerationStore
from shared.topics import ALL_TOPICS
from tests.integration.test_gateway import Filled, filled  # noqa: F401  (the shared fixture)
from tests.support.analytics import publish_input, running_worker, wait_for_view, worker_settings
from tests.support.events import DATA, SYNTHETIC, reference_event, stats_event, synthetic
from tests.support.kafka_broker import KafkaInfo
from tests.unit.poller.support import BASE_URL

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

IMAGE = ModelCategory.IMAGE_GENERATION


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.configure("test", exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.reset()


def test_tracing_is_off_without_otel_variables() -> None:
    """Off by default: no exporter asked for, or explicitly none / SDK disabled."""
    assert not tracing.wanted({})
    assert not tracing.wanted({"OTEL_SERVICE_NAME": "x"})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"})
    assert not tracing.wanted({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing.configure("test", env={})
    assert not tracing.enabled()
    assert tracing.inject() == {}
    app = object()
    assert tracing.instrument_asgi(app) is app  # the gateway is not even wrapped


async def _wait_for(exporter: InMemorySpanExporter, trace_id: int, name: str) -> list[ReadableSpan]:
    async with asyncio.timeout(60):
        while True:
            found = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
            if any(s.name == name for s in found):
                return found
            await asyncio.sleep(0.1)


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_one_trace_from_the_horde_poll_through_kafka_and_the_recompute_to_the_redis_write(
    kafka: KafkaInfo, redis_url: str, unique: str, spans: InMemorySpanExporter
) -> None:
    settings = worker_settings(kafka, redis_url, unique)
    prefix = settings.kafka.topic_prefix
    await ensure_topics(settings.kafka, tuple(s.with_prefix(prefix) for s in ALL_TOPICS))
    redis = Redis.from_url(redis_url)
    store = GenerationStore(redis, RedisKeys(settings.redis.key_prefix), superseded_ttl_seconds=60)
    api = HordeApiSettings(base_url=BASE_URL, contact="it@example.org")
    transport = httpx.ASGITransport(app=create_standin(Scenario.from_frames([SYNTHETIC])))
    client = HordeApiClient(api, RequestBudget(600), transport=transport)
    broker = make_broker(settings.kafka, client_id="test-poller")
    try:
        async with running_worker(settings), broker:
            await publish_input(
                settings, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json")
            )
            await publish_input(settings, stats_event(synthetic("stats_models_image.json")))
            await wait_for_view(store, IMAGE, "statistics")
            spans.clear()

            poller = Poller(
                client,
                broker_publisher(broker),
                api,
                partitions=settings.kafka.topic_partitions,
                topics=PollerTopics.with_prefix(prefix),
            )
            await poller.poll_once("status", "image")
            poll = next(s for s in spans.get_finished_spans() if s.name == "poll status image")
            trace = await _wait_for(spans, poll.context.trace_id, "recompute image_generation")
    finally:
        await client.aclose()
        await redis.aclose()

    by_name = {s.name: s for s in trace}
    publish = by_name[f"{prefix}horde.model-status.captured.v1 publish"]
    recompute = by_name["recompute image_generation"]
    write = by_name["redis write generation"]
    assert poll.parent is None
    assert publish.kind is SpanKind.PRODUCER
    assert _parent(publish) == poll.context.span_id
    assert recompute.kind is SpanKind.CONSUMER
    assert _parent(recompute) == publish.context.span_id  # across Kafka, through the record headers
    assert _parent(write) == recompute.context.span_id
    assert write.attributes is not None
    assert write.attributes["category"] == "image_generation"


@pytest.fixture
async def traced_gateway(filled: Filled, spans: InMemorySpanExporter) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    redis = Redis.from_url(filled.settings.redis.url)
    app = create_app(filled.settings, redis=redis)
    transport = httpx.ASGITransport(tracing.instrument_asgi(app))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
    ):
        yield client
    await redis.aclose()


async def test_one_server_span_per_gateway_request(
    traced_gateway: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    """Routed, fast-lane, replayed (answer cache), 404 and probe requests: one span each."""
    base = "/model_references/statistics"
    paths = [
        f"{base}/image_generation",
        f"{base}/image_generation",  # a replay from the answer cache
        f"{base}/image_generation/deletion-risk?limit=5",
        f"{base}/no_such_category",
        "/healthz",
    ]
    statuses = [(await traced_gateway.get(path)).status_code for path in paths]
    server = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert len(server) == len(paths)
    assert len({s.context.trace_id for s in server}) == len(paths)  # one trace per request
    assert [s.attributes["http.response.status_code"] for s in server if s.attributes] == statuses
    assert statuses[3] == 404
    assert server[2].name == "GET /model_references/statistics/{category}/deletion-risk"
