"""The pre-joined history windows on the real Redis: one lookup gives the same bytes as the day fields.

The history routes answer up to 90 days from the model's ``_window`` (and the summary's) plus the
day being recorded; a longer range, a CSV or an outdated window joins the day fields. Both paths
must give identical bytes, gaps and reference events included (``docs/history.md``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis

from services.gateway.app import create_app
from shared.domain.categories import ModelCategory
from shared.domain.history.rollup import CategoryDay, ReferenceEvent, add_reference_events
from shared.redis_keys import RedisKeys
from shared.store.history import DEFAULT_DAYS, HistoryStore
from tests.integration.test_gateway import IDENTITY, Filled, P, filled  # noqa: F401  (the shared fixture)
from tests.unit.domain.history_builders import IMAGE, days_from, obs, one_capture_day

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
FIRST = date(2026, 6, 1)
TODAY = FIRST + timedelta(days=119)
GAPS = {FIRST + timedelta(days=n) for n in (40, 41, 95, 117)}
SPARSE = "sparse/model"  # a name with a slash, data every third day only


def _rollups() -> list[CategoryDay]:
    out = []
    for n, day in enumerate(days_from(FIRST, 120)):
        if day in GAPS:
            continue
        models = {"steady": obs(workers=1 + n % 3, total=100 * n, day=100, level="clear")}
        if n % 3 == 0:
            models[SPARSE] = obs(workers=0, total=n, day=1)
        rollup = one_capture_day(day, models)
        if n in (5, 100):
            moment = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            events = [
                ReferenceEvent(model="steady", kind="changed", at=moment, version=f"v{n}", fields=("x",))
            ]
            rollup = add_reference_events(rollup, events)
        out.append(rollup)
    return out


@pytest.fixture
async def history(redis_url: str, unique: str) -> AsyncIterator[HistoryStore]:
    redis = Redis.from_url(redis_url)
    store = HistoryStore(redis, RedisKeys(f"w{unique}"))
    await store.write_days(_rollups())
    yield store
    await store.clear(IMAGE)
    await redis.aclose()


@pytest.mark.parametrize("days", [1, 2, 3, 7, 30, 89, DEFAULT_DAYS])
async def test_a_window_answer_equals_the_day_fields_joined(history: HistoryStore, days: int) -> None:
    await history.write_windows(IMAGE, TODAY, ["steady", SPARSE])
    first = TODAY - timedelta(days=days - 1)
    for model in ("steady", SPARSE):
        joined = await history.model_history_joined(IMAGE, model, days, TODAY)
        slow = await history.model_history_json(IMAGE, model, first, TODAY)
        assert joined is not None
        assert slow is not None
        assert joined[0] == ",".join(slow[0]).encode()
        assert joined[1] == ",".join(slow[1]).encode()
    summary = await history.summary_joined(IMAGE, days, TODAY)
    assert summary == ",".join(await history.summary_json(IMAGE, first, TODAY)).encode()


async def test_today_without_a_point_is_a_gap_and_events_are_in_answer_order(history: HistoryStore) -> None:
    later = TODAY + timedelta(days=1)  # nothing recorded that day yet
    await history.write_windows(IMAGE, later, ["steady"])
    joined = await history.model_history_joined(IMAGE, "steady", DEFAULT_DAYS, later)
    slow = await history.model_history_json(IMAGE, "steady", later - timedelta(days=DEFAULT_DAYS - 1), later)
    assert joined is not None
    assert slow is not None
    assert joined[0] == ",".join(slow[0]).encode()
    last = json.loads(b"[" + joined[0] + b"]")[-1]
    assert (last["day"], last["has_data"], last["usage"]) == (later.isoformat(), False, None)
    assert [e.split('"version":"')[1][:4] for e in slow[1]] == ['v5",', "v100"]
    assert joined[1] == ",".join(slow[1]).encode()


async def test_without_a_current_window_the_reader_joins_the_day_fields(history: HistoryStore) -> None:
    """No window, a window of another day, or more days than the window: None (the slow path)."""
    assert await history.model_history_joined(IMAGE, "steady", 30, TODAY) is None
    assert await history.summary_joined(IMAGE, 30, TODAY) is None
    await history.write_windows(IMAGE, TODAY - timedelta(days=1), ["steady"])
    assert await history.model_history_joined(IMAGE, "steady", 30, TODAY) is None
    assert await history.summary_joined(IMAGE, 30, TODAY) is None
    await history.write_windows(IMAGE, TODAY, ["steady"])
    assert await history.model_history_joined(IMAGE, "steady", DEFAULT_DAYS + 1, TODAY) is None
    assert await history.model_history_joined(IMAGE, SPARSE, 30, TODAY) is None  # not given a window
    await history.drop_windows(IMAGE, ["steady"])
    assert await history.model_history_joined(IMAGE, "steady", 30, TODAY) is None


@pytest.fixture
async def routed(filled: Filled) -> AsyncIterator[tuple[httpx.AsyncClient, HistoryStore]]:  # noqa: F811
    """The gateway over the worker-filled prefix, answer replay off (every request is routed)."""
    settings = filled.settings.model_copy(
        update={"gateway": filled.settings.gateway.model_copy(update={"answer_cache_bytes": 0})}
    )
    redis = Redis.from_url(settings.redis.url)
    app = create_app(settings, redis=redis)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as client,
    ):
        yield client, HistoryStore(redis, RedisKeys(settings.redis.key_prefix))
    await redis.aclose()


async def test_the_routes_answer_the_same_bytes_from_the_window(
    routed: tuple[httpx.AsyncClient, HistoryStore],
) -> None:
    client, history = routed
    category = ModelCategory.TEXT_GENERATION
    listing = (await client.get(P + "/text_generation/deletion-risk", headers=IDENTITY)).json()
    model = next(m["name"] for m in listing["models"] if "/" in m["name"])
    paths = [f"{P}/text_generation/deletion-risk/{model}/history", f"{P}/text_generation/history/summary"]

    async def answers() -> list[bytes]:
        out = []
        for path in paths:
            for days in (1, 2, 30, DEFAULT_DAYS, DEFAULT_DAYS + 1):
                response = await client.get(path, params={"days": days}, headers=IDENTITY)
                assert response.status_code == 200, response.text
                out.append(response.content)
        return out

    joined_by_the_reader = await answers()
    last = date.fromisoformat(json.loads(joined_by_the_reader[0])["last_day"])
    assert await history.model_history_joined(category, model, 2, last) is None  # no window yet
    await history.write_windows(category, last, [model])
    assert await history.model_history_joined(category, model, 2, last) is not None
    try:
        assert await answers() == joined_by_the_reader
    finally:
        await history.drop_windows(category, [model])
