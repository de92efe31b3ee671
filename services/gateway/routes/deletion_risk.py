"""``GET …/{category}/deletion-risk`` (and the ``/audit`` alias): listing and single model.

The unfiltered listing is the stored body plus live freshness (gzip spliced from the stored
deflate); any preset, search, sort or page is answered from the view's listing index: precomputed
preset row sets, orders and per-row summary counters joined at request time, never recomputed.
Sorting: without ``sort_by`` the stored order (``usage_month`` desc; grouped lists re-sorted,
D24); with it, ``sort_desc`` defaults to true as on with-stats.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, NamedTuple

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from services.gateway.answer import gateway_of, serve
from services.gateway.encoding import Body
from services.gateway.errors import bad_value, echo, error_responses, failure
from services.gateway.fastroute import FastRoute
from services.gateway.freshness import Freshness, Provenance
from services.gateway.routes.common import (
    CSV,
    JSON,
    MAX_PAGE_INDEX,
    PREFIX,
    CategoryPath,
    Format,
    FormatQuery,
    SearchQuery,
    csv_response_doc,
    normalise_search,
    parse_category,
)
from shared.domain.categories import ModelCategory
from shared.domain.risk.listing import VALID_SORT_FIELDS
from shared.domain.risk.models import CategoryDeletionRiskResponse, ModelDeletionRiskInfo
from shared.domain.risk.presets import VALID_PRESETS
from shared.domain.views import effective_risk_flags, risk_view
from shared.materialized.risk_listing import (
    CSV_HEADER,
    RiskAnswer,
    RiskQuery,
    render_risk_csv,
    render_risk_page,
)
from shared.materialized.selection import page
from shared.store.generations import CurrentGeneration

#: Listing routes, then (after the events route) the single-model routes: ``…/events`` is no model.
listing_router = APIRouter(tags=["deletion-risk"], route_class=FastRoute)
model_router = APIRouter(tags=["deletion-risk"], route_class=FastRoute)

GroupQuery = Annotated[bool, Query(description="Text only: one row per model family (base name).")]
VariationsQuery = Annotated[
    bool, Query(description="Text only, ungrouped: add per-backend breakdowns of every model.")
]
_RISK_ERRORS = error_responses(400, 404, 414, 422, 503)


class CategoryDeletionRiskAnswer(CategoryDeletionRiskResponse):
    """``CategoryDeletionRiskResponse`` with the freshness of the generation it was read from."""

    freshness: Freshness


class ModelDeletionRiskAnswer(ModelDeletionRiskInfo):
    """One model's ``ModelDeletionRiskInfo`` with the freshness of the generation it was read from."""

    freshness: Freshness


def _view(category: str, grouped: bool, variations: bool) -> tuple[ModelCategory, str]:
    """The runtime category and the risk view its flags select."""
    chosen = parse_category(category, runtime=True)
    return chosen, risk_view(*effective_risk_flags(chosen, grouped, variations))


async def deletion_risk_listing(
    request: Request,
    category: CategoryPath,
    group_text_models: GroupQuery = False,
    include_backend_variations: VariationsQuery = False,
    preset: Annotated[
        str | None,
        Query(
            description="Server-side filter (empty: none; unknown: 400).",
            json_schema_extra={"enum": ["", *VALID_PRESETS]},
        ),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_PAGE_INDEX, description="Page size (none: everything from offset).")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_PAGE_INDEX, description="Page start.")] = 0,
    sort_by: Annotated[
        str | None,
        Query(
            description="Column to sort on (unknown: 400).",
            json_schema_extra={"enum": list(VALID_SORT_FIELDS)},
        ),
    ] = None,
    sort_desc: Annotated[bool, Query(description="Descending order (only with `sort_by`).")] = True,
    search: SearchQuery = None,
    format: FormatQuery = Format.JSON,
    days_at_risk: Annotated[
        int | None,
        Query(
            ge=0,
            description="With `preset=long_at_risk`: at risk for at least this many days "
            "(default `HORDE_HISTORY__MIN_DAYS_AT_RISK`).",
        ),
    ] = None,
) -> Response:
    """Deletion-risk analysis of every model of image or text generation, filtered and paged."""
    gateway = gateway_of(request)
    min_days = gateway.settings.history.min_days_at_risk if days_at_risk is None else days_at_risk
    chosen, view, query, key, default = listing_plan(
        category, group_text_models, include_backend_variations, preset, limit, offset, sort_by,
        sort_desc, search, format, min_days,
    )  # fmt: skip
    cache = gateway.cache

    async def build(current: CurrentGeneration, found: Provenance) -> Body | None:
        if default:
            return await cache.stored_json(chosen, current.generation, view, found.object_end)
        index = await cache.risk_index(chosen, current.generation, view)
        if index is None:
            return None
        selection = cache.selection(chosen, current.generation, view, index, query)
        if format is Format.CSV:
            rows = tuple(page(selection.rows, query.offset, query.limit))
            return Body(render_risk_csv(index, RiskAnswer(selected=selection.rows, page=rows)), CSV)
        returned, models = selection.joined.page(query.offset, query.limit)
        total, summary = len(selection.rows), selection.summary_json
        return Body(render_risk_page(index, query, total, returned, models, summary, found.object_end), JSON)

    return await serve(request, chosen, view, key, build)


class ListingPlan(NamedTuple):
    """What a listing request asks for, checked: the same for every request with its parameters."""

    category: ModelCategory
    view: str
    query: RiskQuery
    #: The query's part of the ETag and of the cache keys.
    key: str
    #: The unfiltered JSON listing: the stored body, spliced.
    default: bool


@lru_cache(maxsize=1024)
def listing_plan(
    category: str, group_text_models: bool, include_backend_variations: bool, preset: str | None,
    limit: int | None, offset: int, sort_by: str | None, sort_desc: bool, search: str | None,
    format: Format, min_days_at_risk: int,
) -> ListingPlan:  # fmt: skip
    """Check a listing's parameters and plan its answer (pure, so remembered per parameters; an
    error is raised again on every request)."""
    # Check order (D11, D17): unknown category 404, then its kind (D16), then the closed parameter
    # sets, all before any I/O; "has no models" (404) and "not yet" (503) need the pointer.
    chosen, view = _view(category, group_text_models, include_backend_variations)
    if preset and preset not in VALID_PRESETS:
        raise bad_value("preset", preset, VALID_PRESETS)
    if sort_by and sort_by not in VALID_SORT_FIELDS:
        raise bad_value("sort_by", sort_by, VALID_SORT_FIELDS)
    terms = normalise_search(search)
    query = RiskQuery(
        preset=preset or None, search=terms or None, sort_by=sort_by or None,
        descending=bool(sort_by) and sort_desc, offset=offset, limit=limit,
        min_days_at_risk=min_days_at_risk if preset == "long_at_risk" else 0,
    )  # fmt: skip
    key = (
        f"{query.preset}|{terms}|{query.sort_by}|{query.descending}|{offset}|{limit}|{format.value}"
        f"|{query.min_days_at_risk}"
    )
    return ListingPlan(chosen, view, query, key, query == RiskQuery() and format is Format.JSON)


async def deletion_risk_of_model(
    request: Request,
    category: CategoryPath,
    model: Annotated[
        str, Path(description="Model (or family) name; may contain `/`.", examples=["stable_diffusion"])
    ],
    group_text_models: GroupQuery = False,
    include_backend_variations: VariationsQuery = False,
) -> Response:
    """One model's deletion risk (a family's with ``group_text_models``); names may contain ``/``."""
    chosen, view = _view(category, group_text_models, include_backend_variations)
    cache = gateway_of(request).cache

    async def build(current: CurrentGeneration, found: Provenance) -> Body | None:
        index = await cache.risk_index(chosen, current.generation, view)
        if index is None:
            return None
        row = index.position(model)
        if row is None:
            raise failure(
                404,
                f"No model {echo(model)} in the {view} view of {category} (names are matched "
                "case-insensitively; with group_text_models use the family name).",
            )
        return Body(index.encoded_fragments[row][:-1] + found.object_end, JSON)

    return await serve(request, chosen, view, f"model|{model}", build)


_CSV_EXAMPLE = (
    ",".join(CSV_HEADER)
    + "\nstable_diffusion,stable_diffusion_1,3,120,3400,91000,12.5,1.7,2.0,0,,False,False,False,"
    + "huggingface.co,\n"
)

for segment, suffix in (("deletion-risk", "deletion_risk"), ("audit", "audit")):
    alias = " Alias of `/deletion-risk`, kept for the deployed frontend." if segment == "audit" else ""
    listing_router.add_api_route(
        f"{PREFIX}/{{category}}/{segment}",
        deletion_risk_listing,
        methods=["GET"],
        response_model=CategoryDeletionRiskAnswer,
        operation_id=f"read_v2_category_{suffix}",
        description=(deletion_risk_listing.__doc__ or "") + alias,
        responses={200: {"content": csv_response_doc(_CSV_EXAMPLE)}, **_RISK_ERRORS},
    )
    model_router.add_api_route(
        f"{PREFIX}/{{category}}/{segment}/{{model:path}}",
        deletion_risk_of_model,
        methods=["GET"],
        response_model=ModelDeletionRiskAnswer,
        operation_id=f"read_v2_model_{suffix}",
        description=(deletion_risk_of_model.__doc__ or "") + alias,
        responses=_RISK_ERRORS,
    )
