"""Scenario 6: the gateway process under a fuzzer and under 16 connections while generations change.

The stand-in moves to a new frame every second for the whole test, so the workers swap the image
generation underneath the requests. Schemathesis calls every documented operation (except the
endless event streams) over HTTP with generated parameters, valid and invalid, and then 16
connections hammer a mix of real requests for ~10 s. No answer may be a 5xx, and every load
answer must carry a generation. (``schemathesis.pytest.from_fixture`` fails under pytest 9, hence
explicit per-operation strategies, as in ``tests/integration/test_gateway_schema.py``.)
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.chaos.results import record
from tests.chaos.stack import PREFIX, ChaosStack, running_stack, wait_until
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

FRAMES = 12
CONNECTIONS = 16
LOAD_SECONDS = 10.0
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]
BOUNDED = settings(
    max_examples=25, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
LOAD_PATHS = [
    f"{PREFIX}/image_generation/with-stats",
    f"{PREFIX}/image_generation/with-stats?sort_by=worker_count&min_worker_count=1",
    f"{PREFIX}/image_generation/with-stats?include_workers=true&format=csv",
    f"{PREFIX}/image_generation/deletion-risk",
    f"{PREFIX}/image_generation/deletion-risk?preset=zero_usage&limit=5",
    f"{PREFIX}/image_generation/deletion-risk/stable_diffusion",
    f"{PREFIX}/image_generation/audit?sort_by=risk_score&search=stable",
    f"{PREFIX}/image_generation",
    f"{PREFIX}/text_generation/deletion-risk?group_text_models=true&limit=20",
    f"{PREFIX}/text_generation/with-stats?search=llama",
]


class FrameMover(threading.Thread):
    """Moves the stand-in to the next marked frame every second until stopped."""

    def __init__(self, stack: ChaosStack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.halt = threading.Event()
        self.moves = 0

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            for frame in itertools.cycle(range(1, FRAMES)):
                if self.halt.wait(1.0):
                    return
                client.post(f"{self.stack.standin.base_url}/_control/frame/{frame}").raise_for_status()
                self.moves += 1

    def stop(self) -> int:
        self.halt.set()
        self.join(timeout=10)
        return self.moves


def fuzz(gateway: str) -> dict[int, int]:
    """Every operation, positive and negative examples; returns the statuses seen."""
    schema = schemathesis.openapi.from_url(f"{gateway}/openapi.json").exclude(path_regex=r"/events$")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 10  # listing/model routes, /heartbeat, removal proposal, history
    seen: dict[int, int] = {}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            has_category = "{category}" in operation.path
            if mode is GenerationMode.NEGATIVE and not has_category:
                continue  # /heartbeat takes no parameters: nothing to make invalid
            strategies = [operation.as_strategy(generation_mode=mode)]
            if mode is GenerationMode.POSITIVE and has_category:
                real = st.sampled_from(["image_generation", "text_generation", "clip"])
                strategies.append(
                    real.flatmap(lambda c, op=operation: op.as_strategy(path_parameters={"category": c}))
                )

            @BOUNDED
            @given(case=st.one_of(strategies))
            def call(case: schemathesis.Case) -> None:
                response = case.call_and_validate(base_url=gateway, checks=CHECKS, timeout=10)
                seen[response.status_code] = seen.get(response.status_code, 0) + 1

            call()
    return seen


async def load(gateway: str, seconds: float) -> dict[str, Any]:
    """``CONNECTIONS`` clients, each requesting the next path as soon as the last answer came."""
    statuses: dict[int, int] = {}
    errors: list[str] = []
    latencies: list[float] = []
    generations: set[str] = set()
    missing_generation: list[str] = []
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=gateway, limits=limits, timeout=10) as client:
        deadline = time.monotonic() + seconds

        async def worker(offset: int) -> None:
            for path in itertools.cycle(LOAD_PATHS[offset:] + LOAD_PATHS[:offset]):
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                try:
                    answer = await client.get(path, headers={"Accept-Encoding": "gzip"})
                except httpx.HTTPError as error:
                    errors.append(f"{path}: {type(error).__name__}: {error}")
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.status_code >= 500:
                    errors.append(f"{path}: {answer.status_code} {answer.text[:200]}")
                elif answer.status_code == 200:
                    if "X-Generation" in answer.headers:
                        generations.add(answer.headers["X-Generation"])
                    else:
                        missing_generation.append(path)

        started = time.monotonic()
        await asyncio.gather(*(worker(n % len(LOAD_PATHS)) for n in range(CONNECTIONS)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "statuses": statuses,
        "errors": errors,
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2] if latencies else 0.0,
        "p99": latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
        "generations": len(generations),
        "missing_generation": missing_generation,
    }


def test_the_gateway_survives_a_fuzzer_and_16_connections_while_generations_change(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path
) -> None:
    with running_stack(
        tmp_path,
        kafka_env=kafka.env(),
        redis_url=redis_url,
        unique=unique,
        frames=FRAMES,
        wait_for_quiet=False,
    ) as stack:
        # The fuzzer also asks for clip (a category without AI Horde data): it must be materialised.
        wait_until(
            lambda: stack.get(f"{PREFIX}/clip").status_code == 200, within=60, what="clip", stack=stack
        )
        mover = FrameMover(stack)
        mover.start()
        try:
            started = time.monotonic()
            fuzzed = fuzz(stack.gateway)
            fuzz_seconds = time.monotonic() - started
            loaded = asyncio.run(load(stack.gateway, LOAD_SECONDS))
        finally:
            moves = mover.stop()
        assert not stack.crashed(), stack.crashed()
        assert not stack.not_ready(), stack.not_ready()

    record("gateway_fuzz.requests", sum(fuzzed.values()), "requests",
           f"{fuzz_seconds:.0f} s, statuses {dict(sorted(fuzzed.items()))}")  # fmt: skip
    note = f"{CONNECTIONS} connections, {loaded['requests']} requests, statuses {loaded['statuses']}"
    record("gateway_load.requests_per_second", loaded["rate"], "req/s", note)
    record("gateway_load.p50", loaded["p50"] * 1000, "ms")
    record("gateway_load.p99", loaded["p99"] * 1000, "ms")
    record("gateway_load.generations_seen", loaded["generations"], "generations", f"{moves} frame moves")

    assert not [s for s in fuzzed if s >= 500], fuzzed
    assert not loaded["errors"], loaded["errors"][:5]
    assert not loaded["missing_generation"], loaded["missing_generation"][:5]
    assert loaded["generations"] >= 3, "generations changed under the load"
