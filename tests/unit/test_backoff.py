"""Capped, jittered exponential backoff (issue 13: write failures were retried about twice a second)."""

from __future__ import annotations

import random

from shared.backoff import Backoff


def test_delays_double_up_to_the_cap_with_jitter_and_reset_after_a_success() -> None:
    backoff = Backoff(initial=0.5, cap=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [0.5, 1, 2, 4, 8, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays
    assert backoff.failures == 10
    backoff.reset()
    assert 0.25 <= backoff.next_delay() <= 0.5


def test_a_long_outage_neither_overflows_nor_exceeds_the_cap() -> None:
    backoff = Backoff(initial=1.0, cap=15.0)
    delays = [backoff.next_delay() for _ in range(2000)]
    assert all(7.5 <= d <= 15.0 for d in delays[4:]), delays[:8]
