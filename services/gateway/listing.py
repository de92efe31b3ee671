"""Deletion-risk listings from a view's index, with the per-query selection cached.

``render_risk_json`` recomputes the summary of the selected rows on every call (a sum over up to
every row: the costliest part of a preset answer). The selection and its summary depend only on
(generation, view, preset, search, sort), not on the page, so they are kept in a bounded LRU
and each request only joins the fragments of its page. The bytes equal ``render_risk_json``'s
(pinned by a unit test).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.cache import LRU
from shared.domain.categories import ModelCategory
from shared.materialized.risk_listing import (
    RiskListingIndex,
    RiskQuery,
    render_risk_page,
    run_risk_query,
    summary_of,
)
from shared.materialized.selection import page


@dataclass(frozen=True, slots=True)
class Selection:
    """The filtered, ordered rows of a query (before paging) and their summary JSON."""

    rows: tuple[int, ...]
    summary_json: str


def select_rows(
    selections: LRU,
    category: ModelCategory,
    generation: str,
    view: str,
    index: RiskListingIndex,
    query: RiskQuery,
) -> Selection:
    """The selection of ``query`` (its page ignored), computed once per generation and view."""
    key = (
        category, generation, view, query.preset, query.search, query.sort_by, query.descending,
        query.min_days_at_risk,
    )  # fmt: skip
    found: Selection | None = selections.peek(key)
    if found is None:
        rows = run_risk_query(index, query.model_copy(update={"offset": 0, "limit": None})).selected
        found = Selection(rows, summary_of(index, rows).model_dump_json())
        selections.put(key, found)
    return found


def render_listing(index: RiskListingIndex, query: RiskQuery, selection: Selection, tail: str) -> bytes:
    """``CategoryDeletionRiskResponse`` JSON of one page of a selection, ``tail`` before the brace."""
    rows = page(selection.rows, query.offset, query.limit)
    return render_risk_page(index, query, len(selection.rows), rows, selection.summary_json, tail)


def page_rows(query: RiskQuery, selection: Selection) -> tuple[int, ...]:
    """Rows of the requested page (for CSV)."""
    return tuple(page(selection.rows, query.offset, query.limit))
