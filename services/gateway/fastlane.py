"""The hot routes served without FastAPI's routing and exception stack (same handlers, same bytes).

On this two-core machine FastAPI's per-request machinery (route matching over every route,
exception and exit-stack middlewares, telemetry) cost more than the answer itself. ``GatewayApp``
matches the hot GET routes with their own compiled path patterns, wraps them in the same ASGI
middlewares as the full stack (metrics, query-string cap, HEAD, CORS), calls the route's
``FastRoute`` handler and renders ``GatewayError`` / validation errors with the app's own
exception handlers. Anything else (OpenAPI, docs, probes, event streams) takes the normal path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.answer_cache import AnswerCache, answer_key, replay, serve_recording
from services.gateway.errors import GatewayError
from services.gateway.fastroute import FastRoute
from services.gateway.middleware import RAW_SEND

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
Wrap = Callable[[ASGIApp], ASGIApp]


class GatewayApp(FastAPI):
    """A FastAPI app whose hot routes skip the framework's generic per-request layers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lane: list[tuple[Route, Handler]] | None = None
        self._lane_stack: ASGIApp | None = None
        self._wraps: list[Wrap] = []
        self._lane_routes: list[BaseRoute] = []
        #: Set by the lifespan once pointers are followed; ``None``: every request is routed.
        self.answer_cache: AnswerCache | None = None

    def add_fast_lane(self, routes: Iterable[BaseRoute]) -> None:
        """Routes (in routing order, prefix already in their paths) to serve on the fast lane."""
        self._lane_routes.extend(routes)

    def wrap_fast_lane(self, wrap: Wrap) -> None:
        """Add a middleware to the fast lane (innermost first, like ``add_middleware`` in reverse)."""
        self._wraps.append(wrap)

    def _compile(self) -> None:
        lane: list[tuple[Route, Handler]] = []
        for route in self._lane_routes:
            if isinstance(route, FastRoute) and "GET" in (route.methods or ()):
                if route.path.endswith("/events"):
                    break  # streams keep the full stack; later routes must not shadow them
                lane.append((route, route.get_route_handler()))
        self._lane = lane
        stack: ASGIApp = self._serve_lane
        for wrap in self._wraps:
            stack = wrap(stack)
        self._lane_stack = stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            scope[RAW_SEND] = send
            answers = self.answer_cache
            if answers is not None:
                started = time.perf_counter()
                key = answer_key(scope)
                recorded = answers.lookup(key)
                if recorded is not None:
                    await replay(recorded, scope["method"], send, started)
                    return
                if scope["method"] == "GET":
                    await serve_recording(answers, key, self._route, scope, receive, send)
                    return
        await self._route(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            if self._lane is None:
                self._compile()
            assert self._lane is not None
            assert self._lane_stack is not None
            path = scope["path"]
            for route, handler in self._lane:
                match = route.path_regex.match(path)
                if match is not None:
                    params = {k: route.param_convertors[k].convert(v) for k, v in match.groupdict().items()}
                    # In place, as Starlette's router does: the caller reads what the route left
                    # in the scope (``ANSWER_BASIS``, the route for its metric label).
                    scope.update(app=self, route=route, path_params=params, fast_lane_handler=handler)
                    await self._lane_stack(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    async def _serve_lane(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        handler: Handler = scope["fast_lane_handler"]
        try:
            response = await handler(request)
        except GatewayError as error:
            response = await self._handle(GatewayError, request, error)
        except RequestValidationError as error:
            response = await self._handle(RequestValidationError, request, error)
        except RedisError as error:
            response = await self._handle(RedisError, request, error)
        except Exception:
            log.exception("unhandled error on %s", scope["path"])
            response = JSONResponse({"detail": "Internal Server Error"}, status_code=500)
        await response(scope, receive, send)

    async def _handle(self, kind: type[Exception], request: Request, error: Exception) -> Response:
        handler = self.exception_handlers[kind]
        response = handler(request, error)
        return await response if isinstance(response, Awaitable) else response
