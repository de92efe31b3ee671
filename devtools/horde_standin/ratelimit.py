"""Fixed-window rate limiter like the Horde's Flask-Limiter setup (``90 per minute`` per IP).

Flask-Limiter's default limits count per route and client address, so by default each
``(ip, route)`` pair has its own window; ``per_route=False`` shares one window per IP.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """The outcome of one hit and the values of the ``X-RateLimit-*`` / ``Retry-After`` headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        """Headers sent on every answer; ``Retry-After`` only when refused."""
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class FixedWindowLimiter:
    """Counts hits per key in windows aligned to the first hit; refused hits are not counted."""

    def __init__(
        self,
        limit: int = 90,
        window_seconds: float = 60.0,
        *,
        per_route: bool = True,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.per_route = per_route
        self._clock = clock
        self._wall_clock = wall_clock
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    def hit(self, client: str, route: str) -> Verdict:
        """Count one request of ``client`` on ``route`` and say whether it may proceed."""
        now = self._clock()
        key = (client, route if self.per_route else "*")
        start, used = self._windows.get(key, (now, 0))
        if now - start >= self.window_seconds:
            start, used = now, 0
        allowed = used < self.limit
        if allowed:
            used += 1
        self._windows[key] = (start, used)
        left = max(0.0, start + self.window_seconds - now)
        return Verdict(
            allowed=allowed,
            limit=self.limit,
            remaining=self.limit - used,
            reset_epoch=math.ceil(self._wall_clock() + left),
            retry_after=max(1, math.ceil(left)),
        )

    def reset(self) -> None:
        """Forget every window (control API, between tests)."""
        self._windows.clear()
