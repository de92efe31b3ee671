"""The deletion-risk table (pure): the filter form, sortable headers, rows with badges and sparklines.

Rows come as the API's own row objects (decoded fragments of the listing index), so the table
shows exactly what ``…/deletion-risk`` answers for the same parameters. Every row has the same
fixed height (badges clipped to one line, sparklines of fixed size): a live update never moves
the rows below it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.gateway.review.html import badge, esc, number, url
from services.gateway.review.svg import sparkline
from shared.domain.risk.listing import VALID_SORT_FIELDS
from shared.domain.risk.presets import VALID_PRESETS

#: Badge text of each flag: short, readable without colour.
FLAG_TEXT = {
    "zero_usage_day": "no use today",
    "zero_usage_month": "no use this month",
    "zero_usage_total": "never used",
    "no_active_workers": "no workers",
    "has_multiple_hosts": "several hosts",
    "has_non_preferred_host": "non-preferred host",
    "has_unknown_host": "unknown host",
    "no_download_urls": "no download",
    "missing_description": "no description",
    "missing_baseline": "no baseline",
    "low_usage": "low usage",
}
PAGE_SIZES = (50, 100, 250)
#: (heading, sort field or None) of each column, in order.
COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("Model", "name"),
    ("Verdict", None),
    ("Flags", "risk_score"),
    ("Days at risk", None),
    ("Workers", "worker_count"),
    ("Usage (month)", "usage_month"),
    ("Impact", None),
)


@dataclass(frozen=True)
class TableQuery:
    """The table's GET parameters, named and validated as the API's (``…/deletion-risk``)."""

    preset: str = ""
    search: str = ""
    sort_by: str = ""
    sort_desc: bool = True
    offset: int = 0
    limit: int | None = None
    days_at_risk: int | None = None

    def params(self, **changes: object) -> list[tuple[str, object]]:
        """Query pairs of this state with ``changes`` (defaults left out, so links stay short)."""
        values: dict[str, Any] = {
            "preset": self.preset, "search": self.search, "sort_by": self.sort_by,
            "sort_desc": self.sort_desc, "offset": self.offset, "limit": self.limit,
            "days_at_risk": self.days_at_risk,
        } | changes  # fmt: skip
        if not values["sort_by"]:
            values["sort_desc"] = None
        elif values["sort_desc"] is not None:
            values["sort_desc"] = "true" if values["sort_desc"] else "false"
        if not values["offset"]:
            values["offset"] = None
        return [(k, v) for k, v in values.items() if v is not None and v != ""]


@dataclass(frozen=True)
class Spark:
    """A row's recent daily usage and mean workers (``None``: no data that day)."""

    usage: Sequence[float | None] = ()
    workers: Sequence[float | None] = ()
    days: int = 0


@dataclass(frozen=True)
class TablePage:
    category: str
    query: TableQuery
    total: int
    rows: Sequence[Mapping[str, Any]]
    sparks: Mapping[str, Spark] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)


def verdict(row: Mapping[str, Any]) -> str:
    if row.get("is_critical"):
        return badge("critical", "critical")
    if row.get("at_risk"):
        return badge("at risk", "risk")
    if row.get("has_warning"):
        return badge("warning", "warn")
    return badge("ok", "ok")


def flag_badges(flags: Mapping[str, bool]) -> str:
    shown = [badge(FLAG_TEXT.get(name, name), "flag") for name, on in flags.items() if on]
    return "".join(shown) or '<span class="none">none</span>'


def impact_cell(impact: Mapping[str, Any] | None) -> str:
    if not impact:
        return '<span class="none">–</span>'
    styles = len(impact.get("styles") or ())
    sole = int(impact.get("sole_serving_workers") or 0)
    disk = impact.get("disk_reclaimed_gb")
    parts = [
        f"{styles} style{'s' if styles != 1 else ''}",
        f"{sole} sole worker{'s' if sole != 1 else ''}",
        "disk –" if disk is None else f"{disk:g} GB",
    ]
    return '<span class="impact">' + " · ".join(parts) + "</span>"


def days_at_risk(row: Mapping[str, Any]) -> str:
    lifecycle = row.get("lifecycle")
    return "–" if not lifecycle else str(int(lifecycle.get("days_at_risk") or 0))


def _row(category: str, row: Mapping[str, Any], spark: Spark | None) -> str:
    name = str(row["name"])
    spark = spark or Spark()
    usage_line = sparkline(spark.usage, label=f"Daily usage of {name}, last {spark.days} days")
    workers_line = sparkline(spark.workers, label=f"Workers of {name}, last {spark.days} days")
    return (
        f'<tr data-model="{esc(name)}"><th scope="row"><a href="{esc(url(category, "model", name))}">'
        f"{esc(name)}</a></th>"
        f'<td class="c-verdict">{verdict(row)}</td>'
        f'<td class="c-flags"><span class="score">{int(row.get("risk_score") or 0)}</span>'
        f"{flag_badges(row.get('deletion_risk_flags') or {})}</td>"
        f'<td class="c-days num">{days_at_risk(row)}</td>'
        f'<td class="c-workers num"><span class="v">{number(row.get("worker_count"))}</span>'
        f"{workers_line}</td>"
        f'<td class="c-usage num"><span class="v">{number(row.get("usage_month"))}</span>{usage_line}</td>'
        f'<td class="c-impact">{impact_cell(row.get("impact"))}</td></tr>'
    )


def _option(value: str, text: str, selected: bool) -> str:
    return f'<option value="{esc(value)}"{" selected" if selected else ""}>{esc(text)}</option>'


def filter_form(category: str, query: TableQuery) -> str:
    """The GET form: preset, search, sort and page size (works without the script)."""
    presets = _option("", "all models", not query.preset) + "".join(
        _option(p, p.replace("_", " "), p == query.preset) for p in VALID_PRESETS
    )
    sorts = _option("", "stored order (usage this month)", not query.sort_by) + "".join(
        _option(s, s.replace("_", " "), s == query.sort_by) for s in VALID_SORT_FIELDS
    )
    sizes = _option("", "all", query.limit is None) + "".join(
        _option(str(n), str(n), n == query.limit) for n in PAGE_SIZES
    )
    return (
        f'<form class="filters" method="get" action="{esc(url(category))}" role="search">'
        f'<label>Preset <select name="preset">{presets}</select></label>'
        f'<label>Search <input type="search" name="search" value="{esc(query.search)}" '
        'placeholder="name, baseline, backend"></label>'
        f'<label>Sort by <select name="sort_by">{sorts}</select></label>'
        f'<label>Order <select name="sort_desc">{_option("true", "descending", query.sort_desc)}'
        f"{_option('false', 'ascending', not query.sort_desc)}</select></label>"
        f'<label>Rows per page <select name="limit">{sizes}</select></label>'
        '<button type="submit">Apply</button></form>'
    )


def _header(category: str, query: TableQuery, heading: str, sort: str | None) -> str:
    if sort is None:
        return f'<th scope="col">{esc(heading)}</th>'
    active = query.sort_by == sort
    descending = not query.sort_desc if active else sort != "name"
    aria = f' aria-sort="{"descending" if query.sort_desc else "ascending"}"' if active else ""
    arrow = (" ▼" if query.sort_desc else " ▲") if active else ""
    href = url(category, query=query.params(sort_by=sort, sort_desc=descending, offset=0))
    direction = "descending" if descending else "ascending"
    return (
        f'<th scope="col"{aria}><a href="{esc(href)}" title="Sort {direction}">{esc(heading)}{arrow}</a></th>'
    )


def pager(category: str, query: TableQuery, total: int, shown: int) -> str:
    """ "Rows a–b of n" and previous/next links (only when paged)."""
    first = query.offset + 1 if shown else 0
    last = query.offset + shown
    text = f'<p class="count" id="count">Rows {first}–{last} of <span id="total">{total}</span></p>'
    if query.limit is None:
        return text
    links = []
    if query.offset > 0:
        previous = url(category, query=query.params(offset=max(0, query.offset - query.limit)))
        links.append(f'<a rel="prev" href="{esc(previous)}">Previous page</a>')
    if query.offset + shown < total:
        following = url(category, query=query.params(offset=query.offset + query.limit))
        links.append(f'<a rel="next" href="{esc(following)}">Next page</a>')
    return text + (f'<nav class="pager" aria-label="Pages">{" ".join(links)}</nav>' if links else "")


def risk_table(page: TablePage) -> str:
    """Form, counts and the table, in one pass over the rows."""
    category, query = page.category, page.query
    headers = "".join(_header(category, query, heading, sort) for heading, sort in COLUMNS)
    if page.rows:
        body = "".join([_row(category, row, page.sparks.get(str(row["name"]))) for row in page.rows])
    else:
        body = f'<tr><td colspan="{len(COLUMNS)}" class="empty">No models match.</td></tr>'
    summary = page.summary
    at_risk = summary.get("models_at_risk", 0)
    critical = summary.get("models_critical", 0)
    caption = (
        f"Deletion risk of {esc(category)}: {number(page.total)} models, {number(at_risk)} at risk, "
        f"{number(critical)} critical"
    )
    return (
        filter_form(category, query)
        + pager(category, query, page.total, len(page.rows))
        + f'<table class="risk" id="risk-table"><caption>{caption}</caption>'
        f"<thead><tr>{headers}</tr></thead><tbody>{body}</tbody></table>"
    )
