"""One middleware stack for every request, with the hot routes found by a table, not a route scan.

``GatewayApp`` is FastAPI's app with two additions, both *inside* the stack an operator's
``app.add_middleware(...)`` builds, so every middleware sees every request, however it is served:

    ServerErrorMiddleware → user middleware (CORS, metrics, ...) → ``AnswerReplay`` →
    ExceptionMiddleware → ``HotRoutes`` → FastAPI's exit stack → router

``AnswerReplay`` (``services.gateway.answer_cache``) answers a request whose recorded answer is
still exact. ``HotRoutes`` matches the scalar-parameter GET routes (``FastRoute``) against their
templates, most specific first (so registration order decides nothing), and calls the same handler
the router would; errors propagate to the same exception handlers. Anything else (OpenAPI, docs,
probes, proposals, other methods) goes on to the router. The hot routes sit above FastAPI's exit
stack because they need none of it: it closes request files and dependencies, and a ``FastRoute``
has neither (checked when it is built). That skips two layers (~5 µs) on every API request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.responses import Response
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.answer_cache import AnswerCache, AnswerReplay
from services.gateway.fastroute import FastRoute
from services.gateway.middleware import RAW_SEND

Handler = Callable[[Request], Awaitable[Response]]
#: Paths whose match ``HotRoutes`` remembers (model names make the set unbounded).
MATCHED_PATHS = 4096


def specificity(route: Route) -> tuple[bool, int]:
    """Sort key, most specific first: templates without a ``:path`` parameter, then more literals."""
    segments = route.path.strip("/").split("/")
    literals = sum(1 for s in segments if not s.startswith("{"))
    return any(s.endswith(":path}") for s in segments), -literals


class HotRoutes:
    """The router's inner app, with the ``FastRoute`` GET routes matched from a table first."""

    def __init__(self, scan: ASGIApp, routes: list[BaseRoute], router: ASGIApp | None = None) -> None:
        self.scan = scan
        #: Set as ``scope["router"]`` as the router would (``url_for`` reads it).
        self.router = router
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
                scope.update(route=route, endpoint=route.endpoint, path_params=dict(params))
                if self.router is not None:
                    scope.setdefault("router", self.router)
                response = await handler(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.scan(scope, receive, send)


def _above_exit_stack(stack: ASGIApp) -> Any:
    """The middleware whose inner app is FastAPI's ``AsyncExitStackMiddleware`` (``None``: absent)."""
    layer: Any = stack
    while layer is not None:
        inner = getattr(layer, "app", None)
        if isinstance(inner, AsyncExitStackMiddleware):
            return layer
        layer = inner
    return None


class GatewayApp(FastAPI):
    """FastAPI with answer replay and the hot-route table inside its one middleware stack."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Set by the lifespan once pointers are followed; ``None``: nothing is replayed.
        self.answer_cache: AnswerCache | None = None
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
            above = _above_exit_stack(stack)
            if above is None:  # a FastAPI without the exit-stack layer: the router's inner app
                self.hot_routes = HotRoutes(self.router.middleware_stack, self._included)
                self.router.middleware_stack = self.hot_routes
            else:
                self.hot_routes = HotRoutes(above.app, self._included, router=self.router)
                above.app = self.hot_routes
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
