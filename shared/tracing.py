"""OpenTelemetry tracing: off by default, switched on by the standard ``OTEL_*`` variables.

Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an OTLP
endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), unless
``OTEL_SDK_DISABLED=true`` or the exporter is ``none``. The SDK itself reads the rest
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``,
``OTEL_EXPORTER_OTLP_HEADERS`` …). OTLP is sent as HTTP/protobuf.

What is traced, with the mechanics all here and a line or two at each hook:

* a poll of the AI Horde or the reference (root span) → each Kafka publish (producer span; its
  W3C ``traceparent``/``tracestate`` travel in the record headers beside the CloudEvents ones)
  → the analytics recompute the record caused (consumer span, child of the record's context;
  records coalesced into the same recompute are links) → the generation's Redis write;
* every gateway request (one server span, the ASGI app wrapped only when tracing is on).

Off, every hook is a check of one module global: no spans, no headers, and the gateway's ASGI
app is not wrapped at all.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Link, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

__all__ = ["SpanKind", "configure", "enabled", "inject", "instrument_asgi", "span", "traced"]

_PROPAGATOR = TraceContextTextMapPropagator()
#: Records remembered per pending recompute (the newest is the parent, the others links).
MAX_PENDING_CONTEXTS = 32

_tracer: Tracer | None = None
_provider: TracerProvider | None = None

P = ParamSpec("P")
R = TypeVar("R")


def wanted(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces (see the module docstring)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    names = [n.strip() for n in (env.get("OTEL_TRACES_EXPORTER") or "otlp").lower().split(",") if n.strip()]
    found: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            if (
                env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", env.get("OTEL_EXPORTER_OTLP_PROTOCOL", ""))
                == "grpc"
            ):
                log.warning("OTLP over gRPC is not installed; sending HTTP/protobuf instead")
            found.append(OTLPSpanExporter())
        elif name == "console":
            found.append(ConsoleSpanExporter())
        elif name != "none":
            log.warning("unknown OTEL_TRACES_EXPORTER %r ignored (known: otlp, console, none)", name)
    return found


def configure(
    service: str, *, exporter: SpanExporter | None = None, env: Mapping[str, str] = os.environ
) -> bool:
    """Turn tracing on for this process if ``env`` asks for it; returns whether it is on.

    ``exporter`` (tests) forces tracing on with that exporter, exporting each span as it ends.
    ``service`` is the default ``service.name`` (``OTEL_SERVICE_NAME`` wins).
    """
    global _tracer, _provider
    if exporter is None and not wanted(env):
        return False
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named else {SERVICE_NAME: service}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        for each in _exporters(env):
            provider.add_span_processor(BatchSpanProcessor(each))
        atexit.register(provider.shutdown)
    reset()
    _provider, _tracer = provider, provider.get_tracer("horde-model-analytics")
    log.info("tracing on", extra={"service": service})
    return True


def reset() -> None:
    """Turn tracing off again (flushing what was recorded); tests call it after each use."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def enabled() -> bool:
    return _tracer is not None


def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    parent: Context | None = None,
    links: Iterable[Link] = (),
) -> AbstractContextManager[Any]:
    """A current span around a block (a no-op context when tracing is off)."""
    if _tracer is None:
        return nullcontext()
    return _tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes, links=list(links)
    )


def traced(
    name: Callable[..., str], *, kind: SpanKind = SpanKind.INTERNAL
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a coroutine function: one span per call, named by ``name(*args, **kwargs)``."""

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if _tracer is None:
                return await function(*args, **kwargs)
            with _tracer.start_as_current_span(name(*args, **kwargs), kind=kind):
                return await function(*args, **kwargs)

        return wrapper

    return decorate


def inject() -> dict[str, str]:
    """W3C trace-context headers of the current span (empty when off or outside a span)."""
    if _tracer is None:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def extract(headers: Iterable[tuple[str, bytes]] | None) -> Context | None:
    """The trace context a Kafka record carries, or ``None`` (off, or the record has none)."""
    if _tracer is None or not headers:
        return None
    carrier = {k: v.decode(errors="replace") for k, v in headers if k in ("traceparent", "tracestate")}
    if "traceparent" not in carrier:
        return None
    return _PROPAGATOR.extract(carrier)


class PendingTraces:
    """Trace contexts of the records waiting for a coalesced recompute, per key (category)."""

    def __init__(self) -> None:
        self._pending: dict[Any, list[Context]] = {}

    def note(self, key: Any, headers: Iterable[tuple[str, bytes]] | None) -> None:
        """Remember the context of a record that made ``key`` dirty (no-op when off)."""
        if _tracer is None:
            return
        context = extract(headers)
        if context is not None:
            contexts = self._pending.setdefault(key, [])
            contexts.append(context)
            del contexts[:-MAX_PENDING_CONTEXTS]

    def span(self, key: Any, name: str) -> AbstractContextManager[Any]:
        """A consumer span continuing the newest pending record's trace, linking the others."""
        if _tracer is None:
            return nullcontext()
        contexts = self._pending.pop(key, [])
        links = [Link(trace.get_current_span(c).get_span_context()) for c in contexts[:-1]]
        return span(name, kind=SpanKind.CONSUMER, parent=contexts[-1] if contexts else None, links=links)


def instrument_asgi(app: R) -> R:
    """``app`` wrapped in one server span per HTTP request when tracing is on, else ``app`` itself."""
    if _tracer is None:
        return app
    inner: Any = app

    async def traced_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _tracer is None:
            await inner(scope, receive, send)
            return
        method = scope["method"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        attributes = {"http.request.method": method, "url.path": scope["path"]}
        with _tracer.start_as_current_span(
            method, context=_PROPAGATOR.extract(headers), kind=SpanKind.SERVER, attributes=attributes
        ) as current:

            async def send_status(message: Any) -> None:
                if message["type"] == "http.response.start":
                    current.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await inner(scope, receive, send_status)
            route = getattr(scope.get("route"), "path", None)
            if route:
                current.set_attribute("http.route", route)
                current.update_name(f"{method} {route}")

    return traced_app  # type: ignore[return-value]
