"""The one stack's pure parts: route specificity (registration order decides nothing), request
ids and bounded echoes. End-to-end: ``tests/integration/test_gateway_stack.py``."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from services.gateway.errors import ECHO_CHARS, ErrorBody, echo
from services.gateway.fastroute import FastRoute
from services.gateway.request_context import MAX_ID_LENGTH, RequestContext, request_id
from services.gateway.stack import IDLE_LAYERS, MATCHED_PATHS, GatewayApp, HotRoutes, _layers, specificity

P = "/model_references/statistics/{category}"
TEMPLATES = [
    f"{P}/deletion-risk/{{model:path}}", f"{P}/deletion-risk/{{model:path}}/history",
    f"{P}/deletion-risk/events", f"{P}/deletion-risk", f"{P}/history/summary", P,
]  # fmt: skip


async def _endpoint(_: Any) -> None: ...


def test_the_most_specific_template_comes_first_in_any_registration_order() -> None:
    expected = None
    for order in itertools.permutations(TEMPLATES):
        ranked = [r.path for r in sorted((Route(t, _endpoint) for t in order), key=specificity)]
        assert ranked.index(f"{P}/deletion-risk/events") < ranked.index(f"{P}/deletion-risk/{{model:path}}")
        history = ranked.index(f"{P}/deletion-risk/{{model:path}}/history")
        assert history < ranked.index(f"{P}/deletion-risk/{{model:path}}")
        first_match = {
            url: next(t for t in ranked if Route(t, _endpoint).path_regex.match(url))
            for url in (
                f"{P}/deletion-risk/events",
                f"{P}/deletion-risk/a/b/history",
                f"{P}/deletion-risk/a/b",
            )
        }
        expected = expected or first_match
        assert first_match == expected


def test_hot_routes_remember_matched_paths_within_a_bound() -> None:
    router = APIRouter(route_class=FastRoute)

    async def model(category: str, model: str) -> None: ...

    async def listing(category: str) -> None: ...

    router.add_api_route(f"{P}/deletion-risk/{{model:path}}", model, methods=["GET"])
    router.add_api_route(f"{P}/deletion-risk", listing, methods=["GET"])
    hot = HotRoutes(_endpoint, router.routes)
    path = "/model_references/statistics/text_generation/deletion-risk/a/b"
    found = hot.match(path)
    assert found is not None
    assert found[0].path.endswith("{model:path}")
    assert found[2] == {"category": "text_generation", "model": "a/b"}
    assert hot.match(path) is found
    assert hot.match("/elsewhere") is None
    for n in range(MATCHED_PATHS + 1):
        hot.match(f"{path}{n}")
    assert len(hot.matched) <= MATCHED_PATHS


def test_echoes_are_cut() -> None:
    assert echo("short") == "'short'"
    cut = echo("m" * 10_000)
    assert len(cut) < ECHO_CHARS + 40
    assert cut.endswith("(10000 characters)")


async def _run(headers: list[tuple[bytes, bytes]], app: Any) -> list[Any]:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request"}

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": headers, "query_string": b""}
    await RequestContext(app)(scope, receive, send)
    return sent


async def test_request_ids_kept_when_usable_made_otherwise_and_in_error_bodies() -> None:
    seen: list[bytes | None] = []

    async def app(_: Any, __: Any, send: Any) -> None:
        seen.append(request_id.get())
        body = ErrorBody(detail="nope").render()
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": body})

    sent = await _run([(b"x-request-id", b"abc.1:2-3_4")], app)
    assert sent[0]["headers"] == [(b"x-request-id", b"abc.1:2-3_4")]
    assert b'"request_id":"abc.1:2-3_4"' in sent[1]["body"]
    made = set()
    for unusable in (b"a b", b"x" * (MAX_ID_LENGTH + 1), b"a/b", None):
        sent = await _run([] if unusable is None else [(b"x-request-id", unusable)], app)
        given = dict(sent[0]["headers"])[b"x-request-id"]
        assert given != unusable
        made.add(given)
    assert len(made) == 4  # each request its own
    assert request_id.get() is None  # reset after the request
    assert seen[0] == b"abc.1:2-3_4"


async def test_hot_routes_skip_fastapis_exit_stack_and_other_routes_keep_it() -> None:
    """The table sits right under the replay: a ``FastRoute`` needs no exit stack (no dependencies,
    no request body), every other route still gets it; a hot route's error gets the app's exception
    handler; FastAPI's idle layers are out of the chain."""
    app = GatewayApp()
    hot, plain = APIRouter(route_class=FastRoute), APIRouter()

    class Refused(Exception):
        pass

    async def refused(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse({"refused": True}, status_code=409)

    app.add_exception_handler(Refused, refused)

    async def failing(category: str) -> JSONResponse:
        raise Refused(category)

    async def fast(request: Request, category: str) -> JSONResponse:
        return JSONResponse(
            {"stack": "fastapi_middleware_astack" in request.scope, "router": "router" in request.scope}
        )

    async def other(request: Request) -> JSONResponse:
        return JSONResponse({"stack": "fastapi_middleware_astack" in request.scope})

    hot.add_api_route("/hot/{category}", fast, methods=["GET"])
    hot.add_api_route("/hot/{category}/failing", failing, methods=["GET"])
    plain.add_api_route("/plain", other, methods=["GET"])
    app.include_router(hot)
    app.include_router(plain)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/hot/x")).json() == {"stack": False, "router": True}
        assert (await client.get("/plain")).json() == {"stack": True}
        assert (await client.post("/hot/x")).status_code == 405  # other methods: the router's answer
        for _ in range(2):  # a hot route's error: the app's handler, as below the exception layer
            answer = await client.get("/hot/x/failing")
            assert (answer.status_code, answer.json()) == (409, {"refused": True})
    chain = _layers(app.middleware_stack)
    assert not [layer for layer in chain if isinstance(layer, IDLE_LAYERS)]
    assert app.hot_routes in chain
