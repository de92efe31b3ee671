"""One middleware stack for every request, with the hot routes found by a table, not a route scan.

``GatewayApp`` is FastAPI's app with two layers *inside* the stack an operator's
``app.add_middleware(...)`` builds, so every middleware sees every request, however it is served:

    ServerErrorMiddleware → user middleware (CORS, metrics, ...) → ``AnswerReplay`` →
    ``HotRoutes`` → ExceptionMiddleware → FastAPI's exit stack → router

``AnswerReplay`` (``services.gateway.answer_cache``) answers a request whose recorded answer is
still exact. ``HotRoutes`` matches the ``FastRoute`` GET routes against their templates, most
specific first (so registration order decides nothing), and calls the handler the router would;
their errors are answered by a twin of the ``ExceptionMiddleware`` below (same handlers, same
lookup). Anything else (OpenAPI, docs, probes, heartbeat, review pages, other methods) goes on to
the exception layer and the router.

Why that high: every layer is a call and a ``send`` wrapper on every request, and these routes
need none of the layers they skip: the exception layer wraps ``send`` to know whether a response
started (a hot handler returns its response before anything is sent), the exit stack closes
request files and dependencies (a ``FastRoute`` has neither, checked when it is built), the router
scans its routes. Two FastAPI layers outside the user middleware do nothing here and are left out:
its native telemetry's exception observer (not started, ``GatewayApp.__call__``; tracing wraps the
app, ``shared.tracing``) and the request body limit (no ``max_body_size``; the API takes no bodies).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.answer_cache import AnswerCache, AnswerReplay
from services.gateway.fastroute import FastRoute
from services.gateway.request_context import RAW_SEND

if TYPE_CHECKING:
    from services.gateway.answer import Gateway

try:  # FastAPI's layers that do nothing for the gateway (module doc); absent in other versions
    from fastapi._body_limit import AppBodyLimitMiddleware
    from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware

    IDLE_LAYERS: tuple[type, ...] = (AppBodyLimitMiddleware, ExceptionTelemetryMiddleware)
except ImportError:  # pragma: no cover
    IDLE_LAYERS = ()
#: Scope key holding the error a hot route raised, for the twin exception layer to answer.
_HOT_ERROR = "hma.hot_error"

Handler = Callable[[Request], Awaitable[Response]]
#: Paths whose match ``HotRoutes`` remembers (model names make the set unbounded).
MATCHED_PATHS = 4096


def specificity(route: Route) -> tuple[bool, int]:
    """Sort key, most specific first: templates without a ``:path`` parameter, then more literals."""
    segments = route.path.strip("/").split("/")
    literals = sum(1 for s in segments if not s.startswith("{"))
    return any(s.endswith(":path}") for s in segments), -literals


async def _raise_hot_error(scope: Scope, receive: Receive, send: Send) -> None:
    raise scope.pop(_HOT_ERROR)


class HotRoutes:
    """The ``FastRoute`` GET routes matched from a table; anything else goes on to ``scan``.

    ``errors``: an ``ExceptionMiddleware`` whose handlers answer a hot route's error (``None``:
    errors propagate, for a table placed below such a layer)."""

    def __init__(
        self,
        scan: ASGIApp,
        routes: list[BaseRoute],
        router: ASGIApp | None = None,
        errors: ExceptionMiddleware | None = None,
    ) -> None:
        self.scan = scan
        #: Set as ``scope["router"]`` as the router would (``url_for`` reads it).
        self.router = router
        self.errors: ExceptionMiddleware | None = None
        if errors is not None:
            self.errors = copy.copy(errors)  # same handlers, around an app that re-raises
            self.errors.app = _raise_hot_error
        hot = [r for r in routes if isinstance(r, FastRoute) and "GET" in (r.methods or ())]
        self.table: list[tuple[Route, Handler]] = [
            (route, route.get_route_handler()) for route in sorted(hot, key=specificity)
        ]
        #: Off: every request takes the router's scan (tests compare both ways of serving).
        self.enabled = True
        #: Recent paths and what they matched (``None``: no hot route), so a path seen before
        #: is not matched against every template again; cleared when full.
        self.matched: dict[str, tuple[Route, Handler, dict[str, Any]] | None] = {}

    def match(self, path: str) -> tuple[Route, Handler, dict[str, Any]] | None:
        """The first hot route matching ``path``, its handler and its converted path parameters."""
        if path in self.matched:
            return self.matched[path]
        found = None
        for route, handler in self.table:
            match = route.path_regex.match(path)
            if match is not None:
                params = {k: route.param_convertors[k].convert(v) for k, v in match.groupdict().items()}
                found = (route, handler, params)
                break
        if len(self.matched) >= MATCHED_PATHS:
            self.matched.clear()
        self.matched[path] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.enabled and scope["type"] == "http" and scope["method"] == "GET":
            found = self.match(scope["path"])
            if found is not None:
                route, handler, params = found
                scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, dict(params)
                if self.router is not None and "router" not in scope:
                    scope["router"] = self.router
                try:
                    response = await handler(Request(scope, receive))
                except Exception as error:
                    if self.errors is None:
                        raise
                    scope[_HOT_ERROR] = error
                    await self.errors(scope, receive, send)
                    return
                await response(scope, receive, send)
                return
        await self.scan(scope, receive, send)


def _layers(stack: ASGIApp) -> list[Any]:
    """The middleware chain from ``stack`` inwards, through each layer's ``app``."""
    chain: list[Any] = []
    layer: Any = stack
    while layer is not None and layer not in chain:
        chain.append(layer)
        layer = getattr(layer, "app", None)
    return chain


def _without_idle_layers(stack: ASGIApp) -> None:
    """Unlink ``IDLE_LAYERS`` from the chain below ``stack`` (the outermost layer stays)."""
    chain = _layers(stack)
    for outer, inner in itertools.pairwise(chain):
        below: Any = inner
        while isinstance(below, IDLE_LAYERS):
            below = getattr(below, "app")  # noqa: B009 (narrowed to object by isinstance)
        outer.app = below


class GatewayApp(FastAPI):
    """FastAPI with answer replay and the hot-route table inside its one middleware stack."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Set by the lifespan once pointers are followed; ``None``: nothing is replayed.
        self.answer_cache: AnswerCache | None = None
        #: What every route needs, set by the lifespan; an attribute (not ``app.state``),
        #: read on every request without ``State``'s ``__getattr__``.
        self.gateway: Gateway | None = None
        self.hot_routes: HotRoutes | None = None
        self._included: list[BaseRoute] = []

    def include_router(self, router: APIRouter, **options: Any) -> None:
        """FastAPI's, remembering the routes of a router included as it is (no prefix or other
        options): FastAPI keeps them behind its own wrapper, and the hot-route table needs them."""
        super().include_router(router, **options)
        if not options:
            self._included.extend(router.routes)

    def build_middleware_stack(self) -> ASGIApp:
        # Innermost user middleware: every operator middleware is outside the replay.
        saved = self.user_middleware
        self.user_middleware = [*saved, Middleware(AnswerReplay, answers=lambda: self.answer_cache)]
        try:
            stack = super().build_middleware_stack()
        finally:
            self.user_middleware = saved
        if self.hot_routes is None:
            _without_idle_layers(stack)
            replay = next(layer for layer in _layers(stack) if isinstance(layer, AnswerReplay))
            errors = replay.app if isinstance(replay.app, ExceptionMiddleware) else None
            self.hot_routes = HotRoutes(replay.app, self._included, router=self.router, errors=errors)
            replay.app = self.hot_routes
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # Starlette's entry, without FastAPI's native-telemetry hook (it reads the environment on
        # every request); the gateway's tracing wraps the whole app (``shared.tracing``).
        scope[RAW_SEND] = send  # the event streams write their bodies past the middlewares
        scope["app"] = self
        if self.root_path:
            scope["root_path"] = self.root_path
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        await self.middleware_stack(scope, receive, send)
