"""D17: a valid category without models answers 404 on every route, at once and for good; 503 with
``Retry-After`` stays for a category with models that is not materialised yet. Plus the check order.

The real analytics worker materialises empty references (what the reference watcher publishes for a
category the source lacks, or for an empty file such as ``lora.json``) into a real Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from redis.asyncio import Redis

from services.gateway.app import create_app
from services.reference_watcher.watcher import records_version
from shared.domain.categories import RUNTIME_CATEGORIES, ModelCategory
from shared.events.reference import ReferenceCategoryChanged
from shared.kafka import ensure_topics
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.generations import GenerationStore
from shared.topics import ALL_TOPICS
from tests.support.analytics import publish_input, running_worker, worker_settings
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

P = "/model_references/statistics"
TEXT = ModelCategory.TEXT_GENERATION
#: Valid categories without models in the shared data: never in a reference (video, audio, ti,
#: controlnet_annotator), absent from a reference folder (clip), an empty file (lora), and a runtime
#: category whose reference in force is empty (text_generation).
EMPTY = [
    ModelCategory.VIDEO_GENERATION,
    ModelCategory.AUDIO_GENERATION,
    ModelCategory.TI,
    ModelCategory.CONTROLNET_ANNOTATOR,
    ModelCategory.CLIP,
    ModelCategory.LORA,
    TEXT,
]
RUNTIME_ROUTES = [
    "/with-stats",
    "/with-stats?include_workers=true&include_backend_variations=true",
    "/deletion-risk",
    "/deletion-risk?group_text_models=true&preset=critical",
    "/deletion-risk/some-model",
    "/audit",
    "/audit/some/model",
    "/deletion-risk/events",
    "/audit/events",
]


def _empty(category: ModelCategory) -> ReferenceCategoryChanged:
    return ReferenceCategoryChanged(
        category=category,
        version=records_version(()),
        source="folder:absent",
        detected_at=datetime.now(UTC),
        records=(),
    )


@pytest.fixture(scope="module")
def settings(kafka: KafkaInfo, redis_url: str) -> Settings:
    chosen = worker_settings(kafka, redis_url, uuid.uuid4().hex[:10])

    async def fill() -> None:
        await ensure_topics(chosen.kafka, tuple(s.with_prefix(chosen.kafka.topic_prefix) for s in ALL_TOPICS))
        redis = Redis.from_url(chosen.redis.url)
        store = GenerationStore(redis, RedisKeys(chosen.redis.key_prefix), superseded_ttl_seconds=60)
        try:
            async with running_worker(chosen):
                for category in EMPTY:
                    await publish_input(chosen, _empty(category))

                async def materialised() -> None:
                    while True:
                        if all([await store.current(c) is not None for c in EMPTY]):
                            return
                        await asyncio.sleep(0.1)

                await asyncio.wait_for(materialised(), 90)
        finally:
            await redis.aclose()

    asyncio.run(fill())
    return chosen


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    redis = Redis.from_url(settings.redis.url)
    app = create_app(settings, redis=redis)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as c,
    ):
        yield c
    await redis.aclose()


def _assert_no_models(response: httpx.Response, category: ModelCategory) -> None:
    assert response.status_code == 404, (category, response.status_code, response.text)
    assert response.json()["detail"] == f"Category '{category.value}' not found or has no models"
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize("category", EMPTY, ids=[c.value for c in EMPTY])
async def test_d17_valid_category_without_models_is_404_on_every_route(
    client: httpx.AsyncClient, category: ModelCategory
) -> None:
    """D17, at once and for good: the same 404 on every request, never a 503 that never ends."""
    for _ in range(2):
        for query in ("", "?group_text_models=true", "?limit=5&offset=2"):
            _assert_no_models(await client.get(f"{P}/{category.value}{query}"), category)
        for route in RUNTIME_ROUTES:
            response = await client.get(f"{P}/{category.value}{route}")
            if category in RUNTIME_CATEGORIES:
                _assert_no_models(response, category)
            else:  # D16 comes first: a category the Horde never serves has no runtime routes at all
                assert response.status_code == 400, (category, route, response.text)


async def test_d17_a_category_with_models_not_materialised_yet_is_503_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    """image_generation was never published in this deployment: it may still come, so 503."""
    response = await client.get(f"{P}/image_generation")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


async def test_check_order_unknown_category_before_unknown_preset(client: httpx.AsyncClient) -> None:
    """D11/D17 order: unknown category → 404 (listing the valid ones) before an unknown preset → 400,
    and parameter checks (no I/O) before the "has no models" 404."""
    response = await client.get(f"{P}/nope/deletion-risk", params={"preset": "bogus", "sort_by": "x"})
    assert response.status_code == 404
    assert "text_generation" in response.json()["valid_values"]
    response = await client.get(f"{P}/text_generation/deletion-risk", params={"preset": "bogus"})
    assert response.status_code == 400
    assert "critical" in response.json()["valid_values"]
    response = await client.get(f"{P}/text_generation/deletion-risk", params={"preset": "critical"})
    _assert_no_models(response, TEXT)
