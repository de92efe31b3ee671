"""The with-stats listing index of one view (a ``{model: CombinedModelStatistics}`` map)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from operator import attrgetter
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from shared.domain.horde.runtime import CombinedModelStatistics, whole_or_fraction
from shared.domain.horde.spellings import backend_spellings
from shared.materialized.selection import search_matches, select, stable_order

K = TypeVar("K")

#: Columns ``sort_by`` accepts (every numeric column, and the name).
WITH_STATS_SORT_FIELDS: tuple[str, ...] = (
    "name", "worker_count", "thread_count", "usage_day", "usage_month", "usage_total",
    "queued_jobs", "queued", "performance", "eta",
)  # fmt: skip

CSV_HEADER = (
    "name", "worker_count", "thread_count", "worker_count_source", "queued_jobs", "queued", "performance",
    "eta", "usage_day", "usage_month", "usage_total",
)  # fmt: skip


class WithStatsIndex(BaseModel):
    """Everything needed to answer any with-stats request of one view without recomputing."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    names: tuple[str, ...]
    keys_json: tuple[str, ...]
    fragments: tuple[str, ...]
    search_text: tuple[str, ...]
    worker_counts: tuple[int, ...]
    orders: dict[str, tuple[int, ...]]
    csv_rows: tuple[str, ...]

    @cached_property
    def encoded_entries(self) -> tuple[bytes, ...]:
        """Each row's ``"name":{...}`` member as UTF-8, built once per index, joined per answer."""
        return tuple(
            f"{key}:{fragment}".encode() for key, fragment in zip(self.keys_json, self.fragments, strict=True)
        )


#: Per sortable column but the name, its value in an entry (``usage_*`` from ``usage_stats``),
#: read by one C call per entry.
_COLUMN_GETTERS = {
    name: attrgetter(f"usage_stats.{name.removeprefix('usage_')}" if name.startswith("usage_") else name)
    for name in WITH_STATS_SORT_FIELDS
    if name != "name"
}


def _whole(value: float | None) -> int | float | None:
    return None if value is None else whole_or_fraction(value)


def _blank(value: object | None) -> object:
    return "" if value is None else value


def _csv_row(name: str, stats: CombinedModelStatistics) -> str:
    buffer = io.StringIO()
    usage = stats.usage_stats
    csv.writer(buffer, lineterminator="\n").writerow(
        [name, stats.worker_count, stats.thread_count, stats.worker_count_source,
         _blank(_whole(stats.queued_jobs)), _blank(_whole(stats.queued)),
         _blank(stats.performance), _blank(stats.eta),
         usage.day, usage.month, usage.total]
    )  # fmt: skip
    return buffer.getvalue()


def _haystack(name: str, stats: CombinedModelStatistics) -> str:
    parts = [name, *(spelling for _, spelling in backend_spellings(name))]
    if "/" in name:
        parts.append(name.split("/", 1)[0])
    for backend, variation in (stats.backend_variations or {}).items():
        parts.extend((backend, variation.variant_name))
    return " ".join(parts).casefold()


def build_with_stats_index(entries: Mapping[str, CombinedModelStatistics]) -> WithStatsIndex:
    """Index of one with-stats view; ``entries`` in reference order."""
    return build_with_stats_indexes({None: entries})[None]


_Column = tuple[list[object | None], tuple[int, ...], tuple[int, ...]]


class WithStatsCarry:
    """What a category's previous with-stats build computed, kept by the worker between generations
    (issue 15): search text and CSV row per (name, fragment), and per sort column its keys and
    orders. A new snapshot changes a few models, so most rows and orders are reused; the bytes
    built are the same as without it (tests). Only the latest build is kept."""

    __slots__ = ("columns", "keys", "rows")

    def __init__(self) -> None:
        #: (name, fragment) → (search text, CSV row): both are functions of the name and the fields.
        self.rows: dict[tuple[str, str], tuple[str, str]] = {}
        #: Per (base, sort column) of the last build: its keys and the ascending and descending orders.
        self.columns: dict[tuple[int, str], _Column] = {}
        #: Name → its JSON string (the map keys of the answers).
        self.keys: dict[str, str] = {}


def _orders(
    names: Sequence[str],
    stats: Sequence[CombinedModelStatistics],
    carry: WithStatsCarry | None = None,
    base: int = 0,
) -> dict[str, tuple[int, ...]]:
    orders: dict[str, tuple[int, ...]] = {}
    for field in WITH_STATS_SORT_FIELDS:
        if field == "name":
            keys: list[object | None] = [(n.casefold(), n) for n in names]
        else:
            keys = list(map(_COLUMN_GETTERS[field], stats))
        previous = carry.columns.get((base, field)) if carry is not None else None
        if previous is not None and previous[0] == keys:
            column = previous
        else:
            ascending = tuple(stable_order(keys, descending=False))
            column = (keys, ascending, tuple(stable_order(keys, descending=True)))
            if carry is not None:
                carry.columns[(base, field)] = column
        orders[f"{field}:asc"], orders[f"{field}:desc"] = column[1], column[2]
    return orders


def build_with_stats_indexes(
    views: Mapping[K, Mapping[str, CombinedModelStatistics]],
    carry: WithStatsCarry | None = None,
) -> dict[K, WithStatsIndex]:
    """Index of each with-stats view of one merge (same result as ``build_with_stats_index`` per view).

    The views of one merge (``merge_all_flags``) list the same models with the same columns and
    differ only in ``worker_summaries`` and ``backend_variations``, which no order, worker count or
    CSV row reads: those are computed once for views listing the same statistics objects or
    (flag variants) the same names with the same ``usage_stats``; the search text, which reads the
    variations, once per distinct variations object. Fragments are per view. With ``carry`` (the
    previous build of the category, updated here) a row whose name and fragment it holds reuses
    its search text and CSV row, and a sort column with equal keys its orders.
    """
    shared: list[
        tuple[list[str], list[CombinedModelStatistics], dict[str, tuple[int, ...]], tuple[str, ...]]
    ] = []
    haystacks: dict[tuple[str, int], tuple[object, str]] = {}
    carried = carry.rows if carry is not None else {}
    kept: dict[tuple[str, str], tuple[str, str]] = {}
    keys_json = carry.keys if carry is not None else {}
    built: dict[K, WithStatsIndex] = {}
    for key, entries in views.items():
        names = list(entries)
        stats = list(entries.values())
        fragments = tuple(s.model_dump_json() for s in stats)
        rows = [carried.get(pair) or kept.get(pair) for pair in zip(names, fragments, strict=True)]
        base = next((b for b in shared if _same_columns(b[0], b[1], names, stats)), None)
        if base is None:
            csv_rows = tuple(
                row[1] if row is not None else _csv_row(n, s)
                for n, s, row in zip(names, stats, rows, strict=True)
            )
            base = (names, stats, _orders(names, stats, carry, len(shared)), csv_rows)
            shared.append(base)
        search: list[str] = []
        for i, (name, entry) in enumerate(zip(names, stats, strict=True)):
            row = rows[i]
            if row is None:
                variations = entry.backend_variations
                held = haystacks.get((name, id(variations)))
                if held is None:
                    held = haystacks[(name, id(variations))] = (variations, _haystack(name, entry))
                row = (held[1], base[3][i])
            kept[(name, fragments[i])] = row
            search.append(row[0])
        built[key] = WithStatsIndex(
            names=tuple(names),
            keys_json=tuple(keys_json.get(n) or _key_json(n, keys_json) for n in names),
            fragments=fragments,
            search_text=tuple(search),
            worker_counts=tuple(s.worker_count for s in stats),
            orders=base[2],
            csv_rows=base[3],
        )
    if carry is not None:
        carry.rows = kept
        if len(carry.keys) > 2 * len(kept):  # names come and go: keep those of this build only
            carry.keys = {name: carry.keys[name] for name, _ in kept if name in carry.keys}
    return built


def _key_json(name: str, memo: dict[str, str]) -> str:
    memo[name] = json.dumps(name, ensure_ascii=False)
    return memo[name]


#: Fields of ``CombinedModelStatistics`` that orders and CSV rows read besides ``usage_stats``.
_SCALAR_COLUMNS = (
    "worker_count",
    "thread_count",
    "worker_count_source",
    "queued_jobs",
    "queued",
    "performance",
    "eta",
)


#: The scalar columns of an entry as one tuple (one C call instead of a getattr per column).
_scalars = attrgetter(*_SCALAR_COLUMNS)


def _same_columns(
    names: list[str],
    stats: list[CombinedModelStatistics],
    other_names: list[str],
    other: list[CombinedModelStatistics],
) -> bool:
    """Whether two views have the same rows for orders and CSV: same names, each with the same
    ``usage_stats`` object (a flag variant shares it) and equal scalar columns."""
    if names != other_names:
        return False
    for a, b in zip(stats, other, strict=True):
        if a is b:
            continue
        if a.usage_stats is not b.usage_stats:
            return False
        if _scalars(a) != _scalars(b):
            return False
    return True


def run_with_stats_query(
    index: WithStatsIndex,
    *,
    min_worker_count: int | None = None,
    search: str | None = None,
    sort_by: str | None = None,
    descending: bool = True,
) -> list[int]:
    """Rows kept by ``min_worker_count`` (on ``worker_count``, D15) and ``search``, in order."""
    order: Sequence[int] = range(len(index.names))
    if sort_by:
        order = index.orders[f"{sort_by}:{'desc' if descending else 'asc'}"]
    allowed = None
    if min_worker_count is not None:
        allowed = {i for i, count in enumerate(index.worker_counts) if count >= min_worker_count}
    return select(order, allowed=allowed, matching=search_matches(index.search_text, search))


def render_with_stats_json(index: WithStatsIndex, rows: Sequence[int]) -> bytes:
    """The ``{model: stats}`` map of the rows, in row order."""
    entries = index.encoded_entries
    return b"{" + b",".join([entries[i] for i in rows]) + b"}"


def render_with_stats_csv(index: WithStatsIndex, rows: Sequence[int]) -> bytes:
    """CSV of the rows."""
    return (",".join(CSV_HEADER) + "\n" + "".join(index.csv_rows[i] for i in rows)).encode()
