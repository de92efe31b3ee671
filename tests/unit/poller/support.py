"""Helpers for the poller tests: fake time, an in-process stand-in, a recording publisher."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel
from starlette.applications import Starlette

from devtools.horde_standin.app import create_app
from devtools.horde_standin.scenario import Scenario
from devtools.horde_standin.state import StandinState
from services.poller.budget import RequestBudget
from services.poller.client import HordeApiClient
from services.poller.polling import Poller
from services.poller.publishing import EventPublisher
from shared.settings import HordeApiSettings
from shared.topics import TopicSpec

SYNTHETIC = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "horde_api" / "synthetic"
BASE_URL = "http://standin.test/api"


class FakeTime:
    """A clock that only moves when someone sleeps: waits are instant and exactly measurable."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


@dataclass
class Published:
    """One event handed to the publisher."""

    topic: str
    event: BaseModel
    key: bytes
    partition: int
    event_id: str
    time: datetime
    subject: str


@dataclass
class RecordingPublisher:
    """An ``EventPublisher`` that keeps what it was given."""

    events: list[Published] = field(default_factory=list)

    async def __call__(
        self,
        spec: TopicSpec,
        event: BaseModel,
        *,
        key: bytes,
        partition: int,
        event_id: str,
        time: datetime,
        subject: str,
    ) -> None:
        self.events.append(Published(spec.name, event, key, partition, event_id, time, subject))

    def on(self, topic: str) -> list[Published]:
        return [e for e in self.events if e.topic == topic]


def api_settings(**overrides: Any) -> HordeApiSettings:
    values: dict[str, Any] = {"base_url": BASE_URL, "contact": "ops@example.org"} | overrides
    return HordeApiSettings(**values)


def standin_app(time: FakeTime, scenario: Scenario | None = None) -> Starlette:
    return create_app(scenario or Scenario.from_dir(SYNTHETIC), clock=time.monotonic, wall_clock=time.wall)


def standin_state(app: Starlette) -> StandinState:
    state: StandinState = app.state.standin
    return state


def make_client(
    time: FakeTime,
    transport: httpx.AsyncBaseTransport,
    *,
    budget: RequestBudget | None = None,
    **overrides: Any,
) -> HordeApiClient:
    settings = api_settings(**overrides)
    budget = budget or RequestBudget(settings.max_requests_per_minute, clock=time.monotonic, sleep=time.sleep)
    return HordeApiClient(settings, budget, transport=transport, sleep=time.sleep, wall_clock=time.wall)


def make_poller(
    client: HordeApiClient,
    publisher: EventPublisher,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    **overrides: Any,
) -> Poller:
    return Poller(client, publisher, api_settings(**overrides), partitions=4, now=now)
