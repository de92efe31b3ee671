"""Scenario 4: the AI Horde fails for longer than the stats interval (5xx, timeouts, a 429 storm).

A failed poll publishes nothing, so no model may gain a zero-workers or zero-usage flag from the
outage; the answers must say they are stale once ``HORDE_ANALYTICS__STALE_AFTER_SECONDS`` passed
without a successful status poll, and fresh again soon after the faults are cleared. Every
request the poller made (retries included) is in the stand-in's log: no 60-second window may
hold more than ``HORDE_HORDE_API__MAX_REQUESTS_PER_MINUTE`` of them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.results import record
from tests.chaos.stack import IMAGE_RISK, IMAGE_WITH_STATS, TEXT_RISK, ChaosStack, running_stack, wait_until
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

STALE_AFTER = 4
BUDGET = 300
PHASE_SECONDS = 6
#: The stand-in's rate-limit window (the Horde's is 60 s; compressed like the poll intervals).
RATE_WINDOW = 6.0
#: Flags an outage must never set: it says nothing about workers or usage.
OUTAGE_BLIND_FLAGS = ("no_active_workers", "zero_usage_day", "zero_usage_month", "zero_usage_total")

ENV = {
    "HORDE_ANALYTICS__STALE_AFTER_SECONDS": str(STALE_AFTER),
    "HORDE_HORDE_API__STATUS_INTERVAL_SECONDS": "1",
    "HORDE_HORDE_API__WORKERS_INTERVAL_SECONDS": "10",
    "HORDE_HORDE_API__STATS_INTERVAL_SECONDS": "3",
    "HORDE_HORDE_API__MAX_REQUESTS_PER_MINUTE": str(BUDGET),
    "HORDE_HORDE_API__TIMEOUT_SECONDS": "2",
    "HORDE_HORDE_API__MAX_ATTEMPTS": "3",
}


def flags(stack: ChaosStack) -> dict[str, set[str]]:
    """Outage-blind flags set per model (image and text deletion risk)."""
    found: dict[str, set[str]] = {}
    for path in (IMAGE_RISK, TEXT_RISK):
        answer = stack.get(path)
        assert answer.status_code == 200, answer.text[:300]
        for model in answer.json()["models"]:
            set_flags = {name for name in OUTAGE_BLIND_FLAGS if model["deletion_risk_flags"].get(name)}
            found[f"{model['category']}/{model['name']}"] = set_flags
    return found


def staleness(stack: ChaosStack, confirmed: list[int] | None = None) -> tuple[bool, bool, bool]:
    """(with-stats header, deletion-risk header, deletion-risk body) say stale; appends the last
    confirmed status poll (``X-Horde-Confirmed-At``) to ``confirmed``."""
    with_stats = stack.get(IMAGE_WITH_STATS)
    risk = stack.get(IMAGE_RISK)
    body: dict[str, Any] = risk.json()
    if confirmed is not None:
        confirmed.append(int(with_stats.headers.get("X-Horde-Confirmed-At", "0")))
    return (
        with_stats.headers.get("X-Data-Stale") == "true",
        risk.headers.get("X-Data-Stale") == "true",
        bool(body["freshness"]["stale"]),
    )


def gained(before: dict[str, set[str]], now: dict[str, set[str]]) -> dict[str, set[str]]:
    return {
        model: now[model] - before.get(model, set()) for model in now if now[model] - before.get(model, set())
    }


def max_per_window(times: list[float], window: float = 60.0) -> int:
    """Most requests in any ``window`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class Outage:
    """Runs fault phases back to back while watching when the answers turn stale."""

    def __init__(self, stack: ChaosStack) -> None:
        self.stack = stack
        self.started = time.time()
        self.first_stale: float | None = None
        #: Seconds since the last successful status poll when the answers first said stale.
        self.stale_age: float | None = None
        self.fresh_during: list[float] = []

    def phase(self, fault: dict[str, Any], seconds: float) -> None:
        # Each fault outlives its phase a little: no poll can slip through between two phases.
        self.stack.add_faults(fault | {"duration": seconds + 1.5})
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            now = time.time() - self.started
            confirmed: list[int] = []
            state = staleness(self.stack, confirmed)
            if state == (True, True, True):
                if self.first_stale is None:
                    self.first_stale = now
                    self.stale_age = time.time() - confirmed[0]
            elif self.first_stale is not None:
                self.fresh_during.append(now)
            time.sleep(0.25)


def test_a_horde_outage_marks_answers_stale_and_sets_no_flags(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path
) -> None:
    with running_stack(
        tmp_path, kafka_env=kafka.env(), redis_url=redis_url, unique=unique, env=ENV,
        standin_rate_window=RATE_WINDOW,
    ) as stack:  # fmt: skip
        wait_until(
            lambda: staleness(stack) == (False, False, False), within=60, what="fresh answers", stack=stack
        )
        before = flags(stack)
        stack.http.delete(f"{stack.standin.base_url}/_control/requests").raise_for_status()
        outage = Outage(stack)
        outage.phase({"kind": "status", "status": 503}, PHASE_SECONDS)
        outage.phase({"kind": "timeout", "seconds": 3}, PHASE_SECONDS)
        during = flags(stack)
        storm_started = time.time()
        outage.phase({"kind": "rate_limit", "retry_after": 1}, PHASE_SECONDS)
        storm_ended = time.time()
        still_stale = staleness(stack)
        during_storm = flags(stack)

        stack.clear_faults()
        cleared = time.monotonic()
        wait_until(
            lambda: staleness(stack) == (False, False, False),
            within=60,
            what="fresh answers again",
            stack=stack,
        )
        fresh_after = time.monotonic() - cleared
        after = flags(stack)
        requests = stack.standin_requests()
        assert not stack.crashed(), stack.crashed()

    times = [entry["time"] for entry in requests]
    storm = [t for t in times if storm_started <= t <= storm_ended]
    failed = [entry for entry in requests if outage.started <= entry["time"] <= storm_ended]
    storm_rate = len(storm) / (storm_ended - storm_started) * 60
    stale_after, stale_age = outage.first_stale, outage.stale_age
    record("horde_outage.stale_after", stale_after if stale_after is not None else "never", "s",
           f"outage start → answers stale (limit {STALE_AFTER} s after the last good poll)")  # fmt: skip
    record("horde_outage.stale_age", stale_age if stale_age is not None else "never", "s",
           "last good status poll → first stale answer (1 s resolution)")  # fmt: skip
    record("horde_outage.fresh_after_clear", fresh_after, "s",
           f"faults cleared → answers fresh (429 reset window {RATE_WINDOW:g} s)")  # fmt: skip
    record("horde_outage.storm_requests_per_minute", storm_rate, "req/min", f"budget {BUDGET}/min")
    record("horde_outage.max_requests_in_60s", max_per_window(times), "requests", f"budget {BUDGET}")
    record("horde_outage.failed_requests", sum(1 for e in failed if e["status"] != 200), "requests",
           "answered 5xx/429 or timed out during the outage")  # fmt: skip

    assert stale_after is not None, "answers never said they were stale"
    assert stale_age is not None
    # Header times are whole seconds: stale no earlier than the limit, and at most ~2 s after it.
    assert STALE_AFTER - 1 <= stale_age <= STALE_AFTER + 3, stale_age
    assert not outage.fresh_during, f"answers said fresh again during the outage at {outage.fresh_during}"
    assert still_stale == (True, True, True)
    assert max_per_window(times) <= BUDGET
    assert not gained(before, during), gained(before, during)
    assert not gained(before, during_storm), gained(before, during_storm)
    assert not gained(before, after), gained(before, after)
    assert {e["status"] for e in failed} >= {503, 429}
