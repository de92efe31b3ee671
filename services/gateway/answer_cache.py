"""Finished answers replayed byte for byte while the category pointer they came from is current.

On two cores the HTTP server's own work per request is a few tens of microseconds; routing,
parameter parsing, selection and header building cost several times that even with every view
cached. Yet a finished 200 or 304 of a materialised view depends only on the request target and
the headers the routes read (``AnswerKey``; CORS headers are added outside, per request), the
category pointer it was built from (immutable per object, see ``PointerCache.peek``) and, for a
fresh answer, the moment its ``stale`` bit turns on by age (``freshness.stale_from``).

So ``serve`` marks its answers with that basis (``answer_basis``: the route runs in the
middleware's own context), ``AnswerReplay`` records them and replays them while the pointer in
memory is still the very object the answer was built from and that moment has not come. Without a
live pointer subscription ``peek`` gives nothing, so nothing is replayed. Bounded by total body
bytes, least recently used out first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.domain.categories import ModelCategory
from shared.store.generations import CurrentGeneration

#: Raw path, query string, Accept-Encoding, If-None-Match.
AnswerKey = tuple[bytes, bytes, bytes | None, bytes | None]
_REPLAYABLE_STATUS = (200, 304)


class AnswerBasis(NamedTuple):
    """What an answer was built from: the pointer object, and the Unix time until which it is
    exact (when a fresh answer's stale bit turns on; ``inf`` for an answer already stale).
    A tuple: one is made for every answer ``serve`` builds."""

    category: ModelCategory
    pointer: CurrentGeneration
    valid_until: float = math.inf


#: Set by ``serve`` on an answer it built from a materialised view; read by ``AnswerReplay``.
answer_basis: ContextVar[AnswerBasis | None] = ContextVar("answer_basis", default=None)


@dataclass(frozen=True, slots=True)
class RecordedAnswer:
    """The ASGI messages of one finished answer, as the HTTP server received them."""

    basis: AnswerBasis
    start: Message
    body: bytes
    #: The route that served it (the request metric's label when it is replayed).
    route: Any


def answer_key(scope: Scope) -> AnswerKey:
    """The parts of a request an answer depends on (first value of a repeated header, as
    Starlette's ``Headers.get`` reads it)."""
    encoding = if_none_match = None
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            encoding = value if encoding is None else encoding
        elif name == b"if-none-match":
            if_none_match = value if if_none_match is None else if_none_match
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return raw_path, scope.get("query_string", b""), encoding, if_none_match


class CurrentPointers(Protocol):
    """Where the cache learns which pointer is current (``PointerCache``)."""

    def peek(self, category: ModelCategory) -> CurrentGeneration | None: ...


class AnswerCache:
    """Recorded answers by ``AnswerKey``, at most ``max_bytes`` of bodies."""

    def __init__(
        self, pointers: CurrentPointers, *, max_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.pointers = pointers
        self.max_bytes = max_bytes
        self.clock = clock
        self.size = 0
        #: Answers replayed and requests routed (plain counters: a metric per request costs more).
        self.hits = 0
        self.misses = 0
        self._answers: OrderedDict[AnswerKey, RecordedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    @property
    def largest_body(self) -> int:
        """Bodies above a quarter of the budget are not kept: one answer must not evict all others."""
        return self.max_bytes // 4

    def lookup(self, key: AnswerKey) -> RecordedAnswer | None:
        """The recorded answer of ``key`` if it is still exact now; an outdated one is dropped."""
        found = self._answers.get(key)
        if found is not None:
            basis = found.basis
            if self.pointers.peek(basis.category) is basis.pointer and self.clock() < basis.valid_until:
                self._answers.move_to_end(key)
                self.hits += 1
                return found
            self._drop(key)
        self.misses += 1
        return None

    def record(
        self, key: AnswerKey, basis: AnswerBasis, start: Message, body: bytes, route: Any = None
    ) -> None:
        """Keep a finished answer if its pointer is still current and it fits the budget."""
        if self.pointers.peek(basis.category) is not basis.pointer or len(body) > self.largest_body:
            return
        self._drop(key)
        self._answers[key] = RecordedAnswer(basis, start, body, route)
        self.size += len(body)
        while self.size > self.max_bytes:
            self._drop(next(iter(self._answers)))

    def _drop(self, key: AnswerKey) -> None:
        gone = self._answers.pop(key, None)
        if gone is not None:
            self.size -= len(gone.body)


class AnswerReplay:
    """ASGI middleware: a GET whose recorded answer is still exact is answered from it, any other
    is passed on and its answer recorded when ``serve`` gave it a basis. Innermost of the user
    middlewares (``services.gateway.stack``), so they see replayed answers too; HEAD arrives as GET
    (``RequestContext``). ``answers``: the cache of the moment (``None``: replay off, or not yet)."""

    def __init__(self, app: ASGIApp, answers: Callable[[], AnswerCache | None]) -> None:
        self.app, self.answers = app, answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache = self.answers()
        if cache is None or scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        key = answer_key(scope)
        recorded = cache.lookup(key)
        if recorded is not None:
            scope["route"] = recorded.route  # the metric label, as if routed
            start = recorded.start  # a copy: outer middlewares (CORS) edit the headers in place
            await send({**start, "headers": list(start["headers"])})
            await send({"type": "http.response.body", "body": recorded.body})
            return
        await _serve_recording(cache, key, self.app, scope, receive, send)


async def _serve_recording(
    cache: AnswerCache, key: AnswerKey, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    """Run ``app`` and record its answer when ``serve`` gave it a basis.

    Capture stops beyond the largest body the cache would keep, so an event stream or a huge
    answer is never held in memory here."""
    start: Message | None = None
    chunks: list[bytes] | None = []
    captured = 0
    complete = False
    largest = cache.largest_body

    async def recording_send(message: Message) -> None:
        nonlocal start, chunks, captured, complete
        if message["type"] == "http.response.start":
            start = {**message, "headers": list(message.get("headers", ()))}
        elif message["type"] == "http.response.body" and chunks is not None:
            body = message.get("body", b"")
            captured += len(body)
            if captured <= largest:
                chunks.append(body)
            else:
                chunks = None
            complete = not message.get("more_body", False)
        await send(message)

    token = answer_basis.set(None)
    try:
        await app(scope, receive, recording_send)
        basis = answer_basis.get()
    finally:
        answer_basis.reset(token)
    if basis is None or start is None or chunks is None or not complete:
        return
    if start["status"] in _REPLAYABLE_STATUS:
        cache.record(key, basis, start, b"".join(chunks), scope.get("route"))
