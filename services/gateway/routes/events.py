"""``GET …/{category}/deletion-risk/events``: risk changes as Server-Sent Events.

Streams are fed by their category's single Redis reader (``services.gateway.streams``). The SSE
``id:`` is the position in the workers' Redis stream; the first message carries the position the
stream starts from, so a client that reconnects before any event still resumes exactly there.
``Last-Event-ID`` (or ``resume_after``) resumes right after a position, reading what was missed
with XRANGE first. A keep-alive comment follows ``sse_keepalive_seconds`` of silence, whatever
Redis is doing. Open streams per process are capped: beyond the cap, 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from services.gateway.answer import gateway_of, has_no_models
from services.gateway.errors import error_responses, no_models, retry_later, store_unavailable
from services.gateway.fastroute import FastRoute
from services.gateway.freshness import provenance
from services.gateway.request_context import HEAD_MARK, RAW_SEND
from services.gateway.routes.common import PREFIX, CategoryPath, parse_category
from services.gateway.streams import (
    RETRY_MS,
    CategoryFeed,
    StreamHub,
    Subscriber,
    is_position,
    position_key,
)

router = APIRouter(tags=["deletion-risk"], route_class=FastRoute)

#: ``Retry-After`` of a 429 when every stream slot is taken.
FULL_RETRY_AFTER = 5
#: Longest wait at connect for a category's reader to learn its position from Redis.
_POSITION_WAIT = 5.0


class StreamSlots:
    """Counts open event streams of this process; a slot is taken before answering, freed at the end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def take(self) -> None:
        if self.open >= self.limit:
            detail = f"Too many open event streams ({self.limit} per gateway process); retry later."
            raise retry_later(429, detail, FULL_RETRY_AFTER)
        self.open += 1

    def release(self) -> None:
        self.open -= 1


class EventStreamResponse(Response):
    """Writes a subscriber's messages (events, and the hub's keep-alives) as they come.

    Plain ASGI rather than a generator under ``StreamingResponse``: with a thousand streams every
    event costs a thousand writes, so each is one ``send`` call, messages already waiting are
    joined into one, and a watcher of ``receive`` ends the stream when the client goes away.
    The response start goes through every middleware (metrics, CORS); the body messages, which
    those pass through untouched, go straight to the server's ``send`` (``RAW_SEND``).
    ``on_close`` runs however the stream ends (slot freed, subscriber removed).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        subscriber: Subscriber,
        first: bytes,
        backlog: list[tuple[str, bytes]],
        *,
        on_close: Callable[[], None],
        headers: dict[str, str],
    ) -> None:
        super().__init__(headers=headers)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]  # endless
        self.subscriber, self.first, self.backlog, self.on_close = subscriber, first, backlog, on_close

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.subscriber.end()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.create_task(self._watch(receive))
        subscriber, queue = self.subscriber, self.subscriber.queue
        loop = asyncio.get_running_loop()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            write: Send = scope.get(RAW_SEND, send)
            await write({"type": "http.response.body", "body": self.first, "more_body": True})
            for position, message in self.backlog:
                subscriber.delivered = position
                await write({"type": "http.response.body", "body": message, "more_body": True})
            self.backlog = []
            ended = False
            while not ended and not watcher.done():
                item = await queue.get()
                parts: list[bytes] = []
                while item is not None:  # join what is already waiting into one write
                    position, message = item
                    subscriber.delivered = position or subscriber.delivered
                    parts.append(message)
                    if queue.empty():
                        break
                    item = queue.get_nowait()
                ended = item is None
                if parts:
                    await write({"type": "http.response.body", "body": b"".join(parts), "more_body": True})
                    subscriber.last_write = loop.time()
            if not watcher.done():
                await write({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away while we wrote
        finally:
            watcher.cancel()
            self.on_close()


async def _start(
    feed: CategoryFeed, subscriber: Subscriber, requested: str | None
) -> tuple[str, str, list[tuple[str, bytes]]]:
    """Register ``subscriber`` and decide where it starts: (first id, comment, backlog to send).

    Registration and reading the feed's position happen without an await in between, so every
    entry after that position reaches the subscriber live and the backlog ends exactly there.
    """
    if not feed.positioned.is_set():
        try:
            await asyncio.wait_for(feed.positioned.wait(), _POSITION_WAIT)
        except TimeoutError:
            raise store_unavailable() from None
    while not feed.idle.is_set():
        await feed.idle.wait()
    position = feed.position  # no await from here to the registration
    assert position is not None
    feed.subscribers.add(subscriber)
    if not requested:
        return position, "connected", []
    if not is_position(requested):
        after, note = "0-0", "Last-Event-ID is not a stream position: replaying every kept event"
    elif position_key(requested) >= position_key(position):
        ahead = position_key(requested) > position_key(position)
        note = "resumed (Last-Event-ID is ahead of this stream: new events only)" if ahead else "resumed"
        return position, note, []
    else:
        after, note = requested, "resumed"
        trimmed = await feed.trimmed_up_to()
        if trimmed is not None and position_key(trimmed) > position_key(requested):
            note = "resumed; some events after Last-Event-ID are no longer kept"
    return after, note, await feed.backlog(after, position)


_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An endless `text/event-stream` of `deletion-risk-changed` events "
        "(data: JSON of `DeletionRiskChanged`), with `: keep-alive` comments while idle.",
        "content": {
            "text/event-stream": {
                "schema": {"type": "string"},
                "example": 'id: 1765000000000-0\nevent: deletion-risk-changed\ndata: {"model":"x",…}\n\n',
            }
        },
    },
    **error_responses(400, 404, 414, 422, 429, 503),
}


async def deletion_risk_events(
    request: Request,
    category: CategoryPath,
    last_event_id: Annotated[
        str | None,
        Header(
            description="`id:` of the last message received, a stream position (EventSource sends it "
            "on reconnect); the stream resumes right after it."
        ),
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
    hub: StreamHub = request.app.state.stream_hub
    slots.take()
    feed = hub.feed(chosen)
    subscriber = Subscriber(gateway.settings.gateway.sse_buffer_events)

    def close() -> None:
        feed.subscribers.discard(subscriber)
        slots.release()

    try:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        current = await gateway.pointers.get(chosen)
        if current is not None and has_no_models(current):
            raise no_models(chosen.value)  # D17: nothing to stream, now or later
        if current is not None:
            stale_after = gateway.settings.analytics.stale_after_seconds
            headers |= provenance(current, "deletion-risk", stale_after_seconds=stale_after).headers
        try:
            first_id, note, backlog = await _start(feed, subscriber, last_event_id or resume_after)
        except RedisError:
            raise store_unavailable() from None
        first = f"retry: {RETRY_MS}\nid: {first_id}\n: {note}\n\n".encode()
    except BaseException:
        close()
        raise
    return EventStreamResponse(subscriber, first, backlog, on_close=close, headers=headers)


for segment, suffix in (("deletion-risk", "deletion_risk"), ("audit", "audit")):
    router.add_api_route(
        f"{PREFIX}/{{category}}/{segment}/events",
        deletion_risk_events,
        methods=["GET"],
        operation_id=f"stream_{suffix}_events",
        response_class=StreamingResponse,
        responses=_STREAM_DOC,
    )
