"""Faults injected on command, so the poller's error handling is tested against a real socket.

A fault targets an endpoint (``status``, ``stats``, ``workers`` or ``all``), optionally one model
type, and lasts for the next ``count`` matching requests, for ``duration`` seconds, or until
cleared. ``latency`` delays the answer and lets later faults apply too; every other kind decides
the answer, and the first matching one wins.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

FaultKind = Literal["latency", "status", "rate_limit", "truncated_json", "wrong_types", "empty", "timeout"]
Endpoint = Literal["status", "stats", "workers", "all"]

FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]
ENDPOINTS: tuple[str, ...] = Endpoint.__args__  # type: ignore[attr-defined]

DEFAULT_TIMEOUT_SECONDS = 120.0
"""``timeout`` sleep: beyond the poller's 30 s request timeout (HordeApiSettings.timeout_seconds)."""


@dataclass
class Fault:
    """One injected fault; ``remaining``/``expires_at`` are ``None`` when not limited that way."""

    id: int
    kind: FaultKind
    endpoint: Endpoint = "all"
    model_type: str | None = None
    remaining: int | None = None
    expires_at: float | None = None
    seconds: float = 0.0
    status: int = 500
    retry_after: int = 60
    keep_bytes: int | None = None

    def matches(self, endpoint: str, model_type: str | None) -> bool:
        """Whether a request to ``endpoint`` for ``model_type`` is affected."""
        if self.endpoint not in ("all", endpoint):
            return False
        return self.model_type is None or self.model_type == model_type

    def as_json(self, now: float) -> dict[str, Any]:
        """The control API view; ``expires_in`` is relative so callers need not share our clock."""
        out = asdict(self)
        out["expires_in"] = None if self.expires_at is None else max(0.0, self.expires_at - now)
        del out["expires_at"]
        return out


class FaultError(ValueError):
    """A fault request body is invalid (control API answers 400)."""


def _number(body: dict[str, Any], name: str, kind: type[int] | type[float], default: Any) -> Any:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultError(f"{name!r} must be a non-negative number")
    return kind(value)


class FaultBook:
    """The active faults, in the order they were added."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, body: dict[str, Any]) -> Fault:
        """Validate a control API body and register the fault."""
        kind = body.get("kind")
        if kind not in FAULT_KINDS:
            raise FaultError(f"'kind' must be one of {list(FAULT_KINDS)}")
        endpoint = body.get("endpoint", "all")
        if endpoint not in ENDPOINTS:
            raise FaultError(f"'endpoint' must be one of {list(ENDPOINTS)}")
        model_type = body.get("model_type")
        if model_type not in (None, "image", "text", "interrogation"):
            raise FaultError("'model_type' must be image, text, interrogation or null")
        count = _number(body, "count", int, None)
        duration = _number(body, "duration", float, None)
        status = _number(body, "status", int, 500)
        if not 100 <= status <= 599:
            raise FaultError("'status' must be an HTTP status code")
        default_seconds = DEFAULT_TIMEOUT_SECONDS if kind == "timeout" else 1.0
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            endpoint=endpoint,
            model_type=model_type,
            remaining=count,
            expires_at=None if duration is None else self._clock() + duration,
            seconds=_number(body, "seconds", float, default_seconds),
            status=status,
            retry_after=_number(body, "retry_after", int, 60),
            keep_bytes=_number(body, "keep_bytes", int, None),
        )
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        self._faults.clear()

    def active(self) -> list[Fault]:
        """Faults still in force (expired and used-up ones are dropped here)."""
        now = self._clock()
        self._faults = [
            f
            for f in self._faults
            if (f.remaining is None or f.remaining > 0) and (f.expires_at is None or f.expires_at > now)
        ]
        return list(self._faults)

    def take(self, endpoint: str, model_type: str | None) -> list[Fault]:
        """The faults applying to one request, consuming one use of each.

        All matching ``latency`` faults come first, then at most one deciding fault.
        """
        chosen: list[Fault] = []
        for fault in self.active():
            if not fault.matches(endpoint, model_type):
                continue
            if fault.kind != "latency" and any(f.kind != "latency" for f in chosen):
                continue
            chosen.append(fault)
            if fault.remaining is not None:
                fault.remaining -= 1
        return chosen

    def snapshot(self) -> list[dict[str, Any]]:
        """Active faults as JSON for ``GET /_control/state``."""
        now = self._clock()
        return [f.as_json(now) for f in self.active()]


def wrong_types(endpoint: str, data: Any) -> Any:
    """Plausible-looking type errors: ``count`` as text, ``jobs`` as a list, stats values as text."""
    if endpoint == "status" and isinstance(data, list):
        return [
            {**e, "count": str(e.get("count")), "jobs": [e.get("jobs")]} if isinstance(e, dict) else e
            for e in data
        ]
    if endpoint == "stats" and isinstance(data, dict):
        return {
            period: {k: str(v) for k, v in values.items()} if isinstance(values, dict) else values
            for period, values in data.items()
        }
    if endpoint == "workers" and isinstance(data, list):
        return [
            {**w, "threads": str(w.get("threads")), "models": ",".join(w.get("models", []))}
            if isinstance(w, dict)
            else w
            for w in data
        ]
    return data
