"""A process-wide request budget towards the AI Horde: a sliding one-minute window plus holds.

The Horde limits each client IP to 90 requests per minute on a fixed window; the poller must stay
far below that even while it retries a 429/5xx storm, so *every* HTTP attempt (retries included)
takes a slot here first. ``hold`` lets rate-limit headers (``Retry-After``, a low
``X-RateLimit-Remaining``) pause every caller, not just the one that saw them.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

WINDOW_SECONDS = 60.0


class RequestBudget:
    """At most ``max_per_minute`` requests in any 60 s window; callers wait in FIFO order.

    A request occupies its slot from the moment it is taken until 60 s after it *ended*
    (``request``): the server sees a request somewhere between those two moments, so even when
    sending is delayed (a burst waiting for connections, a slow event loop) no 60 s window at the
    server ever holds more than the budget. Counting from the moment a slot was taken let a burst
    sent late overlap the next minute's burst (35 requests in 59.997 s against 30 per minute).
    """

    def __init__(
        self,
        max_per_minute: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if max_per_minute < 1:
            raise ValueError("max_per_minute must be at least 1")
        self.max_per_minute = max_per_minute
        self._clock = clock
        self._sleep = sleep
        #: End times of the requests still inside the window, ascending.
        self._sent: list[float] = []
        self._in_flight = 0
        self._released = asyncio.Event()
        self._hold_until = 0.0
        self._lock = asyncio.Lock()

    def hold(self, seconds: float) -> None:
        """Let no request start for ``seconds`` from now (extends, never shortens, a hold)."""
        if seconds > 0:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def used(self) -> int:
        """Slots taken in the current window, requests in flight included (for logs and tests)."""
        self._prune(self._clock())
        return len(self._sent) + self._in_flight

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
            self._sent.pop(0)

    def _delay(self, now: float) -> float | None:
        """Seconds until a slot is free; ``None`` while only a request in flight can free one."""
        self._prune(now)
        delay = self._hold_until - now
        leave = len(self._sent) + self._in_flight - self.max_per_minute + 1
        if leave > 0:
            if leave > len(self._sent):
                return None
            delay = max(delay, self._sent[leave - 1] + WINDOW_SECONDS - now)
        return delay

    async def _take(self, *, in_flight: bool) -> float:
        waited = 0.0
        async with self._lock:
            while True:
                delay = self._delay(self._clock())
                if delay is None:
                    started = self._clock()
                    self._released.clear()
                    await self._released.wait()
                    waited += self._clock() - started
                elif delay > 0:
                    await self._sleep(delay)
                    waited += delay
                else:
                    break
            if in_flight:
                self._in_flight += 1
            else:
                bisect.insort(self._sent, self._clock())
        return waited

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[float]:
        """Wait for a free slot and hold it for one request; yields the seconds waited.

        The lock is held while waiting on purpose: waiters queue behind it in arrival order, so
        a burst of retries cannot starve the scheduled polls or overshoot the window.
        """
        waited = await self._take(in_flight=True)
        try:
            yield waited
        finally:
            self._in_flight -= 1
            bisect.insort(self._sent, self._clock())
            self._released.set()

    async def acquire(self) -> float:
        """Take a slot for something that happens now (no request body to wait for); returns the
        seconds waited."""
        return await self._take(in_flight=False)
