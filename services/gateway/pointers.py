"""Category pointers kept in memory and dropped the moment a worker announces a change.

Each pointer also carries what the latest polls said about the content it was built from
(``confirmation_fields``), so an answer is confirmed only by polls that saw its content.

Reading the pointer hash was the largest cost of a cached answer. The analytics workers publish
a category's name on a Redis channel whenever its generation or source health changes; while
this gateway is subscribed it serves pointers from memory (at most ``max_age`` old as a safety
net) and re-reads a category only after its announcement. Without a live subscription every
request reads Redis, so a lost connection can delay nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from shared.domain.categories import ModelCategory
from shared.domain.heartbeat import ENDPOINTS
from shared.domain.horde.confirmation import Poll, confirmation_fields, poll_of
from shared.store.generations import CurrentGeneration, GenerationStore

log = logging.getLogger(__name__)

#: Pointer fields an answer needs (the full basis also holds sequence numbers).
POINTER_FIELDS = (
    "generation",
    "computed_at",
    "reference_version",
    *(f"{endpoint}_at_ms" for endpoint in ENDPOINTS),
    "reference_models",
    *(f"{endpoint}_hash" for endpoint in ENDPOINTS),
)


async def read_pointer(store: GenerationStore, category: ModelCategory) -> CurrentGeneration | None:
    """The pointer fields answers use, plus what the latest polls say about the content served."""
    pipe = store.redis.pipeline(transaction=False)
    pipe.hmget(store.keys.current(category), POINTER_FIELDS)
    pipe.hmget(store.keys.source_health(category), ENDPOINTS)
    values, health = await pipe.execute()
    if values[0] is None:
        return None
    decoded = [v.decode() if isinstance(v, bytes) else v for v in values]
    basis = {k: v for k, v in zip(POINTER_FIELDS[1:], decoded[1:], strict=True) if v is not None}
    polls: dict[str, Poll | None] = {e: poll_of(raw) for e, raw in zip(ENDPOINTS, health, strict=True)}
    basis.update(confirmation_fields(basis, polls))
    return CurrentGeneration(str(decoded[0]), basis)


class PointerCache:
    """Pointers per category, valid until announced stale (or ``max_age`` seconds old)."""

    def __init__(
        self, store: GenerationStore, *, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.max_age = max_age
        self.clock = clock
        self.live = False
        self._entries: dict[ModelCategory, tuple[float, CurrentGeneration | None]] = {}
        #: Categories this process has served a pointer of: a missing one was lost, not yet to come.
        self.seen: set[ModelCategory] = set()

    async def get(self, category: ModelCategory) -> CurrentGeneration | None:
        """The category's pointer (from memory while subscribed and fresh, else from Redis)."""
        if self.live:
            cached = self._entries.get(category)
            if cached is not None and self.clock() - cached[0] < self.max_age:
                return cached[1]
        read_at = self.clock()
        pointer = await read_pointer(self.store, category)
        if pointer is not None:
            self.seen.add(category)
        if self.live:
            previous = self._entries.get(category)
            if previous is not None and previous[1] == pointer:
                # Same content: keep the object, whose identity answers recorded from it check.
                pointer = previous[1]
            self._entries[category] = (read_at, pointer)
        return pointer

    def peek(self, category: ModelCategory) -> CurrentGeneration | None:
        """The pointer ``get`` would return without reading Redis, else ``None`` (no I/O)."""
        cached = self._entries.get(category) if self.live else None
        if cached is not None and self.clock() - cached[0] < self.max_age:
            return cached[1]
        return None

    def invalidate(self, category: ModelCategory | None = None) -> None:
        """Forget one category's pointer, or all of them."""
        if category is None:
            self._entries.clear()
        else:
            self._entries.pop(category, None)

    async def listen(self, stop: asyncio.Event) -> None:
        """Follow the workers' announcements until ``stop``; reconnects with a short backoff."""
        channel = self.store.keys.changes_channel()
        while not stop.is_set():
            pubsub = self.store.redis.pubsub()
            try:
                await pubsub.subscribe(channel)
                self.invalidate()
                self.live = True
                while not stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._on_message(message.get("data"))
            except Exception as error:
                log.warning("pointer announcements lost; reading pointers from Redis: %s", error)
            finally:
                self.live = False
                self.invalidate()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    def _on_message(self, data: Any) -> None:
        name = data.decode() if isinstance(data, bytes) else str(data)
        try:
            self.invalidate(ModelCategory(name))
        except ValueError:
            self.invalidate()
