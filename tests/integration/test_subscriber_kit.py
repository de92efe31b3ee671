"""The subscriber kit against the real broker and the real analytics worker's risk events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from horde_risk_subscriber import CurrentRisk, Received, RiskChange, RiskSubscriber, UnreadableRecord

from shared.domain.categories import ModelCategory
from shared.settings import Settings
from shared.store.generations import GenerationStore
from shared.topics import RISK_CHANGED
from tests.support.analytics import publish_input, publish_previous_image, read_topic, running_worker
from tests.support.events import DATA, reference_event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

IMAGE = ModelCategory.IMAGE_GENERATION
KIT_SOURCE = Path(__file__).resolve().parents[2] / "clients" / "horde_risk_subscriber" / "src"


class Collector:
    """Runs a subscriber in the background and keeps everything it hands over."""

    def __init__(self, subscriber: RiskSubscriber) -> None:
        self.subscriber = subscriber
        self.items: list[Received] = []
        self.arrived = asyncio.Event()

    async def run(self) -> None:
        async with self.subscriber:
            async for item in self.subscriber:
                self.items.append(item)
                self.arrived.set()

    def of(self, kind: type) -> list[Received]:
        return [item for item in self.items if isinstance(item, kind)]

    async def wait_for(self, kind: type, count: int, within: float = 60) -> None:
        async def poll() -> None:
            while len(self.of(kind)) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(poll(), within)


@contextlib.asynccontextmanager
async def collecting(subscriber: RiskSubscriber) -> AsyncIterator[Collector]:
    collector = Collector(subscriber)
    task = asyncio.create_task(collector.run())
    try:
        yield collector
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _tail_shows_every_model(bootstrap: str, prefix: str, count: int) -> None:
    """The terminal command, as a user runs it: one ``current`` line per model."""
    kit = KIT_SOURCE
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "horde_risk_subscriber.tail", "--bootstrap", bootstrap,
        "--from", "current", "--topic-prefix", prefix,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(kit)},
    )  # fmt: skip
    assert process.stdout is not None
    try:
        lines = [(await asyncio.wait_for(process.stdout.readline(), 60)).decode() for _ in range(count)]
    finally:
        process.kill()
        await process.wait()
    assert all(line.startswith("current image_generation/") for line in lines), lines[:3]


def _changes_on_topic(records: list[tuple[bytes | None, bytes | None, dict[str, str]]]) -> list[str]:
    return [headers["ce_id"] for _, _, headers in records]


async def test_a_late_subscriber_sees_every_current_state_then_each_new_change_once(
    settings: Settings, store: GenerationStore
) -> None:
    """Issue 14: a consumer started after 100+ events sees the current state of every model, then
    the new events, each once; its group remembers where it was."""
    bootstrap, prefix = settings.kafka.bootstrap_servers, settings.kafka.topic_prefix
    changed_topic = RISK_CHANGED.with_prefix(prefix).name
    async with running_worker(settings):
        await publish_previous_image(settings, store)
        first_wave = await read_topic(bootstrap, changed_topic, idle_seconds=3)
        assert len(first_wave) >= 100
        models = {headers["ce_subject"] for _, _, headers in first_wave}
        group = f"kit-{prefix}"
        late = RiskSubscriber(bootstrap, group_id=group, start="current", topic_prefix=prefix)
        async with collecting(late) as seen:
            await seen.wait_for(CurrentRisk, len(models))
            states = seen.of(CurrentRisk)
            assert {f"{s.event.category}/{s.event.model}" for s in states} == models  # type: ignore[union-attr]
            assert len(states) == len(models)  # one each
            assert not seen.of(RiskChange)  # the first wave is in the states, not repeated
            await publish_input(
                settings, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json")
            )
            everything = await read_topic(bootstrap, changed_topic, idle_seconds=3)
            new = _changes_on_topic(everything)[len(first_wave) :]
            assert new
            await seen.wait_for(RiskChange, len(new))
            await asyncio.sleep(2)  # nothing more arrives
            received = [c.cloudevent.id for c in seen.of(RiskChange)]  # type: ignore[union-attr]
            assert received == new or sorted(received) == sorted(new)
            assert len(set(received)) == len(received)
            assert not seen.of(UnreadableRecord)
            for change in seen.of(RiskChange):
                assert change.event.category is not None  # type: ignore[union-attr]
        await _tail_shows_every_model(bootstrap, prefix, len(models))
        # The same group again, from "current": it resumes after what it handled (no snapshot).
        again = RiskSubscriber(bootstrap, group_id=group, start="current", topic_prefix=prefix)
        async with collecting(again) as resumed:
            await asyncio.sleep(3)
            assert resumed.items == []
        # A new group from a timestamp before everything: the whole change log, once each.
        since = RiskSubscriber(
            bootstrap, group_id=f"{group}-t", start=datetime(2020, 1, 1, tzinfo=UTC), topic_prefix=prefix
        )
        async with collecting(since) as history:
            await history.wait_for(RiskChange, len(everything))
            ids = [c.cloudevent.id for c in history.of(RiskChange)]  # type: ignore[union-attr]
            assert sorted(ids) == sorted(_changes_on_topic(everything))
