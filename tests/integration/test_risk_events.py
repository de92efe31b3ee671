"""Risk-change events: exactly the expected changes when the previous reference is replaced."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from shared.domain.categories import ModelCategory
from shared.domain.risk.changes import changed_models, risk_signature
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.views import build_category_views
from shared.events.risk import DeletionRiskChanged, DeletionRiskCurrent
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.generations import GenerationStore
from shared.topics import RISK_CHANGED, RISK_CURRENT
from tests.support.analytics import (
    publish_input,
    publish_previous_image,
    read_topic,
    running_worker,
    wait_for_view,
)
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
IMAGE = ModelCategory.IMAGE_GENERATION


def expected_changes() -> list[tuple[str, tuple[str, ...]]]:
    """The changes the domain itself computes between the two references (same Horde snapshot)."""
    status = status_event(synthetic("status_models_image.json"))
    stats = stats_event(synthetic("stats_models_image.json"))
    from shared.domain.horde.payloads import HordeSnapshot
    from shared.domain.reference.records import ReferenceSnapshot

    horde = HordeSnapshot(model_type="image", status=status.entries, stats=stats.stats)

    def risk(path: str) -> tuple[object, ...]:
        event = reference_event(IMAGE, DATA / path)
        snapshot = ReferenceSnapshot(category=IMAGE, version=event.version, records=event.records)
        views = build_category_views(snapshot, horde, RiskThresholds(), computed_at=0)
        assert views.runtime is not None
        return views.runtime.risk_models[(False, False)]

    before = {m.name: risk_signature(m) for m in risk("reference/previous/image/stable_diffusion.json")}  # type: ignore[attr-defined]
    return [
        (name, tuple(kinds))
        for name, kinds in changed_models(before, risk("reference/image/stable_diffusion.json"))
    ]  # type: ignore[arg-type]


async def test_previous_to_current_reference_emits_exactly_the_expected_changes(
    settings: Settings,
    store: GenerationStore,
    kafka: KafkaInfo,
) -> None:
    previous = reference_event(IMAGE, DATA / "reference/previous/image/stable_diffusion.json")
    current = reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json")
    changed_topic = RISK_CHANGED.with_prefix(settings.kafka.topic_prefix).name
    async with running_worker(settings):
        await publish_input(settings, previous)
        await publish_input(settings, stats_event(synthetic("stats_models_image.json")))
        await publish_input(settings, status_event(synthetic("status_models_image.json")))
        await wait_for_view(store, IMAGE, "deletion-risk", lambda b: b["total_count"] == 160)
        first_wave = await read_topic(kafka.bootstrap_servers, changed_topic)
        await publish_input(settings, current)
        await wait_for_view(store, IMAGE, "deletion-risk", lambda b: b["total_count"] == 161)
        everything = await read_topic(kafka.bootstrap_servers, changed_topic)
    assert len(first_wave) == 160
    assert all(json.loads(v or b"{}")["changes"] == ["added"] for _, v, _ in first_wave)

    second_wave = [
        DeletionRiskChanged.model_validate_json(v or b"") for _, v, _ in everything[len(first_wave) :]
    ]
    received = sorted((e.model, e.changes) for e in second_wave)
    assert received == sorted(expected_changes())
    assert {"Nova Flat XL", "Ri-Mix"} <= {e.model for e in second_wave if e.changes == ("added",)}
    assert {e.model for e in second_wave if e.changes == ("removed",)} == {
        "Anime Illust Diffusion XL", "ChilloutMix", "Dark Sushi Mix", "Furry Epoch"}  # fmt: skip
    ids = [headers["ce_id"] for _, _, headers in everything]
    assert len(ids) == len(set(ids)), "no duplicate event ids"
    assert all(key == f"image_generation/{e.model}".encode() for (key, _, _), e in
               zip(everything[len(first_wave):], second_wave, strict=True))  # fmt: skip


async def test_late_consumer_rebuilds_current_risk_from_kafka_alone(
    settings: Settings,
    store: GenerationStore,
    kafka: KafkaInfo,
) -> None:
    async with running_worker(settings):
        await publish_previous_image(settings, store)
        await publish_input(settings, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json"))
        _, risk = await wait_for_view(store, IMAGE, "deletion-risk", lambda b: b["total_count"] == 161)
        records = await read_topic(
            kafka.bootstrap_servers, RISK_CURRENT.with_prefix(settings.kafka.topic_prefix).name
        )
    current: dict[str, DeletionRiskCurrent] = {}
    for key, value, _ in records:
        name = (key or b"").decode().split("/", 1)[1]
        if value:
            current[name] = DeletionRiskCurrent.model_validate_json(value)
        else:
            current.pop(name, None)
    assert len(current) == 161
    for model in risk["models"]:
        state = current[model["name"]].state
        assert state.risk_score == model["risk_score"]
        assert state.is_critical == model["is_critical"]
    redis = Redis.from_url(settings.redis.url)
    try:
        streamed = await redis.xlen(RedisKeys(settings.redis.key_prefix).risk_events(IMAGE))
    finally:
        await redis.aclose()
    assert streamed == len(records), "every risk change also went to the gateway's Redis stream"
