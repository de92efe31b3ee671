"""The watcher reports every category's poll outcome (issue 13 heartbeat): read, rejected, failed,
no longer offered; consecutive failures, the version the source shows and the one published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.reference_watcher.sources import FetchResult
from services.reference_watcher.watcher import ReferenceWatcher, records_version
from shared.domain.categories import ModelCategory
from shared.domain.reference.health import PollHealth
from shared.events.reference import ReferenceSourceHealthReported
from shared.settings import ReferenceSettings
from shared.topics import partition_for
from tests.unit.reference_watcher.test_watcher_guards import (
    CLIP,
    CLIP_BYTES,
    CURRENT,
    IMAGE,
    PREVIOUS,
    FakePublisher,
    FakeSource,
)

T0 = datetime(2026, 7, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class FakeHealth:
    def __init__(self) -> None:
        self.sent: list[tuple[ReferenceSourceHealthReported, int]] = []
        self.fail = False

    async def publish_health(self, report: ReferenceSourceHealthReported, *, partition: int) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.append((report, partition))

    def latest(self, category: ModelCategory) -> ReferenceSourceHealthReported:
        return [r for r, _ in self.sent if r.category is category][-1]


def _watcher(source: FakeSource, clock: Clock) -> tuple[ReferenceWatcher, FakeHealth]:
    health = FakeHealth()
    watcher = ReferenceWatcher(
        source, FakePublisher(), ReferenceSettings(), partitions=4, clock=clock, health=health
    )
    return watcher, health


def test_poll_health_counts_failures_and_keeps_the_last_good_version() -> None:
    polls = PollHealth()
    first = polls.succeeded(IMAGE, "v1", now=T0)
    assert (first.ok, first.source_version, first.content_changed_at, first.consecutive_failures) == (
        True, "v1", T0, 0,
    )  # fmt: skip
    later = T0 + timedelta(minutes=5)
    assert polls.succeeded(IMAGE, "v1", now=later).content_changed_at == T0  # same content: unchanged
    failed = polls.failed(IMAGE, "boom", now=later + timedelta(minutes=5))
    again = polls.failed(IMAGE, "boom", now=later + timedelta(minutes=10))
    assert (failed.consecutive_failures, again.consecutive_failures) == (1, 2)
    assert (again.ok, again.error, again.source_version, again.last_success_at) == (
        False,
        "boom",
        "v1",
        later,
    )
    back = polls.succeeded(IMAGE, "v2", now=later + timedelta(minutes=15))
    assert (back.consecutive_failures, back.content_changed_at) == (0, later + timedelta(minutes=15))
    assert polls.failed(CLIP, "boom", now=T0).source_version is None  # never read


async def test_every_poll_reports_each_category_with_the_version_the_source_shows() -> None:
    clock = Clock()
    watcher, health = _watcher(FakeSource(image_generation=PREVIOUS, clip=CLIP_BYTES), clock)
    await watcher.poll_once()
    image = health.latest(IMAGE)
    assert image.ok
    assert image.consecutive_failures == 0
    assert image.error is None
    assert image.source_version == image.published_version == watcher.published[IMAGE].version
    assert image.checked_at == image.last_success_at == image.content_changed_at == T0
    assert image.next_attempt_at == T0 + timedelta(seconds=ReferenceSettings().poll_interval_seconds)
    assert image.source == "fake:fake/image_generation.json"
    assert dict((r.category, p) for r, p in health.sent)[CLIP] == partition_for(CLIP, 4)
    # An unchanged source is reported again (a poll ran) with the same content time.
    clock.now = T0 + timedelta(minutes=5)
    await watcher.poll_once()
    assert health.latest(IMAGE).checked_at == clock.now
    assert health.latest(IMAGE).content_changed_at == T0


async def test_a_failing_category_counts_failures_and_recovers() -> None:
    clock = Clock()
    source = FakeSource(image_generation=PREVIOUS, clip=CLIP_BYTES)
    watcher, health = _watcher(source, clock)
    await watcher.poll_once()
    version = health.latest(CLIP).source_version
    source.failing.add(CLIP)
    for minutes in (5, 10, 15):
        clock.now = T0 + timedelta(minutes=minutes)
        await watcher.poll_once()
    clip = health.latest(CLIP)
    assert (clip.ok, clip.consecutive_failures, clip.error) == (False, 3, "boom")
    assert clip.last_success_at == T0
    assert clip.source_version == version
    assert health.latest(IMAGE).ok is True  # one category's failure is its own
    source.failing.clear()
    await watcher.poll_once()
    assert (health.latest(CLIP).ok, health.latest(CLIP).consecutive_failures) == (True, 0)


async def test_a_rejected_payload_is_a_failed_poll_on_every_poll_until_fixed() -> None:
    clock = Clock()
    source = FakeSource(image_generation=PREVIOUS)
    watcher, health = _watcher(source, clock)
    await watcher.poll_once()
    served = watcher.published[IMAGE].version
    source.payloads[IMAGE] = CURRENT[: len(CURRENT) // 3]  # truncated
    await watcher.poll_once()
    await watcher.poll_once()  # the same broken bytes are not re-parsed, still a failure
    image = health.latest(IMAGE)
    assert (image.ok, image.consecutive_failures) == (False, 2)
    assert image.error is not None
    assert image.error.startswith("payload rejected")
    assert image.source_version == image.published_version == served
    source.payloads[IMAGE] = CURRENT
    clock.now = T0 + timedelta(minutes=1)
    await watcher.poll_once()
    image = health.latest(IMAGE)
    assert image.ok
    assert image.source_version == watcher.published[IMAGE].version != served
    assert image.content_changed_at == clock.now


async def test_a_category_no_longer_offered_is_a_failed_poll() -> None:
    source = FakeSource(image_generation=PREVIOUS, clip=CLIP_BYTES)
    watcher, health = _watcher(source, Clock())
    await watcher.poll_once()
    del source.payloads[CLIP]
    await watcher.poll_once()
    clip = health.latest(CLIP)
    assert (clip.ok, clip.error, clip.source) == (False, "no longer offered by the source", "fake:absent")


async def test_d17_an_absent_category_published_empty_reads_as_empty() -> None:
    health = FakeHealth()
    watcher = ReferenceWatcher(
        FakeSource(image_generation=PREVIOUS), FakePublisher(), ReferenceSettings(), partitions=4,
        clock=Clock(), announce_absent=True, health=health,
    )  # fmt: skip
    await watcher.poll_once()
    assert {r.category for r, _ in health.sent} == set(ModelCategory)
    clip = health.latest(CLIP)
    assert clip.ok
    assert clip.source_version == clip.published_version == records_version(())


async def test_a_failed_health_publish_neither_stops_the_poll_nor_the_changes() -> None:
    source = FakeSource(image_generation=PREVIOUS)
    watcher, health = _watcher(source, Clock())
    health.fail = True
    events = await watcher.poll_once()
    assert [e.category for e in events] == [IMAGE]
    health.fail = False
    await watcher.poll_once()
    assert health.latest(IMAGE).ok is True


async def test_a_source_that_fails_as_a_whole_is_a_failed_poll_of_every_known_category() -> None:
    class Broken(FakeSource):
        async def fetch(self) -> list[FetchResult]:
            raise ConnectionError("folder unmounted")

    source = FakeSource(image_generation=PREVIOUS, clip=CLIP_BYTES)
    watcher, health = _watcher(source, Clock())
    await watcher.poll_once()
    watcher.source = Broken()
    with pytest.raises(ConnectionError):
        await watcher.poll_once()
    for category in (IMAGE, CLIP):
        latest = health.latest(category)
        assert (latest.ok, latest.consecutive_failures) == (False, 1)
        assert latest.error == "source unavailable: ConnectionError: folder unmounted"
        assert latest.source == "fake:unavailable"
