"""Several analytics replicas: work is shared, a SIGKILLed replica's categories move, readers never mix."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from devtools.devstack.ports import free_port
from devtools.devstack.processes import ServiceProcess
from shared.domain.categories import ModelCategory
from shared.settings import Settings
from shared.store.generations import GenerationStore
from tests.support.analytics import publish_input, running_worker, wait_for_view
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
IMAGE, TEXT = ModelCategory.IMAGE_GENERATION, ModelCategory.TEXT_GENERATION


def replica(settings: Settings, kafka: KafkaInfo, name: str, logs: Path) -> ServiceProcess:
    env = kafka.env() | {
        "HORDE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "HORDE_REDIS__URL": settings.redis.url,
        "HORDE_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "HORDE_ANALYTICS__CONSUMER_GROUP": settings.analytics.consumer_group,
        "HORDE_KAFKA__CREATE_TOPICS": "false",
    }
    return ServiceProcess(name, "services.analytics", free_port(), env, log_path=logs / f"{name}.log")


def with_count(model_type: str, name: str, count: int) -> list[dict[str, object]]:
    entries = synthetic(f"status_models_{model_type}.json")
    return [dict(e, count=count) if e["name"] == name else e for e in entries]  # type: ignore[union-attr]


async def feed(settings: Settings, image_threads: int, text_threads: int) -> None:
    await publish_input(settings, status_event(with_count("image", "stable_diffusion", image_threads)))
    await publish_input(
        settings, status_event(with_count("text", TEXT_MODEL_SPELLING, text_threads), model_type="text")
    )


TEXT_MODEL_SPELLING = "koboldcpp/Llama-3.1-8B-Stheno-v3.4"
TEXT_MODEL = "Sao10K/Llama-3.1-8B-Stheno-v3.4"


def threads_of(body: dict[str, dict[str, int]], name: str) -> int:
    return body[name]["thread_count"]


async def test_sigkilled_replica_is_replaced_and_no_update_is_lost(
    settings: Settings, store: GenerationStore, kafka: KafkaInfo, tmp_path: Path
) -> None:
    replicas = [replica(settings, kafka, f"analytics-{i}", tmp_path) for i in range(2)]
    for process in replicas:
        process.start()
    try:
        for process in replicas:
            await asyncio.to_thread(process.wait_ready, 60)
        await publish_input(settings, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json"))
        await publish_input(settings, reference_event(TEXT, DATA / "reference/text/db.json"))
        await publish_input(settings, stats_event(synthetic("stats_models_image.json")))
        await publish_input(settings, stats_event(synthetic("stats_models_text.json"), model_type="text"))
        await feed(settings, 3, 4)
        await wait_for_view(store, IMAGE, "with-stats", lambda b: threads_of(b, "stable_diffusion") == 3, 90)
        await wait_for_view(store, TEXT, "with-stats", lambda b: threads_of(b, TEXT_MODEL) == 4, 90)
        # A new snapshot for both categories, and one replica dies at once (likely mid-recompute).
        await feed(settings, 30, 40)
        replicas[0].stop(signal.SIGKILL)
        await wait_for_view(store, IMAGE, "with-stats", lambda b: threads_of(b, "stable_diffusion") == 30, 90)
        await wait_for_view(store, TEXT, "with-stats", lambda b: threads_of(b, TEXT_MODEL) == 40, 90)
        assert replicas[1].running()
    finally:
        for process in replicas:
            process.stop()
    assert "partitions assigned" in replicas[1].log_text()


async def test_readers_never_see_a_mixed_generation(settings: Settings, store: GenerationStore) -> None:
    reads = 0
    stop = asyncio.Event()

    async def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            current = await store.current(IMAGE)
            if current is not None:
                with_stats = await store.view(IMAGE, current.generation, "with-stats")
                risk = await store.view(IMAGE, current.generation, "deletion-risk")
                if with_stats is not None and risk is not None:
                    threads = json.loads(with_stats)["stable_diffusion"]["thread_count"]
                    workers = {m["name"]: m["worker_count"] for m in json.loads(risk)["models"]}
                    # No workers snapshot: worker counts fall back to threads, in the same generation.
                    assert workers["stable_diffusion"] == threads, current.generation
                    reads += 1
            await asyncio.sleep(0)

    async with running_worker(settings):
        await publish_input(settings, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json"))
        await publish_input(settings, stats_event(synthetic("stats_models_image.json")))
        await publish_input(settings, status_event(with_count("image", "stable_diffusion", 1)))
        await wait_for_view(store, IMAGE, "with-stats")
        task = asyncio.create_task(reader())
        for threads in range(2, 22):
            await publish_input(settings, status_event(with_count("image", "stable_diffusion", threads)))
            await asyncio.sleep(0.05)
        await wait_for_view(store, IMAGE, "with-stats", lambda b: threads_of(b, "stable_diffusion") == 21, 60)
        stop.set()
        await task
    assert reads > 20
