"""The gateway with HORDE_OPS_PORT (as deployed): API on the HTTP port, probes and metrics apart.

Real Redis; the same app object serves both ports, so the ops server's ``/readyz`` sees the Redis
client the API's lifespan opened.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from services.gateway.app import create_app
from shared.runtime import run_service
from shared.settings import RedisSettings, Settings

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_gateway_serves_api_and_ops_on_separate_ports(redis_url: str, unique: str) -> None:
    http, ops = free_port(), free_port()
    settings = Settings(
        http_host="127.0.0.1",
        http_port=http,
        ops_port=ops,
        redis=RedisSettings(url=redis_url, key_prefix=f"ops-{unique}"),
    )
    stop = asyncio.Event()

    async def idle(event: asyncio.Event) -> None:
        await event.wait()

    service = asyncio.create_task(
        run_service(
            "gateway", create_app(settings), host="127.0.0.1", port=http, ops_port=ops, main=idle, stop=stop
        )
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ops}", timeout=2) as probe:
            for _ in range(600):  # bounded wait until the gateway is ready
                try:
                    if (await probe.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert not service.done(), service
                await asyncio.sleep(0.05)
            ready = await probe.get("/readyz")
            assert ready.json() == {"ready": True, "checks": {"redis": True}}
            exported = (await probe.get("/metrics")).text
            assert "hma_gateway_request_seconds" in exported
            assert 'hma_dependency_up{dependency="redis"} 1.0' in exported  # HmaRedisUnreachable reads it
            assert (await probe.get("/model_references/statistics/categories")).status_code == 404
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http}", timeout=5) as api:
            for path in ("/metrics", "/readyz", "/healthz"):
                assert (await api.get(path)).status_code == 404, path
            answer = await api.get("/model_references/statistics/image_generation/with-stats")
            # Served by the gateway's routes (nothing written yet: its JSON error), not the split's 404.
            assert answer.headers["content-type"].startswith("application/json"), answer.text
            assert (await api.get("/openapi.json")).status_code == 200
    finally:
        stop.set()
        assert await asyncio.wait_for(service, timeout=30) == 0
