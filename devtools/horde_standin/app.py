"""The stand-in's Starlette app: AI Horde routes under ``/api``, control API, probes."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from devtools.horde_standin import api
from devtools.horde_standin.control import control_routes
from devtools.horde_standin.pipeline import serve
from devtools.horde_standin.scenario import Scenario
from devtools.horde_standin.state import StandinState
from shared.runtime import probe_routes


def _horde_route(
    state: StandinState, path: str, endpoint: str, fixed_type: str | None, build: api.Builder
) -> Route:
    """One API route; the fault selector's model type comes from the path or the ``type`` argument."""

    async def handler(request: Request) -> Response:
        model_type = (
            fixed_type or request.query_params.get("type") or ("image" if endpoint == "status" else None)
        )
        return await serve(request, state, route=path, endpoint=endpoint, model_type=model_type, build=build)

    return Route(path, handler, methods=["GET"])


def create_app(
    scenario: Scenario,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    rate_limit: int = 90,
    rate_window_seconds: float = 60.0,
    rate_limit_per_route: bool = True,
) -> Starlette:
    """Build the app; ``clock`` drives rate windows, fault durations and timed frame advance.

    The shared state is reachable as ``app.state.standin`` for in-process tests.
    """
    state = StandinState(
        scenario,
        clock=clock,
        wall_clock=wall_clock,
        rate_limit=rate_limit,
        rate_window_seconds=rate_window_seconds,
        rate_limit_per_route=rate_limit_per_route,
    )
    horde: list[BaseRoute] = [
        _horde_route(state, "/v2/status/models", "status", None, api.status_models),
        _horde_route(state, "/v2/stats/img/models", "stats", "image", api.stats_img_models),
        _horde_route(state, "/v2/stats/text/models", "stats", "text", api.stats_text_models),
        _horde_route(state, "/v2/workers", "workers", None, api.workers),
    ]
    app = Starlette(routes=[Mount("/api", routes=horde), *control_routes(state), *probe_routes({})])
    app.state.standin = state
    return app
