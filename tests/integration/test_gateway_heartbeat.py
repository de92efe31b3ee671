"""Issue 13 against a real Redis: answers follow the content served, and ``GET /heartbeat`` says so.

A generation is written the way the worker writes one (``recompute`` + ``GenerationStore.write``)
under its own key prefix, then the poller's health records are written as the worker writes them
(one JSON per endpoint in the category's source-health hash, plus the announcement). The stale
limit is the production default (``HORDE_ANALYTICS__STALE_AFTER_SECONDS`` = 600 s): times are
placed around it instead of shortening it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis

from bench.gateway_fill import category_inputs
from services.analytics.recompute import recompute
from services.gateway.app import create_app
from shared.domain.categories import ModelCategory
from shared.domain.heartbeat import Heartbeat
from shared.domain.risk.thresholds import RiskThresholds
from shared.events.horde import SourceHealthReported
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.generations import GenerationStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

IMAGE = ModelCategory.IMAGE_GENERATION
WITH_STATS = "/model_references/statistics/image_generation/with-stats"
RISK = "/model_references/statistics/image_generation/deletion-risk"


@pytest.fixture
async def served(
    redis_url: str, unique: str
) -> AsyncIterator[tuple[Settings, GenerationStore, dict[str, str]]]:
    settings = Settings(redis={"url": redis_url, "key_prefix": f"hb{unique}"}, log_json=False)
    redis = Redis.from_url(redis_url)
    store = GenerationStore(redis, RedisKeys(settings.redis.key_prefix), superseded_ttl_seconds=60)
    captured = datetime.now(UTC) - timedelta(hours=1)
    generation = recompute(IMAGE, category_inputs(IMAGE, captured_at=captured), RiskThresholds(),
                           computed_at=int(captured.timestamp()))  # fmt: skip
    assert generation is not None
    assert await store.write(IMAGE, generation.generation, generation.views, generation.basis) == "written"
    try:
        yield settings, store, generation.basis.to_fields()
    finally:
        await redis.aclose()


@pytest.fixture
async def client(
    served: tuple[Settings, GenerationStore, dict[str, str]],
) -> AsyncIterator[httpx.AsyncClient]:
    settings, store, _ = served
    app = create_app(settings, redis=store.redis)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as c,
    ):
        yield c


async def report(store: GenerationStore, endpoint: str, content_hash: str, *, changed: datetime,
                 ok: bool = True, failures: int = 0) -> None:  # fmt: skip
    """Write one health record as the worker does, and announce it."""
    now = datetime.now(UTC)
    event = SourceHealthReported(
        endpoint=endpoint, model_type="image", ok=ok, checked_at=now, last_success_at=now,  # type: ignore[arg-type]
        consecutive_failures=failures, error=None if ok else "status 503", content_hash=content_hash,
        content_changed_at=changed, next_attempt_at=now + timedelta(seconds=20),
    )  # fmt: skip
    await store.redis.hset(store.keys.source_health(IMAGE), endpoint, event.model_dump_json())
    await store.announce(IMAGE)


async def answers(
    client: httpx.AsyncClient, stale: str, moved: str | None = None, within: float = 15
) -> list[httpx.Response]:
    """Both answers once they say ``X-Data-Stale: stale`` (the announcement reaches the gateway's
    pointer cache asynchronously; bounded wait)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = [await client.get(WITH_STATS), await client.get(RISK)]
        assert all(a.status_code == 200 for a in found), [a.text[:200] for a in found]
        if all(
            a.headers["x-data-stale"] == stale and a.headers.get("x-horde-moved-on") == moved for a in found
        ):
            return found
        assert asyncio.get_running_loop().time() < deadline, [dict(a.headers) for a in found]
        await asyncio.sleep(0.1)


async def test_a_poll_confirms_only_the_content_it_saw(
    client: httpx.AsyncClient, served: tuple[Settings, GenerationStore, dict[str, str]]
) -> None:
    _, store, basis = served
    now = datetime.now(UTC)
    # The Horde still says what we serve: confirmed now, although the snapshot is an hour old.
    await report(store, "status", basis["status_hash"], changed=now - timedelta(hours=1))
    await report(store, "stats", basis["stats_hash"], changed=now - timedelta(hours=1))
    await answers(client, "false")
    # The Horde moved on 5 minutes ago (within the 600 s limit) and we did not: still fresh.
    await report(store, "status", "frame-4", changed=now - timedelta(minutes=5))
    await answers(client, "false", "status")
    # ... and 601 s ago: stale, although every poll succeeds (fresh while frozen, issue 13).
    await report(store, "status", "frame-4", changed=now - timedelta(seconds=601))
    _, risk = await answers(client, "true", "status")
    assert risk.json()["freshness"]["stale"] is True
    # Stats moving on counts too; back to the served content: fresh again.
    await report(store, "status", basis["status_hash"], changed=now - timedelta(hours=1))
    await report(store, "stats", "new-stats", changed=now - timedelta(seconds=601))
    await answers(client, "true", "stats")
    await report(store, "stats", basis["stats_hash"], changed=now - timedelta(hours=1))
    await answers(client, "false")


async def test_heartbeat_has_the_original_shape_and_every_source(
    client: httpx.AsyncClient, served: tuple[Settings, GenerationStore, dict[str, str]]
) -> None:
    _, store, basis = served
    changed = datetime.now(UTC) - timedelta(minutes=30)
    await report(store, "status", basis["status_hash"], changed=changed)
    await report(store, "stats", "moved-on", changed=changed)
    await report(store, "workers", basis["workers_hash"], changed=changed, ok=False, failures=3)
    answer = await client.get("/heartbeat")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert set(body["ai_horde"]) == {"degraded", "consecutive_failures", "seconds_until_retry"}
    assert body["ai_horde"]["degraded"] is True
    assert body["ai_horde"]["consecutive_failures"] == 3
    assert 0 < body["ai_horde"]["seconds_until_retry"] <= 20
    beat = Heartbeat.model_validate(body)
    assert beat.schema_version == 2
    image = {s.endpoint: s for s in beat.sources.ai_horde if s.model_type == "image"}
    assert image["status"].served_matches_source is True
    assert image["stats"].served_matches_source is False
    assert image["workers"].ok is False
    assert image["workers"].consecutive_failures == 3
    assert image["status"].last_content_change_at == changed
    assert image["status"].next_attempt_at is not None
    text = [s for s in beat.sources.ai_horde if s.model_type == "text"]
    assert len(text) == 3
    assert all(s.last_success_at is None and s.served_matches_source is None for s in text)
    references = {r.category: r for r in beat.sources.reference}
    assert set(references) == set(ModelCategory)
    assert references[IMAGE].served_version == basis["reference_version"]
    assert references[IMAGE].last_content_change_at is not None
    assert references[ModelCategory.TEXT_GENERATION].served_version is None
    schema = (await client.get("/openapi.json")).json()
    assert "/heartbeat" in schema["paths"]
    assert "Heartbeat" in schema["components"]["schemas"]


async def test_heartbeat_before_any_poll_is_not_degraded(client: httpx.AsyncClient) -> None:
    body = (await client.get("/heartbeat")).json()
    assert body["ai_horde"] == {"degraded": False, "consecutive_failures": 0, "seconds_until_retry": None}


async def test_lost_views_get_a_clear_503_and_readiness_stays(
    client: httpx.AsyncClient, served: tuple[Settings, GenerationStore, dict[str, str]]
) -> None:
    """Issue 13: after Redis comes back empty the gateway said "the workers are starting"; it now
    says the views are being rewritten, and stays ready (Redis answers: the 503 is the answer)."""
    _, store, _ = served
    assert (await client.get(WITH_STATS)).status_code == 200
    text = await client.get("/model_references/statistics/text_generation/with-stats")
    assert text.status_code == 503
    assert "have not finished their first computation" in text.json()["detail"]
    await store.redis.delete(store.keys.current(IMAGE))
    await store.announce(IMAGE)
    deadline = asyncio.get_running_loop().time() + 15
    while (answer := await client.get(WITH_STATS)).status_code == 200:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)
    assert answer.status_code == 503
    assert "being rewritten" in answer.json()["detail"]
    assert int(answer.headers["retry-after"]) > 0
    assert (await client.get("/readyz")).status_code == 200
