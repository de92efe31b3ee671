"""The gateway before anything is materialised, and its Server-Sent Events stream of risk changes.

The stream is read through a real uvicorn server on loopback (an in-process ASGI transport
buffers whole responses, which an endless stream never finishes). A short keep-alive here;
``test_gateway_streams`` runs the production one.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from redis.asyncio import Redis

from services.gateway.app import create_app
from shared.domain.categories import ModelCategory
from shared.events.risk import DeletionRiskChanged
from shared.settings import Settings
from shared.store.generations import GenerationStore
from tests.support.analytics import publish_input, publish_previous_image, running_worker, wait_for_view
from tests.support.events import DATA, reference_event
from tests.support.gateway_server import SSE, serving

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

IMAGE = ModelCategory.IMAGE_GENERATION
P = "/model_references/statistics"
EVENTS = f"{P}/image_generation/deletion-risk/events"


async def wait_for_stream_length(store: GenerationStore, length: int) -> None:
    async def poll() -> None:
        while True:
            if await store.redis.xlen(store.keys.risk_events(IMAGE)) >= length:
                return
            await asyncio.sleep(0.1)

    await asyncio.wait_for(poll(), 30)


async def test_503_until_materialised_then_per_view(settings: Settings, store: GenerationStore) -> None:
    redis = Redis.from_url(settings.redis.url)
    app = create_app(settings, redis=redis)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as client,
    ):
        paths = ("/image_generation", "/image_generation/with-stats", "/image_generation/audit",
                 "/image_generation/deletion-risk/stable_diffusion",
                 "/text_generation/deletion-risk")  # fmt: skip
        for path in paths:
            response = await client.get(P + path)
            assert response.status_code == 503, path
            assert response.headers["Retry-After"] == "5"
            assert response.json()["retry_after_seconds"] == 5
            assert (
                "image_generation" in response.json()["detail"]
                or "text_generation" in response.json()["detail"]
            )
        async with running_worker(settings):
            await publish_input(
                settings, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json")
            )
            await wait_for_view(store, IMAGE, "statistics")
        assert (await client.get(f"{P}/image_generation")).status_code == 200
        waiting = await client.get(f"{P}/image_generation/deletion-risk")
        assert waiting.status_code == 503  # the reference alone: risk needs the Horde snapshots
        assert "AI Horde status and stats" in waiting.json()["detail"]
    await redis.aclose()


async def test_risk_changes_stream_resume_and_stream_cap(settings: Settings, store: GenerationStore) -> None:
    settings = settings.model_copy(deep=True)
    settings.gateway.max_sse_streams = 1
    settings.gateway.sse_keepalive_seconds = 0.5
    async with running_worker(settings):
        await publish_previous_image(settings, store)
        await wait_for_stream_length(store, 160)  # the first wave is in before the stream opens
        async with serving(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
            async with client.stream("GET", EVENTS) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                assert response.headers["X-Data-Stale"] == "false"
                stream = SSE(response)
                assert (await stream.next())["comment"] == "connected"
                assert (await stream.next())["comment"] == "keep-alive"
                full = await client.get(EVENTS)
                assert full.status_code == 429
                assert "event streams" in full.json()["detail"]
                await publish_input(
                    settings, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json")
                )
                first, second = await stream.next_event(), await stream.next_event()
            for message in (first, second):
                assert message["event"] == "deletion-risk-changed"
                event = DeletionRiskChanged.model_validate_json(message["data"])
                assert event.category is IMAGE
                assert event.basis.reference_version
            added = json.loads(first["data"])
            assert added["changes"]
            await asyncio.sleep(0.2)  # the closed stream frees its slot
            async with client.stream("GET", EVENTS, headers={"Last-Event-ID": first["id"]}) as resumed:
                assert resumed.status_code == 200
                again = SSE(resumed)
                assert (await again.next())["comment"] == "resumed"
                assert (await again.next_event())["id"] == second["id"]
            async with client.stream("GET", EVENTS, params={"resume_after": "unknown"}) as replay:
                everything = SSE(replay)
                assert "replaying" in (await everything.next())["comment"]
                assert (await everything.next_event())["data"]  # the oldest kept event
