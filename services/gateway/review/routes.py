"""The review routes under ``/review/``: plain FastAPI routes behind the app's middleware stack.

The table, model and proposal pages answer through ``serve`` like the API (same pointer, ETag,
304, freshness headers, gzip); their errors are the API's (``GatewayError``) rendered as an
HTML page with the same status and ``Retry-After``. Parameters keep the API's names and checks.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.gateway.answer import Gateway, gateway_of, has_no_models, serve
from services.gateway.cache import LRU
from services.gateway.encoding import Body
from services.gateway.errors import ErrorBody, GatewayError, bad_value
from services.gateway.freshness import Provenance, provenance
from services.gateway.review import data
from services.gateway.review.assets import asset
from services.gateway.review.pages import (
    CategoryEntry,
    ModelView,
    category_page,
    error_page,
    index_page,
    model_page,
    policy_form,
    proposal_page,
)
from services.gateway.review.table import Spark, TablePage, TableQuery
from services.gateway.routes.common import PREFIX, RUNTIME, normalise_search, parse_category
from services.gateway.routes.proposals import parse_policy
from shared.domain.categories import ModelCategory
from shared.domain.proposal.build import build_proposal
from shared.domain.risk.listing import VALID_SORT_FIELDS
from shared.domain.risk.presets import VALID_PRESETS
from shared.domain.views import risk_view
from shared.materialized.proposal_inputs import PROPOSAL_VIEW
from shared.materialized.risk_listing import RiskQuery
from shared.materialized.selection import page
from shared.store.generations import CurrentGeneration

router = APIRouter(include_in_schema=False)
HTML = "text/html; charset=utf-8"
#: Rendered pages kept per gateway process (a full text table is about 1 MB).
RENDERED_PAGES = 16
Text = Annotated[str, Query(max_length=512)]


def _html_error(error: GatewayError) -> Response:
    return Response(
        error_page(error.status, error.body.detail).encode(),
        status_code=error.status,
        headers=error.headers,
        media_type=HTML,
    )


class _Rendered:
    """A rendered page, gzipped at most once (a 720-row table is above the on-the-fly gzip limit)."""

    def __init__(self, html: bytes) -> None:
        self.html = html
        self._gzip: bytes | None = None

    def gzip(self) -> bytes:
        if self._gzip is None:
            self._gzip = gzip.compress(self.html, compresslevel=1, mtime=0)  # 10 ms for 1 MB, ~6x smaller
        return self._gzip

    def body(self) -> Body:
        return Body(self.html, HTML, self.gzip)


def _state_lru(request: Request, name: str, entries: int) -> LRU:
    """An LRU kept on the app (per gateway process, dropped with it)."""
    state = request.app.state
    found: LRU | None = getattr(state, name, None)
    if found is None:
        found = LRU(entries)
        setattr(state, name, found)
    return found


def _rendered_pages(request: Request) -> LRU:
    """Pages of recent generations: a reload within one generation renders nothing."""
    return _state_lru(request, "review_pages", RENDERED_PAGES)


def _sparks_of(request: Request, category: ModelCategory, generation: str) -> dict[str, Spark]:
    """The sparkline data read so far for one generation (another preset or sort reads no history)."""
    held = _state_lru(request, "review_sparks", 4)
    found: dict[str, Spark] | None = held.peek((category, generation))
    if found is None:
        found = {}
        held.put((category, generation), found)
    return found


async def _answer(request: Request, category: ModelCategory, view: str, key: str, render: Callable[
        [Gateway, CurrentGeneration, Provenance], Awaitable[str | None]]) -> Response:  # fmt: skip
    gateway = gateway_of(request)
    pages = _rendered_pages(request)

    async def build(current: CurrentGeneration, found: Provenance) -> Body | None:
        cache_key = (category, current.generation, view, key, found.stale)
        held: _Rendered | None = pages.peek(cache_key)
        if held is None:
            html = await render(gateway, current, found)
            if html is None:
                return None
            held = _Rendered(html.encode())
            pages.put(cache_key, held)
        return held.body()

    try:
        return await serve(request, category, view, f"review|{key}", build)
    except GatewayError as error:
        return _html_error(error)


def _int(name: str, value: str, minimum: int) -> int | None:
    if not value.strip():
        return None
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise bad_value(name, value, [f"an integer of at least {minimum}"])
    return number


@router.get("/review/static/{name}")
async def static_file(request: Request, name: str) -> Response:
    found = asset(name)
    if found is None:
        return Response(b"not found", status_code=404, media_type="text/plain")
    headers = {"ETag": found.etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


@router.get("/review/")
async def index(request: Request) -> Response:
    """Every runtime category with its counts and freshness (or why it has none yet)."""
    gateway = gateway_of(request)
    entries = []
    for name in RUNTIME:
        category = ModelCategory(name)
        current = await gateway.pointers.get(category)
        if current is None:
            entries.append(
                CategoryEntry(name, note="No views yet: the analytics workers have not computed it.")
            )
            continue
        if has_no_models(current):
            entries.append(CategoryEntry(name, note="The reference in force has no models."))
            continue
        index = await gateway.cache.risk_index(category, current.generation, "deletion-risk")
        if index is None:
            entries.append(CategoryEntry(name, note="Waiting for the AI Horde snapshots of this category."))
            continue
        selection = gateway.cache.selection(category, current.generation, "deletion-risk", index, RiskQuery())
        summary = json.loads(selection.summary_json)
        found = provenance(current, "deletion-risk",
                           stale_after_seconds=gateway.settings.analytics.stale_after_seconds)  # fmt: skip
        entries.append(
            CategoryEntry(name, data.freshness_html(gateway, found, page_line=False), len(selection.rows),
                          summary["models_at_risk"], summary["models_critical"])
        )  # fmt: skip
    return Response(index_page(entries).encode(), media_type=HTML, headers={"Cache-Control": "no-cache"})


@router.get("/review/{category}")
async def risk_table(
    request: Request,
    category: str,
    preset: Text = "",
    search: Text = "",
    sort_by: Text = "",
    sort_desc: Text = "true",
    offset: Text = "",
    limit: Text = "",
    days_at_risk: Text = "",
) -> Response:
    """The deletion-risk table: the API listing's parameters, as a GET form."""
    try:
        chosen = parse_category(category, runtime=True)
        if preset and preset not in VALID_PRESETS:
            raise bad_value("preset", preset, VALID_PRESETS)
        if sort_by and sort_by not in VALID_SORT_FIELDS:
            raise bad_value("sort_by", sort_by, VALID_SORT_FIELDS)
        query = TableQuery(
            preset=preset, search=" ".join(search.split()), sort_by=sort_by,
            sort_desc=sort_desc.strip().lower() not in ("false", "0", "no"),
            offset=_int("offset", offset, 0) or 0, limit=_int("limit", limit, 1),
            days_at_risk=_int("days_at_risk", days_at_risk, 0),
        )  # fmt: skip
    except GatewayError as error:
        return _html_error(error)
    terms = normalise_search(query.search)
    min_days = 0
    if preset == "long_at_risk":
        settings = gateway_of(request).settings
        min_days = settings.history.min_days_at_risk if query.days_at_risk is None else query.days_at_risk
    risk_query = RiskQuery(
        preset=preset or None, search=terms or None, sort_by=sort_by or None,
        descending=bool(sort_by) and query.sort_desc, offset=query.offset, limit=query.limit,
        min_days_at_risk=min_days,
    )  # fmt: skip

    async def render(gateway: Gateway, current: CurrentGeneration, found: Provenance) -> str | None:
        index = await gateway.cache.risk_index(chosen, current.generation, "deletion-risk")
        if index is None:
            return None
        selection = gateway.cache.selection(chosen, current.generation, "deletion-risk", index, risk_query)
        rows = [json.loads(index.fragments[i]) for i in page(selection.rows, query.offset, query.limit)]
        names = [str(r["name"]) for r in rows]
        spark = await data.sparks(
            gateway, chosen, current, names, _sparks_of(request, chosen, current.generation)
        )
        table = TablePage(
            chosen.value, query, len(selection.rows), rows, spark, json.loads(selection.summary_json)
        )
        return category_page(table, data.freshness_html(gateway, found))

    key = urlencode(query.params())
    return await _answer(request, chosen, "deletion-risk", f"table|{key}|{min_days}", render)


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.replace("\n", ",").split(",") if n.strip()]


@router.get("/review/{category}/proposal")
async def proposal(
    request: Request,
    category: str,
    preset: Annotated[list[str] | None, Query(max_length=64)] = None,
    include: Text = "",
    exclude: Text = "",
    min_days_at_risk: Text = "",
) -> Response:
    """The removal proposal of a policy, with download links to the API's own bodies."""
    try:
        chosen = parse_category(category, runtime=True)
        min_days = _int("min_days_at_risk", min_days_at_risk, 0)
        policy = parse_policy(preset, _names(include), _names(exclude), min_days)
    except GatewayError as error:
        return _html_error(error)
    api_query: list[tuple[str, object]] = [("preset", p.value) for p in policy.presets]
    api_query += [("include", n) for n in policy.include] + [("exclude", n) for n in policy.exclude]
    if policy.min_days_at_risk is not None:
        api_query.append(("min_days_at_risk", policy.min_days_at_risk))
    api = f"{PREFIX}/{chosen.value}/removal-proposal"
    patch_name = "stable_diffusion.json" if chosen is ModelCategory.IMAGE_GENERATION else "models.csv"
    downloads = [
        ("Markdown", f"{api}?{urlencode([*api_query, ('format', 'markdown')])}"),
        (f"Patch ({patch_name})", f"{api}?{urlencode([*api_query, ('format', 'patch')])}"),
        ("JSON", f"{api}?{urlencode(api_query)}"),
        ("Risk table (CSV)", f"{PREFIX}/{chosen.value}/deletion-risk?format=csv"),
    ]
    form = policy_form(chosen.value, [p.value for p in policy.presets], ", ".join(policy.include),
                       ", ".join(policy.exclude), policy.min_days_at_risk)  # fmt: skip

    async def render(gateway: Gateway, current: CurrentGeneration, found: Provenance) -> str | None:
        inputs = await gateway.cache.proposal_inputs(chosen, current.generation)
        if inputs is None:
            return None
        built = build_proposal(
            inputs.rows, policy, inputs.basis, inputs.thresholds, already_broken=inputs.already_broken
        )
        return proposal_page(chosen.value, built, form, downloads, data.freshness_html(gateway, found))

    return await _answer(request, chosen, PROPOSAL_VIEW, f"proposal|{policy.model_dump_json()}", render)


@router.get("/review/{category}/model/{model:path}")
async def model(request: Request, category: str, model: str) -> Response:
    """One model: its row (with backend variations for text), history charts and reference events."""
    try:
        chosen = parse_category(category, runtime=True)
    except GatewayError as error:
        return _html_error(error)
    view = risk_view(False, chosen is ModelCategory.TEXT_GENERATION)

    async def render(gateway: Gateway, current: CurrentGeneration, found: Provenance) -> str | None:
        index = await gateway.cache.risk_index(chosen, current.generation, view)
        if index is None:
            return None
        position = index.position(model)
        row = None if position is None else json.loads(index.fragments[position])
        name = model if row is None else str(row["name"])
        points, events = await data.model_history(gateway, chosen, current, name)
        if row is None and not points and not events:
            raise GatewayError(404, _not_found(model, chosen))
        return model_page(
            ModelView(chosen.value, name, row, points, events), data.freshness_html(gateway, found)
        )

    return await _answer(request, chosen, view, f"model|{model}", render)


def _not_found(model: str, category: ModelCategory) -> ErrorBody:
    return ErrorBody(
        detail=f"No model {model!r} in {category.value}: neither in the reference nor in the history."
    )
