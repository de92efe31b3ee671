"""What the routed path (a query's first answer, replay off) remembers, and that remembering it
changes no answer: parameters per raw input, a listing's plan per parameters, a pointer's
provenance per pointer object, fragments encoded once per index, a selection's fragments joined
once. End-to-end bytes:
``tests/integration/test_gateway_stack.py`` (table vs. scan) and ``test_gateway.py``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request as StarletteRequest

from services.gateway.errors import GatewayError
from services.gateway.fastroute import REMEMBERED_INPUTS, FastRoute
from services.gateway.freshness import provenance, provenance_now, stale_from
from services.gateway.routes.common import Format
from services.gateway.routes.deletion_risk import listing_plan
from services.gateway.routes.with_stats import with_stats_plan
from shared.domain.categories import ModelCategory
from shared.materialized.index_codec import decode_index
from shared.materialized.risk_listing import JoinedRows, RiskListingIndex, RiskQuery, render_risk_page
from shared.materialized.selection import page
from shared.materialized.with_stats_listing import WithStatsIndex, render_with_stats_json
from shared.store.generations import CurrentGeneration

TEXT = ModelCategory.TEXT_GENERATION


def _request(route: FastRoute, query: bytes, headers: list[tuple[bytes, bytes]] | None = None,
             **path: str) -> Request:  # fmt: skip
    scope = {
        "type": "http", "method": "GET", "path": "/x", "query_string": query, "route": route,
        "headers": headers or [], "path_params": path,
    }  # fmt: skip
    return StarletteRequest(scope)


def _route() -> tuple[FastRoute, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    router = APIRouter(route_class=FastRoute)

    async def endpoint(
        request: Request,
        category: str,
        limit: Annotated[int | None, Query(ge=1)] = None,
        tags: Annotated[list[str] | None, Query()] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        seen.append({"category": category, "limit": limit, "tags": tags, "last": last_event_id})
        return Response(b"")

    router.add_api_route("/c/{category}", endpoint, methods=["GET"])
    route = router.routes[0]
    assert isinstance(route, FastRoute)
    return route, seen


async def test_parameters_are_remembered_per_raw_input_and_errors_never() -> None:
    route, seen = _route()
    handler = route.get_route_handler()
    await handler(_request(route, b"limit=2.0&tags=a&tags=b", category="x"))
    await handler(_request(route, b"limit=2.0&tags=a&tags=b", category="x"))
    await handler(_request(route, b"limit=2.0&tags=a&tags=b", category="y"))  # other path: own input
    await handler(_request(route, b"limit=3", [(b"last-event-id", b"e1")], category="x"))
    await handler(_request(route, b"limit=3", [(b"last-event-id", b"e2")], category="x"))  # header counts
    assert seen == [
        {"category": "x", "limit": 2, "tags": ["a", "b"], "last": None},
        {"category": "x", "limit": 2, "tags": ["a", "b"], "last": None},
        {"category": "y", "limit": 2, "tags": ["a", "b"], "last": None},
        {"category": "x", "limit": 3, "tags": None, "last": "e1"},
        {"category": "x", "limit": 3, "tags": None, "last": "e2"},
    ]
    for _ in range(2):  # a bad input is validated (and refused) every time
        with pytest.raises(RequestValidationError) as refused:
            await handler(_request(route, b"limit=0", category="x"))
        assert refused.value.errors()[0]["loc"] == ("query", "limit")
    for n in range(REMEMBERED_INPUTS + 5):  # bounded: still right after the memory is cleared
        await handler(_request(route, b"limit=%d" % (n + 1), category="x"))
    assert seen[-1]["limit"] == REMEMBERED_INPUTS + 5


async def test_every_signature_shape_gets_its_arguments_by_position_or_by_name() -> None:
    """By position only for the request first and the rest positional (the gateway's routes);
    a request elsewhere, keyword-only parameters or no request at all get them by name."""
    seen: list[tuple[str, Any, Any]] = []
    router = APIRouter(route_class=FastRoute)

    async def first(request: Request, b: int = 0, a: str = "") -> Response:
        seen.append(("first", a, b))
        return Response(b"")

    async def later(a: str, request: Request, b: int = 0) -> Response:
        seen.append(("later", a, b))
        return Response(b"")

    async def keyword_only(request: Request, *, a: str, b: int = 0) -> Response:
        seen.append(("keyword_only", a, b))
        return Response(b"")

    async def none(a: str, b: int = 0) -> Response:
        seen.append(("none", a, b))
        return Response(b"")

    for endpoint in (first, later, keyword_only, none):
        router.add_api_route(f"/{endpoint.__name__}", endpoint, methods=["GET"])
    for route in router.routes:
        assert isinstance(route, FastRoute)
        handler = route.get_route_handler()
        for _ in range(2):  # validated, then remembered
            await handler(_request(route, b"a=x&b=7"))
    assert seen == [(name, "x", 7) for name in ("first", "later", "keyword_only", "none") for _ in range(2)]


def test_listing_plans_are_remembered_and_refusals_raised_each_time() -> None:
    plan = listing_plan(
        "text_generation", False, False, "no_workers", 50, 0, None, True, " A  b ", Format.JSON, 7
    )
    again = listing_plan(
        "text_generation", False, False, "no_workers", 50, 0, None, True, " A  b ", Format.JSON, 7
    )
    assert plan is again
    assert plan.query == RiskQuery(preset="no_workers", search="a b", offset=0, limit=50)
    assert not plan.default
    default = listing_plan("text_generation", False, False, None, None, 0, None, True, None, Format.JSON, 7)
    assert default.default
    assert default.query.min_days_at_risk == 0
    long = listing_plan(
        "text_generation", False, False, "long_at_risk", None, 0, None, True, None, Format.JSON, 7
    )
    assert long.query.min_days_at_risk == 7
    for _ in range(2):
        with pytest.raises(GatewayError):
            listing_plan("text_generation", False, False, "nope", None, 0, None, True, None, Format.JSON, 7)
        with pytest.raises(GatewayError):
            listing_plan("lora", False, False, None, None, 0, None, True, None, Format.JSON, 7)


def _pointer(**basis: str) -> CurrentGeneration:
    fields = {"computed_at": "1000", "status_at_ms": "1000000", "stats_at_ms": "1000000", **basis}
    return CurrentGeneration("g1", fields)


@pytest.mark.parametrize("view", ["deletion-risk", "with-stats.workers", "statistics"])
def test_remembered_provenance_equals_the_computed_one_at_every_moment(view: str) -> None:
    current = _pointer(status_confirmed_at_ms="1500000", stats_moved_at_ms="1200000")
    turns = stale_from(current, view, stale_after_seconds=60)
    for now in (0.0, 1000.0, turns - 0.001, turns, turns + 0.001, 1e12):
        found, until = provenance_now(current, view, stale_after_seconds=60, now=now)
        assert found == provenance(current, view, stale_after_seconds=60, now=now)
        assert until == turns
    changed = _pointer(status_confirmed_at_ms="9000000")  # another pointer object: its own answer
    found, until = provenance_now(changed, view, stale_after_seconds=60, now=1100)
    assert found == provenance(changed, view, stale_after_seconds=60, now=1100)
    assert until == stale_from(changed, view, stale_after_seconds=60)
    other_limit = provenance_now(current, view, stale_after_seconds=10**9, now=1100)[1]  # not remembered
    assert other_limit == stale_from(current, view, stale_after_seconds=10**9)


def test_pages_join_encoded_fragments_into_the_json_the_fields_describe(text_views: dict[str, bytes]) -> None:
    index = decode_index(RiskListingIndex, text_views["deletion-risk.index"])
    for rows, offset, limit in (((), 10_000, 1), ((3,), 3, 1), (tuple(range(5, 15)), 5, 10)):
        query = RiskQuery(offset=offset, limit=limit)
        models = JoinedRows(index.encoded_fragments, rows).models
        body = render_risk_page(index, query, len(index.names), len(rows), models, b'{"s":1}', b',"x":1}')
        answer = json.loads(body)
        assert answer["models"] == [json.loads(index.fragments[i]) for i in rows]
        assert (answer["offset"], answer["limit"], answer["returned_count"]) == (offset, limit, len(rows))
        assert (answer["summary"], answer["x"], answer["category"]) == ({"s": 1}, 1, "text_generation")
    assert index.encoded_fragments is index.encoded_fragments  # encoded once
    stats = decode_index(WithStatsIndex, text_views["with-stats.index"])
    assert json.loads(render_with_stats_json(stats, range(len(stats.names)))) == json.loads(
        text_views["with-stats"]
    )
    assert render_with_stats_json(stats, ()) == b"{}"


@pytest.fixture(scope="module")
def text_views() -> dict[str, bytes]:
    from bench.gateway_fill import category_inputs
    from services.analytics.recompute import recompute
    from shared.domain.risk.thresholds import RiskThresholds

    generation = recompute(TEXT, category_inputs(TEXT), RiskThresholds(), computed_at=1_700_000_000)
    assert generation is not None
    return dict(generation.views)


def test_with_stats_plans_are_remembered_and_refusals_raised_each_time() -> None:
    plan = with_stats_plan("image_generation", True, False, 2, "usage_day", False, "  SD ", Format.JSON)
    assert plan is with_stats_plan(
        "image_generation", True, False, 2, "usage_day", False, "  SD ", Format.JSON
    )
    assert plan[1:] == ("with-stats.workers", "sd", False, "2|usage_day|False|sd|json")
    assert with_stats_plan("text_generation", False, False, None, None, True, None, Format.JSON)[
        3
    ]  # stored body
    for _ in range(2):
        with pytest.raises(GatewayError):
            with_stats_plan("image_generation", False, False, None, "nope", True, None, Format.JSON)


@given(
    rows=st.lists(st.integers(0, 40), max_size=30),
    offset=st.integers(0, 40),
    limit=st.none() | st.integers(1, 40),
)
def test_a_page_of_joined_rows_is_the_join_of_the_page_rows(
    rows: list[int], offset: int, limit: int | None
) -> None:
    fragments = tuple(b'{"n":%d%s}' % (i, b"x" * (i % 7)) for i in range(41))
    joined = JoinedRows(fragments, rows)
    returned, models = joined.page(offset, limit)
    expected = page(rows, offset, limit)
    assert (returned, bytes(models)) == (len(expected), b",".join(fragments[i] for i in expected))
    assert joined.nbytes >= len(joined.models)
