"""RequestBudget: never more than max_per_minute requests in any 60 s window, retries included."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.poller.budget import RequestBudget
from services.poller.client import ENDPOINTS
from tests.unit.poller.support import FakeTime, RecordingPublisher, make_client, make_poller


def max_in_any_window(times: list[float], window: float = 60.0) -> int:
    """Largest number of timestamps inside any half-open window [t, t + window)."""
    ordered = sorted(times)
    return max((sum(1 for u in ordered if t <= u < t + window) for t in ordered), default=0)


async def test_acquire_waits_for_the_oldest_slot_to_leave_the_window() -> None:
    time = FakeTime()
    budget = RequestBudget(3, clock=time.monotonic, sleep=time.sleep)
    taken: list[float] = []
    for _ in range(7):
        await budget.acquire()
        taken.append(time.now)
    assert taken == [1000, 1000, 1000, 1060, 1060, 1060, 1120]


async def test_hold_pauses_every_caller_and_never_shortens() -> None:
    time = FakeTime()
    budget = RequestBudget(100, clock=time.monotonic, sleep=time.sleep)
    budget.hold(30)
    budget.hold(5)
    waited = await budget.acquire()
    assert waited == pytest.approx(30)
    assert await budget.acquire() == 0


def test_budget_must_allow_a_request() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RequestBudget(0)


@pytest.mark.parametrize("retry_after", [None, "0", "1"])
async def test_budget_holds_under_a_429_storm_across_all_pollers(retry_after: str | None) -> None:
    """Six sources polled in rounds against a server that only answers 429: count the requests."""
    time = FakeTime()
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(time.now)
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return httpx.Response(429, headers=headers)

    client = make_client(time, httpx.MockTransport(handler), max_requests_per_minute=5, max_attempts=4)
    publisher = RecordingPublisher()
    poller = make_poller(client, publisher, max_requests_per_minute=5, max_attempts=4)
    try:
        for _ in range(3):
            await asyncio.gather(*(poller.poll_once(e, t) for e in ENDPOINTS for t in ("image", "text")))
    finally:
        await client.aclose()
    assert len(sent) == 3 * 6 * 4, "every poll used all its attempts"
    assert max_in_any_window(sent) <= 5
    assert all(not p.topic.startswith("horde.model") for p in publisher.events)
    assert len(publisher.events) == 3 * 6, "one health event per failed poll"
