"""The control API under ``/_control/``: lets tests and operators steer the stand-in over HTTP.

Everything is JSON. It is not rate-limited and not recorded in the request log, so steering the
stand-in never disturbs what a test asserts about the client under test.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devtools.horde_standin.faults import FaultError
from devtools.horde_standin.state import StandinState


def _error(message: str, status: int = 400) -> Response:
    return JSONResponse({"message": message}, status_code=status)


def control_routes(state: StandinState) -> list[BaseRoute]:
    """Routes bound to one state object."""

    def frame_answer() -> Response:
        return JSONResponse({"frame": state.frame_index, "frames": state.frame_count})

    async def advance(_: Request) -> Response:
        state.advance()
        return frame_answer()

    async def set_frame(request: Request) -> Response:
        try:
            state.set_frame(request.path_params["n"])
        except IndexError as exc:
            return _error(str(exc), 404)
        return frame_answer()

    async def add_faults(request: Request) -> Response:
        try:
            body: Any = json.loads(await request.body() or b"null")
        except ValueError:
            return _error("body must be JSON")
        items = body.get("faults") if isinstance(body, dict) and "faults" in body else body
        items = items if isinstance(items, list) else [items]
        if not items or not all(isinstance(item, dict) for item in items):
            return _error('body must be a fault object, a list of them, or {"faults": [...]}')
        try:
            added = [state.faults.add(item) for item in items]
        except FaultError as exc:
            return _error(str(exc))
        now = state.clock()
        return JSONResponse({"faults": [f.as_json(now) for f in added]}, status_code=201)

    async def list_faults(_: Request) -> Response:
        return JSONResponse({"faults": state.faults.snapshot()})

    async def clear_faults(_: Request) -> Response:
        cleared = len(state.faults.active())
        state.faults.clear()
        return JSONResponse({"cleared": cleared})

    async def list_requests(_: Request) -> Response:
        return JSONResponse({"requests": list(state.requests)})

    async def clear_requests(_: Request) -> Response:
        cleared = len(state.requests)
        state.requests.clear()
        return JSONResponse({"cleared": cleared})

    async def reset_rate_limit(_: Request) -> Response:
        state.limiter.reset()
        return JSONResponse({"reset": True})

    async def describe(_: Request) -> Response:
        return JSONResponse(state.describe())

    return [
        Route("/_control/advance", advance, methods=["POST"]),
        Route("/_control/frame/{n:int}", set_frame, methods=["POST"]),
        Route("/_control/faults", add_faults, methods=["POST"]),
        Route("/_control/faults", list_faults, methods=["GET"]),
        Route("/_control/faults", clear_faults, methods=["DELETE"]),
        Route("/_control/requests", list_requests, methods=["GET"]),
        Route("/_control/requests", clear_requests, methods=["DELETE"]),
        Route("/_control/rate_limit", reset_rate_limit, methods=["DELETE"]),
        Route("/_control/state", describe, methods=["GET"]),
    ]
