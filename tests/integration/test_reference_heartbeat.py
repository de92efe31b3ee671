"""Issue 13: ``GET /heartbeat`` says what the reference source is doing, end to end on the real
broker and Redis: folder source → reference watcher (fenced by a real leader lease) → Kafka →
analytics worker → Redis → gateway.

A change of the source shows as its new ``source_version`` and is served once analytics has
applied it; a change held by the mass-removal guard shows as not served (``served_matches_source``
false) until an operator confirms it; a broken file counts consecutive failed polls and degrades
the reference summary while the last good version stays served. The watcher runs with the
production poll interval: the test calls ``poll_once`` instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from services.gateway.app import create_app
from services.reference_watcher.app import rebuild_watcher
from services.reference_watcher.sources import FolderSource
from services.reference_watcher.watcher import ReferenceWatcher, event_id
from shared.domain.categories import ModelCategory
from shared.domain.heartbeat import Heartbeat, ReferenceSourceHeartbeat
from shared.events.reference import ReferenceSourceHealthReported
from shared.kafka import make_broker
from shared.leader import TOKEN_HEADER, LeaderLease, lease_headers
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.generations import GenerationStore
from shared.topics import REFERENCE_CHANGED, REFERENCE_SOURCE_HEALTH
from tests.support.analytics import read_topic, running_worker
from tests.support.events import DATA

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CLIP = ModelCategory.CLIP
CLIP_JSON = DATA / "reference" / "image" / "clip.json"


def _write_clip(folder: Path, models: dict[str, Any]) -> None:
    (folder / "image" / "clip.json").write_text(json.dumps(models))


@pytest.fixture
async def client(settings: Settings, store: GenerationStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, redis=store.redis)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as c,
    ):
        yield c


async def clip_entry(
    client: httpx.AsyncClient, condition: Callable[[ReferenceSourceHeartbeat], bool], within: float = 60
) -> tuple[Heartbeat, ReferenceSourceHeartbeat]:
    """The heartbeat once the clip entry meets ``condition`` (bounded wait: the poll outcome and the
    change reach Redis through Kafka and the worker)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        answer = await client.get("/heartbeat")
        assert answer.status_code == 200, answer.text
        beat = Heartbeat.model_validate(answer.json())
        entry = next(e for e in beat.sources.reference if e.category is CLIP)
        if condition(entry):
            return beat, entry
        assert asyncio.get_running_loop().time() < deadline, entry
        await asyncio.sleep(0.1)


async def test_heartbeat_follows_the_reference_source(
    settings: Settings, store: GenerationStore, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    folder = tmp_path / "reference"
    (folder / "image").mkdir(parents=True)
    original: dict[str, Any] = json.loads(CLIP_JSON.read_text())
    _write_clip(folder, original)
    settings = settings.model_copy(
        update={
            "reference": settings.reference.model_copy(update={"source": "folder", "folder": str(folder)})
        }
    )
    prefix = settings.kafka.topic_prefix
    redis = Redis.from_url(settings.redis.url)
    lease = LeaderLease(redis, RedisKeys(settings.redis.key_prefix), "reference-watcher", settings.leader)
    assert await lease.try_acquire()

    async def watcher_with(settings: Settings, client_id: str) -> tuple[ReferenceWatcher, Any]:
        broker = make_broker(settings.kafka, client_id=client_id)
        watcher = await rebuild_watcher(
            settings, FolderSource(folder), broker, spec=REFERENCE_CHANGED.with_prefix(prefix),
            fence=lambda: lease_headers(lease),
        )  # fmt: skip
        return watcher, broker

    try:
        async with running_worker(settings):
            watcher, broker = await watcher_with(settings, "w1")
            async with broker:
                # 1. The first poll: the source's version is published and served.
                await watcher.poll_once()
                v1 = watcher.published[CLIP].version
                beat, clip = await clip_entry(client, lambda e: e.served_matches_source is True)
                assert (clip.ok, clip.source_version, clip.served_version, clip.published_version) == (
                    True, v1, v1, v1,
                )  # fmt: skip
                assert clip.consecutive_failures == 0
                assert clip.next_attempt_at is not None
                assert clip.last_checked_at is not None
                assert clip.source is not None
                assert clip.source.startswith("folder:")
                assert beat.reference.degraded is False

                # 2. The file changes (one model added): the source's new version, then served.
                added = dict(original)
                added["ViT-test"] = dict(original["ViT-L/14"], name="ViT-test")
                _write_clip(folder, added)
                await watcher.poll_once()
                v2 = watcher.published[CLIP].version
                assert v2 != v1
                _, clip = await clip_entry(client, lambda e: e.source_version == v2)
                _, clip = await clip_entry(client, lambda e: e.served_version == v2)
                assert clip.served_matches_source is True

                # 3. A mass removal is held: the source shows it, it is not served, and stays so.
                _write_clip(folder, {"ViT-test": added["ViT-test"]})
                await watcher.poll_once()
                assert watcher.held[CLIP] != v2
                v3 = watcher.held[CLIP]
                _, clip = await clip_entry(client, lambda e: e.source_version == v3)
                assert (clip.served_version, clip.published_version, clip.served_matches_source) == (
                    v2, v2, False,
                )  # fmt: skip
                checked = clip.last_checked_at
                await watcher.poll_once()
                _, clip = await clip_entry(client, lambda e: e.last_checked_at != checked)
                assert (clip.ok, clip.served_matches_source) == (True, False)

            # 4. The operator confirms it (a restarted watcher with the setting): served.
            confirmed = settings.model_copy(
                update={"reference": settings.reference.model_copy(
                    update={"confirmed_versions": [event_id(CLIP, v3)]})}
            )  # fmt: skip
            watcher, broker = await watcher_with(confirmed, "w2")
            async with broker:
                await watcher.poll_once()
                _, clip = await clip_entry(client, lambda e: e.served_version == v3)
                assert clip.served_matches_source is True
                assert clip.published_version == v3

                # 5. A broken file: failures in a row, the reference degraded, the last good
                # version still the source's and served.
                (folder / "image" / "clip.json").write_text('{"ViT-test": {"name": ')
                for _ in range(3):
                    await watcher.poll_once()
                beat, clip = await clip_entry(client, lambda e: e.consecutive_failures == 3)
                assert clip.ok is False
                assert clip.last_error is not None
                assert clip.last_error.startswith("payload rejected")
                assert (clip.source_version, clip.served_version, clip.served_matches_source) == (
                    v3,
                    v3,
                    True,
                )
                assert clip.last_success_at is not None
                assert clip.last_checked_at is not None
                assert clip.last_success_at < clip.last_checked_at
                assert beat.reference.degraded is True
                assert beat.reference.consecutive_failures == 3
                assert beat.reference.seconds_until_retry is not None
                assert beat.ai_horde.degraded is False

                # 6. Fixed: healthy again.
                _write_clip(folder, {"ViT-test": added["ViT-test"]})
                await watcher.poll_once()
                beat, clip = await clip_entry(client, lambda e: e.ok is True)
                assert (clip.consecutive_failures, beat.reference.degraded) == (0, False)

                # 7. Fenced: every poll outcome carries the leader's token; without the lease the
                # watcher publishes none.
                health_topic = REFERENCE_SOURCE_HEALTH.with_prefix(prefix).name
                records = await read_topic(settings.kafka.bootstrap_servers, health_topic, idle_seconds=1)
                assert records
                assert all(headers.get(TOKEN_HEADER) == str(lease.token) for _, _, headers in records)
                ReferenceSourceHealthReported.model_validate_json(records[-1][1] or b"")
                await lease.release()
                await watcher.poll_once()
                after = await read_topic(settings.kafka.bootstrap_servers, health_topic, idle_seconds=1)
                assert len(after) == len(records)
    finally:
        await redis.aclose()
