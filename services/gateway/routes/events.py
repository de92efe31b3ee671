"""``GET …/{category}/deletion-risk/events``: risk changes as Server-Sent Events.

Fed from the Redis stream the analytics workers XADD to (``RedisKeys.risk_events``) with XREAD
BLOCK, so an idle stream costs one parked Redis read, not polling. The SSE ``id`` is the event's
own id (deterministic per model and generation); a client reconnecting with ``Last-Event-ID``
resumes right after that event if the capped stream still holds it, else from the oldest event
kept (ids let the client drop duplicates). The number of open streams is capped (429 beyond).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from redis.asyncio import Redis
from starlette.types import Receive, Scope, Send

from services.gateway.answer import gateway_of, has_no_models
from services.gateway.errors import ErrorBody, GatewayError, error_responses, no_models
from services.gateway.fastroute import FastRoute
from services.gateway.freshness import provenance
from services.gateway.middleware import HEAD_MARK
from services.gateway.routes.common import PREFIX, CategoryPath, parse_category

router = APIRouter(tags=["deletion-risk"], route_class=FastRoute)

EVENT_NAME = "deletion-risk-changed"
#: Stream entries scanned per page while looking for a ``Last-Event-ID``.
_SCAN_PAGE = 200
_READ_BATCH = 100


class StreamSlots:
    """Counts open event streams; a slot is taken before answering and freed when the stream ends."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def take(self) -> None:
        if self.open >= self.limit:
            raise GatewayError(
                429,
                ErrorBody(
                    detail=f"Too many open event streams ({self.limit}); retry later.", retry_after_seconds=5
                ),
                {"Retry-After": "5"},
            )
        self.open += 1

    def release(self) -> None:
        self.open -= 1


class SlotStreamingResponse(StreamingResponse):
    """A streaming response that frees its slot however the stream ends (end, disconnect, error)."""

    def __init__(self, content: AsyncIterator[bytes], slots: StreamSlots, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slots.release()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def resume_point(redis: Redis, key: str, last_event_id: str | None) -> tuple[str, str]:
    """Stream id to read after, and a comment saying why: just after ``last_event_id`` if the
    stream still holds it, else from the oldest kept event; without one, only new events."""
    if not last_event_id:
        newest: Any = await redis.xrevrange(key, count=1)
        return (_text(newest[0][0]) if newest else "0-0"), "connected"
    upper = "+"
    while True:
        page: Any = await redis.xrevrange(key, max=upper, count=_SCAN_PAGE)
        for stream_id, fields in page:
            if _text(fields.get(b"id", fields.get("id", b""))) == last_event_id:
                return _text(stream_id), "resumed"
        if len(page) < _SCAN_PAGE:
            return "0-0", "last event id not kept any more: replaying every kept event"
        upper = "(" + _text(page[-1][0])


def sse_message(event_id: str, data: str) -> bytes:
    """One SSE message (``data`` is single-line JSON)."""
    return f"id: {event_id}\nevent: {EVENT_NAME}\ndata: {data}\n\n".encode()


async def _events(redis: Redis, key: str, after: str, note: str, keepalive_ms: int) -> AsyncIterator[bytes]:
    yield f"retry: 3000\n: {note}\n\n".encode()
    while True:
        batches: Any = await redis.xread({key: after}, count=_READ_BATCH, block=keepalive_ms)
        if not batches:
            yield b": keep-alive\n\n"
            continue
        for _, entries in batches:
            for stream_id, fields in entries:
                after = _text(stream_id)
                decoded = {_text(k): _text(v) for k, v in fields.items()}
                yield sse_message(decoded.get("id", after), decoded.get("data", "{}"))


_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An endless `text/event-stream` of `deletion-risk-changed` events "
        "(data: JSON of `DeletionRiskChanged`), with `: keep-alive` comments while idle.",
        "content": {
            "text/event-stream": {
                "schema": {"type": "string"},
                "example": 'id: 3f2a…\nevent: deletion-risk-changed\ndata: {"model":"x",…}\n\n',
            }
        },
    },
    **error_responses(400, 404, 414, 422, 429),
}


async def deletion_risk_events(
    request: Request,
    category: CategoryPath,
    last_event_id: Annotated[
        str | None, Header(description="Id of the last event received (sent by EventSource on reconnect).")
    ] = None,
    resume_after: Annotated[
        str | None, Query(description="Same as `Last-Event-ID`, for clients that cannot set headers.")
    ] = None,
) -> Response:
    """Risk changes of a category as they are computed (Server-Sent Events)."""
    chosen = parse_category(category, runtime=True)
    gateway = gateway_of(request)
    if request.scope.get(HEAD_MARK):
        return Response(media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    slots: StreamSlots = request.app.state.sse_slots
    slots.take()
    try:
        key = gateway.store.keys.risk_events(chosen)
        after, note = await resume_point(gateway.redis, key, last_event_id or resume_after)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        current = await gateway.pointers.get(chosen)
        if current is not None and has_no_models(current):
            raise no_models(chosen.value)  # D17: nothing to stream, now or later
        if current is not None:
            stale_after = gateway.settings.analytics.stale_after_seconds
            headers |= provenance(current, "deletion-risk", stale_after_seconds=stale_after).headers
        keepalive_ms = max(1, int(gateway.settings.gateway.sse_keepalive_seconds * 1000))
        stream = _events(gateway.redis, key, after, note, keepalive_ms)
    except BaseException:
        slots.release()
        raise
    return SlotStreamingResponse(stream, slots, media_type="text/event-stream", headers=headers)


for segment, suffix in (("deletion-risk", "deletion_risk"), ("audit", "audit")):
    router.add_api_route(
        f"{PREFIX}/{{category}}/{segment}/events",
        deletion_risk_events,
        methods=["GET"],
        operation_id=f"stream_{suffix}_events",
        response_class=StreamingResponse,
        responses=_STREAM_DOC,
    )
