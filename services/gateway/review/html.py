"""HTML building blocks (pure): escaping, the page shell, the freshness line, badges, links.

Plain string building: every value from data goes through ``esc`` (text and attributes alike),
every URL through ``url`` (path segments quoted, query encoded), so a model called ``<b>&"`` is
shown as such and never becomes markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urlencode

from services.gateway.review.assets import asset_url

BASE = "/review"


def esc(value: object) -> str:
    """Text or attribute value, escaped (quotes included)."""
    return escape(str(value), quote=True)


def url(*segments: str, query: Mapping[str, object] | Iterable[tuple[str, object]] = ()) -> str:
    """A review URL from unescaped path segments (``/`` in a model name kept) and a query."""
    path = BASE + "/" + "/".join(quote(s, safe="/") for s in segments) if segments else BASE + "/"
    pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
    kept = [(k, v) for k, v in pairs if v is not None and v != ""]
    return path + ("?" + urlencode(kept, doseq=True) if kept else "")


def utc(seconds: int | None) -> str:
    """``2026-12-07 02:10:54 UTC`` (or ``unknown``)."""
    if not seconds:
        return "unknown"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def page(
    title: str, crumbs: list[tuple[str, str | None]], freshness: str, body: str, *, data: str = ""
) -> str:
    """A whole document: the shell (assets, skip link, breadcrumb, live region) around ``body``.

    ``data`` is extra attributes of ``<main>`` (the script reads the category and stream from it).
    """
    trail = " / ".join(
        f'<a href="{esc(href)}">{esc(text)}</a>' if href else esc(text) for text, href in crumbs
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · Horde model review</title>"
        f'<link rel="stylesheet" href="{asset_url("review.css")}">'
        f'<script defer src="{asset_url("review.js")}"></script></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header><nav aria-label="Breadcrumb">{trail}</nav>{freshness}</header>'
        f'<main id="main" tabindex="-1"{data}><h1>{esc(title)}</h1>{body}</main>'
        '<div id="live" class="sr-only" aria-live="polite" role="status"></div>'
        "</body></html>"
    )


def freshness_line(
    fields: Mapping[str, object], *, confirmed_at: int | None, stale_after: float, page_line: bool = True
) -> str:
    """ "Horde data from …; reference version …; stale" (the word, not only the red, says it).

    Server-rendered with absolute times; the script turns the time into a ticking age and marks
    the line stale once the data is older than ``stale_after`` seconds. ``page_line``: the page's
    own line (``id="freshness"``, which live events move on), not one of the category list's.
    """
    status_at = fields.get("horde_status_at")
    seen = max(status_at if isinstance(status_at, int) else 0, confirmed_at or 0) or None
    stale = bool(fields.get("stale"))
    version = str(fields.get("reference_version") or "unknown")
    missing = [str(m) for m in fields.get("missing_sources") or ()]  # type: ignore[attr-defined]
    state = '<strong class="state">stale</strong>' if stale else '<span class="state">fresh</span>'
    extra = f"; missing: {esc(', '.join(missing))}" if missing else ""
    ident = ' id="freshness"' if page_line else ""
    return (
        f'<p{ident} class="freshness{" stale" if stale else ""}" '
        f'data-horde-at="{seen or ""}" '
        f'data-stale-after="{stale_after:g}" data-stale="{"true" if stale else "false"}">'
        f'Horde data from <time class="age" datetime="{esc(utc(seen))}">{esc(utc(seen))}</time>; '
        f"reference version <code>{esc(version[:12])}</code>{extra}; {state}</p>"
    )


def badge(text: str, kind: str) -> str:
    return f'<span class="badge {esc(kind)}">{esc(text)}</span>'


def definition_list(items: Iterable[tuple[str, str]]) -> str:
    """``<dl>`` of (term, already-rendered HTML) pairs."""
    return "<dl>" + "".join(f"<dt>{esc(term)}</dt><dd>{value}</dd>" for term, value in items) + "</dl>"


def number(value: object) -> str:
    """Thousands separated; ``–`` for null."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return esc(value)
