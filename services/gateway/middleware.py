"""The gateway's checks before routing, as plain ASGI helpers (no per-request objects beyond what
each needs). ``RequestContext`` applies them in its one layer: every ASGI layer costs a call and
a ``send`` wrapper on every request."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Scope key set on HEAD requests answered by a GET route.
HEAD_MARK = "hma.head"
#: Scope key holding the server's own ``send`` (set by the app before any middleware): an event
#: stream writes its body messages there, past wrappers that only look at the response start.
RAW_SEND = "hma.raw_send"


def query_string_too_long(max_bytes: int) -> Response:
    """The 414 for a query string longer than ``max_bytes``, sent before routing or parsing it."""
    from services.gateway.errors import ErrorBody  # errors → request_context → here: import late

    body = ErrorBody(detail=f"Query string longer than {max_bytes} bytes; shorten it.").render()
    return Response(body, status_code=414, media_type="application/json")


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
