"""Removal proposals end to end on the real data (issue 18 done-when), real broker and Redis.

The reference watcher publishes the image reference before batch 261 (``reference/previous``)
and the styles of 2026-06-17 from folders; the synthetic AI Horde snapshot goes in as the poller
publishes it; the analytics worker computes; the gateway answers the proposal that includes the
four models batch 261 removed. The patch it serves is then fed back to the reference watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis

from services.gateway.app import create_app
from services.reference_watcher.app import open_styles_watcher, open_watcher
from services.reference_watcher.sources import FolderSource
from services.reference_watcher.styles import FolderStylesSource
from shared.domain.categories import ModelCategory
from shared.events.risk import DeletionRiskCurrent
from shared.kafka import ensure_topics, make_broker
from shared.redis_keys import RedisKeys
from shared.settings import ReferenceSettings, Settings
from shared.store.generations import GenerationStore
from shared.topics import ALL_TOPICS, REFERENCE_CHANGED, RISK_CURRENT, STYLES_CHANGED
from tests.support.analytics import publish_input, read_topic, running_worker, worker_settings
from tests.support.events import DATA, stats_event, status_event, synthetic, workers_event
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

IMAGE = ModelCategory.IMAGE_GENERATION
URL = "/model_references/statistics/image_generation/removal-proposal"
BATCH_261 = ["Anime Illust Diffusion XL", "ChilloutMix", "Dark Sushi Mix", "Furry Epoch"]
PREVIOUS = DATA / "reference" / "previous" / "image" / "stable_diffusion.json"
STYLES = DATA / "styles"


def _settings(kafka: KafkaInfo, redis_url: str, unique: str, folder: Path) -> Settings:
    base = worker_settings(kafka, redis_url, unique)
    reference = ReferenceSettings(
        source="folder", folder=str(folder), styles_folder=str(STYLES), startup_timeout_seconds=30
    )
    return base.model_copy(update={"reference": reference})


@contextlib.asynccontextmanager
async def deployed(kafka: KafkaInfo, redis_url: str, unique: str, root: Path) -> AsyncIterator[Settings]:
    """Watcher, styles and Horde snapshot published, a worker running until every input is in."""
    folder = root / "reference"
    (folder / "image").mkdir(parents=True)
    shutil.copyfile(PREVIOUS, folder / "image" / "stable_diffusion.json")
    settings = _settings(kafka, redis_url, unique, folder)
    prefix = settings.kafka.topic_prefix
    await ensure_topics(settings.kafka, tuple(s.with_prefix(prefix) for s in ALL_TOPICS))
    broker = make_broker(settings.kafka, client_id="watcher")
    async with open_watcher(
        settings, FolderSource(folder), broker, spec=REFERENCE_CHANGED.with_prefix(prefix)
    ) as w:
        assert any(e.category is IMAGE for e in await w.poll_once())
        styles = await open_styles_watcher(
            settings, FolderStylesSource(STYLES), broker, spec=STYLES_CHANGED.with_prefix(prefix)
        )
        assert await styles.poll_once() is not None
    for event in (
        status_event(synthetic("status_models_image.json")),
        stats_event(synthetic("stats_models_image.json")),
        workers_event(synthetic("workers.json"), model_type="image"),
    ):
        await publish_input(settings, event)
    redis = Redis.from_url(settings.redis.url)
    store = GenerationStore(redis, RedisKeys(settings.redis.key_prefix), superseded_ttl_seconds=60)

    async def complete() -> None:
        while True:
            current = await store.current(IMAGE)
            if (
                current
                and current.basis.get("styles_version")
                and current.basis.get("workers_at_ms", "0") != "0"
            ):
                return
            await asyncio.sleep(0.1)

    try:
        async with running_worker(settings):
            await asyncio.wait_for(complete(), 90)
            yield settings
    finally:
        await redis.aclose()


@pytest.fixture
async def deployment(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path
) -> AsyncIterator[Settings]:
    async with deployed(kafka, redis_url, unique, tmp_path) as settings:
        yield settings


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def read_only_deployment(
    kafka: KafkaInfo, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    """One deployment for the tests that only read (the batch-261 test rewrites its reference, so it
    has its own): a deployment costs seconds of watcher and worker start-up."""
    root = tmp_path_factory.mktemp("proposal")
    async with deployed(kafka, redis_url, uuid.uuid4().hex[:10], root) as settings:
        yield settings


@contextlib.asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    redis = Redis.from_url(settings.redis.url)
    app = create_app(settings, redis=redis)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as c,
    ):
        yield c
    await redis.aclose()


@pytest.fixture
async def client(deployment: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway(deployment) as c:
        yield c


@pytest_asyncio.fixture(loop_scope="module")
async def read_only_client(read_only_deployment: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway(read_only_deployment) as c:
        yield c


async def test_batch_261_proposal_in_every_format_and_the_patch_accepted_by_the_watcher(
    deployment: Settings, client: httpx.AsyncClient, kafka: KafkaInfo
) -> None:
    params = [("include", name) for name in BATCH_261]
    answer = await client.get(URL, params=params)
    assert answer.status_code == 200, answer.text
    proposal = answer.json()
    assert [c["name"] for c in proposal["candidates"]] == BATCH_261
    assert {(s["model"], s["style"]) for s in proposal["would_break"]["styles"]} == {
        ("Anime Illust Diffusion XL", "anime illust"),
        ("Dark Sushi Mix", "dark sushi"),
    }
    assert proposal["clean_removals"] == ["ChilloutMix", "Furry Epoch"]
    assert proposal["basis"]["styles_version"].startswith("sha256:")
    assert proposal["basis"]["horde_workers_at_ms"] > 0
    assert [s["model"] for s in proposal["already_broken_styles"]] == ["Qwen-Image_fp8"]
    # Reproducible: the same inputs (in any parameter order) give the same bytes and ETag.
    again = await client.get(URL, params=list(reversed(params)))
    assert again.content == answer.content
    assert again.headers["ETag"] == answer.headers["ETag"]
    cached = await client.get(URL, params=params, headers={"If-None-Match": answer.headers["ETag"]})
    assert cached.status_code == 304
    assert answer.headers["X-Generation"] == proposal["basis"]["generation"]
    assert answer.headers["X-Data-Stale"] == "false"

    markdown = await client.get(URL, params=[*params, ("format", "markdown")])
    assert markdown.headers["content-type"].startswith("text/markdown")
    would_break = markdown.text.split("### Would break")[1].split("### Clean removals")[0]
    assert "`Anime Illust Diffusion XL`: style `anime illust`" in would_break
    assert "`Dark Sushi Mix`: style `dark sushi`" in would_break

    patch = await client.get(URL, params=[*params, ("format", "patch")])
    assert patch.status_code == 200, patch.text
    assert 'filename="stable_diffusion.json"' in patch.headers["content-disposition"]
    original = json.loads(PREVIOUS.read_bytes())
    assert list(json.loads(patch.content)) == [name for name in original if name not in BATCH_261]

    # The patched file, committed as is, is accepted by the reference watcher: exactly the four go.
    folder = Path(deployment.reference.folder)
    (folder / "image" / "stable_diffusion.json").write_bytes(patch.content)
    spec = REFERENCE_CHANGED.with_prefix(deployment.kafka.topic_prefix)
    async with open_watcher(
        deployment, FolderSource(folder), make_broker(deployment.kafka, client_id="w2"), spec=spec
    ) as w:
        (event,) = await w.poll_once()
    assert sorted(event.removed) == BATCH_261
    assert (event.added, event.modified) == ((), ())

    # The impact is on the single-model route and in the risk events too.
    one = await client.get("/model_references/statistics/image_generation/deletion-risk/Dark Sushi Mix")
    assert [s["name"] for s in one.json()["impact"]["styles"]] == ["dark sushi"]
    current = RISK_CURRENT.with_prefix(deployment.kafka.topic_prefix).name
    records = await read_topic(kafka.bootstrap_servers, current, idle_seconds=2)
    states = {
        key.decode(): DeletionRiskCurrent.model_validate_json(value)
        for key, value, _ in records
        if key and value
    }
    impact = states["image_generation/Dark Sushi Mix"].state.impact
    assert impact is not None
    assert [s.name for s in impact.styles] == ["dark sushi"]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    "params",
    [
        [("preset", "bogus")],
        [("include", "ChilloutMix"), ("exclude", "chilloutmix")],
        [("min_days_at_risk", "-1")],
        [("format", "xml")],
    ],
)
async def test_bad_policy_parameters_get_422(
    read_only_client: httpx.AsyncClient, params: list[tuple[str, str]]
) -> None:
    answer = await read_only_client.get(URL, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]
