"""One Redis reader per category, fanned out in-process to every open event stream.

An open Server-Sent-Events stream must not cost a Redis connection: a few hundred browsers would
otherwise exhaust the pool the queries and probes use. Each category has one ``CategoryFeed``
task that XREADs the workers' risk-event stream (BLOCK, on its own client whose socket timeout
exceeds the block) and hands every entry, already encoded as an SSE message, to each subscriber's
bounded buffer without awaiting. A subscriber whose buffer is full is slow: it is dropped with a
final ``stream-dropped`` event (its ``Last-Event-ID`` still resumes it), never slowing the others.

Positions are the Redis stream ids (``<ms>-<seq>``), which is also the SSE ``id:``. A subscriber
registered while the feed is at position P receives exactly the entries after P; a resume from an
older id reads the entries in between with XRANGE first, so nothing is missed or repeated.
While Redis is unavailable the feed retries with backoff (a WARNING, no traceback) and the streams
keep sending keep-alives; it continues from its position when Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys
from shared.store.generations import as_text

log = logging.getLogger(__name__)

EVENT_NAME = "deletion-risk-changed"
DROPPED_EVENT = "stream-dropped"
#: ``retry:`` sent to every client (ms before an EventSource reconnects).
RETRY_MS = 3000
_READ_BATCH = 100
_BACKLOG_PAGE = 200
_BACKOFF_MAX = 5.0
#: Subscribers handed an event between two yields to the event loop.
FAN_OUT_SLICE = 50


def position_key(stream_id: str) -> tuple[int, int]:
    """Sortable form of a Redis stream id; ``ValueError`` if it is not one."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def is_position(text: str) -> bool:
    """Whether ``text`` is a Redis stream id (what the SSE ``id:`` carries)."""
    try:
        ms, seq = position_key(text)
    except ValueError:
        return False
    return ms >= 0 and seq >= 0 and "-" in text


def sse_message(position: str, data: str) -> bytes:
    """One event (``data`` is single-line JSON); ``id`` is the stream position."""
    return f"id: {position}\nevent: {EVENT_NAME}\ndata: {data}\n\n".encode()


def encode_entry(stream_id: Any, fields: Any) -> tuple[str, bytes]:
    """A Redis stream entry as (position, SSE message)."""
    position = as_text(stream_id)
    data = fields.get(b"data", fields.get("data", b"{}"))
    return position, sse_message(position, as_text(data))


class Subscriber:
    """One open stream's bounded buffer of encoded messages; ``None`` ends the stream."""

    def __init__(self, capacity: int) -> None:
        self.queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self.capacity = capacity
        #: Position of the last event the stream has written to its client.
        self.delivered: str | None = None
        self.dropped = False
        #: Loop time of the last write to the client (the hub's keep-alive ticker reads it).
        self.last_write = asyncio.get_running_loop().time()

    def offer(self, position: str, message: bytes) -> bool:
        """Queue a message without waiting; ``False`` when the buffer is full (slow client)."""
        if self.queue.qsize() >= self.capacity:
            return False
        self.queue.put_nowait((position, message))
        return True

    def drop(self) -> None:
        """Replace what is pending with a final event saying why, then end the stream."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.dropped = True
        detail = "This client read too slowly and was disconnected; reconnect with Last-Event-ID."
        data = json.dumps({"detail": detail, "last_event_id": self.delivered})
        self.queue.put_nowait(("", f"event: {DROPPED_EVENT}\nretry: {RETRY_MS}\ndata: {data}\n\n".encode()))
        self.queue.put_nowait(None)

    def end(self, note: str | None = None) -> None:
        """End the stream after what is queued, with a last comment when given."""
        if note:
            self.queue.put_nowait(("", f": {note}\n\n".encode()))
        self.queue.put_nowait(None)


class CategoryFeed:
    """The single XREAD loop of one category and the subscribers it fans out to."""

    def __init__(self, redis: Redis, key: str, *, block_ms: int, category: str) -> None:
        self.redis, self.key, self.block_ms, self.category = redis, key, block_ms, category
        self.subscribers: set[Subscriber] = set()
        #: Position of the newest entry fanned out (``None`` until read once from Redis).
        self.position: str | None = None
        self.positioned = asyncio.Event()
        #: Clear while a fan-out is under way (a new subscriber waits, then reads ``position``).
        self.idle = asyncio.Event()
        self.idle.set()
        self.healthy = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"sse-feed-{self.category}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        for subscriber in list(self.subscribers):
            subscriber.end()
        self.subscribers.clear()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                if self.position is None:
                    newest: Any = await self.redis.xrevrange(self.key, count=1)
                    self.position = as_text(newest[0][0]) if newest else "0-0"
                    self.positioned.set()
                batches: Any = await self.redis.xread(
                    {self.key: self.position}, count=_READ_BATCH, block=self.block_ms
                )
                if not self.healthy:
                    self.healthy = True
                    if backoff > 0.1:
                        log.info("event feed reading again", extra={"category": self.category})
                backoff = 0.1
            except (RedisError, OSError) as error:
                if self.healthy or backoff == 0.1:
                    log.warning(
                        "event feed cannot read Redis; streams stay open with keep-alives",
                        extra={"category": self.category, "error": repr(error)},
                    )
                self.healthy = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            except Exception:  # a bug, not an outage: loud, but the streams keep their feed
                log.exception("event feed failed; retrying", extra={"category": self.category})
                await asyncio.sleep(_BACKOFF_MAX)
                continue
            for _, entries in batches or ():
                await self.fan_out([encode_entry(stream_id, fields) for stream_id, fields in entries])

    async def fan_out(self, encoded: list[tuple[str, bytes]]) -> None:
        """Hand entries to every subscriber, a slice of subscribers at a time (each gets the whole
        batch, so a burst wakes it once) and yielding between slices so queries interleave with a
        big fan-out; new subscribers wait for ``idle``, so positions stay consistent."""
        if not encoded:
            return
        self.idle.clear()
        try:
            targets = list(self.subscribers)
            for start in range(0, len(targets), FAN_OUT_SLICE):
                if start:
                    await asyncio.sleep(0)
                for subscriber in targets[start : start + FAN_OUT_SLICE]:
                    if subscriber not in self.subscribers:
                        continue  # left meanwhile
                    for position, message in encoded:
                        if not subscriber.offer(position, message):
                            self.subscribers.discard(subscriber)
                            subscriber.drop()
                            log.info("slow event-stream client dropped", extra={"category": self.category})
                            break
            self.position = encoded[-1][0]
        finally:
            self.idle.set()

    async def backlog(self, after: str, upto: str) -> list[tuple[str, bytes]]:
        """Entries with ``after`` < position ≤ ``upto`` (a resume), read in pages."""
        found: list[tuple[str, bytes]] = []
        lower = "(" + after
        while True:
            page: Any = await self.redis.xrange(self.key, min=lower, max=upto, count=_BACKLOG_PAGE)
            found.extend(encode_entry(stream_id, fields) for stream_id, fields in page)
            if len(page) < _BACKLOG_PAGE:
                return found
            lower = "(" + found[-1][0]

    async def trimmed_up_to(self) -> str | None:
        """Newest position the capped stream has trimmed away (Redis 7 reports it), if any."""
        try:
            info: Any = await self.redis.xinfo_stream(self.key)
        except ResponseError:  # no stream yet
            return None
        value = info.get("max-deleted-entry-id", info.get(b"max-deleted-entry-id"))
        return as_text(value) if value is not None else None


KEEPALIVE: tuple[str, bytes] = ("", b": keep-alive\n\n")


class StreamHub:
    """The feeds of every category, started on first use, over one dedicated Redis client, and
    one keep-alive ticker for every stream (no timer per stream: a thousand streams would
    re-arm a thousand timers on every event)."""

    def __init__(
        self, redis: Redis, keys: RedisKeys, *, block_seconds: float, keepalive_seconds: float
    ) -> None:
        self.redis, self.keys = redis, keys
        self.block_ms = max(1, int(block_seconds * 1000))
        self.keepalive = keepalive_seconds
        #: Keep-alives go out between ``keepalive`` and ``keepalive + tick`` seconds of silence.
        self.tick = min(1.0, keepalive_seconds / 4)
        self.feeds: dict[ModelCategory, CategoryFeed] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def _keep_alive(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick)
            silent_since = loop.time() - self.keepalive
            for feed in self.feeds.values():
                for subscriber in feed.subscribers:
                    if subscriber.last_write <= silent_since and subscriber.queue.empty():
                        subscriber.queue.put_nowait(KEEPALIVE)
                        subscriber.last_write = loop.time()

    def feed(self, category: ModelCategory) -> CategoryFeed:
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._keep_alive(), name="sse-keepalive")
        feed = self.feeds.get(category)
        if feed is None:
            key, name = self.keys.risk_events(category), category.value
            feed = self.feeds[category] = CategoryFeed(self.redis, key, block_ms=self.block_ms, category=name)
            feed.start()
        return feed

    def end_streams(self) -> None:
        """The process is stopping: every stream ends now (its client reconnects elsewhere with
        ``Last-Event-ID``), so the server's shutdown does not wait for endless responses."""
        for feed in self.feeds.values():
            for subscriber in list(feed.subscribers):
                subscriber.end("gateway stopping; reconnect with Last-Event-ID")
            feed.subscribers.clear()

    def open_streams(self) -> int:
        return sum(len(feed.subscribers) for feed in self.feeds.values())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(BaseException):
                await self._ticker
            self._ticker = None
        for feed in self.feeds.values():
            await feed.stop()
        self.feeds.clear()
