"""Pure ASGI middleware of the gateway (no per-request objects beyond what each check needs)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import ErrorBody

#: Scope key set on HEAD requests answered by a GET route.
HEAD_MARK = "hma.head"
#: Scope key holding the server's own ``send`` (set by the app before any middleware): an event
#: stream writes its body messages there, past wrappers that only look at the response start.
RAW_SEND = "hma.raw_send"


class QueryStringLimit:
    """414 for a query string longer than the limit, before routing or parsing it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope.get("query_string", b"")) > self.max_bytes:
            body = ErrorBody(detail=f"Query string longer than {self.max_bytes} bytes; shorten it.").render()
            await Response(body, status_code=414, media_type="application/json")(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HeadAsGet:
    """HEAD is answered by the GET route with the body dropped (same headers, incl. length).

    The route sees a copy of the scope with ``method`` GET and ``HEAD_MARK`` set (so an endless
    route, the event stream, can answer at once); the server's own scope keeps ``HEAD``, which it
    reads to send no body and keep the connection open. What the routing left in the copy (the
    route, for the metric label) is copied back before the response starts.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
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
            await self.app(inner, receive, send_headers_only)
        finally:
            hand_back()
