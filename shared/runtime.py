"""Process lifecycle shared by every service: HTTP server, probes, SIGTERM, background work.

Each service is one asyncio process: its main coroutine runs beside a uvicorn server that
serves ``/healthz`` (the process is alive), ``/readyz`` (every dependency answers) and
``/metrics``. SIGTERM/SIGINT set a stop event; the service finishes its current step, closes
its clients and exits 0. If the main coroutine dies, the process exits non-zero.

With ``HORDE_OPS_PORT`` set, those three paths move to a second server on that port (and
answer 404 on the HTTP port), so an Ingress or Service that publishes the API port never
publishes metrics or probes; in Kubernetes only the monitoring namespace may reach the ops port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from typing import Any, Literal, NoReturn, TypeVar

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared import tracing
from shared.logging import configure_logging
from shared.metrics import DEPENDENCY_UP, render_metrics
from shared.settings import Settings

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]
T = TypeVar("T")
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

#: Paths of the ops server (probes and metrics).
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service runtime owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _check_all(checks: dict[str, ReadinessCheck], limit_seconds: float) -> dict[str, bool]:
    async def one(check: ReadinessCheck) -> bool:
        try:
            return bool(await asyncio.wait_for(check(), limit_seconds))
        except Exception:
            return False

    results = await asyncio.gather(*(one(c) for c in checks.values()))
    for dependency, ok in zip(checks, results, strict=True):
        DEPENDENCY_UP.labels(dependency).set(1 if ok else 0)
    return dict(zip(checks, results, strict=True))


def probe_routes(checks: dict[str, ReadinessCheck], *, timeout: float = 2.0) -> list[BaseRoute]:
    """``/healthz``, ``/readyz`` and ``/metrics`` routes over the given readiness checks."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> Response:
        results = await _check_all(checks, timeout)
        ready = all(results.values())
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def ops_app(checks: dict[str, ReadinessCheck], extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The small HTTP app of a non-HTTP service: probes, metrics and any extra routes."""
    return Starlette(routes=[*probe_routes(checks), *extra_routes])


def split_paths(app: ASGIApp, paths: frozenset[str], *, keep: bool) -> ASGIApp:
    """``app`` limited to ``paths`` (``keep``) or to every other path: the rest answer 404.

    One application object serves both ports, so the probes keep seeing the state the API's
    lifespan set up; only the HTTP server runs that lifespan.
    """

    async def limited(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (scope["path"] in paths) != keep:
            await Response("Not Found", status_code=404, media_type="text/plain")(scope, receive, send)
            return
        await app(scope, receive, send)

    return limited


def run_process(main: Coroutine[Any, Any, T]) -> T:
    """Run a service's top coroutine on uvloop when it is installed (as ``uvicorn`` itself would
    choose), else on asyncio's default loop. ``asyncio.run`` alone never picks uvloop, and the
    default loop costs the gateway about a third of its throughput."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def run_service(
    name: str,
    http_app: Any,
    *,
    host: str,
    port: int,
    main: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    stop: asyncio.Event | None = None,
    ops_port: int = 0,
    api: bool = True,
) -> int:
    """Run ``main(stop)`` beside the HTTP server until SIGTERM/SIGINT or until either ends.

    ``ops_port`` > 0 serves :data:`OPS_PATHS` of ``http_app`` on that port and the rest on
    ``port``; ``api=False`` (a service whose app has only ops routes) then skips the HTTP port.
    A caller that passes its own ``stop`` event (tests running a service in-process) stops it by
    setting the event; signal handlers are installed only when the runtime owns the event.
    Returns the process exit code: 0 after a requested stop, 1 if ``main`` or the server failed.
    """
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    listeners: list[tuple[Any, int, Literal["on", "off"]]] = [(http_app, port, "on")]
    if ops_port > 0:
        ops = split_paths(http_app, OPS_PATHS, keep=True)
        rest = split_paths(http_app, OPS_PATHS, keep=False)
        # The lifespan runs once, with the first server: the API's, or the ops server's alone.
        listeners = [(rest, port, "on"), (ops, ops_port, "off")] if api else [(ops, ops_port, "on")]
    servers = {
        _QuietServer(
            uvicorn.Config(app, host=host, port=at, log_config=None, access_log=False, lifespan=lifespan)
        ): at
        for app, at, lifespan in listeners
    }
    server_tasks = {
        asyncio.create_task(server.serve(), name=f"{name}-http-{at}"): at for server, at in servers.items()
    }
    main_task = asyncio.create_task(main(stop), name=f"{name}-main")
    stop_task = asyncio.create_task(stop.wait(), name=f"{name}-stop")
    done, _ = await asyncio.wait({*server_tasks, main_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    if main_task in done and not stop.is_set():
        exit_code = 1
        if main_task.exception() is not None:
            log.error("service main loop failed", exc_info=main_task.exception())
    for task, at in server_tasks.items():
        if task in done and not stop.is_set():
            exit_code = 1
            log.error("HTTP server stopped unexpectedly (port %s taken?)", at)
    stop.set()
    log.info("stopping", extra={"service": name})
    with contextlib.suppress(Exception):
        await asyncio.wait_for(main_task, timeout=20)
    if not main_task.done():
        main_task.cancel()
        with contextlib.suppress(BaseException):
            await main_task
    for server in servers:
        server.should_exit = True
    for task in server_tasks:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
    stop_task.cancel()
    return exit_code


def bootstrap(
    service: str,
    serve: Callable[[Any], Coroutine[Any, Any, int]],
    *,
    check: Callable[[Any], object] | None = None,
) -> NoReturn:
    """The one start-up of every service (``services/<name>/__main__.py``): settings read once from
    the environment, JSON logs, tracing, then ``serve(settings)`` (which builds the app and runs it
    with :func:`run_service`: ops server, SIGTERM/SIGINT) on :func:`run_process`; the exit code is
    ``serve``'s. Settings that do not validate (or fail ``check``) exit 2 with the reason, before
    any connection is made."""
    try:
        settings = Settings()
        if check is not None:
            check(settings)
    except ValidationError as exc:
        configure_logging(service, "INFO")
        log.error("invalid settings: %s", exc.errors()[0]["msg"])
        print(f"horde-{service}: invalid settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(service, settings.log_level, json_lines=settings.log_json)
    tracing.configure(service)
    raise SystemExit(run_process(serve(settings)))
