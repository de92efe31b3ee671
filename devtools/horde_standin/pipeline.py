"""What happens to every ``/api`` request: log it, rate-limit it, apply faults, build, mask, encode.

The order mirrors the real stack: the limiter counts a request before the resource runs (a 400
still uses quota) and its headers are on every answer, refused or not.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from devtools.horde_standin.api import ApiResult, Builder
from devtools.horde_standin.faults import Fault, wrong_types
from devtools.horde_standin.scenario import encode_json
from devtools.horde_standin.state import StandinState
from devtools.horde_standin.xfields import MaskError, apply_mask, parse_mask

JSON = "application/json"
_SLEEPING_KINDS = ("latency", "timeout")


def _json_response(data: Any, status: int, headers: dict[str, str]) -> Response:
    return Response(encode_json(data), status_code=status, headers=headers, media_type=JSON)


def _log(
    request: Request, state: StandinState, route: str, endpoint: str, model_type: str | None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "time": state.wall_clock(),
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "params": dict(request.query_params),
        "headers": dict(request.headers),
        "client_agent": request.headers.get("client-agent"),
        "client": request.client.host if request.client else None,
        "route": route,
        "endpoint": endpoint,
        "model_type": model_type,
        "frame": state.frame_index,
        "faults": [],
        "status": None,
    }
    state.requests.append(entry)
    return entry


async def serve(
    request: Request,
    state: StandinState,
    *,
    route: str,
    endpoint: str,
    model_type: str | None,
    build: Builder,
) -> Response:
    """Answer one AI Horde API request and record it in the request log."""
    entry = _log(request, state, route, endpoint, model_type)
    client = request.client.host if request.client else "unknown"
    verdict = state.limiter.hit(client, route)
    headers = verdict.headers()
    if not verdict.allowed:
        limit = f"{state.limiter.limit} per {state.limiter.window_seconds:g} second"
        refusal = {"message": f"Too Many Requests: {limit}", "rc": "TooManyRequests"}
        response = _json_response(refusal, 429, headers)
    else:
        faults = state.faults.take(endpoint, model_type)
        entry["faults"] = [{"id": f.id, "kind": f.kind} for f in faults]
        response = await _answer(request, state, endpoint, build, faults, headers)
    entry["status"] = response.status_code
    return response


async def _answer(
    request: Request,
    state: StandinState,
    endpoint: str,
    build: Builder,
    faults: list[Fault],
    headers: dict[str, str],
) -> Response:
    for fault in faults:
        if fault.kind in _SLEEPING_KINDS:
            await asyncio.sleep(fault.seconds)
    decider = next((f for f in faults if f.kind not in _SLEEPING_KINDS), None)
    kind = decider.kind if decider else None
    if decider is not None and kind == "status":
        error = {"message": f"Injected fault: HTTP {decider.status}", "rc": "InjectedFault"}
        return _json_response(error, decider.status, headers)
    if decider is not None and kind == "rate_limit":
        limited = headers | {"X-RateLimit-Remaining": "0", "Retry-After": str(decider.retry_after)}
        refusal = {"message": "Too Many Requests (injected)", "rc": "TooManyRequests"}
        return _json_response(refusal, 429, limited)
    if kind == "empty":
        return Response(b"", status_code=200, headers=headers, media_type=JSON)

    result: ApiResult = build(state, request.query_params)
    if result.status != 200:
        return _json_response(result.data, result.status, headers)
    data, raw = result.data, result.raw
    mask_header = request.headers.get("x-fields")
    if mask_header:
        try:
            mask = parse_mask(mask_header)
        except MaskError as exc:
            return _json_response({"message": str(exc)}, 400, headers)
        data, raw = apply_mask(data, mask), None
    if kind == "wrong_types":
        data, raw = wrong_types(endpoint, data), None
    payload = raw if raw is not None else encode_json(data)
    if decider is not None and kind == "truncated_json":
        keep = decider.keep_bytes if decider.keep_bytes is not None else len(payload) // 2
        payload = payload[: min(keep, max(len(payload) - 1, 0))]
    return Response(payload, status_code=200, headers=headers, media_type=JSON)
