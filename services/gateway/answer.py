"""One answer from the current generation: pointer read, conditional GET, body, encoding, headers.

Every route funnels through ``serve``: it resolves the category's pointer (``PointerCache``),
answers 304 when the client already holds this exact representation (no view read at all),
otherwise asks the route for its body (cache hit or one GET) and negotiates gzip. A view missing
from the generation it resolved is retried once against a newer generation, else it is a 503. A
200 or 304 built here is marked with its basis, so ``AnswerReplay`` replays it until that pointer
moves (``services.gateway.answer_cache``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache

from fastapi import Request
from fastapi.responses import Response
from redis.asyncio import Redis

from services.gateway.answer_cache import AnswerBasis, answer_basis, answer_key
from services.gateway.cache import ViewCache
from services.gateway.encoding import Body, encode
from services.gateway.errors import no_models, not_materialised
from services.gateway.freshness import Provenance, provenance_now
from services.gateway.pointers import PointerCache
from shared.domain.categories import ModelCategory
from shared.settings import Settings
from shared.store.generations import CurrentGeneration, GenerationStore

Build = Callable[[CurrentGeneration, Provenance], Awaitable[Body | None]]


@dataclass
class Gateway:
    """What every route needs, kept on the app (``GatewayApp.gateway``) for its lifetime."""

    settings: Settings
    redis: Redis
    store: GenerationStore
    cache: ViewCache
    pointers: PointerCache


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.scope["app"].gateway
    return gateway


@lru_cache(maxsize=4096)
def entity_tag(generation: str, view: str, query: str, stale: bool) -> str:
    """Strong ETag of one representation family: differs per generation, view, query and staleness."""
    digest = hashlib.blake2b(f"{view}\x1f{query}".encode(), digest_size=6).hexdigest()
    return f'"{generation}-{digest}{"-stale" if stale else ""}"'


@lru_cache(maxsize=4096)
def _representation(tag: str, coding: str | None, media_type: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers naming one representation: its ETag (the coding appended), ``Vary``, its
    coding and media type; the same for every answer of it."""
    etag = tag if coding is None else f'{tag[:-1]}-{coding}"'
    fields = [(b"etag", etag.encode()), _VARY]
    if coding is not None:
        fields.append((b"content-encoding", coding.encode()))
    fields.append((b"content-type", media_type.encode()))
    return tuple(fields)


def not_modified(if_none_match: str | None, tag: str) -> bool:
    """``If-None-Match`` names this representation (any content coding, weak or strong)."""
    if not if_none_match:
        return False
    base = tag[1:-1]
    for candidate in if_none_match.split(","):
        candidate = candidate.strip().removeprefix("W/").strip('"')
        if candidate == "*" or candidate == base or candidate == f"{base}-gzip":
            return True
    return False


def has_no_models(current: CurrentGeneration) -> bool:
    """The generation was computed from a reference in force without models (D17); generations
    written before the field existed lack it and count as having models."""
    return current.basis.get("reference_models") == "0"


async def current_of(pointers: PointerCache, category: ModelCategory) -> CurrentGeneration:
    """The category's pointer; 404 when its reference has no models (D17), 503 before its first
    generation (only a category the reference watcher has not reported yet has none) or when it was
    lost from Redis (a pointer this process has served before)."""
    current = await pointers.get(category)
    if current is None and category in pointers.seen:
        raise not_materialised(
            f"The views of {category} are being rewritten: Redis no longer holds them (flushed or "
            "restarted without persistence) and the analytics workers restore them from Kafka within "
            "seconds. Nothing is wrong with the request; retry after the Retry-After delay."
        )
    if current is None:
        raise not_materialised(
            f"No views of {category} have been written yet: the analytics workers have not finished "
            "their first computation of this category (they are starting or replaying Kafka, or "
            "Redis was emptied before this gateway saw the views). Retry after the Retry-After delay."
        )
    if has_no_models(current):
        raise no_models(category.value)
    return current


class ReadyResponse(Response):
    """A ``Response`` given its raw headers ready: Starlette's constructor lower-cases and encodes
    every header of every answer, a tenth of a small routed answer's CPU."""

    def __init__(self, status_code: int, body: bytes, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code, self.body, self.background, self.raw_headers = status_code, body, None, raw_headers


_VARY = (b"vary", b"Accept-Encoding")


async def serve(request: Request, category: ModelCategory, view: str, query: str, build: Build) -> Response:
    """The answer of ``build`` over the current generation of ``category`` (see module doc)."""
    gateway = gateway_of(request)
    stale_after = gateway.settings.analytics.stale_after_seconds
    current = gateway.pointers.peek(category)  # followed and fresh: no coroutine (``current_of``)
    if current is None or has_no_models(current):
        current = await current_of(gateway.pointers, category)
    _, _, encoding, validator = answer_key(request.scope)  # one pass over the raw headers
    if_none_match = None if validator is None else validator.decode("latin-1")
    accept_encoding = None if encoding is None else encoding.decode("latin-1")
    replaying = request.scope["app"].answer_cache is not None
    for _ in range(2):
        found, turns_stale = provenance_now(current, view, stale_after_seconds=stale_after)
        tag = entity_tag(current.generation, view, query, found.stale)
        # For ``AnswerReplay`` (when on), the answer is exact until its stale bit turns on by age
        # (a fresh answer) or until the pointer moves (a stale one).
        basis = (
            AnswerBasis(category, current, math.inf if found.stale else turns_stale) if replaying else None
        )
        if not_modified(if_none_match, tag):
            answer_basis.set(basis)
            return ReadyResponse(304, b"", [*found.raw, (b"etag", tag.encode()), _VARY])
        body = await build(current, found)
        if body is not None:
            answer_basis.set(basis)
            content, coding = encode(body, accept_encoding)
            representation = _representation(tag, coding, body.media_type)
            return ReadyResponse(
                200, content, [*found.raw, *representation, (b"content-length", b"%d" % len(content))]
            )
        gateway.pointers.invalidate(category)
        latest = await gateway.pointers.get(category)
        if latest is None or latest.generation == current.generation:
            break
        current = latest
    raise not_materialised(
        f"{view} of {category} is not available yet: the analytics workers are waiting for the "
        "AI Horde status and stats snapshots of this category"
    )
