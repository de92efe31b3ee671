"""The reference watcher against the real broker: first publish, real diff, restart, bad file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.structs import TopicPartition

from devtools.devstack.ports import free_port
from services.reference_watcher.app import open_watcher, serve
from services.reference_watcher.sources import FolderSource
from services.reference_watcher.state import read_published_state
from services.reference_watcher.watcher import records_version
from shared.domain.categories import ModelCategory
from shared.events.cloudevents import CloudEventAttributes
from shared.events.reference import ReferenceCategoryChanged
from shared.kafka import make_broker
from shared.settings import KafkaSettings, RedisSettings, ReferenceSettings, Settings
from shared.topics import TopicSpec, partition_for
from tests.support.kafka_broker import KafkaInfo
from tests.unit.domain.test_reference_diff import IMAGE_ADDED, IMAGE_REMOVED, NOVA_FIELDS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REFERENCE = Path(__file__).parents[1] / "fixtures" / "data" / "reference"
ABSENT = {
    ModelCategory.CONTROLNET_ANNOTATOR,
    ModelCategory.VIDEO_GENERATION,
    ModelCategory.AUDIO_GENERATION,
    ModelCategory.TI,
}
IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION
PARTITIONS = 4


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())  # not shutil.copy: the fixtures are read-only, copies must not be


def _previous_folder(root: Path) -> Path:
    """The current auxiliary categories plus the previous image-generation and text references."""
    for path in (REFERENCE / "image").glob("*.json"):
        _copy(path, root / "image" / path.name)
    previous = REFERENCE / "previous"
    _copy(previous / "image" / "stable_diffusion.json", root / "image" / "stable_diffusion.json")
    _copy(previous / "text" / "db.json", root / "text" / "db.json")
    return root


def _settings(kafka: KafkaInfo, folder: Path) -> Settings:
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka.bootstrap_servers,
            enable_idempotence=kafka.supports_idempotence,
            topic_partitions=PARTITIONS,
        ),
        reference=ReferenceSettings(source="folder", folder=str(folder), startup_timeout_seconds=30),
    )


async def _read_all(kafka: KafkaInfo, spec: TopicSpec, expected: int) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(spec.name, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord[bytes, bytes]] = []

        async def collect() -> None:
            while len(records) < expected:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)

        await asyncio.wait_for(collect(), timeout=30)
        return records
    finally:
        await consumer.stop()


async def test_reference_watcher_publishes_diffs_and_survives_restarts(
    kafka: KafkaInfo, unique: str, tmp_path: Path
) -> None:
    spec = TopicSpec(f"test.reference.{unique}", compacted=True, description="test")
    folder = _previous_folder(tmp_path / "reference")
    settings = _settings(kafka, folder)

    # 1. Empty topic: every category is published once, everything added.
    async with open_watcher(
        settings, FolderSource(folder), make_broker(settings.kafka, client_id="t1"), spec=spec
    ) as watcher:
        assert watcher.published == {}
        assert watcher.partitions == PARTITIONS
        first = await watcher.poll_once()
        # 11 files, and the 4 categories the folder lacks published once as empty (D17).
        assert len(first) == 15
        empty = {e.category for e in first if not e.records}
        assert empty == {*ABSENT, ModelCategory.LORA}  # lora.json is []
        assert all(
            e.added == tuple(r.name for r in e.records) and not e.removed and not e.modified for e in first
        )
        by_category = {e.category: e for e in first}
        assert len(by_category[IMAGE].added) == 160
        assert len(by_category[TEXT].added) == 711

        # 2. The folder moves to the current reference: exactly the upstream diff is published.
        _copy(REFERENCE / "image" / "stable_diffusion.json", folder / "image" / "stable_diffusion.json")
        _copy(REFERENCE / "text" / "db.json", folder / "text" / "db.json")
        second = {e.category: e for e in await watcher.poll_once()}
    assert set(second) == {IMAGE, TEXT}
    image, text = second[IMAGE], second[TEXT]
    assert sorted(image.added) == IMAGE_ADDED
    assert sorted(image.removed) == IMAGE_REMOVED
    assert [(m.name, set(m.fields)) for m in image.modified] == [("Nova Anime XL", NOVA_FIELDS)]
    assert (len(text.added), len(text.removed), len(text.modified)) == (8, 0, 8)
    assert image.previous_version == by_category[IMAGE].version

    # 3. On the topic: 17 records, keyed and partitioned by category, with CloudEvents headers.
    records = await _read_all(kafka, spec, expected=17)
    assert len(records) == 17
    for record in records:
        event = ReferenceCategoryChanged.model_validate_json(record.value)
        assert record.key == event.category.value.encode()
        assert event.version == records_version(event.records)  # verifiable from the payload alone
        assert record.partition == partition_for(event.category, PARTITIONS)
        attributes = CloudEventAttributes.from_headers({k: v.decode() for k, v in record.headers})
        assert attributes.id == f"{event.category.value}:{event.version}"
        assert attributes.type == f"net.aihorde.analytics.{spec.name}"
        assert attributes.source == "/horde-model-analytics/reference-watcher"
        assert attributes.subject == event.category.value
    latest_image = [
        ReferenceCategoryChanged.model_validate_json(r.value) for r in records if r.key == b"image_generation"
    ][-1]
    assert latest_image.model_dump() == image.model_dump()  # raw is not serialised

    # 4. A restarted watcher rebuilds its state from the topic and publishes nothing.
    async with open_watcher(
        settings, FolderSource(folder), make_broker(settings.kafka, client_id="t2"), spec=spec
    ) as restarted:
        assert {c: s.version for c, s in restarted.published.items()} == {
            **{e.category: e.version for e in first},
            IMAGE: image.version,
            TEXT: text.version,
        }
        assert await restarted.poll_once() == []

        # 5. A truncated file publishes nothing and keeps the published version.
        payload = (REFERENCE / "image" / "stable_diffusion.json").read_bytes()
        (folder / "image" / "stable_diffusion.json").write_bytes(payload[: len(payload) // 3])
        assert await restarted.poll_once() == []
        assert restarted.published[IMAGE].version == image.version

    state = await read_published_state(settings.kafka, spec, timeout_seconds=30)
    assert state.records_read == 17


async def test_service_serves_probes_publishes_and_stops_on_sigterm(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path
) -> None:
    spec = TopicSpec(f"test.reference.svc.{unique}", compacted=True, description="test")
    folder = _previous_folder(tmp_path / "reference")
    address = {
        "http_host": "127.0.0.1",
        "http_port": free_port(),
        "redis": RedisSettings(url=redis_url, key_prefix=f"watcher{unique}"),
    }
    settings = _settings(kafka, folder).model_copy(update=address)
    service = asyncio.create_task(serve(settings, spec=spec))
    base = f"http://127.0.0.1:{settings.http_port}"
    try:
        async with httpx.AsyncClient(timeout=2) as client:

            async def ready() -> None:
                while True:
                    try:
                        if (await client.get(f"{base}/readyz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    assert not service.done(), service
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(ready(), timeout=30)
            assert (await client.get(f"{base}/healthz")).status_code == 200
            metrics = (await client.get(f"{base}/metrics")).text
            assert "hma_reference_changes_published_total" in metrics
            assert 'hma_leader{service="reference-watcher"}' in metrics
        assert len(await _read_all(kafka, spec, expected=15)) == 15  # 11 files + 4 absent (D17)
    except BaseException:
        service.cancel()
        with contextlib.suppress(BaseException):
            await service
        raise
    os.kill(os.getpid(), signal.SIGTERM)  # the service is ready, so run_service's handler owns SIGTERM
    assert await asyncio.wait_for(service, timeout=30) == 0
