"""Fan-out of one category's events to its streams: bounded buffers, slow clients dropped."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from services.gateway.streams import (
    DROPPED_EVENT,
    CategoryFeed,
    StreamHub,
    Subscriber,
    is_position,
    position_key,
    sse_message,
)
from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys
from shared.settings import GatewaySettings


def _feed() -> CategoryFeed:
    # The client never connects here: fan-out is in-process.
    return CategoryFeed(Redis(), "k", block_ms=5000, category="image_generation")


def test_stream_positions_sort_numerically_and_other_ids_are_not_positions() -> None:
    assert position_key("10-0") > position_key("9-5")
    assert position_key("9-10") > position_key("9-9")
    assert is_position("1765000000000-3")
    assert not is_position("3f2a9c")
    assert not is_position("12")
    assert not is_position("")


async def test_a_slow_client_is_dropped_with_a_final_event_and_never_slows_the_others() -> None:
    """At the production buffer size: a client that reads nothing is dropped once its buffer is
    full, with a last ``stream-dropped`` event naming what it got; a reading client gets all."""
    capacity = GatewaySettings().sse_buffer_events
    feed = _feed()
    slow, fast = Subscriber(capacity), Subscriber(capacity)
    slow.delivered = "1-0"
    feed.subscribers |= {slow, fast}
    received: list[bytes] = []
    for n in range(2, capacity + 10):
        position = f"{n}-0"
        await feed.fan_out([(position, sse_message(position, "{}"))])
        while not fast.queue.empty():  # the fast one keeps up
            item = fast.queue.get_nowait()
            assert item is not None
            received.append(item[1])
    assert len(received) == capacity + 8
    assert slow not in feed.subscribers
    assert fast in feed.subscribers
    assert slow.dropped
    final = slow.queue.get_nowait()
    assert final is not None
    text = final[1].decode()
    assert text.startswith(f"event: {DROPPED_EVENT}\n")
    assert "retry:" in text
    assert json.loads(text.split("data: ", 1)[1])["last_event_id"] == "1-0"
    assert slow.queue.get_nowait() is None  # then the stream ends
    assert feed.position == f"{capacity + 9}-0"


async def test_stopping_ends_every_stream_with_a_last_comment() -> None:
    hub = StreamHub(Redis(), RedisKeys("k"), block_seconds=5, keepalive_seconds=15)
    feed = _feed()
    hub.feeds[ModelCategory.IMAGE_GENERATION] = feed
    subscriber = Subscriber(8)
    feed.subscribers.add(subscriber)
    hub.end_streams()
    last = subscriber.queue.get_nowait()
    assert last is not None
    assert b"gateway stopping" in last[1]
    assert subscriber.queue.get_nowait() is None
    assert hub.open_streams() == 0
