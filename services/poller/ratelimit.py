"""Parsing of the AI Horde's rate-limit headers (Flask-Limiter: ``X-RateLimit-*`` and ``Retry-After``).

Kept apart from the client so the header rules are testable without HTTP: the Horde allows 90
requests per minute per IP on a fixed window and says so in these headers on every answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

#: Pause everyone once ``X-RateLimit-Remaining`` is at or below this (or 10 % of the limit).
LOW_REMAINING = 5


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The ``X-RateLimit-*`` headers of the latest answer (``None`` when absent)."""

    remaining: int | None = None
    limit: int | None = None
    reset_after_seconds: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], now: float) -> RateLimit:
        """Parse the headers; ``X-RateLimit-Reset`` may be an epoch time (Flask-Limiter) or a delta."""
        reset = _number(headers.get("X-RateLimit-Reset"))
        if reset is not None and reset > 1e9:
            reset -= now
        return cls(
            remaining=_int(headers.get("X-RateLimit-Remaining")),
            limit=_int(headers.get("X-RateLimit-Limit")),
            reset_after_seconds=None if reset is None else max(0.0, reset),
        )

    def is_low(self) -> bool:
        """True when we should slow down before the server starts answering 429."""
        if self.remaining is None:
            return False
        threshold = max(LOW_REMAINING, (self.limit or 0) // 10)
        return self.remaining <= threshold


def _number(value: str | None) -> float | None:
    """A finite number from a header value; garbage, NaN and infinity count as absent."""
    try:
        number = None if value is None else float(value)
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _int(value: str | None) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date); ``None`` if absent."""
    if value is None:
        return None
    seconds = _number(value)
    if seconds is None:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds)
