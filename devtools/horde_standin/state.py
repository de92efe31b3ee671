"""Mutable stand-in state: current frame, faults, rate-limit windows and the request log.

The timed frame advance is computed from the clock on each read instead of by a background task,
so tests drive it with a fake clock and the service has nothing to cancel on shutdown.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from devtools.horde_standin.faults import FaultBook
from devtools.horde_standin.ratelimit import FixedWindowLimiter
from devtools.horde_standin.scenario import Payload, Scenario

MAX_LOGGED_REQUESTS = 10_000
"""Oldest entries are dropped beyond this, so a long offline run cannot grow without bound."""


class StandinState:
    """Everything the API and control routes share."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        rate_limit: int = 90,
        rate_window_seconds: float = 60.0,
        rate_limit_per_route: bool = True,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.wall_clock = wall_clock
        self.faults = FaultBook(clock)
        self.limiter = FixedWindowLimiter(
            rate_limit,
            rate_window_seconds,
            per_route=rate_limit_per_route,
            clock=clock,
            wall_clock=wall_clock,
        )
        self.requests: deque[dict[str, Any]] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self._base_index = 0
        self._base_time = clock()

    @property
    def frame_count(self) -> int:
        """Number of frames in the scenario."""
        return len(self.scenario.frames)

    @property
    def frame_index(self) -> int:
        """The frame served now, including timed advances since the last explicit move."""
        step = self.scenario.advance_every_seconds
        index = self._base_index
        if step:
            index += int((self.clock() - self._base_time) // step)
        return min(index, self.frame_count - 1)

    def set_frame(self, index: int) -> int:
        """Jump to ``index``; the advance timer restarts from now."""
        if not 0 <= index < self.frame_count:
            raise IndexError(f"frame {index} out of range 0..{self.frame_count - 1}")
        self._base_index = index
        self._base_time = self.clock()
        return index

    def advance(self) -> int:
        """Move to the next frame (stays on the last one)."""
        return self.set_frame(min(self.frame_index + 1, self.frame_count - 1))

    def payload(self, key: str) -> Payload:
        """The current frame's payload ``key``."""
        return self.scenario.frames[self.frame_index][key]

    def describe(self) -> dict[str, Any]:
        """``GET /_control/state``."""
        return {
            "frame": self.frame_index,
            "frames": self.frame_count,
            "sources": self.scenario.sources,
            "advance_every_seconds": self.scenario.advance_every_seconds,
            "known_models": None
            if self.scenario.known_models is None
            else {k: len(v) for k, v in self.scenario.known_models.items()},
            "faults": self.faults.snapshot(),
            "requests_logged": len(self.requests),
            "rate_limit": {
                "limit": self.limiter.limit,
                "window_seconds": self.limiter.window_seconds,
                "per_route": self.limiter.per_route,
            },
        }
