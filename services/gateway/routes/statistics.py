"""``GET /model_references/statistics/{category}``: the stored statistics plus live freshness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.gateway.answer import gateway_of, serve
from services.gateway.encoding import Body, stored_body
from services.gateway.errors import error_responses
from services.gateway.fastroute import FastRoute
from services.gateway.freshness import Freshness, Provenance
from services.gateway.routes.common import JSON, MAX_PAGE_INDEX, PREFIX, CategoryPath, parse_category
from shared.domain.categories import ModelCategory
from shared.domain.statistics import CategoryStatistics
from shared.domain.views import statistics_view
from shared.store.generations import CurrentGeneration

router = APIRouter(tags=["statistics"], route_class=FastRoute)


class CategoryStatisticsAnswer(CategoryStatistics):
    """``CategoryStatistics`` with the freshness of the generation it was read from."""

    freshness: Freshness


_STORED_ECHO = b'"offset":0,"limit":null'


def echo_page(body: bytes, offset: int, limit: int | None) -> bytes:
    """A copy of the stored body whose ``offset``/``limit`` echo the request (D1: nothing shared
    is mutated). The echo fields sit in the fixed head of the object, before any free text."""
    at = body.find(_STORED_ECHO, 0, 256)
    if at < 0:
        raise ValueError("statistics body without the default offset/limit echo in its head")
    echoed = f'"offset":{offset},"limit":{"null" if limit is None else limit}'.encode()
    return body[:at] + echoed + body[at + len(_STORED_ECHO) :]


@router.get(
    f"{PREFIX}/{{category}}",
    response_model=CategoryStatisticsAnswer,
    operation_id="read_v2_category_statistics",
    responses=error_responses(404, 414, 422, 503),
)
async def category_statistics(
    request: Request,
    category: CategoryPath,
    group_text_models: Annotated[
        bool, Query(description="Text only: statistics over model families (base names).")
    ] = False,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_PAGE_INDEX, description="Echoed in the body; no effect on content.")
    ] = None,
    offset: Annotated[
        int, Query(ge=0, le=MAX_PAGE_INDEX, description="Echoed in the body; no effect on content.")
    ] = 0,
) -> Response:
    """Static statistics of a category's reference (all 15 categories)."""
    chosen = parse_category(category, runtime=False)
    view = statistics_view(group_text_models and chosen is ModelCategory.TEXT_GENERATION)
    cache = gateway_of(request).cache

    async def build(current: CurrentGeneration, found: Provenance) -> Body | None:
        stored = await cache.view(chosen, current.generation, view)
        if stored is None:
            return None
        if limit is None and offset == 0:
            return stored_body(stored, found.object_end, JSON)
        return Body(echo_page(stored.body, offset, limit)[:-1] + found.object_end, JSON)

    return await serve(request, chosen, view, f"{offset}|{limit}", build)
