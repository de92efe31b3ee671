"""A process-wide request budget towards the AI Horde: a sliding one-minute window plus holds.

The Horde limits each client IP to 90 requests per minute on a fixed window; the poller must stay
far below that even while it retries a 429/5xx storm, so *every* HTTP attempt (retries included)
takes a slot here first. ``hold`` lets rate-limit headers (``Retry-After``, a low
``X-RateLimit-Remaining``) pause every caller, not just the one that saw them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

WINDOW_SECONDS = 60.0


class RequestBudget:
    """At most ``max_per_minute`` acquisitions in any 60 s window; callers wait in FIFO order."""

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
        self._sent: deque[float] = deque()
        self._hold_until = 0.0
        self._lock = asyncio.Lock()

    def hold(self, seconds: float) -> None:
        """Let no request start for ``seconds`` from now (extends, never shortens, a hold)."""
        if seconds > 0:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def used(self) -> int:
        """Slots taken in the current window (for logs and tests)."""
        self._prune(self._clock())
        return len(self._sent)

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
            self._sent.popleft()

    def _delay(self, now: float) -> float:
        self._prune(now)
        delay = self._hold_until - now
        if len(self._sent) >= self.max_per_minute:
            delay = max(delay, self._sent[0] + WINDOW_SECONDS - now)
        return delay

    async def acquire(self) -> float:
        """Wait for a free slot and take it; returns the seconds waited.

        The lock is held while sleeping on purpose: waiters queue behind it in arrival order, so
        a burst of retries cannot starve the scheduled polls or overshoot the window.
        """
        waited = 0.0
        async with self._lock:
            while (delay := self._delay(self._clock())) > 0:
                await self._sleep(delay)
                waited += delay
            self._sent.append(self._clock())
        return waited
