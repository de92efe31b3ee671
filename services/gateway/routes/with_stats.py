"""``GET …/{category}/with-stats``: runtime statistics per model, filtered and sorted from the index.

The body is a ``{model: stats}`` map, so freshness is sent in headers only. ``min_worker_count``
and ``sort_by=worker_count`` use the distinct-worker count whatever ``include_workers`` says (D15).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.gateway.answer import gateway_of, serve
from services.gateway.encoding import Body
from services.gateway.errors import bad_value, error_responses
from services.gateway.fastroute import FastRoute
from services.gateway.freshness import Provenance
from services.gateway.routes.common import (
    CSV,
    JSON,
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
from shared.domain.horde.runtime import CombinedModelStatistics
from shared.domain.views import with_stats_view
from shared.materialized.with_stats_listing import (
    CSV_HEADER,
    WITH_STATS_SORT_FIELDS,
    render_with_stats_csv,
    render_with_stats_json,
    run_with_stats_query,
)
from shared.store.generations import CurrentGeneration

router = APIRouter(tags=["statistics"], route_class=FastRoute)
#: The body is a map, so its freshness travels in headers only.
WithStatsAnswer = dict[str, CombinedModelStatistics]

_EXAMPLE = {
    "stable_diffusion": {
        "name": "stable_diffusion", "worker_count": 3, "thread_count": 4, "worker_count_source": "workers",
        "usage_stats": {"day": 120, "month": 3400, "total": 91000},
    }
}  # fmt: skip


@router.get(
    f"{PREFIX}/{{category}}/with-stats",
    operation_id="read_models_with_stats",
    response_model=WithStatsAnswer,
    responses={
        200: {
            "description": "Map of reference model name to its runtime statistics (or CSV rows).",
            "content": {
                "application/json": {"example": _EXAMPLE},
                **csv_response_doc(
                    ",".join(CSV_HEADER) + "\nstable_diffusion,3,4,workers,,,,,120,3400,91000\n"
                ),
            },
        },
        **error_responses(400, 404, 414, 422, 503),
    },
)
async def with_stats(
    request: Request,
    category: CategoryPath,
    include_workers: Annotated[bool, Query(description="Add the list of workers per model.")] = False,
    include_backend_variations: Annotated[
        bool, Query(description="Add per-backend spellings (canonical, aphrodite, koboldcpp).")
    ] = False,
    min_worker_count: Annotated[
        int | None, Query(ge=0, description="Keep models with at least this many distinct workers (D15).")
    ] = None,
    sort_by: Annotated[
        str | None,
        Query(
            description="Column to sort on (unknown: 400).",
            json_schema_extra={"enum": list(WITH_STATS_SORT_FIELDS)},
        ),
    ] = None,
    sort_desc: Annotated[bool, Query(description="Descending order (only with `sort_by`).")] = True,
    search: SearchQuery = None,
    format: FormatQuery = Format.JSON,
) -> Response:
    """Per-model runtime statistics (workers, threads, queue, usage) of image or text models."""
    chosen, view, terms, default, query = with_stats_plan(
        category, include_workers, include_backend_variations, min_worker_count, sort_by, sort_desc,
        search, format,
    )  # fmt: skip
    cache = gateway_of(request).cache

    async def build(current: CurrentGeneration, _: Provenance) -> Body | None:
        if default:
            return await cache.stored_json(chosen, current.generation, view)
        index = await cache.with_stats_index(chosen, current.generation, view)
        if index is None:
            return None
        rows = run_with_stats_query(
            index, min_worker_count=min_worker_count, search=terms, sort_by=sort_by, descending=sort_desc
        )
        if format is Format.CSV:
            return Body(render_with_stats_csv(index, rows), CSV)
        return Body(render_with_stats_json(index, rows), JSON)

    return await serve(request, chosen, view, query, build)


@lru_cache(maxsize=1024)
def with_stats_plan(
    category: str, include_workers: bool, include_backend_variations: bool, min_worker_count: int | None,
    sort_by: str | None, sort_desc: bool, search: str | None, format: Format,
) -> tuple[ModelCategory, str, str, bool, str]:  # fmt: skip
    """Check the parameters (pure, so remembered per parameters; a refusal is raised every time):
    the category, the view, the search terms, whether it is the stored body, the ETag's query part."""
    chosen = parse_category(category, runtime=True)
    if sort_by and sort_by not in WITH_STATS_SORT_FIELDS:
        raise bad_value("sort_by", sort_by, WITH_STATS_SORT_FIELDS)
    terms = normalise_search(search)
    default = min_worker_count is None and not sort_by and not terms and format is Format.JSON
    query = f"{min_worker_count}|{sort_by or ''}|{sort_desc if sort_by else ''}|{terms}|{format.value}"
    return chosen, with_stats_view(include_workers, include_backend_variations), terms, default, query
