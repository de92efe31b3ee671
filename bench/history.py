"""Time the daily history: rebuild from Kafka, a model's history read, and the capture fold.

Publishes ``--days`` generated daily roll-ups of ``--models`` text models (values generated,
names from the real text reference) to ``analytics.history.daily.v1`` on the embedded broker (or
``KAFKA_BOOTSTRAP_SERVERS``), then times what a worker does on assignment: read the partition to
its end, decode every roll-up, clear and rewrite the category's history in a local redis-server.
Then times ``HistoryStore.model_history`` for 90 days at 16 concurrent readers, the per-capture
work the worker adds (observations + fold), the recompute of all text views with lifecycle, and
the history routes on a gateway process (16 connections, answer cache off and on).

    python -m bench.history [--days 400] [--models 720] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from redis.asyncio import Redis

from bench.gateway_load import drive, start
from bench.synthetic import load_reference, load_snapshot
from devtools.devstack.broker import start_tansu, stop_process
from devtools.devstack.ports import free_port
from devtools.devstack.redis_server import start_redis_server
from services.analytics.history import HistoryRecorder
from shared.collector import collector_paused
from shared.domain.categories import ModelCategory
from shared.domain.history.enrich import LifecycleContext
from shared.domain.history.policy import LifecyclePolicy
from shared.domain.history.rollup import CategoryDay, ModelDay, RiskMark, fold_capture, observations_of
from shared.domain.history.summary import PastSummary
from shared.domain.horde.index import HordeIndex, ModelMatcher
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.views import analyze_all, build_category_views, merge_all_flags, render_views
from shared.events.history import rollup_key
from shared.kafka import encode_key, ensure_topics, make_broker, make_producer
from shared.redis_keys import RedisKeys
from shared.settings import KafkaSettings
from shared.store.generations import GenerationStore
from shared.store.history import HistoryStore
from shared.topics import HISTORY_DAILY, partition_for

TEXT = ModelCategory.TEXT_GENERATION
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "history.json"
REBUILD_TARGET_SECONDS = 30.0
ROUTE_TARGET_P99_MS = 10.0


def generated_days(names: list[str], days: int, last: date) -> list[CategoryDay]:
    """``days`` roll-ups ending ``last``: every model with deterministic, varying numbers."""
    rollups = []
    totals = dict.fromkeys(names, 1000)
    for offset in range(days):
        day = last - timedelta(days=days - 1 - offset)
        models = {}
        for i, name in enumerate(names):
            used = (i * 7 + offset * 3) % 50
            totals[name] += used
            workers = (i + offset) % 4
            models[name] = ModelDay(
                polls=720, polls_with_workers=720 if workers else 0, workers_min=max(0, workers - 1),
                workers_max=workers, workers_sum=workers * 720, threads_min=workers, threads_max=workers * 2,
                queued_max=float(i % 9), queued_last=0.0, usage_day_reported=used, usage_month_last=used * 30,
                total_first=totals[name] - used, total_last=totals[name],
                risk=RiskMark(level="clear" if workers else "at_risk", score=0 if workers else 1,
                              flags=() if workers else ("no_active_workers",)),
            )  # fmt: skip
        moment = datetime.combine(day, dtime(23, 59), tzinfo=UTC)
        rollups.append(
            CategoryDay(category=TEXT, day=day, captures=720, first_captured_at=moment - timedelta(hours=24),
                        last_captured_at=moment, generated=True, models=models)
        )  # fmt: skip
    return rollups


def recompute_with_lifecycle(rollups: list[CategoryDay], today: date, repeat: int = 15) -> dict[str, float]:
    """All views of text at real size (as ``bench.recompute``), without and with lifecycle fields
    from summaries of the generated days (names mapped onto the real reference's models)."""
    reference, snapshot = load_reference(TEXT), load_snapshot(TEXT)
    names = list(reference.names())
    generated_names = list(rollups[0].models)
    summaries = {name: PastSummary() for name in names}
    for rollup in rollups[:-1]:
        for real, generated in zip(names, generated_names, strict=False):
            summaries[real].add_day(rollup.day, rollup.models[generated])
    context = LifecycleContext(category=TEXT, today=today, policy=LifecyclePolicy(), summaries=summaries)
    thresholds = RiskThresholds()
    variants = (("without_lifecycle", None), ("with_lifecycle", context))
    runs: dict[str, list[float]] = {label: [] for label, _ in variants}
    cpu: dict[str, list[float]] = {label: [] for label, _ in variants}
    for _ in range(repeat):  # interleaved, so that the machine's other load hits both alike
        for label, lifecycle in variants:
            with collector_paused():
                began, began_cpu = time.perf_counter(), time.process_time()
                views = build_category_views(
                    reference, snapshot, thresholds, computed_at=0, lifecycle=lifecycle
                )
                render_views(views)
                runs[label].append((time.perf_counter() - began) * 1000)
                cpu[label].append((time.process_time() - began_cpu) * 1000)
    timings = {label: round(statistics.median(times), 1) for label, times in runs.items()}
    # On a shared machine the wall clock includes the time this process waited for a core.
    timings |= {f"{label}_min": round(min(times), 1) for label, times in runs.items()}
    return timings | {f"{label}_cpu": round(statistics.median(times), 1) for label, times in cpu.items()}


#: (label, path after the category prefix): the default answer, a slice of the window, and beyond it.
ROUTES = (
    ("model 90d", "deletion-risk/{model}/history?days=90"),
    ("model 30d", "deletion-risk/{model}/history?days=30"),
    ("model 400d", "deletion-risk/{model}/history?days=400"),
    ("summary 90d", "history/summary?days=90"),
)


async def route_latencies(
    redis: Redis, redis_url: str, prefix: str, model: str, today: date, seconds: float = 5
) -> dict[str, Any]:
    """p50/p99 of the history routes on a gateway process, 16 connections, with the answer cache off
    (``routed``: every request reads Redis, as the first request of a query after each generation
    change) and on (``answer_cache``: repeated answers replayed while the generation is current)."""
    moment = str(int(datetime.combine(today, dtime(12), tzinfo=UTC).timestamp() * 1000))
    store = GenerationStore(redis, RedisKeys(prefix), superseded_ttl_seconds=60)
    basis = {"computed_at": moment[:-3], "reference_version": "bench", "status_at_ms": moment,
             "stats_at_ms": moment, "workers_at_ms": moment, "view_schema": "2"}  # fmt: skip
    await store.write(TEXT, "bench", {"statistics": b"{}"}, basis)
    history = HistoryStore(redis, RedisKeys(prefix))
    base = "/model_references/statistics/text_generation/"
    out: dict[str, Any] = {"connections": 16}
    for label, cache_bytes in (("routed", "0"), ("answer_cache", str(32 * 1024 * 1024))):
        port = free_port()
        env = {"HORDE_REDIS__URL": redis_url, "HORDE_REDIS__KEY_PREFIX": prefix, "HORDE_HTTP_PORT": str(port),
               "HORDE_HTTP_HOST": "127.0.0.1", "HORDE_LOG_LEVEL": "WARNING",
               "HORDE_GATEWAY__ANSWER_CACHE_BYTES": cache_bytes}  # fmt: skip
        process = start([sys.executable, "-m", "services.gateway"], env, port)
        out[label] = {}
        try:
            for route, path in ROUTES:
                url = base + path.format(model=quote(model))
                latencies, errors = await drive(port, url, False, 16, seconds=seconds, warmup=1)
                out[label][route] = _figures(latencies, errors)
            if label == "routed":
                out[label] |= await _against_day_fields(history, port, base, model, today, seconds)
        finally:
            stop_process(process, timeout=5)
    return out


async def _against_day_fields(
    history: HistoryStore, port: int, base: str, model: str, today: date, seconds: float, rounds: int = 4
) -> dict[str, Any]:
    """The routed 90-day answer from the window against the same answer joined from the 90 day
    fields (the window removed: the route before the windows), in alternating rounds so that the
    machine's other load hits both alike."""
    url = base + ROUTES[0][1].format(model=quote(model))
    runs: dict[str, tuple[list[float], list[int]]] = {"window": ([], []), "day fields": ([], [])}
    for _ in range(rounds):
        for variant, (latencies, errors) in runs.items():
            if variant == "window":
                await history.write_windows(TEXT, today, [model])
            else:
                await history.drop_windows(TEXT, [model])
            found, failed = await drive(port, url, False, 16, seconds=seconds / rounds, warmup=0.3)
            latencies.extend(found)
            errors.append(failed)
    await history.write_windows(TEXT, today, [model])
    return {
        f"model 90d alternating, {variant}": _figures(latencies, sum(errors)) | {"rounds": rounds}
        for variant, (latencies, errors) in runs.items()
    }


def _figures(latencies: list[float], errors: int) -> dict[str, Any]:
    return {
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "requests": len(latencies),
        "errors": errors,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(days: int, model_count: int) -> dict[str, Any]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    started = []
    if external:
        bootstrap = external
    else:
        bootstrap, broker_process, _ = start_tansu()
        started.append(broker_process)
    redis_url, redis_process = start_redis_server()
    started.append(redis_process)
    unique = uuid.uuid4().hex[:8]
    settings = KafkaSettings(
        bootstrap_servers=bootstrap, topic_prefix=f"b{unique}.", enable_idempotence=False
    )
    spec = HISTORY_DAILY.with_prefix(settings.topic_prefix)
    redis = Redis.from_url(redis_url)
    try:
        await ensure_topics(settings, (spec,))
        names = list(load_reference(TEXT).names())[:model_count]
        names += [f"generated-model-{i}" for i in range(model_count - len(names))]
        today = datetime.now(UTC).date()
        rollups = generated_days(names, days, today)
        partition = partition_for(TEXT, settings.topic_partitions)
        producer = make_producer(settings, client_id="bench-history")
        await producer.start()
        sizes = []
        try:
            for rollup in rollups:
                value = rollup.model_dump_json().encode()
                sizes.append(len(value))
                await producer.send(
                    spec.name, value, key=encode_key(*rollup_key(rollup)), partition=partition
                )
            await producer.flush()
        finally:
            await producer.stop()
        store = HistoryStore(redis, RedisKeys(f"b{unique}"))
        broker = make_broker(settings, client_id="bench-history")
        await broker.start()
        recorder = HistoryRecorder(
            store=store, broker=broker, spec=spec, kafka_settings=settings,
            partitions=settings.topic_partitions, retention_days=days, consumer_name="bench",
        )  # fmt: skip
        started_at = time.perf_counter()
        await recorder.load({partition})
        rebuild = time.perf_counter() - started_at
        await broker.stop()
        assert await store.is_built(TEXT)
        assert (await store.meta(TEXT))["first_day"] == rollups[0].day.isoformat()
        # What a worker adds once per UTC day: every model's window of the completed days re-joined.
        started_at = time.perf_counter()
        await store.write_windows(TEXT, today, names)
        window_seconds = time.perf_counter() - started_at

        # A model's 90-day history, 16 concurrent readers, 200 reads each.
        first = today - timedelta(days=89)
        latencies: list[float] = []

        async def reader(k: int) -> None:
            for j in range(200):
                name = names[(k * 200 + j) % len(names)]
                began = time.perf_counter()
                found = await store.model_history(TEXT, name, first, today)
                latencies.append((time.perf_counter() - began) * 1000)
                assert found is not None

        await asyncio.gather(*(reader(k) for k in range(16)))

        # The worker's added per-capture work at real size: observations and the fold.
        reference = load_reference(TEXT)
        snapshot = load_snapshot(TEXT)
        merged = merge_all_flags(ModelMatcher(reference.names(), HordeIndex.from_snapshot(snapshot)))
        plain = merged[(False, False)]
        risk = analyze_all(reference, merged[(True, True)], RiskThresholds())
        risk_models = risk[False]
        fold_ms = []
        held = None
        for k in range(50):
            began = time.perf_counter()
            observations = observations_of(risk_models, plain)
            moment = datetime.combine(today, dtime(0, k), tzinfo=UTC)
            held = fold_capture(held, category=TEXT, captured_at=moment, observations=observations)
            fold_ms.append((time.perf_counter() - began) * 1000)
        recompute = recompute_with_lifecycle(rollups, today)
        route = await route_latencies(redis, redis_url, f"b{unique}", names[0], today)
    finally:
        await redis.aclose()
        for process in reversed(started):
            stop_process(process, timeout=5)
    return {
        "machine": platform.platform(),
        "broker": "external" if external else "tansu (embedded)",
        "days": days,
        "models": model_count,
        "record_bytes_median": int(statistics.median(sizes)),
        "rebuild_seconds": round(rebuild, 2),
        "rebuild_target_seconds": REBUILD_TARGET_SECONDS,
        "daily_window_rewrite_seconds": round(window_seconds, 2),
        "model_history_90d_ms": {
            "p50": round(percentile(latencies, 0.5), 3),
            "p99": round(percentile(latencies, 0.99), 3),
            "readers": 16,
            "reads": len(latencies),
        },
        "capture_fold_ms_median": round(statistics.median(fold_ms), 3),
        "recompute_text_ms_median": recompute,
        "history_route_90d": route,
        "capture_models": len(held.models) if held is not None else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--models", type=int, default=720)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    result = asyncio.run(run(args.days, args.models))
    print(json.dumps(result, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
