"""Watcher decisions without Kafka: first publish, no-op polls, rejected payloads, held mass removals."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.reference_watcher.sources import Fetched, FetchFailed, FetchResult
from services.reference_watcher.watcher import ReferenceWatcher, event_id, records_version
from shared.domain.categories import ModelCategory
from shared.events.reference import ReferenceCategoryChanged
from shared.settings import ReferenceSettings
from shared.topics import partition_for

REFERENCE = Path(__file__).parents[2] / "fixtures" / "data" / "reference"
IMAGE = ModelCategory.IMAGE_GENERATION
CLIP = ModelCategory.CLIP
CURRENT = (REFERENCE / "image" / "stable_diffusion.json").read_bytes()
PREVIOUS = (REFERENCE / "previous" / "image" / "stable_diffusion.json").read_bytes()
CLIP_BYTES = (REFERENCE / "image" / "clip.json").read_bytes()
NOW = datetime(2026, 7, 1, tzinfo=UTC)


class FakeSource:
    """Serves whatever payload each test sets per category."""

    name = "fake"

    def __init__(self, **payloads: bytes) -> None:
        self.payloads: dict[ModelCategory, bytes] = {ModelCategory(k): v for k, v in payloads.items()}
        self.failing: set[ModelCategory] = set()

    async def fetch(self) -> list[FetchResult]:
        results: list[FetchResult] = []
        for category, payload in self.payloads.items():
            if category in self.failing:
                results.append(FetchFailed(category, f"fake/{category}", "boom"))
            else:
                results.append(Fetched(category, "legacy", payload, f"fake/{category}.json"))
        return results


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[ReferenceCategoryChanged, str, int]] = []
        self.fail = False

    async def publish(self, event: ReferenceCategoryChanged, *, event_id: str, partition: int) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.append((event, event_id, partition))


def _watcher(source: FakeSource, **settings: object) -> tuple[ReferenceWatcher, FakePublisher]:
    publisher = FakePublisher()
    watcher = ReferenceWatcher(
        source, publisher, ReferenceSettings.model_validate(settings), partitions=4, clock=lambda: NOW
    )
    return watcher, publisher


def _rejected(category: ModelCategory, reason: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "hma_reference_rejected_total", {"category": category.value, "reason": reason}
        )
        or 0.0
    )


def _keep_first(payload: bytes, count: int) -> bytes:
    data = json.loads(payload)
    return json.dumps(dict(list(data.items())[:count])).encode()


async def test_first_poll_publishes_every_category_once() -> None:
    watcher, publisher = _watcher(FakeSource(image_generation=PREVIOUS, clip=CLIP_BYTES))
    events = await watcher.poll_once()
    assert [e.category for e in events] == [IMAGE, CLIP]
    image, image_id, partition = publisher.sent[0]
    assert len(image.added) == 160
    assert image.removed == ()
    assert image.modified == ()
    assert len(image.records) == 160
    assert image.previous_version is None
    assert image.version == records_version(image.records)
    assert image_id == event_id(IMAGE, image.version) == f"image_generation:{image.version}"
    assert partition == partition_for(IMAGE, 4)
    assert image.source == "fake:fake/image_generation.json"
    assert image.detected_at == NOW
    assert await watcher.poll_once() == []  # same bytes: nothing


async def test_a_new_version_publishes_the_diff() -> None:
    source = FakeSource(image_generation=PREVIOUS)
    watcher, publisher = _watcher(source)
    await watcher.poll_once()
    source.payloads[IMAGE] = CURRENT
    (event,) = await watcher.poll_once()
    assert (len(event.added), len(event.removed), len(event.modified)) == (5, 4, 1)
    assert event.previous_version == publisher.sent[0][0].version
    assert len(event.records) == 161


async def test_reformatted_bytes_with_the_same_records_publish_nothing() -> None:
    source = FakeSource(image_generation=CURRENT)
    watcher, _ = _watcher(source)
    await watcher.poll_once()
    source.payloads[IMAGE] = json.dumps(json.loads(CURRENT), indent=1).encode()
    assert await watcher.poll_once() == []


@pytest.mark.parametrize("bad", [CURRENT[: len(CURRENT) // 2], b"", b"  \n", b"null", b"<html>rate limited"])
async def test_invalid_payload_is_rejected_and_previous_kept(
    bad: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    source = FakeSource(image_generation=CURRENT)
    watcher, publisher = _watcher(source)
    await watcher.poll_once()
    kept = watcher.published[IMAGE]
    before = _rejected(IMAGE, "invalid_payload")
    source.payloads[IMAGE] = bad
    with caplog.at_level(logging.ERROR):
        assert await watcher.poll_once() == []
    assert watcher.published[IMAGE] is kept
    assert len(publisher.sent) == 1
    assert _rejected(IMAGE, "invalid_payload") == before + 1
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert (vars(record)["category"], vars(record)["source"]) == ("image_generation", "fake")
    assert "rejected" in record.getMessage()
    source.payloads[IMAGE] = CURRENT  # the fixed file is the published version again: nothing to do
    assert await watcher.poll_once() == []


async def test_fetch_failure_keeps_previous_version() -> None:
    source = FakeSource(image_generation=CURRENT)
    watcher, publisher = _watcher(source)
    await watcher.poll_once()
    source.failing.add(IMAGE)
    assert await watcher.poll_once() == []
    assert len(watcher.published[IMAGE].records) == 161
    assert len(publisher.sent) == 1


async def test_mass_removal_is_held_until_it_reverts() -> None:
    source = FakeSource(image_generation=CURRENT)
    watcher, publisher = _watcher(source, max_removed_share=0.2)
    await watcher.poll_once()
    before = _rejected(IMAGE, "mass_removal")
    source.payloads[IMAGE] = _keep_first(CURRENT, 100)  # removes 61 of 161 (38 %)
    assert await watcher.poll_once() == []
    assert IMAGE in watcher.held
    assert len(publisher.sent) == 1
    assert len(watcher.published[IMAGE].records) == 161
    assert _rejected(IMAGE, "mass_removal") == before + 1
    assert await watcher.poll_once() == []  # still held, counted once
    assert _rejected(IMAGE, "mass_removal") == before + 1
    source.payloads[IMAGE] = CURRENT
    assert await watcher.poll_once() == []
    assert watcher.held == {}


@pytest.mark.parametrize("emptied", [b"{}", b"[]", b"[1, 2]"])
async def test_valid_but_emptied_file_is_held(emptied: bytes) -> None:
    """Parseable yet empty (or every record invalid): the removal guard, not the parser, stops it."""
    source = FakeSource(image_generation=CURRENT)
    watcher, publisher = _watcher(source)
    await watcher.poll_once()
    source.payloads[IMAGE] = emptied
    assert await watcher.poll_once() == []
    assert IMAGE in watcher.held
    assert len(publisher.sent) == 1


async def test_held_change_is_published_once_confirmed() -> None:
    shrunk = _keep_first(CURRENT, 100)
    probe, _ = _watcher(FakeSource(image_generation=shrunk))
    await probe.poll_once()
    change_id = event_id(IMAGE, probe.published[IMAGE].version)
    source = FakeSource(image_generation=CURRENT)
    watcher, publisher = _watcher(source, confirmed_versions=[change_id])
    await watcher.poll_once()
    source.payloads[IMAGE] = shrunk
    (event,) = await watcher.poll_once()
    assert len(event.removed) == 61
    assert publisher.sent[-1][1] == change_id


async def test_small_removal_is_published() -> None:
    source = FakeSource(image_generation=CURRENT)
    watcher, _ = _watcher(source, max_removed_share=0.2)
    await watcher.poll_once()
    source.payloads[IMAGE] = _keep_first(CURRENT, 150)
    (event,) = await watcher.poll_once()
    assert len(event.removed) == 11


async def test_failed_publish_is_retried_next_poll() -> None:
    watcher, publisher = _watcher(FakeSource(clip=CLIP_BYTES))
    publisher.fail = True
    assert await watcher.poll_once() == []
    assert watcher.published == {}
    publisher.fail = False
    (event,) = await watcher.poll_once()
    assert event.category is CLIP


async def test_invalid_records_are_counted_and_skipped() -> None:
    data = json.loads(CLIP_BYTES)
    name = next(iter(data))
    data[name]["size_on_disk_bytes"] = "big"
    before = _rejected(CLIP, "invalid_record")
    watcher, _ = _watcher(FakeSource(clip=json.dumps(data).encode()))
    (event,) = await watcher.poll_once()
    assert name not in event.added
    assert _rejected(CLIP, "invalid_record") == before + 1


async def test_successive_small_removals_add_up_against_the_last_confirmed_state() -> None:
    """Issue 13: two successive 15 % removals both passed a 20 % guard, each compared with the
    last published state. Measured against the last confirmed state, the second one is held."""
    source = FakeSource(image_generation=CURRENT)
    watcher, publisher = _watcher(source, max_removed_share=0.2)
    await watcher.poll_once()
    source.payloads[IMAGE] = _keep_first(CURRENT, 137)  # removes 24 of 161 (14.9 %)
    (first,) = await watcher.poll_once()
    assert len(first.removed) == 24
    source.payloads[IMAGE] = _keep_first(CURRENT, 117)  # 20 more: 14.6 % of 137, 27 % of 161
    assert await watcher.poll_once() == []
    assert IMAGE in watcher.held
    assert len(watcher.published[IMAGE].records) == 137
    assert len(publisher.sent) == 2


async def test_an_addition_after_a_removal_does_not_reset_the_baseline() -> None:
    data = json.loads(CURRENT)
    names = list(data)
    source = FakeSource(image_generation=json.dumps({n: data[n] for n in names[:150]}).encode())
    watcher, _ = _watcher(source, max_removed_share=0.2)
    await watcher.poll_once()
    source.payloads[IMAGE] = json.dumps({n: data[n] for n in names[:130]}).encode()  # -20 (13 %)
    assert len(await watcher.poll_once()) == 1
    source.payloads[IMAGE] = json.dumps({n: data[n] for n in [*names[:130], *names[150:]]}).encode()
    assert len(await watcher.poll_once()) == 1, "additions pass"
    assert len(watcher.confirmed[IMAGE].records) == 150, "the 20 removed are still missing"
    kept = [*names[:112], *names[150:]]  # 18 more removed: 38 of the confirmed 150
    source.payloads[IMAGE] = json.dumps({n: data[n] for n in kept}).encode()
    assert await watcher.poll_once() == []
    assert IMAGE in watcher.held


async def test_a_change_removing_nothing_confirmed_moves_the_baseline() -> None:
    source = FakeSource(image_generation=_keep_first(CURRENT, 140))
    watcher, _ = _watcher(source, max_removed_share=0.2)
    await watcher.poll_once()
    source.payloads[IMAGE] = CURRENT  # only additions
    assert len(await watcher.poll_once()) == 1
    assert len(watcher.confirmed[IMAGE].records) == 161
    source.payloads[IMAGE] = _keep_first(CURRENT, 137)  # 24 of 161
    assert len(await watcher.poll_once()) == 1


async def test_an_operator_confirmed_removal_becomes_the_baseline() -> None:
    shrunk = _keep_first(CURRENT, 100)
    probe, _ = _watcher(FakeSource(image_generation=shrunk))
    await probe.poll_once()
    change_id = event_id(IMAGE, probe.published[IMAGE].version)
    source = FakeSource(image_generation=CURRENT)
    watcher, _ = _watcher(source, max_removed_share=0.2, confirmed_versions=[change_id])
    await watcher.poll_once()
    source.payloads[IMAGE] = shrunk
    assert len(await watcher.poll_once()) == 1
    assert watcher.confirmed[IMAGE].version == probe.published[IMAGE].version
    source.payloads[IMAGE] = _keep_first(CURRENT, 90)  # 10 % of the confirmed 100
    assert len(await watcher.poll_once()) == 1
