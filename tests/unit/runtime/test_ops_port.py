"""HORDE_OPS_PORT: probes and metrics on their own port, the rest on the HTTP port (issue 19).

Real uvicorn servers on free loopback ports; the Kubernetes Service and Ingress publish only the
HTTP port, so nothing there may answer ``/metrics``, ``/readyz`` or ``/healthz``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shared.runtime import OPS_PATHS, ops_app, run_service
from shared.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _api(_: Request) -> Response:
    return PlainTextResponse("api")


async def _ready() -> bool:
    return True


@asynccontextmanager
async def serving(app: Any, **ports: Any) -> AsyncIterator[Callable[[int], httpx.AsyncClient]]:
    """``run_service`` in-process until the block ends; yields a client factory per port."""
    stop = asyncio.Event()
    main: Callable[[asyncio.Event], Coroutine[Any, Any, None]] = lambda s: s.wait()  # noqa: E731
    task = asyncio.create_task(run_service("test", app, host="127.0.0.1", main=main, stop=stop, **ports))
    watched = ports.get("ops_port") or ports["port"]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{watched}", timeout=2) as probe:
            for _ in range(300):  # bounded: until the server answers
                try:
                    await probe.get("/healthz")
                    break
                except httpx.TransportError:
                    assert not task.done(), task
                    await asyncio.sleep(0.05)
        yield lambda port: httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, timeout=30) == 0


async def test_ops_port_serves_probes_and_metrics_and_the_http_port_only_the_rest() -> None:
    app = ops_app({"dep": _ready}, [Route("/api", _api, methods=["GET"])])
    http, ops = free_port(), free_port()
    async with serving(app, port=http, ops_port=ops) as client:
        async with client(ops) as c:
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/readyz")).json() == {"ready": True, "checks": {"dep": True}}
            # Each readiness check also sets hma_dependency_up (alerts Hma{Broker,Redis}Unreachable).
            assert 'hma_dependency_up{dependency="dep"} 1.0' in (await c.get("/metrics")).text
            assert "python_info" in (await c.get("/metrics")).text
            assert (await c.get("/api")).status_code == 404
        async with client(http) as c:
            assert (await c.get("/api")).text == "api"
            for path in OPS_PATHS:
                assert (await c.get(path)).status_code == 404, path


async def test_without_api_only_the_ops_port_is_bound() -> None:
    """Poller and watcher have nothing but probes: with an ops port they bind only that one."""
    http, ops = free_port(), free_port()
    async with serving(ops_app({}), port=http, ops_port=ops, api=False) as client:
        async with client(ops) as c:
            assert (await c.get("/readyz")).status_code == 200
        async with client(http) as c:
            with pytest.raises(httpx.ConnectError):
                await c.get("/healthz")


async def test_ops_port_zero_keeps_everything_on_the_http_port() -> None:
    """The default (local runs, tests): one server, probes beside the API."""
    assert Settings().ops_port == 0
    http = free_port()
    app = ops_app({}, [Route("/api", _api, methods=["GET"])])
    async with serving(app, port=http) as client, client(http) as c:
        assert (await c.get("/api")).status_code == 200
        assert (await c.get("/metrics")).status_code == 200
