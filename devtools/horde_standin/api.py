"""The AI Horde endpoints: query filters as the real server applies them, over the current frame.

Each builder returns the parsed data and, when no filter changed anything, the recorded bytes,
so an unfiltered request gets exactly what the real server sent when the capture was taken.
Error bodies copy the server's shapes: ``{"message", "rc"}`` for its own checks and flask-restx's
``{"errors", "message"}`` for unparsable arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devtools.horde_standin.reference import model_state_filter
from devtools.horde_standin.state import StandinState

MODEL_STATES = ("known", "custom", "all")
WORKER_TYPES = ("image", "text", "interrogation")


@dataclass
class ApiResult:
    """A built answer: ``raw`` is set only when it may be sent instead of re-encoding ``data``."""

    data: Any
    raw: bytes | None = None
    status: int = 200


Builder = Callable[[StandinState, Mapping[str, str]], ApiResult]


def bad_request(message: str) -> ApiResult:
    """The Horde's own ``BadRequest`` shape."""
    return ApiResult({"message": message, "rc": "BadRequest"}, status=400)


def not_recorded(name: str) -> ApiResult:
    """404 for a response the capture does not hold: never an empty payload served as data."""
    return ApiResult({"message": f"{name} is not recorded in this capture", "rc": "NotRecorded"}, status=404)


def _invalid_argument(name: str, message: str) -> ApiResult:
    """flask-restx reqparse's answer to an argument it cannot convert."""
    return ApiResult({"errors": {name: message}, "message": "Input payload validation failed"}, status=400)


def _int_param(params: Mapping[str, str], name: str) -> int | ApiResult | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return _invalid_argument(name, f"invalid literal for int() with base 10: {value!r}")


def _model_state(params: Mapping[str, str], default: str) -> str | ApiResult:
    state = params.get("model_state", default)
    if state not in MODEL_STATES:
        return bad_request(f"'model_state' needs to be one of {list(MODEL_STATES)}")
    return state


def status_models(state: StandinState, params: Mapping[str, str]) -> ApiResult:
    """``GET /v2/status/models``: ``type`` defaults to image, ``model_state`` to all."""
    model_type = params.get("type", "image")
    if model_type not in ("image", "text"):
        return _invalid_argument("type", f"The model type {model_type!r} is not one of ['image', 'text']")
    model_state = _model_state(params, "all")
    if isinstance(model_state, ApiResult):
        return model_state
    min_count = _int_param(params, "min_count")
    if isinstance(min_count, ApiResult):
        return min_count
    max_count = _int_param(params, "max_count")
    if isinstance(max_count, ApiResult):
        return max_count
    payload = state.payload(f"status_models_{model_type}")
    if not payload.recorded:
        return not_recorded(f"status_models_{model_type}")
    entries = payload.data if isinstance(payload.data, list) else []
    names = [e.get("name", "") for e in entries if isinstance(e, dict)]
    allowed = model_state_filter(names, model_type, model_state, state.scenario.known_models)

    def keep(entry: Any) -> bool:
        if not isinstance(entry, dict) or entry.get("name", "") not in allowed:
            return False
        count = entry.get("count", 0)
        if not isinstance(count, int):
            return True
        return (min_count is None or count >= min_count) and (max_count is None or count <= max_count)

    kept = [e for e in entries if keep(e)]
    return ApiResult(kept, payload.raw if len(kept) == len(entries) else None)


def _stats(state: StandinState, model_type: str, model_state: str) -> ApiResult:
    payload = state.payload(f"stats_models_{model_type}")
    if not payload.recorded:
        return not_recorded(f"stats_models_{model_type}")
    data = payload.data
    if model_state == "all" or not isinstance(data, dict):
        return ApiResult(data, payload.raw)
    names = sorted({n for period in data.values() if isinstance(period, dict) for n in period})
    allowed = model_state_filter(names, model_type, model_state, state.scenario.known_models)
    if len(allowed) == len(names):
        return ApiResult(data, payload.raw)
    filtered = {
        key: {n: v for n, v in period.items() if n in allowed} if isinstance(period, dict) else period
        for key, period in data.items()
    }
    return ApiResult(filtered)


def stats_img_models(state: StandinState, params: Mapping[str, str]) -> ApiResult:
    """``GET /v2/stats/img/models``: ``model_state`` defaults to known here."""
    model_state = _model_state(params, "known")
    if isinstance(model_state, ApiResult):
        return model_state
    return _stats(state, "image", model_state)


def stats_text_models(state: StandinState, params: Mapping[str, str]) -> ApiResult:
    """``GET /v2/stats/text/models``: the server accepts no arguments and ignores the query string."""
    return _stats(state, "text", "all")


def workers(state: StandinState, params: Mapping[str, str]) -> ApiResult:
    """``GET /v2/workers``: ``type`` and case-insensitive ``name`` filters."""
    worker_type = params.get("type") or None
    if worker_type is not None and worker_type not in WORKER_TYPES:
        message = f"The worker type {worker_type!r} is not one of {list(WORKER_TYPES)}"
        return _invalid_argument("type", message)
    name = (params.get("name") or "").lower() or None
    payload = state.payload("workers")
    if not payload.recorded:
        return not_recorded("workers")
    entries = payload.data if isinstance(payload.data, list) else []

    def keep(worker: Any) -> bool:
        if not isinstance(worker, dict):
            return False
        if worker_type is not None and worker.get("type") != worker_type:
            return False
        return name is None or str(worker.get("name", "")).lower() == name

    kept = [w for w in entries if keep(w)]
    return ApiResult(kept, payload.raw if len(kept) == len(entries) else None)
