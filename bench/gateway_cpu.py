"""CPU per request inside the gateway app, without HTTP: replayed and routed, per variant.

    python -m bench.gateway_cpu [--batches 40] [--batch 100] [--json PATH]

``bench.gateway_load`` measures what clients see, but on a shared 2-core machine its ratios move
with whatever else runs. This one calls the app's ASGI entry in a loop (the whole middleware
stack, routing, parameters, selection, rendering, headers; the server's ``send`` is a no-op) for
the same variants, once with answer replay and once without (``routed``: what a query's first
answer after a generation change costs, views already cached), and reports the *minimum* over
batches: the cost when the process had the core, which other jobs inflate but cannot lower.
It starts a loopback redis-server filled as ``bench.gateway_fill`` does. Writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench.gateway_fill import fill
from bench.gateway_load import VARIANTS
from devtools.devstack.redis_server import start_redis_server
from services.gateway.app import create_app
from shared.settings import Settings

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "gateway_cpu.json"


def _scope(url: str, zipped: bool) -> dict[str, Any]:
    path, _, query = url.partition("?")
    headers = [(b"host", b"bench"), (b"user-agent", b"bench")]
    if zipped:
        headers.append((b"accept-encoding", b"gzip"))
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip


async def _measure(redis_url: str, replay: bool, batches: int, batch: int) -> dict[str, float]:
    """µs per request of each variant (minimum over ``batches`` of ``batch`` requests)."""
    settings = Settings.model_validate(
        {"redis": {"url": redis_url, "key_prefix": "bench"},
         "gateway": {"answer_cache_bytes": 32 * 1024 * 1024 if replay else 0}}
    )  # fmt: skip
    app = create_app(settings)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    results: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        for name, url, zipped in VARIANTS:
            for _ in range(batch):  # warm: views and indexes loaded, the answer recorded
                await app(_scope(url, zipped), receive, send)
            if set(statuses) != {200}:
                raise RuntimeError(f"{name}: statuses {sorted(set(statuses))}")
            best = float("inf")
            for _ in range(batches):
                started = time.perf_counter()
                for _ in range(batch):
                    await app(_scope(url, zipped), receive, send)
                best = min(best, (time.perf_counter() - started) / batch)
            results[name] = round(best * 1e6, 1)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch", type=int, default=100, help="requests per batch")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    redis_url, redis = start_redis_server()
    try:
        asyncio.run(fill(redis_url, "bench"))
        replayed = asyncio.run(_measure(redis_url, True, args.batches, args.batch))
        routed = asyncio.run(_measure(redis_url, False, args.batches, args.batch))
    finally:
        redis.terminate()
        redis.wait(timeout=10)
    print("| variant | replayed µs/request | routed µs/request |")
    print("| --- | --: | --: |")
    for name, _, _ in VARIANTS:
        print(f"| {name} | {replayed[name]:.1f} | {routed[name]:.1f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "python": platform.python_version(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "batches": args.batches, "batch": args.batch, "replayed_us": replayed, "routed_us": routed,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
