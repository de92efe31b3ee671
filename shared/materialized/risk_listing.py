"""The deletion-risk listing index of one view, and the answers built from it.

Built from the ordered entries of one risk view (ungrouped, grouped or with variations). Orders
are produced with the domain's own sort (``sort_risk_models``) so the gateway's sorting has the
domain's semantics; summaries of any selection are sums of per-row counters, checked against
``summarize`` by tests.
"""

from __future__ import annotations

import csv
import io
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from shared.domain.categories import ModelCategory
from shared.domain.history.lifecycle_csv import LIFECYCLE_CSV_COLUMNS, lifecycle_csv_cells
from shared.domain.horde.spellings import backend_spellings
from shared.domain.risk.flag_table import FLAG_COUNTERS
from shared.domain.risk.listing import VALID_SORT_FIELDS, risk_sort_keys
from shared.domain.risk.models import CategoryDeletionRiskSummary, ModelDeletionRiskInfo
from shared.domain.risk.presets import DeletionRiskFilterPreset, matches_preset
from shared.domain.risk.thresholds import RiskThresholds
from shared.materialized.selection import page, search_matches, select, stable_order

K = TypeVar("K")

#: Counters of the verdicts, then of the flags (``flag_table``), in row order.
_VERDICT_COUNTERS = ("models_at_risk", "models_critical", "models_with_warnings")
_FLAG_COUNTERS = tuple(f for f in CategoryDeletionRiskSummary.model_fields if f in FLAG_COUNTERS)
#: Counters of one row, in ``CategoryDeletionRiskSummary`` field order (before the average).
SUMMARY_COUNTERS = (*_VERDICT_COUNTERS, *_FLAG_COUNTERS)
#: The flag each flag counter of a row counts.
_ROW_FLAGS = tuple(FLAG_COUNTERS[counter] for counter in _FLAG_COUNTERS)

CSV_HEADER: tuple[str, ...] = (
    "name", "baseline", "workers", "usage_day", "usage_month", "usage_total", "usage_percentage",
    "cost_benefit_score", "size_gb", "risk_score", "flags", "at_risk", "is_critical", "has_warning",
    "download_hosts", *LIFECYCLE_CSV_COLUMNS, "notes",
)  # fmt: skip


class RiskListingIndex(BaseModel):
    """Everything needed to answer any deletion-risk request of one view without recomputing."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    category: ModelCategory
    category_total_month_usage: int
    names: tuple[str, ...]
    fragments: tuple[str, ...]
    search_text: tuple[str, ...]
    presets: dict[str, tuple[int, ...]]
    orders: dict[str, tuple[int, ...]]
    summary_rows: tuple[tuple[int, ...], ...]
    csv_rows: tuple[str, ...]
    #: Per row, ``lifecycle.days_at_risk`` (0 without lifecycle): the ``long_at_risk`` day filter.
    days_at_risk: tuple[int, ...] = ()

    @cached_property
    def page_start(self) -> bytes:
        """The fields every page of this index begins with, encoded once."""
        return (
            f'{{"category":"{self.category.value}",'
            f'"category_total_month_usage":{self.category_total_month_usage},'
        ).encode()

    @cached_property
    def encoded_fragments(self) -> tuple[bytes, ...]:
        """``fragments`` as UTF-8, encoded once per index: answers join bytes, never re-encode."""
        return tuple(fragment.encode() for fragment in self.fragments)

    def position(self, name: str) -> int | None:
        """Row of a model by name (exact first, then case-insensitive)."""
        if name in self.names:
            return self.names.index(name)
        folded = name.casefold()
        return next((i for i, n in enumerate(self.names) if n.casefold() == folded), None)


def _flag_names(model: ModelDeletionRiskInfo) -> str:
    flags = model.deletion_risk_flags
    return ";".join(f for f in type(flags).model_fields if getattr(flags, f))


def _csv_row(model: ModelDeletionRiskInfo) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [model.name, model.baseline or "", model.worker_count, model.usage_day, model.usage_month,
         model.usage_total, model.usage_percentage_of_category,
         "" if model.cost_benefit_score is None else model.cost_benefit_score,
         "" if model.size_gb is None else model.size_gb, model.risk_score, _flag_names(model),
         model.at_risk, model.is_critical, model.has_warning, " ".join(model.download_hosts),
         *lifecycle_csv_cells(model.lifecycle), ""]
    )  # fmt: skip
    return buffer.getvalue()


def _haystack(model: ModelDeletionRiskInfo) -> str:
    parts = [model.name, model.baseline or ""]
    if "/" in model.name:
        parts.append(model.name.split("/", 1)[0])
    if model.category is ModelCategory.TEXT_GENERATION:
        parts.extend(spelling for _, spelling in backend_spellings(model.name))
    for variation in model.backend_variations or ():
        parts.extend((variation.backend, variation.variant_name))
    return " ".join(parts).casefold()


def _summary_row(model: ModelDeletionRiskInfo) -> tuple[int, ...]:
    flags = model.deletion_risk_flags.__dict__
    verdicts = (model.at_risk, model.is_critical, model.has_warning)
    return (*(int(v) for v in verdicts), *(int(flags[name]) for name in _ROW_FLAGS), model.risk_score)


@dataclass(frozen=True, slots=True)
class _Row:
    """What one model contributes to any index it is a row of (computed once per model object)."""

    fragment: str
    haystack: str
    summary: tuple[int, ...]
    csv: str
    days_at_risk: int
    #: Sort key per ``VALID_SORT_FIELDS`` column (``None``: a null).
    keys: tuple[object | None, ...]
    #: Membership per ``DeletionRiskFilterPreset``, in enum order.
    presets: tuple[bool, ...]


def _row(
    model: ModelDeletionRiskInfo, fragment: str, keys: tuple[object | None, ...], thresholds: RiskThresholds
) -> _Row:
    return _Row(
        fragment=fragment,
        haystack=_haystack(model),
        summary=_summary_row(model),
        csv=_csv_row(model),
        days_at_risk=model.lifecycle.days_at_risk if model.lifecycle is not None else 0,
        keys=keys,
        presets=tuple(matches_preset(model, preset, thresholds) for preset in DeletionRiskFilterPreset),
    )


class RiskRowCarry:
    """The rows and orders of a category's previous build, kept by the worker between generations.

    Why: a new AI Horde snapshot usually changes a few models (a worker count), yet every row was
    rendered again (issue 15: two thirds of the listing-index time). A row is a function of its
    model's field values and the thresholds, and its fragment (the model's complete JSON) names
    those values, so a model whose fragment the previous build had reuses that row. Orders are
    reused per view and column when the column's keys are equal. Only the latest build is kept
    (bounded by one generation's rows); the bytes built are the same as without it (tests).
    """

    __slots__ = ("orders", "rows", "thresholds")

    def __init__(self) -> None:
        self.thresholds: RiskThresholds | None = None
        self.rows: dict[str, _Row] = {}
        #: Per view key: per sort column, its keys and the ascending and descending orders.
        self.orders: dict[object, list[tuple[list[object | None], tuple[int, ...], tuple[int, ...]]]] = {}


def _rows(
    models: Sequence[ModelDeletionRiskInfo],
    thresholds: RiskThresholds,
    memo: dict[int, tuple[ModelDeletionRiskInfo, _Row]],
    carried: Mapping[str, _Row],
) -> list[_Row]:
    """The rows of ``models``, reusing those of model objects already seen (views share entries:
    the plain and the variations list share every entry without variations, and models are frozen)
    and those ``carried`` from the previous build under the same fragment."""
    fresh = [m for m in models if id(m) not in memo]
    if fresh:
        fragments = [m.model_dump_json() for m in fresh]
        new = [(m, f) for m, f in zip(fresh, fragments, strict=True) if f not in carried]
        columns = [risk_sort_keys([m for m, _ in new], field) for field in VALID_SORT_FIELDS]
        built = {
            fragment: _row(model, fragment, tuple(column[i] for column in columns), thresholds)
            for i, (model, fragment) in enumerate(new)
        }
        for model, fragment in zip(fresh, fragments, strict=True):
            memo[id(model)] = (model, carried.get(fragment) or built[fragment])
    return [memo[id(m)][1] for m in models]


def _orders(
    rows: Sequence[_Row],
    previous: list[tuple[list[object | None], tuple[int, ...], tuple[int, ...]]] | None,
) -> tuple[dict[str, tuple[int, ...]], list[tuple[list[object | None], tuple[int, ...], tuple[int, ...]]]]:
    """Both orders of every sort column (reused from ``previous`` for a column whose keys are
    equal), and what to carry to the next build."""
    orders: dict[str, tuple[int, ...]] = {}
    kept: list[tuple[list[object | None], tuple[int, ...], tuple[int, ...]]] = []
    for k, field in enumerate(VALID_SORT_FIELDS):
        keys = [row.keys[k] for row in rows]
        if previous is not None and previous[k][0] == keys:
            column = previous[k]
        else:
            # The same keys and stable nulls-last order as ``sort_risk_models`` (tests compare).
            ascending = tuple(stable_order(keys, descending=False))
            column = (keys, ascending, tuple(stable_order(keys, descending=True)))
        kept.append(column)
        orders[f"{field}:asc"], orders[f"{field}:desc"] = column[1], column[2]
    return orders, kept


def _index(
    rows: Sequence[_Row],
    names: tuple[str, ...],
    category: ModelCategory,
    category_total_month_usage: int,
    orders: dict[str, tuple[int, ...]],
) -> RiskListingIndex:
    presets = {
        preset.value: tuple(i for i, row in enumerate(rows) if row.presets[p])
        for p, preset in enumerate(DeletionRiskFilterPreset)
    }
    return RiskListingIndex(
        category=category,
        category_total_month_usage=category_total_month_usage,
        names=names,
        fragments=tuple(row.fragment for row in rows),
        search_text=tuple(row.haystack for row in rows),
        presets=presets,
        orders=orders,
        summary_rows=tuple(row.summary for row in rows),
        csv_rows=tuple(row.csv for row in rows),
        days_at_risk=tuple(row.days_at_risk for row in rows),
    )


def build_risk_index(
    models: Sequence[ModelDeletionRiskInfo],
    *,
    category: ModelCategory,
    category_total_month_usage: int,
    thresholds: RiskThresholds,
) -> RiskListingIndex:
    """Index of one risk view; ``models`` in the view's default order."""
    return build_risk_indexes(
        {None: models},
        category=category,
        category_total_month_usage=category_total_month_usage,
        thresholds=thresholds,
    )[None]


def build_risk_indexes(
    views: Mapping[K, Sequence[ModelDeletionRiskInfo]],
    *,
    category: ModelCategory,
    category_total_month_usage: int,
    thresholds: RiskThresholds,
    carry: RiskRowCarry | None = None,
) -> dict[K, RiskListingIndex]:
    """Index of each risk view of one category (same result as ``build_risk_index`` per view):
    what a model contributes (fragment, search text, CSV row, sort keys, presets) is computed once
    however many views list the same entry, and not at all when ``carry`` (the previous build of
    the category, updated here) holds its row."""
    if carry is not None and carry.thresholds != thresholds:
        carry.thresholds, carry.rows, carry.orders = thresholds, {}, {}
    carried: Mapping[str, _Row] = carry.rows if carry is not None else {}
    memo: dict[int, tuple[ModelDeletionRiskInfo, _Row]] = {}
    built: dict[K, RiskListingIndex] = {}
    orders_kept: dict[object, list[tuple[list[object | None], tuple[int, ...], tuple[int, ...]]]] = {}
    for key, models in views.items():
        rows = _rows(models, thresholds, memo, carried)
        orders, orders_kept[key] = _orders(rows, carry.orders.get(key) if carry is not None else None)
        built[key] = _index(rows, tuple(m.name for m in models), category, category_total_month_usage, orders)
    if carry is not None:
        carry.rows = {row.fragment: row for _, row in memo.values()}
        carry.orders = orders_kept
    return built


def summary_of(index: RiskListingIndex, rows: Sequence[int]) -> CategoryDeletionRiskSummary:
    """The summary of exactly ``rows`` (same numbers as ``summarize`` over those entries)."""
    sums = [0] * (len(SUMMARY_COUNTERS) + 1)
    for row in rows:
        for k, value in enumerate(index.summary_rows[row]):
            sums[k] += value
    n = len(rows)
    return CategoryDeletionRiskSummary(
        total_models=n,
        **dict(zip(SUMMARY_COUNTERS, sums[:-1], strict=True)),
        average_risk_score=round(sums[-1] / n, 2) if n else 0.0,
        category_total_month_usage=index.category_total_month_usage,
    )


class RiskQuery(BaseModel):
    """A validated deletion-risk request (names already checked against the valid values)."""

    model_config = ConfigDict(frozen=True)

    preset: str | None = None
    search: str | None = None
    sort_by: str | None = None
    descending: bool = False
    offset: int = 0
    limit: int | None = None
    #: ``long_at_risk`` only: at risk for at least this many days.
    min_days_at_risk: int = 0


class RiskAnswer(BaseModel):
    """The rows of an answer: the filtered list (``total_count``) and the page."""

    model_config = ConfigDict(frozen=True)

    selected: tuple[int, ...]
    page: tuple[int, ...]


def run_risk_query(index: RiskListingIndex, query: RiskQuery) -> RiskAnswer:
    """Filter (preset, search), order, page: no recomputation, only precomputed rows."""
    order: Sequence[int] = range(len(index.names))
    if query.sort_by:
        order = index.orders[f"{query.sort_by}:{'desc' if query.descending else 'asc'}"]
    allowed = set(index.presets[query.preset]) if query.preset else None
    if allowed is not None and query.preset == DeletionRiskFilterPreset.LONG_AT_RISK and index.days_at_risk:
        allowed = {i for i in allowed if index.days_at_risk[i] >= query.min_days_at_risk}
    selected = select(order, allowed=allowed, matching=search_matches(index.search_text, query.search))
    return RiskAnswer(selected=tuple(selected), page=tuple(page(selected, query.offset, query.limit)))


def render_risk_json(index: RiskListingIndex, query: RiskQuery, answer: RiskAnswer, tail: str = "") -> bytes:
    """The ``CategoryDeletionRiskResponse`` JSON of an answer; ``tail`` adds trailing fields."""
    summary = summary_of(index, answer.selected).model_dump_json().encode()
    models = JoinedRows(index.encoded_fragments, answer.page).models
    return render_risk_page(
        index, query, len(answer.selected), len(answer.page), models, summary, tail.encode() + b"}"
    )


class JoinedRows:
    """The JSON fragments (``RiskListingIndex.encoded_fragments``) of some rows in order, joined
    once (comma-separated), and where each row's fragment begins: any run of consecutive rows,
    such as a page of a selection, is then one slice. The gateway keeps one per query and
    generation, so a page answer is a lookup, a slice and one join, with no per-row work."""

    __slots__ = ("models", "starts")

    def __init__(self, fragments: Sequence[bytes], rows: Sequence[int]) -> None:
        chosen = [fragments[i] for i in rows]
        #: The fragments joined by commas: the content of a ``models`` array of every row.
        self.models = b",".join(chosen)
        #: Byte offset of each row's fragment, then ``len(models) + 1`` (one past the last comma).
        self.starts = array("q", accumulate((len(f) + 1 for f in chosen), initial=0))

    @property
    def nbytes(self) -> int:
        """Memory held (the joined bytes and the offsets)."""
        return len(self.models) + self.starts.itemsize * len(self.starts)

    def page(self, offset: int, limit: int | None) -> tuple[int, memoryview]:
        """How many rows ``offset`` to ``offset + limit`` are (all from ``offset`` without a
        limit) and their ``models`` content, not copied."""
        count = len(self.starts) - 1
        start = min(offset, count)
        stop = count if limit is None else min(count, start + limit)
        if start >= stop:
            return 0, memoryview(b"")
        return stop - start, memoryview(self.models)[self.starts[start] : self.starts[stop] - 1]


def render_risk_page(
    index: RiskListingIndex,
    query: RiskQuery,
    total: int,
    returned: int,
    models: bytes | memoryview,
    summary_json: bytes,
    object_end: bytes = b"}",
) -> bytes:
    """``CategoryDeletionRiskResponse`` JSON of a page of ``returned`` rows, whose fragments joined
    are ``models`` (``JoinedRows``), of a selection of ``total`` rows whose summary is
    ``summary_json`` (the gateway keeps selections and summaries per query). ``object_end``
    follows the summary: trailing fields and the closing brace (the gateway's pre-rendered
    ``Provenance.object_end``). One copy of the (up to ~1 MB) body."""
    head = index.page_start + b'"total_count":%d,"returned_count":%d,"offset":%d,"limit":%s,"models":[' % (
        total,
        returned,
        query.offset,
        b"null" if query.limit is None else b"%d" % query.limit,
    )
    return b"".join((head, models, b'],"summary":', summary_json, object_end))


def render_risk_csv(index: RiskListingIndex, answer: RiskAnswer) -> bytes:
    """CSV of the page, one row per model, with an empty ``notes`` column for maintainers."""
    return (",".join(CSV_HEADER) + "\n" + "".join(index.csv_rows[i] for i in answer.page)).encode()
