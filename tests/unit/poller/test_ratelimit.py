"""Parsing of Retry-After and X-RateLimit-* headers."""

from __future__ import annotations

import pytest

from services.poller.ratelimit import RateLimit, parse_retry_after

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("12", 12.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("soon", None),
        ("nan", None),
        ("Tue, 14 Nov 2023 22:14:20 GMT", 47.0),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW + 13) == expected


def test_reset_as_epoch_or_delta() -> None:
    epoch = RateLimit.from_headers({"X-RateLimit-Reset": str(int(NOW + 42))}, NOW)
    delta = RateLimit.from_headers({"X-RateLimit-Reset": "42"}, NOW)
    assert epoch.reset_after_seconds == delta.reset_after_seconds == 42


def test_missing_or_garbage_headers_are_absent() -> None:
    assert RateLimit.from_headers({"X-RateLimit-Remaining": "lots"}, NOW) == RateLimit()


@pytest.mark.parametrize(
    ("remaining", "limit", "low"),
    [(None, None, False), (50, 90, False), (10, 90, False), (9, 90, True), (5, None, True), (6, 30, False)],
)
def test_is_low(remaining: int | None, limit: int | None, low: bool) -> None:
    assert RateLimit(remaining=remaining, limit=limit).is_low() is low
