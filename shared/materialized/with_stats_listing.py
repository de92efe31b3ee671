"""The with-stats listing index of one view (a ``{model: CombinedModelStatistics}`` map)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.horde.runtime import CombinedModelStatistics, whole_or_fraction
from shared.domain.horde.spellings import backend_spellings
from shared.materialized.selection import search_matches, select, stable_order

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


def _column(name: str, stats: CombinedModelStatistics) -> object | None:
    if name == "name":
        return None
    source: object = stats.usage_stats if name.startswith("usage_") else stats
    value: object | None = getattr(source, name.removeprefix("usage_"))
    return value


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
    names = list(entries)
    stats = list(entries.values())
    orders: dict[str, tuple[int, ...]] = {}
    for field in WITH_STATS_SORT_FIELDS:
        if field == "name":
            keys: Sequence[object | None] = [(n.casefold(), n) for n in names]
        else:
            keys = [_column(field, s) for s in stats]
        for descending in (False, True):
            orders[f"{field}:{'desc' if descending else 'asc'}"] = tuple(
                stable_order(keys, descending=descending)
            )
    return WithStatsIndex(
        names=tuple(names),
        keys_json=tuple(json.dumps(n, ensure_ascii=False) for n in names),
        fragments=tuple(s.model_dump_json() for s in stats),
        search_text=tuple(_haystack(n, s) for n, s in zip(names, stats, strict=True)),
        worker_counts=tuple(s.worker_count for s in stats),
        orders=orders,
        csv_rows=tuple(_csv_row(n, s) for n, s in zip(names, stats, strict=True)),
    )


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
    return ("{" + ",".join(f"{index.keys_json[i]}:{index.fragments[i]}" for i in rows) + "}").encode()


def render_with_stats_csv(index: WithStatsIndex, rows: Sequence[int]) -> bytes:
    """CSV of the rows."""
    return (",".join(CSV_HEADER) + "\n" + "".join(index.csv_rows[i] for i in rows)).encode()
