"""Load test of the gateway against the limit of a bare ASGI app serving the same bytes.

    python -m bench.gateway_load [--seconds 1] [--warmup 0.3] [--rounds 5] [--concurrency 1,16]
                                 [--only VARIANT,...] [--no-pin] [--no-routed] [--json PATH]

Starts a loopback redis-server, fills it with the real recompute of today's references × the
synthetic Horde snapshot (``bench.gateway_fill``), starts the gateway (``python -m
services.gateway``: uvicorn, one process), a second gateway with answer replay off (``routed``:
what the first request of each query costs after a generation change, views already cached)
and ``bench.gateway_limit`` (uvicorn, one process, the exact bytes and headers the gateway
answered per URL). Servers share one core, this load generator (keep-alive HTTP/1.1 on asyncio
streams over uvloop; ``wrk`` is not installed) and redis-server the other. Each variant runs
``--rounds`` times per server, interleaved, and the table gives the median round's req/s, p50
and p99 over all rounds, the ratio to the limit (the median of the per-round ratios: each round
runs next to the limit's, so a burst of other load on the machine hits both) and how busy each
side's CPU was. Writes JSON.
Loopback only; every phase is time-bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import multiprocessing
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from redis.asyncio import Redis

from bench.gateway_fill import category_inputs, fill
from devtools.devstack.ports import free_port, wait_until
from devtools.devstack.redis_server import start_redis_server
from services.analytics.recompute import recompute
from shared.domain.categories import ModelCategory
from shared.domain.risk.listing import VALID_SORT_FIELDS
from shared.domain.risk.presets import VALID_PRESETS
from shared.domain.risk.thresholds import RiskThresholds
from shared.materialized.with_stats_listing import WITH_STATS_SORT_FIELDS
from shared.redis_keys import RedisKeys
from shared.runtime import run_process
from shared.store.generations import GenerationStore

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "gateway.json"
P = "/model_references/statistics"
#: (variant name, URL, accept gzip). Full-category answers unless a page is asked for.
R = f"{P}/text_generation/deletion-risk"
VARIANTS: tuple[tuple[str, str, bool], ...] = (
    ("text risk", R, False),
    ("text risk gzip", R, True),
    ("text risk grouped", f"{R}?group_text_models=true", False),
    ("text risk preset", f"{R}?preset=deletion_candidates", False),
    ("text risk grouped preset", f"{R}?group_text_models=true&preset=deletion_candidates", False),
    ("text risk page", f"{R}?limit=50&offset=100", False),
    ("text risk preset page", f"{R}?preset=deletion_candidates&limit=50", False),
    ("text risk grouped preset page", f"{R}?group_text_models=true&preset=no_workers&limit=50", False),
    ("image with-stats", f"{P}/image_generation/with-stats", False),
    ("image with-stats gzip", f"{P}/image_generation/with-stats", True),
    ("image with-stats workers", f"{P}/image_generation/with-stats?include_workers=true", False),
)  # fmt: skip
TARGET_RATIO, TARGET_P99_MS = 0.70, 10.0
#: Targets of the routed column (replay off), the mixed stream and the churn scenario (issue 16).
TARGET_ROUTED_RATIO, TARGET_MIXED_RATIO, TARGET_CHURN_P99_MS = 0.5, 0.4, 50.0
#: The mixed stream's variant name: many distinct queries, most of them a first request.
MIXED = "mixed"
IMG = f"{P}/image_generation"
#: Full views: 30 % of the mixed stream.
FULL_VIEWS = (
    R, f"{R}?group_text_models=true", f"{IMG}/deletion-risk", f"{P}/text_generation/with-stats",
    f"{IMG}/with-stats", f"{IMG}/with-stats?include_workers=true", f"{P}/text_generation", IMG,
)  # fmt: skip
SEARCH_TERMS = ("llama", "mistral", "13b", "7b", "qwen", "stable", "xl", "gguf", "koboldcpp", "anime")


def mixed_queries(count: int = 320, seed: int = 16) -> list[str]:
    """``count`` distinct filtered queries: presets, sorts, searches and pages of both runtime
    categories' listings (deterministic, so every server gets the same stream)."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        category = rng.choice(("text_generation", "image_generation"))
        route = rng.choice(("deletion-risk", "deletion-risk", "with-stats"))
        params: list[str] = []
        if route == "deletion-risk":
            if rng.random() < 0.6:
                params.append(f"preset={rng.choice(VALID_PRESETS)}")
            if category == "text_generation" and rng.random() < 0.3:
                params.append("group_text_models=true")
            if rng.random() < 0.5:
                params.append(
                    f"sort_by={rng.choice(VALID_SORT_FIELDS)}&sort_desc={rng.choice(('true', 'false'))}"
                )
            if rng.random() < 0.7:
                params.append(
                    f"limit={rng.choice((10, 25, 50, 100))}&offset={rng.choice((0, 25, 50, 100, 200))}"
                )
        else:
            params.append(f"sort_by={rng.choice(WITH_STATS_SORT_FIELDS)}")
            if rng.random() < 0.3:
                params.append("include_workers=true")
        if rng.random() < 0.3:
            params.append(f"search={rng.choice(SEARCH_TERMS)}")
        if params:
            found[f"{P}/{category}/{route}?{'&'.join(params)}"] = None
    return list(found)


def mixed_stream(queries: list[str], length: int, seed: int) -> list[str]:
    """One connection's request stream: 30 % full views, 70 % the distinct queries."""
    rng = random.Random(seed)
    return [rng.choice(FULL_VIEWS) if rng.random() < 0.3 else rng.choice(queries) for _ in range(length)]


@dataclass(frozen=True)
class Measurement:
    """One (server, variant, concurrency) run; times in milliseconds."""

    server: str
    variant: str
    concurrency: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    body_bytes: int
    #: Busy fraction of one CPU during the rounds (server process; this load generator): shows
    #: which side was the bottleneck. ``None`` where ``/proc`` is not readable.
    server_cpu: float | None = None
    generator_cpu: float | None = None
    #: Median over rounds of this server's req/s divided by the limit's in the same round (each
    #: pair run back to back, so a burst of other load on the machine hits both); ``None`` for
    #: the limit itself.
    ratio_to_limit: float | None = None


@dataclass(frozen=True)
class Round:
    """One timed run of one variant on one server."""

    latencies: list[float]
    errors: int
    server_cpu: float | None
    generator_cpu: float


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads) so far, from ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_round(
    pid: int, port: int, url: str, zipped: bool, concurrency: int, seconds: float, warmup: float
) -> Round:
    server_before, generator_before, wall_before = cpu_seconds(pid), time.process_time(), time.perf_counter()
    latencies, errors = run_process(drive(port, url, zipped, concurrency, seconds, warmup))
    wall = time.perf_counter() - wall_before
    server_after = cpu_seconds(pid)
    server = None if server_before is None or server_after is None else (server_after - server_before) / wall
    return Round(latencies, errors, server, (time.process_time() - generator_before) / wall)


def cpu_split(pin: bool) -> tuple[set[int], set[int]] | None:
    """(server CPUs, load-generator CPUs): one core each on a two-core machine, so a run does not
    depend on where the scheduler happens to put the two busy processes; ``None``: no pinning."""
    if not pin or not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


def start(
    args: list[str], env: dict[str, str], port: int, cpus: set[int] | None = None
) -> subprocess.Popen[bytes]:
    """A server subprocess (on ``cpus``, with every thread it starts), returned once it answers."""
    process = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )  # fmt: skip

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 404)
        except httpx.HTTPError:
            return process.poll() is None and False

    wait_until(ready, timeout=30, what=" ".join(args[:3]))
    return process


def record(base: str, directory: Path, extra: list[str]) -> None:
    """Fetch every variant (and ``extra`` URLs, identity) from the gateway; store the bytes for
    the limit app."""
    index = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for n, (_, url, zipped) in enumerate([*VARIANTS, *((u, u, False) for u in extra)]):
            headers = {"accept-encoding": "gzip" if zipped else "identity"}
            with client.stream("GET", url, headers=headers) as response:
                body = b"".join(response.iter_raw())
            assert response.status_code == 200, (url, response.status_code)
            (directory / f"{n}.body").write_bytes(body)
            # Every header but the two uvicorn adds to any answer: the same bytes on the wire.
            headers = [
                [k.decode("latin-1"), v.decode("latin-1")]
                for k, v in response.headers.raw
                if k.lower() not in (b"date", b"server")
            ]
            index.append({
                "url": url, "file": f"{n}.body", "headers": headers,
                "content_encoding": response.headers.get("content-encoding", ""),
            })  # fmt: skip
    (directory / "index.json").write_text(json.dumps(index))


async def _connection(
    port: int, requests: list[bytes], warm_until: float, deadline: float, out: list[float]
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    sent = 0
    try:
        while (start_at := time.perf_counter()) < deadline:
            writer.write(requests[sent % len(requests)])
            sent += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if head[9:12] != b"200":
                errors += 1
            if start_at >= warm_until:
                out.append(time.perf_counter() - start_at)
    finally:
        writer.close()
    return errors


async def drive(
    port: int, url: str, zipped: bool, concurrency: int, seconds: float, warmup: float
) -> tuple[list[float], int]:
    """Latencies of every request started after the warm-up, and the count of non-200 answers.
    ``url`` ``MIXED``: each connection sends its own mixed stream (``mixed_stream``)."""
    encoding = b"gzip" if zipped else b"identity"

    def request(target: str) -> bytes:
        return (
            b"GET "
            + target.encode()
            + b" HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: "
            + encoding
            + b"\r\n\r\n"
        )

    queries = mixed_queries() if url == MIXED else []
    streams = [
        [request(u) for u in (mixed_stream(queries, 4000, seed=n) if url == MIXED else [url])]
        for n in range(concurrency)
    ]
    now = time.perf_counter()
    latencies: list[float] = []
    errors = await asyncio.gather(
        *(_connection(port, s, now + warmup, now + warmup + seconds, latencies) for s in streams)
    )
    return latencies, sum(errors)


def summarise(
    server: str, variant: str, concurrency: int, rounds: list[Round], seconds: float, body_bytes: int,
    limit: list[Round] | None = None,
) -> Measurement:  # fmt: skip
    """One row from several rounds: the median round's req/s, percentiles over all latencies and,
    given the limit's rounds (same order), the median of the per-round ratios to it."""
    ms = sorted(x * 1000 for r in rounds for x in r.latencies)
    rps = statistics.median(len(r.latencies) / seconds for r in rounds)
    busy = [r.server_cpu for r in rounds if r.server_cpu is not None]
    paired = zip(rounds, limit, strict=True) if limit is not None else ()
    pairs = [len(r.latencies) / len(lim.latencies) for r, lim in paired if lim.latencies]
    return Measurement(
        server, variant, concurrency, len(ms), sum(r.errors for r in rounds), round(rps, 1),
        round(statistics.median(ms), 3), round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3), body_bytes,
        round(statistics.median(busy), 2) if busy else None,
        round(statistics.median(r.generator_cpu for r in rounds), 2),
        round(statistics.median(pairs), 3) if pairs else None,
    )  # fmt: skip


def measure(
    servers: dict[str, tuple[int, int]],
    concurrency: int,
    seconds: float,
    warmup: float,
    rounds: int,
    sizes: dict[str, int],
    variants: tuple[tuple[str, str, bool], ...] = VARIANTS,
) -> list[Measurement]:
    """Every variant on every server (name → (port, pid)), rounds interleaved (gateway, limit,
    gateway, …) so that a change in the machine's other load hits both sides alike."""
    rows = []
    for variant, url, zipped in variants:
        runs: dict[str, list[Round]] = {server: [] for server in servers}
        for _ in range(rounds):
            for server, (port, pid) in servers.items():
                runs[server].append(timed_round(pid, port, url, zipped, concurrency, seconds, warmup))
        for server, results in runs.items():
            limit = None if server == "limit" else runs.get("limit")
            rows.append(summarise(server, variant, concurrency, results, seconds, sizes[variant], limit))
    return rows


CHURN_EVERY_SECONDS = 2.0


async def _churn(redis_url: str, stop: asyncio.Event) -> int:
    """Write a new text generation every ``CHURN_EVERY_SECONDS`` as the worker writes one (the
    same views, a later input offset: pointer swapped, announcement published)."""
    category = ModelCategory.TEXT_GENERATION
    generation = recompute(
        category, category_inputs(category), RiskThresholds(), computed_at=int(time.time())
    )
    assert generation is not None
    redis = Redis.from_url(redis_url)
    store = GenerationStore(redis, RedisKeys("bench"), superseded_ttl_seconds=60)
    written = 0
    try:
        while not stop.is_set():
            written += 1
            basis = dataclasses.replace(generation.basis, status_seq=10_000 + written)
            await store.write(category, f"{generation.generation}-churn{written}", generation.views, basis)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CHURN_EVERY_SECONDS)
    finally:
        await redis.aclose()
    return written


def _churn_process(redis_url: str, seconds: float) -> None:
    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await _churn(redis_url, stop)

    asyncio.run(run())


def churn_round(redis_url: str, gateway: tuple[int, int], seconds: float, warmup: float) -> Measurement:
    """The mixed stream at 16 connections while another process writes new generations."""
    writer = multiprocessing.get_context("spawn").Process(
        target=_churn_process, args=(redis_url, seconds + warmup + 1), daemon=True
    )
    writer.start()
    try:
        port, pid = gateway
        result = timed_round(pid, port, MIXED, False, 16, seconds, warmup)
    finally:
        writer.join(timeout=seconds + warmup + 30)
    return summarise("gateway", "churn", 16, [result], seconds, 0)


def _busy(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def format_table(rows: list[Measurement]) -> str:
    """Gateway vs limit per variant and concurrency, with how busy each side's CPU was."""
    limit = {(r.variant, r.concurrency): r for r in rows if r.server == "limit"}
    routed = {(r.variant, r.concurrency): r for r in rows if r.server == "routed"}
    lines = [
        "| variant | conc | body bytes | gateway req/s | p50 ms | p99 ms | limit req/s | limit p50 "
        "| limit p99 | ratio | CPU gateway / limit / generator | routed req/s | routed p99 ms "
        "| routed ratio |",
        "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
    ]
    for r in (r for r in rows if r.server == "gateway"):
        lim = limit[(r.variant, r.concurrency)]
        slow = routed.get((r.variant, r.concurrency))
        lines.append(
            f"| {r.variant} | {r.concurrency} | {r.body_bytes} | {r.rps:.0f} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {lim.rps:.0f} | {lim.p50_ms:.2f} | {lim.p99_ms:.2f} | {_ratio(r)} "
            f"| {_busy(r.server_cpu)} / {_busy(lim.server_cpu)} / {_busy(lim.generator_cpu)} "
            f"| {f'{slow.rps:.0f}' if slow else '–'} | {f'{slow.p99_ms:.2f}' if slow else '–'} "
            f"| {_ratio(slow)} |"
        )
    return "\n".join(lines)


def _ratio(row: Measurement | None) -> str:
    return "–" if row is None or row.ratio_to_limit is None else f"{row.ratio_to_limit:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, default=0.3, help="unmeasured seconds before each round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per variant and server")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    parser.add_argument(
        "--no-pin", action="store_true", help="let the scheduler place servers and the load generator"
    )
    parser.add_argument(
        "--no-routed", action="store_true", help="skip the gateway without answer replay (routed path)"
    )
    parser.add_argument("--no-mixed", action="store_true", help="skip the mixed stream of distinct queries")
    parser.add_argument(
        "--churn-seconds",
        type=float,
        default=10.0,
        help="mixed load under a new generation every 2 s (0: skip)",
    )
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    wanted = {v.strip() for v in args.only.split(",") if v.strip()}
    unknown = wanted - {v for v, _, _ in VARIANTS}
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {[v for v, _, _ in VARIANTS]}")
    chosen = tuple(v for v in VARIANTS if not wanted or v[0] in wanted)
    if not args.no_mixed:
        chosen += ((MIXED, MIXED, False),)
    split = cpu_split(not args.no_pin)
    server_cpus, generator_cpus = split if split else (None, None)
    if generator_cpus:
        os.sched_setaffinity(0, generator_cpus)  # this process, and redis-server started from it
    redis_url, redis = start_redis_server()
    processes: list[subprocess.Popen[bytes]] = [redis]
    try:
        asyncio.run(fill(redis_url, "bench"))
        gateway_port, limit_port, routed_port = free_port(), free_port(), free_port()
        for port, replay_bytes in ((gateway_port, None), (routed_port, "0")):
            processes.append(start(
                [sys.executable, "-m", "services.gateway"],
                {"HORDE_REDIS__URL": redis_url, "HORDE_REDIS__KEY_PREFIX": "bench",
                 "HORDE_HTTP_HOST": "127.0.0.1", "HORDE_HTTP_PORT": str(port), "HORDE_LOG_LEVEL": "WARNING",
                 **({"HORDE_GATEWAY__ANSWER_CACHE_BYTES": replay_bytes} if replay_bytes else {})},
                port, server_cpus,
            ))  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="gateway-limit-") as directory:
            extra = [] if args.no_mixed else mixed_queries()
            record(f"http://127.0.0.1:{gateway_port}", Path(directory), extra)
            sizes = {
                v: (Path(directory) / f"{n}.body").stat().st_size for n, (v, _, _) in enumerate(VARIANTS)
            }
            sizes[MIXED] = len(extra)  # the mixed row's "body bytes": its count of distinct queries
            processes.append(start(
                [sys.executable, "-m", "uvicorn", "bench.gateway_limit:app", "--host", "127.0.0.1",
                 "--port", str(limit_port), "--workers", "1", "--log-level", "warning", "--no-access-log"],
                {"BENCH_LIMIT_DIR": directory}, limit_port, server_cpus,
            ))  # fmt: skip
            servers = {
                "gateway": (gateway_port, processes[1].pid),
                "limit": (limit_port, processes[3].pid),
                **({} if args.no_routed else {"routed": (routed_port, processes[2].pid)}),
            }
            rows: list[Measurement] = []
            for concurrency in levels:
                rows += measure(servers, concurrency, args.seconds, args.warmup, args.rounds, sizes, chosen)
            churn = (
                churn_round(redis_url, servers["gateway"], args.churn_seconds, args.warmup)
                if args.churn_seconds > 0
                else None
            )
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)
    print(format_table(rows))
    if churn is not None:
        print(f"\nchurn (mixed stream, 16 connections, a new generation every {CHURN_EVERY_SECONDS} s): "
              f"{churn.rps:.0f} req/s, p50 {churn.p50_ms:.2f} ms, p99 {churn.p99_ms:.2f} ms, "
              f"{churn.errors} non-200 (target p99 ≤ {TARGET_CHURN_P99_MS:.0f} ms)")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "machine": {
            "python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()
        },
        "settings": {
            "seconds": args.seconds, "warmup": args.warmup, "rounds": args.rounds, "concurrency": levels,
            "server_cpus": sorted(server_cpus or ()), "generator_cpus": sorted(generator_cpus or ()),
        },
        "targets": {
            "ratio_to_limit": TARGET_RATIO, "p99_ms_at_16": TARGET_P99_MS,
            "routed_ratio": TARGET_ROUTED_RATIO, "mixed_ratio": TARGET_MIXED_RATIO,
            "churn_p99_ms": TARGET_CHURN_P99_MS,
        },
        "rows": [asdict(r) for r in rows],
        "churn": asdict(churn) if churn is not None else None,
    }, indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
