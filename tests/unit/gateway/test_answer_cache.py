"""Replayed answers: what a request's key is made of, when a recorded answer stops being exact,
and the byte budget. End-to-end equality with routed answers is in
``tests/integration/test_gateway_answer_cache.py``."""

from __future__ import annotations

import math
from typing import Any

from services.gateway.answer_cache import (
    AnswerBasis,
    AnswerCache,
    AnswerReplay,
    answer_basis,
    answer_key,
)
from services.gateway.freshness import provenance, stale_from
from shared.domain.categories import ModelCategory
from shared.store.generations import CurrentGeneration

IMAGE, TEXT = ModelCategory.IMAGE_GENERATION, ModelCategory.TEXT_GENERATION
TIMER = "route"


class Pointers:
    """The current pointers, as ``PointerCache.peek`` would report them."""

    def __init__(self) -> None:
        self.current: dict[ModelCategory, CurrentGeneration] = {}

    def peek(self, category: ModelCategory) -> CurrentGeneration | None:
        return self.current.get(category)


def pointer(generation: str = "g1", status_at_ms: int = 1_000_000_000_000) -> CurrentGeneration:
    return CurrentGeneration(
        generation, {"status_at_ms": str(status_at_ms), "stats_at_ms": str(status_at_ms)}
    )


def scope(path: str = "/x", query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    return {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
            "query_string": query, "headers": headers or []}  # fmt: skip


def start(status: int = 200) -> Any:
    return {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"3")]}


def test_the_key_holds_target_and_the_headers_the_gateway_reads_first_value_wins() -> None:
    headers = [
        (b"host", b"a"), (b"accept-encoding", b"gzip"), (b"accept-encoding", b"identity"),
        (b"if-none-match", b'"t"'), (b"origin", b"https://o"), (b"cookie", b"c=1"), (b"user-agent", b"x"),
    ]  # fmt: skip
    key = answer_key(scope("/p", b"a=1", headers))
    assert key == (b"/p", b"a=1", b"gzip", b'"t"')  # CORS (Origin, Cookie) is applied outside the replay
    assert answer_key(scope("/p", b"a=1", [(b"user-agent", b"y")])) == (b"/p", b"a=1", None, None)
    assert answer_key(scope("/p", b"a=2")) != answer_key(scope("/p", b"a=1"))


def test_an_answer_is_replayed_only_while_its_pointer_object_is_current() -> None:
    pointers, now = Pointers(), [100.0]
    cache = AnswerCache(pointers, max_bytes=1000, clock=lambda: now[0])
    current = pointer()
    pointers.current[IMAGE] = current
    key = answer_key(scope())
    cache.record(key, AnswerBasis(IMAGE, current), start(), b"abc", TIMER)
    assert cache.lookup(key) is not None
    pointers.current[IMAGE] = pointer()  # equal content, another read after an announcement
    assert cache.lookup(key) is None
    assert len(cache) == 0
    assert cache.size == 0
    cache.record(key, AnswerBasis(IMAGE, current), start(), b"abc", TIMER)
    assert len(cache) == 0  # built from a pointer that is no longer current: not kept
    del pointers.current[IMAGE]  # no live subscription: nothing is replayed
    cache.record(key, AnswerBasis(IMAGE, current), start(), b"abc", TIMER)
    assert cache.lookup(key) is None
    assert (cache.hits, cache.misses) == (1, 2)


def test_a_fresh_answer_expires_when_its_stale_bit_would_turn_on() -> None:
    pointers, now = Pointers(), [0.0]
    cache = AnswerCache(pointers, max_bytes=1000, clock=lambda: now[0])
    current = pointer(status_at_ms=1_000_000)  # status from t = 1000 s
    pointers.current[TEXT] = current
    turn = stale_from(current, "deletion-risk", stale_after_seconds=600)
    assert turn == 1600
    assert provenance(current, "deletion-risk", stale_after_seconds=600, now=turn).stale is False
    assert provenance(current, "deletion-risk", stale_after_seconds=600, now=turn + 0.001).stale is True
    assert stale_from(current, "statistics", stale_after_seconds=600) == math.inf  # reference only
    key = answer_key(scope())
    cache.record(key, AnswerBasis(TEXT, current, turn), start(), b"abc", TIMER)
    now[0] = turn - 0.001
    assert cache.lookup(key) is not None
    now[0] = turn
    assert cache.lookup(key) is None


def test_bodies_stay_within_the_byte_budget_least_recently_used_out_first() -> None:
    pointers = Pointers()
    current = pointers.current[IMAGE] = pointer()
    cache = AnswerCache(pointers, max_bytes=100, clock=lambda: 0.0)
    keys = [answer_key(scope(f"/{n}")) for n in range(5)]
    for key in keys[:3]:
        cache.record(key, AnswerBasis(IMAGE, current), start(), b"x" * 20, TIMER)
    assert cache.lookup(keys[0]) is not None  # now the most recently used
    cache.record(keys[3], AnswerBasis(IMAGE, current), start(), b"y" * 20, TIMER)
    cache.record(keys[3], AnswerBasis(IMAGE, current), start(), b"z" * 25, TIMER)  # replaced, not added
    assert cache.size == 85
    cache.record(keys[4], AnswerBasis(IMAGE, current), start(), b"w" * 25, TIMER)
    assert cache.size == 90
    assert cache.lookup(keys[1]) is None  # evicted: least recently used
    assert [cache.lookup(k) is not None for k in (keys[0], keys[2], keys[3], keys[4])] == [True] * 4
    cache.record(answer_key(scope("/big")), AnswerBasis(IMAGE, current), start(), b"b" * 26, TIMER)
    assert cache.lookup(answer_key(scope("/big"))) is None  # over a quarter of the budget: never kept


async def test_only_marked_complete_answers_are_recorded_and_replayed_as_sent() -> None:
    pointers = Pointers()
    current = pointers.current[IMAGE] = pointer()
    cache = AnswerCache(pointers, max_bytes=1000, clock=lambda: 0.0)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request"}

    def app(status: int, marked: bool, parts: tuple[bytes, ...] = (b"ab", b"c")) -> Any:
        async def run(s: Any, _receive: Any, send: Any) -> None:
            if marked:
                answer_basis.set(AnswerBasis(IMAGE, current))
            await send(start(status))
            for n, part in enumerate(parts):
                await send({"type": "http.response.body", "body": part, "more_body": n < len(parts) - 1})

        return run

    def replaying(inner: Any) -> AnswerReplay:
        return AnswerReplay(inner, answers=lambda: cache)

    for n, (status, marked) in enumerate(((200, False), (404, True), (503, True))):
        await replaying(app(status, marked))(scope(f"/{n}"), receive, send)
    assert len(cache) == 0
    assert answer_basis.get() is None  # the route's basis does not leak past the middleware
    stream = app(200, True, tuple(b"e" * 100 for _ in range(5)))  # an event stream's chunks
    await replaying(stream)(scope("/events"), receive, send)
    assert len(cache) == 0  # capture stopped past the largest keepable body (1000 // 4)
    await replaying(app(200, True))(scope("/ok"), receive, send)
    recorded = cache.lookup(answer_key(scope("/ok")))
    assert recorded is not None
    assert recorded.body == b"abc"
    sent.clear()

    async def never(*_: Any) -> None:
        raise AssertionError("a replayed answer does not reach the app")

    await replaying(never)(scope("/ok"), receive, send)
    assert sent == [start(200), {"type": "http.response.body", "body": b"abc"}]
