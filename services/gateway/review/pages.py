"""The four pages (pure): category list, risk table, model page, removal proposal.

Each takes already-read data and returns the whole document; the routes (``routes.py``) read
the data and decide the status and headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.gateway.review.html import badge, definition_list, esc, number, page, url, utc
from services.gateway.review.svg import line_chart
from services.gateway.review.table import (
    FLAG_TEXT,
    TablePage,
    days_at_risk,
    flag_badges,
    impact_cell,
    risk_table,
)
from services.gateway.review.table import verdict as verdict_badge
from services.gateway.routes.common import PREFIX
from shared.domain.proposal.models import Candidate, RemovalProposal
from shared.domain.risk.presets import VALID_PRESETS

RISK_LEVELS = ("clear", "at_risk", "critical")
_USAGE = ("usage_day", "usage_month", "usage_total")
_VARIATION_NUMBERS = ("worker_count", *_USAGE)
_NAMES = 'placeholder="names, comma separated"'


@dataclass(frozen=True)
class CategoryEntry:
    """One line of the category list: counts when the category has views, else why not."""

    category: str
    freshness: str = ""
    models: int | None = None
    at_risk: int | None = None
    critical: int | None = None
    note: str = ""


def _data(category: str) -> str:
    stream = f"{PREFIX}/{category}/deletion-risk/events"
    return f' data-category="{esc(category)}" data-events="{esc(stream)}"'


def index_page(entries: Sequence[CategoryEntry]) -> str:
    rows = []
    for entry in entries:
        link = f'<a href="{esc(url(entry.category))}">{esc(entry.category)}</a>'
        if entry.models is None:
            rows.append(f'<tr><th scope="row">{link}</th><td colspan="4">{esc(entry.note)}</td></tr>')
            continue
        rows.append(
            f'<tr><th scope="row">{link}</th><td class="num">{number(entry.models)}</td>'
            f'<td class="num">{number(entry.at_risk)}</td><td class="num">{number(entry.critical)}</td>'
            f'<td>{entry.freshness}<a href="{esc(url(entry.category, "proposal"))}">'
            "removal proposal</a></td></tr>"
        )
    body = (
        "<p>Categories with AI Horde runtime data. Each table shows the deletion-risk list the API "
        f"serves at <code>{esc(PREFIX)}/{{category}}/deletion-risk</code>, with its presets, search and "
        "sorting; each model links to its history.</p>"
        '<table class="categories"><caption>Categories</caption><thead><tr>'
        '<th scope="col">Category</th><th scope="col">Models</th><th scope="col">At risk</th>'
        '<th scope="col">Critical</th><th scope="col">Freshness and proposal</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return page("Model review", [("Review", None)], "", body)


def category_page(table: TablePage, freshness: str) -> str:
    category = table.category
    links = (
        f'<p class="links"><a href="{esc(url(category, "proposal"))}">Removal proposal</a> · '
        f'<a href="{esc(f"{PREFIX}/{category}/deletion-risk?" + _api_query(table))}">'
        "this list as JSON</a></p>"
    )
    return page(
        f"Deletion risk: {category}",
        [("Review", url()), (category, None)],
        freshness,
        links + risk_table(table),
        data=_data(category),
    )


def _api_query(table: TablePage) -> str:
    from urllib.parse import urlencode

    return urlencode(table.query.params())


@dataclass(frozen=True)
class ModelView:
    """What the model page shows: the API's row, the daily series and the reference events."""

    category: str
    name: str
    row: Mapping[str, Any] | None
    points: Sequence[Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]]


def _series(points: Sequence[Mapping[str, Any]], key: str) -> list[float | None]:
    return [p.get(key) if p.get("has_data") else None for p in points]


def _risk_series(points: Sequence[Mapping[str, Any]]) -> list[float | None]:
    return [
        float(RISK_LEVELS.index(p["risk_level"]))
        if p.get("has_data") and p.get("risk_level") in RISK_LEVELS
        else None
        for p in points
    ]


def charts(view: ModelView) -> str:
    points = view.points
    if not points:
        return "<p>No history recorded for this model.</p>"
    first, last = str(points[0]["day"]), str(points[-1]["day"])
    gaps = sum(1 for p in points if not p.get("has_data"))
    note = f"<p>{len(points)} days, {gaps} without data (gaps in the lines).</p>"
    figures = [
        ("Usage per day", line_chart(_series(points, "usage"), title=f"Daily usage of {view.name}",
                                     first_label=first, last_label=last)),
        ("Workers (daily mean)", line_chart(_series(points, "workers_mean"), title=f"Workers of {view.name}",
                                            first_label=first, last_label=last)),
        ("Risk level (end of day)", line_chart(_risk_series(points), title=f"Risk level of {view.name}",
                                               first_label=first, last_label=last, levels=RISK_LEVELS)),
    ]  # fmt: skip
    return note + "".join(
        f'<figure class="chart-box"><figcaption>{esc(caption)}</figcaption>{svg}</figure>'
        for caption, svg in figures
    )


def _events_table(events: Sequence[Mapping[str, Any]]) -> str:
    if not events:
        return "<p>No reference events.</p>"
    rows = "".join(
        f"<tr><td>{esc(e.get('at', ''))}</td><td>{esc(e.get('kind', ''))}"
        f"{' (initial load)' if e.get('initial') else ''}"
        f"</td><td><code>{esc(str(e.get('version', ''))[:12])}</code></td>"
        f"<td>{esc(', '.join(e.get('fields') or ()))}</td></tr>"
        for e in events
    )
    return (
        '<table><caption>Reference events</caption><thead><tr><th scope="col">At</th><th scope="col">Event'
        '</th><th scope="col">Reference version</th><th scope="col">Fields changed</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _variations(row: Mapping[str, Any]) -> str:
    variations = row.get("backend_variations") or ()
    if not variations:
        return ""
    rows = "".join(
        f'<tr><th scope="row">{esc(v.get("backend"))}</th><td>{esc(v.get("variant_name"))}</td>'
        + "".join(f'<td class="num">{number(v.get(k))}</td>' for k in _VARIATION_NUMBERS)
        + "</tr>"
        for v in variations
    )
    return (
        '<h2>Backend variations</h2><table><thead><tr><th scope="col">Backend</th><th scope="col">Name</th>'
        '<th scope="col">Workers</th><th scope="col">Usage (day)</th><th scope="col">Usage (month)</th>'
        f'<th scope="col">Usage (total)</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _facts(row: Mapping[str, Any]) -> str:
    lifecycle = row.get("lifecycle") or {}
    impact = row.get("impact") or {}
    styles = ", ".join(str(s.get("name")) for s in impact.get("styles") or ()) or "none"
    return definition_list(
        [
            ("Verdict", verdict_badge(row)),
            ("Flags", flag_badges(row.get("deletion_risk_flags") or {})),
            ("Risk score", number(row.get("risk_score"))),
            ("Days at risk", days_at_risk(row)),
            ("Lifecycle state", esc(lifecycle.get("lifecycle_state", "–"))),
            ("Workers", number(row.get("worker_count"))),
            ("Usage day / month / total", " / ".join(number(row.get(k)) for k in _USAGE)),
            ("Baseline", esc(row.get("baseline") or "–")),
            ("Impact", impact_cell(impact)),
            ("Styles naming it", esc(styles)),
        ]
    )  # fmt: skip


def model_page(view: ModelView, freshness: str) -> str:
    row = view.row
    if row is None:
        facts = f"<p>{esc(view.name)} is not in the current reference of {esc(view.category)}.</p>"
        reasons = ""
        variations = ""
    else:
        facts = _facts(row)
        found = (row.get("lifecycle") or {}).get("reasons") or ()
        reasons = "<h2>Reasons</h2>" + (
            "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in found) + "</ul>"
            if found
            else "<p>None recorded.</p>"
        )
        variations = _variations(row)
    history_api = f"{PREFIX}/{view.category}/deletion-risk/{view.name}/history"
    body = (
        facts
        + reasons
        + "<h2>History</h2>"
        + charts(view)
        + f'<p><a href="{esc(history_api)}">history as JSON</a>'
        f' · <a href="{esc(history_api)}?format=csv">as CSV</a></p>' + _events_table(view.events) + variations
    )
    return page(
        view.name,
        [("Review", url()), (view.category, url(view.category)), (view.name, None)],
        freshness,
        body,
        data=_data(view.category),
    )


def _candidate_rows(category: str, candidates: Sequence[Candidate]) -> str:
    return "".join(
        f'<tr><th scope="row"><a href="{esc(url(category, "model", c.name))}">{esc(c.name)}</a></th>'
        f"<td>{esc('; '.join(c.reasons))}</td>"
        f"<td>{''.join(badge(FLAG_TEXT.get(f, f), 'flag') for f in c.evidence.flags) or '–'}</td>"
        f'<td class="num">{number(c.evidence.days_at_risk)}</td>'
        f'<td class="num">{number(c.evidence.worker_count)}</td>'
        f'<td class="num">{number(c.evidence.usage_month)}</td><td>{impact_cell(c.impact.model_dump())}'
        f"{' ' + badge('breaks styles', 'critical') if c.breaks_styles else ''}</td></tr>"
        for c in candidates
    )


_CANDIDATE_HEAD = (
    '<thead><tr><th scope="col">Model</th><th scope="col">Reasons</th><th scope="col">Flags</th>'
    '<th scope="col">Days at risk</th><th scope="col">Workers</th><th scope="col">Usage (month)</th>'
    '<th scope="col">Impact</th></tr></thead>'
)


def _would_break(proposal: RemovalProposal) -> str:
    broken = proposal.would_break
    styles = "".join(
        f"<li>style <strong>{esc(s.style)}</strong> uses {esc(s.model)}"
        f"{' (in ' + esc(', '.join(s.categories)) + ')' if s.categories else ''}</li>"
        for s in broken.styles
    )
    workers = "".join(
        f"<li>worker <strong>{esc(w.name)}</strong> would serve nothing ({esc(', '.join(w.models))})</li>"
        for w in broken.sole_serving_workers
    )
    families = "".join(
        f"<li>family <strong>{esc(f)}</strong> left unserved</li>" for f in broken.families_left_unserved
    )
    items = styles + workers + families
    return "<h2>Would break</h2>" + (
        f"<ul>{items}</ul>" if items else "<p>Nothing: every removal is clean.</p>"
    )


def policy_form(
    category: str, presets: Sequence[str], include: str, exclude: str, min_days: int | None
) -> str:
    boxes = "".join(
        f'<label class="check"><input type="checkbox" name="preset" value="{esc(p)}"'
        f"{' checked' if p in presets else ''}> {esc(p.replace('_', ' '))}</label>"
        for p in VALID_PRESETS
    )
    return (
        f'<form class="filters" method="get" action="{esc(url(category, "proposal"))}">'
        f"<fieldset><legend>Presets (none: critical)</legend>{boxes}</fieldset>"
        f'<label>Include <input name="include" value="{esc(include)}" {_NAMES}></label>'
        f'<label>Exclude <input name="exclude" value="{esc(exclude)}" {_NAMES}></label>'
        f'<label>Min. days at risk <input type="number" min="0" name="min_days_at_risk" '
        f'value="{"" if min_days is None else min_days}"></label><button type="submit">Apply</button></form>'
    )


def proposal_page(
    category: str, proposal: RemovalProposal, form: str, downloads: Sequence[tuple[str, str]], freshness: str
) -> str:
    totals = proposal.totals
    links = " ".join(
        f'<a class="button" href="{esc(href)}" download>{esc(text)}</a>' for text, href in downloads
    )
    summary = (
        f'<p class="summary">{number(totals.candidates)} candidates, {number(totals.held_back)} held back, '
        f"{number(totals.disk_reclaimed_gb)} GB reclaimed, {number(totals.styles_broken)} styles broken, "
        f"{number(totals.sole_serving_workers)} workers left idle. Basis: generation "
        f"<code>{esc(proposal.basis.generation)}</code>, reference "
        f"<code>{esc(proposal.basis.reference_version[:12])}</code>, Horde status of "
        f"{esc(utc(proposal.basis.horde_status_at_ms // 1000))}.</p>"
    )
    candidates = (
        f'<table id="candidates"><caption>Candidates</caption>{_CANDIDATE_HEAD}<tbody>'
        f"{_candidate_rows(category, proposal.candidates)}</tbody></table>"
        if proposal.candidates
        else "<p>No candidates under this policy.</p>"
    )
    held = (
        "<h2>Held back</h2><table><caption>Held back (would break something)</caption>"
        f"{_CANDIDATE_HEAD}<tbody>"
        f"{_candidate_rows(category, proposal.held_back)}</tbody></table>"
        if proposal.held_back
        else ""
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in proposal.notes)
    body = (
        form + f'<p class="downloads">Download: {links}</p>' + summary + candidates
        + _would_break(proposal) + held + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
    )  # fmt: skip
    return page(
        f"Removal proposal: {category}",
        [("Review", url()), (category, url(category)), ("proposal", None)],
        freshness,
        body,
        data=_data(category),
    )


def error_page(status: int, detail: str) -> str:
    return page(f"Not available ({status})", [("Review", url())], "", f'<p class="error">{esc(detail)}</p>')
