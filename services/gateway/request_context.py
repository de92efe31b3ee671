"""Per request, in the gateway's one middleware layer (one wrapper of ``send``): its id
(``X-Request-Id`` in and out, in every error body), its metric, the sampled access log and the
checks before routing (the query-string cap, HEAD as GET): every ASGI layer costs a call and a
``send`` wrapper on every request.

An id a client or proxy sent is kept when it is a short token (at most ``MAX_ID_LENGTH`` of
``[A-Za-z0-9._:-]``), otherwise one is made (a random per-process prefix and a counter: unique
without a syscall per request). The access log is one JSON line per sampled request on the
``hma.access`` logger, off by default (``HORDE_GATEWAY__ACCESS_LOG_SAMPLE_RATE``): on the hot path
even a skipped line costs.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
import secrets
import time
from functools import lru_cache
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import failure, request_id
from shared.metrics import HTTP_REQUESTS

#: Scope key set on HEAD requests answered by a GET route.
HEAD_MARK = "hma.head"
#: Scope key holding the server's own ``send`` (set by the app before any middleware): an event
#: stream writes its body messages there, past wrappers that only look at the response start.
RAW_SEND = "hma.raw_send"
MAX_ID_LENGTH = 64
_VALID_ID = re.compile(rb"[A-Za-z0-9._:-]{1,%d}" % MAX_ID_LENGTH)
_PREFIX = secrets.token_hex(4).encode()
_counter = itertools.count(1)
#: Longest query string written to an access log line.
LOGGED_QUERY_CHARS = 256
access_log = logging.getLogger("hma.access")


def _incoming_id(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value if _VALID_ID.fullmatch(value) else None
    return None


def _observe(scope: Scope, status: int, started: float) -> None:
    template = getattr(scope.get("route"), "path", None) or "unmatched"
    _series(template, status).observe(time.perf_counter() - started)


class RequestContext:
    """Sets ``request_id`` and sends it back as ``X-Request-Id``; observes
    ``hma_gateway_request_seconds{route, status}`` with the route *template* as label (bounded),
    timed to the response start (an event stream is counted once, when it opens); writes the
    sampled access log; 414 beyond ``max_query_bytes`` (``None``: no cap); HEAD as GET.

    Written for the hot path (every request; under 2 µs in-process, its ``send`` wrapper
    included): the id stays bytes (decoded only into an error body), and nothing but the wrapper
    is made per request."""

    def __init__(self, app: ASGIApp, sample_rate: float = 0.0, max_query_bytes: int | None = None) -> None:
        self.app, self.sample_rate, self.max_query_bytes = app, sample_rate, max_query_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or b"%s-%x" % (_PREFIX, next(_counter))
        header = (b"x-request-id", rid)
        token = request_id.set(rid)
        logged = self.sample_rate > 0 and random.random() < self.sample_rate
        status, started, sent_bytes = 0, time.perf_counter(), 0

        async def identified(message: Message) -> None:
            nonlocal status, sent_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
                _observe(scope, status, started)
                headers = message.get("headers")
                if type(headers) is list:  # each response's own list: added in place, as CORS does
                    headers.append(header)
                else:
                    message = {**message, "headers": [*(headers or ()), header]}
            elif logged and message["type"] == "http.response.body":
                sent_bytes += len(message.get("body", b""))
            await send(message)

        try:
            if (
                self.max_query_bytes is not None
                and len(scope.get("query_string", b"")) > self.max_query_bytes
            ):
                detail = f"Query string longer than {self.max_query_bytes} bytes; shorten it."
                await failure(414, detail).response()(scope, receive, identified)
            elif scope["method"] == "HEAD":
                await head_as_get(self.app, scope, receive, identified)
            else:
                await self.app(scope, receive, identified)
        finally:
            if not status:
                status = 500
                _observe(scope, status, started)
            request_id.reset(token)
            if logged:
                _log(scope, rid.decode("ascii"), status, sent_bytes, time.perf_counter() - started)


async def head_as_get(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a HEAD request with ``app``'s GET answer, its body dropped (same headers, incl. length).

    The route sees a copy of the scope with ``method`` GET and ``HEAD_MARK`` set (so an endless
    route, the event stream, can answer at once); the server's own scope keeps ``HEAD``, which it
    reads to send no body and keep the connection open. What the routing left in the copy (the
    route, for the metric label) is copied back before the response starts.
    """
    finished = False
    inner: Scope = {**scope, "method": "GET", HEAD_MARK: True}

    def hand_back() -> None:
        scope.update((k, v) for k, v in inner.items() if k not in ("method", HEAD_MARK))

    async def send_headers_only(message: Message) -> None:
        nonlocal finished
        if message["type"] == "http.response.start":
            hand_back()
            await send(message)
        elif message["type"] == "http.response.body" and not finished:
            finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    try:
        await app(inner, receive, send_headers_only)
    finally:
        hand_back()


@lru_cache(maxsize=1024)
def _series(template: str, status: int) -> Any:
    """The histogram child of a (route template, status): both bounded, looked up once each."""
    return HTTP_REQUESTS.labels(template, str(status))


def _log(scope: Scope, rid: str, status: int, sent_bytes: int, seconds: float) -> None:
    route = getattr(scope.get("route"), "path", None)
    query = scope.get("query_string", b"").decode("latin-1")
    access_log.info(
        "access",
        extra={
            "request_id": rid,
            "method": scope["method"],
            "path": scope["path"][:LOGGED_QUERY_CHARS],
            "query": query[:LOGGED_QUERY_CHARS],
            "route": route,
            "status": status,
            "bytes": sent_bytes,
            "duration_ms": round(seconds * 1000, 3),
            "client": (scope.get("client") or ("", 0))[0],
        },
    )
