"""D17 at the source: a category the reference does not offer is published once as "no models"."""

from __future__ import annotations

from services.reference_watcher.watcher import ReferenceWatcher, records_version
from shared.domain.categories import ModelCategory
from shared.settings import ReferenceSettings
from tests.unit.reference_watcher.test_watcher_guards import (
    CLIP,
    CLIP_BYTES,
    CURRENT,
    IMAGE,
    NOW,
    FakePublisher,
    FakeSource,
)


def _watcher(source: FakeSource) -> tuple[ReferenceWatcher, FakePublisher]:
    publisher = FakePublisher()
    watcher = ReferenceWatcher(
        source, publisher, ReferenceSettings(), partitions=4, clock=lambda: NOW, announce_absent=True
    )
    return watcher, publisher


async def test_d17_categories_the_source_lacks_are_published_empty_once() -> None:
    source = FakeSource(image_generation=CURRENT, lora=b"[]")
    watcher, _ = _watcher(source)
    events = await watcher.poll_once()
    by_category = {event.category: event for event in events}
    assert set(by_category) == set(ModelCategory)
    assert by_category[IMAGE].records
    for category in set(ModelCategory) - {IMAGE}:
        assert by_category[category].records == ()  # lora's file is empty; the others are absent
        assert by_category[category].version == records_version(())
    assert by_category[CLIP].source == "fake:absent"
    assert await watcher.poll_once() == []  # once: an unchanged empty state is not re-published


async def test_d17_a_category_that_appears_later_replaces_its_empty_state() -> None:
    source = FakeSource(image_generation=CURRENT)
    watcher, _ = _watcher(source)
    await watcher.poll_once()
    source.payloads[CLIP] = CLIP_BYTES
    events = await watcher.poll_once()
    assert [(e.category, len(e.records), e.previous_version) for e in events] == [
        (CLIP, 2, records_version(()))
    ]


async def test_d17_a_failed_fetch_is_not_an_absent_category() -> None:
    source = FakeSource(image_generation=CURRENT, clip=CLIP_BYTES)
    source.failing.add(CLIP)
    watcher, _ = _watcher(source)
    events = await watcher.poll_once()
    assert CLIP not in {event.category for event in events}


async def test_d17_a_category_with_models_that_disappears_keeps_its_models() -> None:
    source = FakeSource(image_generation=CURRENT, clip=CLIP_BYTES)
    watcher, _ = _watcher(source)
    await watcher.poll_once()
    del source.payloads[CLIP]
    assert await watcher.poll_once() == []
    assert len(watcher.published[CLIP].records) == 2
