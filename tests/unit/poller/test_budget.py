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


async def test_a_burst_sent_late_never_overlaps_the_next_minute_at_the_server() -> None:
    """Issue 13: slots taken at once but sent late (waiting for connections) let the server see
    35 requests in 59.997 s against 30 per minute. A slot now counts until 60 s after its request
    ended, so the server's count in any 60 s window stays within the budget."""
    time = FakeTime()
    budget = RequestBudget(30, clock=time.monotonic, sleep=time.sleep)
    arrived: list[float] = []

    async def one(delay: float) -> None:
        async with budget.request():
            await time.sleep(delay)  # the request waits for a connection, then reaches the server
            arrived.append(time.now)

    # Every request takes a while to leave (up to 3 s), and they are issued back to back.
    for index in range(120):
        await one(0.1 * (index % 31))
    assert max_in_any_window(arrived) <= 30
    assert len(arrived) == 120


async def test_concurrent_requests_wait_for_one_in_flight_to_end() -> None:
    time = FakeTime()
    budget = RequestBudget(2, clock=time.monotonic, sleep=time.sleep)
    release = asyncio.Event()
    order: list[str] = []

    async def slow(name: str) -> None:
        async with budget.request():
            order.append(f"{name} sent")
            await release.wait()
        order.append(f"{name} done")

    first = asyncio.create_task(slow("a"))
    second = asyncio.create_task(slow("b"))
    await asyncio.sleep(0)
    third = asyncio.create_task(slow("c"))
    await asyncio.sleep(0.01)
    assert order == ["a sent", "b sent"], "the third waits while both slots are in flight"
    assert budget.used() == 2
    release.set()
    await asyncio.wait_for(asyncio.gather(first, second, third), 5)
    assert order[-1] == "c done"
    sent_c = order.index("c sent")
    assert sent_c > order.index("a done")
    assert time.now >= 1060, "and then until 60 s after the first one ended"
