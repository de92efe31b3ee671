"""In-process caches keyed by generation: what was read once from Redis never changes.

A generation's views are immutable, so a (category, generation, view) key can be cached without
invalidation; superseded generations simply age out of the LRU. Concurrent misses of one key
share a single load (a generation switch under load decodes each index once, not per request).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from typing import Any, TypeVar

from services.gateway.encoding import Body, stored_body
from shared.domain.categories import ModelCategory
from shared.materialized.index_codec import decode_index
from shared.materialized.layout import MaterializedView, gzip_key
from shared.materialized.proposal_inputs import PROPOSAL_VIEW, ProposalInputs
from shared.materialized.risk_listing import (
    JoinedRows,
    RiskListingIndex,
    RiskQuery,
    run_risk_query,
    summary_of,
)
from shared.materialized.with_stats_listing import WithStatsIndex
from shared.store.generations import GenerationStore

T = TypeVar("T")


class LRU:
    """A bounded mapping, least recently used out first, with single-flight loading.

    Bounded by entries and, with ``weigh``, by the total weight (bytes) of its values too."""

    def __init__(
        self, max_entries: int, *, max_weight: int = 0, weigh: Callable[[Any], int] | None = None
    ) -> None:
        self.max_entries = max(1, max_entries)
        self.max_weight, self.weigh, self.weight = max_weight, weigh, 0
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._loading: dict[Hashable, asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: Hashable) -> Any | None:
        """The cached value (refreshing its recency), or ``None``."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        weigh = self.weigh
        if weigh is not None:
            weight = weigh(value)
            if weight > self.max_weight:
                return  # never kept: it would evict everything else
            replaced = self._entries.get(key)
            self.weight += weight - (0 if replaced is None else weigh(replaced))
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries or (weigh is not None and self.weight > self.max_weight):
            _, gone = self._entries.popitem(last=False)
            if weigh is not None:
                self.weight -= weigh(gone)

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T | None]]) -> T | None:
        """The value of ``key``, loading it once if absent; ``None`` results are not cached."""
        while True:
            value = self.peek(key)
            if value is not None:
                return value  # type: ignore[no-any-return]
            pending = self._loading.get(key)
            if pending is None:
                break
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise
                # the loading request was cancelled (client gone), not this one: load again
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters re-raise it, nobody else must see a warning
            raise
        finally:
            self._loading.pop(key, None)
        if value is not None:
            self.put(key, value)
        future.set_result(value)
        return value


@dataclass(frozen=True, slots=True)
class Selection:
    """The filtered, ordered rows of a risk query (before paging), their summary JSON and their
    fragments joined (each page is a slice of them)."""

    rows: tuple[int, ...]
    summary_json: bytes
    joined: JoinedRows


_joined_bytes: Callable[[Selection], int] = attrgetter("joined.nbytes")
_risk_index = partial(decode_index, RiskListingIndex)
_with_stats_index = partial(decode_index, WithStatsIndex)


class ViewCache:
    """Bodies, decoded indexes and risk selections of generations, each read or computed once."""

    def __init__(self, store: GenerationStore, max_entries: int, selection_bytes: int = 32 << 20) -> None:
        self.store = store
        self.views = LRU(max_entries)
        self.indexes = LRU(max_entries)
        #: Per-query selections of risk listings (``selection``), their joined rows at most
        #: ``selection_bytes`` (the rows and summary are a fraction of that).
        self.selections = LRU(max_entries * 8, max_weight=selection_bytes, weigh=_joined_bytes)

    async def view(self, category: ModelCategory, generation: str, name: str) -> MaterializedView | None:
        """A default body (and its precompressed prefix), ``None`` if the generation lacks it."""
        key = (category, generation, name)
        found: MaterializedView | None = self.views.peek(key)  # as ``_index``: no loader made
        if found is not None:
            return found

        async def load() -> MaterializedView | None:
            keys = self.store.keys
            found: Any = await self.store.redis.mget(
                [keys.view(category, generation, name), keys.view(category, generation, gzip_key(name))]
            )
            body, deflated = found
            return None if body is None else MaterializedView.read(name, body, deflated)

        return await self.views.get(key, load)

    async def stored_json(
        self, category: ModelCategory, generation: str, name: str, tail: bytes = b""
    ) -> Body | None:
        """A default JSON body ended by ``tail``, gzip spliced; ``None`` if the generation lacks it."""
        stored = await self.view(category, generation, name)
        return None if stored is None else stored_body(stored, tail, "application/json")

    async def _index(
        self, category: ModelCategory, generation: str, view: str, decode: Callable[[bytes], T]
    ) -> T | None:
        key = (category, generation, view)
        found: T | None = self.indexes.peek(key)  # the routed path's case: no loader made
        if found is not None:
            return found

        async def load() -> T | None:
            raw = await self.store.view(category, generation, f"{view}.index")
            return None if raw is None else decode(raw)

        return await self.indexes.get(key, load)

    # Plain functions returning ``_index``'s coroutine: no extra coroutine per request.
    def risk_index(
        self, category: ModelCategory, generation: str, view: str
    ) -> Awaitable[RiskListingIndex | None]:
        """The decoded deletion-risk listing index of a view."""
        return self._index(category, generation, view, _risk_index)

    def with_stats_index(
        self, category: ModelCategory, generation: str, view: str
    ) -> Awaitable[WithStatsIndex | None]:
        """The decoded with-stats listing index of a view."""
        return self._index(category, generation, view, _with_stats_index)

    def proposal_inputs(self, category: ModelCategory, generation: str) -> Awaitable[ProposalInputs | None]:
        """The generation's removal-proposal inputs (the proposal route and the review pages)."""
        return self._index(category, generation, PROPOSAL_VIEW, ProposalInputs.model_validate_json)

    def selection(
        self, category: ModelCategory, generation: str, view: str, index: RiskListingIndex, query: RiskQuery
    ) -> Selection:
        """The rows ``query`` selects (its page ignored), their summary and their fragments joined,
        once per generation and view: the summary sums every selected row (the costliest part of a
        preset answer) and neither depends on the page, so each request only slices its page."""
        key = (
            category, generation, view, query.preset, query.search, query.sort_by, query.descending,
            query.min_days_at_risk,
        )  # fmt: skip
        found: Selection | None = self.selections.peek(key)
        if found is None:
            rows = run_risk_query(index, query.model_copy(update={"offset": 0, "limit": None})).selected
            summary = summary_of(index, rows).model_dump_json().encode()
            found = Selection(rows, summary, JoinedRows(index.encoded_fragments, rows))
            self.selections.put(key, found)
        return found
