"""The gateway's FastAPI application: upstream routes over materialised views, probes, metrics.

Read-only and bounded: GET routes only (HEAD answered by them, OPTIONS by CORS when enabled),
a query-string cap before routing, a cap on concurrent event streams. Answers are ``Response``
objects built from stored bytes; the response models only document them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import RedisError

from services.gateway.answer import Gateway
from services.gateway.answer_cache import AnswerCache
from services.gateway.cache import ViewCache
from services.gateway.errors import GatewayError, failure, invalid_request, store_unavailable
from services.gateway.openapi_docs import document
from services.gateway.pointers import PointerCache
from services.gateway.request_context import RequestContext
from services.gateway.review.routes import router as review_router
from services.gateway.routes import (
    deletion_risk,
    events,
    heartbeat,
    history,
    proposals,
    statistics,
    with_stats,
)
from services.gateway.routes.common import PREFIX
from services.gateway.routes.events import StreamSlots
from services.gateway.stack import GatewayApp
from services.gateway.streams import StreamHub
from shared import tracing
from shared.collector import freeze_startup_objects
from shared.domain.categories import RUNTIME_CATEGORIES
from shared.metrics import DEPENDENCY_UP, render_metrics
from shared.redis_keys import RedisKeys
from shared.runtime import run_service
from shared.settings import Settings
from shared.store.generations import GenerationStore

log = logging.getLogger(__name__)

EXPOSED_HEADERS = [
    "ETag", "Last-Modified", "X-Generation", "X-Computed-At", "X-Data-Stale", "X-Reference-Version",
    "X-Horde-Snapshot-At", "X-Horde-Stats-At", "X-Horde-Workers-At", "X-Horde-Confirmed-At",
    "X-Missing-Sources", "Retry-After", "X-Horde-Moved-On", "X-Request-Id",
]  # fmt: skip

DESCRIPTION = """Read-only statistics and deletion risk of the AI Horde model reference.

Every answer is read from what the analytics workers materialised (no computation on request).
Object bodies carry a `freshness` field; every answer carries `ETag`, `Last-Modified`,
`X-Computed-At`, `X-Reference-Version`, `X-Horde-Snapshot-At` and `X-Data-Stale` headers and
answers `304` to a matching `If-None-Match`. `Accept-Encoding: gzip` is honoured."""


#: Connections of the stream client beyond one reader per category (resumes read their backlog).
STREAM_BACKLOG_CONNECTIONS = 4


def redis_client(
    settings: Settings,
    *,
    max_connections: int,
    socket_timeout: float | None = None,
    like: Redis | None = None,
    retries: int = 10,
) -> Redis:
    """A client with its own pool that waits for a free connection rather than failing at once;
    to the server of ``like`` (an injected client) when given, else to ``settings.redis.url``.

    ``retries`` on a lost connection (a Redis restart leaves every pooled connection stale), with
    redis-py's default backoff (10 ms doubling to 1 s); 1 without backoff for the probe, which
    must answer fast, and for the stream readers, which back off and log an outage themselves."""
    wait = settings.redis.socket_timeout_seconds
    backoff = ExponentialWithJitterBackoff(base=0.01, cap=1.0) if retries > 1 else NoBackoff()
    options = {
        "socket_timeout": wait if socket_timeout is None else socket_timeout,
        "retry": Retry(backoff, retries),
    }
    if like is None:
        password = settings.redis.password.get_secret_value() or None
        options |= {"max_connections": max_connections, "timeout": wait, "socket_connect_timeout": wait}
        pool = BlockingConnectionPool.from_url(settings.redis.url, password=password, **options)
    else:
        source = like.connection_pool
        kwargs = {k: v for k, v in source.connection_kwargs.items() if k != "max_connections"}
        pool = BlockingConnectionPool(
            connection_class=source.connection_class,
            max_connections=max_connections,
            timeout=wait,
            **{**kwargs, **options},
        )
    return Redis.from_pool(pool)


#: The API routers. The hot routes are matched most specific first whatever this order
#: (``stack.HotRoutes``); FastAPI's own scan, for everything else, needs history before the
#: model route (whose ``{model:path}`` would take …/history).
ROUTERS = (
    statistics.router,
    with_stats.router,
    deletion_risk.listing_router,
    events.router,
    history.router,
    deletion_risk.model_router,
    heartbeat.router,
    proposals.router,
)


def create_app(settings: Settings, *, redis: Redis | None = None) -> FastAPI:
    """The gateway app; ``redis`` may be injected (tests), otherwise one client is owned here."""

    @asynccontextmanager
    async def lifespan(app: GatewayApp) -> AsyncIterator[None]:
        # Three clients, so queries, probes and event streams never wait for one another's
        # connections: queries (bounded pool), the readiness probe (one connection), and the
        # per-category stream readers, whose socket timeout exceeds their XREAD BLOCK.
        client = redis or redis_client(settings, max_connections=settings.gateway.redis_max_connections)
        probe = redis_client(settings, max_connections=2, like=redis, retries=1)
        block = settings.gateway.sse_read_block_seconds
        stream_client = redis_client(
            settings,
            max_connections=len(RUNTIME_CATEGORIES) + STREAM_BACKLOG_CONNECTIONS,
            socket_timeout=block + settings.redis.socket_timeout_seconds,
            like=redis,
            retries=1,  # the feeds back off and report an outage themselves
        )
        keys = RedisKeys(settings.redis.key_prefix)
        store = GenerationStore(client, keys, superseded_ttl_seconds=settings.redis.generation_ttl_seconds)
        pointers = PointerCache(store, max_age=settings.gateway.pointer_max_age_seconds)
        views = ViewCache(
            store, settings.gateway.view_cache_entries, selection_bytes=settings.gateway.selection_cache_bytes
        )
        app.gateway = Gateway(settings, client, store, views, pointers)
        app.state.probe_redis = probe
        app.state.stream_hub = StreamHub(
            stream_client, keys, block_seconds=block, keepalive_seconds=settings.gateway.sse_keepalive_seconds
        )
        if settings.gateway.answer_cache_bytes > 0:
            app.answer_cache = AnswerCache(pointers, max_bytes=settings.gateway.answer_cache_bytes)
        stop = asyncio.Event()
        listener = asyncio.create_task(pointers.listen(stop), name="pointer-announcements")
        try:
            yield
        finally:
            app.answer_cache = None
            stop.set()
            await listener
            await app.state.stream_hub.close()
            await stream_client.aclose()
            await probe.aclose()
            if redis is None:
                await client.aclose()

    app = GatewayApp(
        title="Horde Model Analytics gateway",
        version="1",
        lifespan=lifespan,
        description=DESCRIPTION,
        docs_url=None,  # served by ``document`` from packaged assets, not a CDN
        redoc_url=None,
    )
    app.state.sse_slots = StreamSlots(settings.gateway.max_sse_streams)
    # Innermost first; every request passes all of them (``services.gateway.stack``).
    if settings.gateway.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.gateway.cors_origins,
            allow_methods=["GET", "HEAD"],
            allow_headers=["*"],
            expose_headers=EXPOSED_HEADERS,
        )
    app.add_middleware(
        RequestContext,
        sample_rate=settings.gateway.access_log_sample_rate,
        max_query_bytes=settings.gateway.max_query_string_bytes,
    )

    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, error: GatewayError) -> Response:
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> Response:
        return invalid_request(error).response()

    @app.exception_handler(Exception)
    async def internal_error(_: Request, error: Exception) -> Response:
        log.error("unhandled error", exc_info=error)
        return failure(500, "Internal Server Error").response()

    @app.exception_handler(RedisError)
    async def redis_unavailable(_: Request, __: Exception) -> Response:
        # A Redis restart or failover is an outage of the view store, not a bug: 503 + Retry-After.
        return store_unavailable().response()

    for router in ROUTERS:
        app.include_router(router)
    # The review page (HTML for people): normal routes, through the whole middleware stack.
    app.include_router(review_router)
    document(app, PREFIX)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        try:
            ok = bool(await request.app.state.probe_redis.ping())
        except Exception:
            ok = False
        DEPENDENCY_UP.labels("redis").set(1 if ok else 0)
        return JSONResponse({"ready": ok, "checks": {"redis": ok}}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    return app


async def serve(settings: Settings) -> int:
    """Run the gateway until SIGTERM (``shared.runtime.bootstrap``): the API on ``HORDE_HTTP_PORT``,
    probes and metrics on ``HORDE_OPS_PORT`` when set; endless event streams end before the server
    waits for its responses."""
    app = tracing.instrument_asgi(create_app(settings))  # unwrapped while tracing is off
    # Modules, routes and schemas are never walked by the collector again (shared.collector).
    log.debug("froze %d start-up objects", freeze_startup_objects())

    async def idle(stop: asyncio.Event) -> None:
        await stop.wait()
        hub = getattr(app.state, "stream_hub", None)
        if hub is not None:
            hub.end_streams()

    return await run_service(
        "gateway",
        app,
        host=settings.http_host,
        port=settings.http_port,
        main=idle,
        ops_port=settings.ops_port,
    )
