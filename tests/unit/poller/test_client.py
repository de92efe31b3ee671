"""HordeApiClient: etiquette headers, query parameters, retries and backoff, payload validation."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from services.poller.client import (
    WORKER_FIELDS,
    HordeApiClient,
    HordeRequestFailedError,
    MalformedPayloadError,
)
from tests.unit.poller.support import FakeTime, make_client, standin_app, standin_state

Fetch = Callable[[HordeApiClient], object]


async def test_headers_and_query_parameters_per_endpoint() -> None:
    time = FakeTime()
    app = standin_app(time)
    client = make_client(time, httpx.ASGITransport(app))
    try:
        await client.status_models("text")
        await client.stats_models("image")
        await client.stats_models("text")
        await client.workers("image")
    finally:
        await client.aclose()
    log = list(standin_state(app).requests)
    assert [(r["path"], r["params"]) for r in log] == [
        ("/api/v2/status/models", {"type": "text", "model_state": "known"}),
        ("/api/v2/stats/img/models", {"model_state": "known"}),
        ("/api/v2/stats/text/models", {}),
        ("/api/v2/workers", {"type": "image"}),
    ]
    for entry in log:
        assert entry["client_agent"] == "horde-model-analytics:0.1.0:ops@example.org"
        assert "apikey" not in entry["headers"]
    assert [r["headers"].get("x-fields") for r in log] == [None, None, None, WORKER_FIELDS]


async def test_api_key_is_sent_when_set_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500 if len(seen) == 1 else 200, json=[])

    time = FakeTime()
    client = make_client(time, httpx.MockTransport(handler), api_key=SecretStr("s3cret-key"))
    try:
        await client.status_models("image")
    finally:
        await client.aclose()
    assert all(r.headers["apikey"] == "s3cret-key" for r in seen)
    assert "s3cret-key" not in caplog.text


async def test_retries_5xx_with_growing_jittered_backoff_then_succeeds() -> None:
    time = FakeTime()
    app = standin_app(time)
    standin_state(app).faults.add({"kind": "status", "status": 503, "count": 2})
    client = make_client(time, httpx.ASGITransport(app))
    try:
        fetched = await client.status_models("image")
    finally:
        await client.aclose()
    assert fetched.payload
    assert [r["status"] for r in standin_state(app).requests] == [503, 503, 200]
    first, second = time.sleeps
    assert 1.0 <= first <= 2.0
    assert 2.0 <= second <= 3.0


async def test_429_waits_at_least_retry_after() -> None:
    time = FakeTime()
    app = standin_app(time)
    standin_state(app).faults.add({"kind": "rate_limit", "retry_after": 17, "count": 1})
    client = make_client(time, httpx.ASGITransport(app))
    start = time.now
    try:
        await client.workers("text")
    finally:
        await client.aclose()
    assert [r["status"] for r in standin_state(app).requests] == [429, 200]
    assert time.now - start >= 17


async def test_huge_retry_after_is_capped() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(429, headers={"Retry-After": "86400"})
        return httpx.Response(200, json=[])

    time = FakeTime()
    client = make_client(time, httpx.MockTransport(handler))
    start = time.now
    try:
        await client.status_models("image")
    finally:
        await client.aclose()
    assert 120 <= time.now - start <= 125


async def test_gives_up_after_max_attempts_with_a_typed_error() -> None:
    time = FakeTime()
    app = standin_app(time)
    standin_state(app).faults.add({"kind": "status", "status": 502})
    client = make_client(time, httpx.ASGITransport(app), max_attempts=3)
    try:
        with pytest.raises(HordeRequestFailedError) as caught:
            await client.stats_models("text")
    finally:
        await client.aclose()
    error = caught.value
    assert (error.endpoint, error.attempts, error.status_code) == ("stats", 3, 502)
    assert error.url == "http://standin.test/api/v2/stats/text/models"
    assert "HTTP 502 after 3 attempt(s)" in str(error)
    assert len(standin_state(app).requests) == 3


async def test_transport_errors_are_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if calls == 2:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"day": {}, "month": {}, "total": {}})

    time = FakeTime()
    client = make_client(time, httpx.MockTransport(handler))
    try:
        await client.stats_models("image")
    finally:
        await client.aclose()
    assert calls == 3


async def test_other_4xx_is_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"message": "bad model_state", "rc": "BadRequest"})

    time = FakeTime()
    client = make_client(time, httpx.MockTransport(handler))
    try:
        with pytest.raises(HordeRequestFailedError, match="HTTP 400"):
            await client.status_models("image")
    finally:
        await client.aclose()
    assert calls == 1
    assert time.sleeps == []


async def test_low_rate_limit_remaining_pauses_the_next_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"X-RateLimit-Limit": "90", "X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "40"}
        return httpx.Response(200, json=[], headers=headers)

    time = FakeTime()
    client = make_client(time, httpx.MockTransport(handler))
    try:
        await client.status_models("image")
        start = time.now
        fetched = await client.status_models("text")
    finally:
        await client.aclose()
    assert time.now - start == pytest.approx(40)
    assert fetched.rate_limit.remaining == 3


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"kind": "truncated_json"}, "invalid payload at body: Invalid JSON"),
        ({"kind": "empty"}, "invalid payload at body: Invalid JSON"),
        ({"kind": "wrong_types"}, "Input should be a valid"),
    ],
)
@pytest.mark.parametrize("endpoint", ["status", "stats", "workers"])
async def test_malformed_payloads_raise_a_clear_error(
    endpoint: str, fault: dict[str, str], expected: str
) -> None:
    time = FakeTime()
    app = standin_app(time)
    standin_state(app).faults.add(fault | {"endpoint": endpoint})
    client = make_client(time, httpx.ASGITransport(app))
    fetch = {"status": client.status_models, "stats": client.stats_models, "workers": client.workers}
    try:
        with pytest.raises(MalformedPayloadError) as caught:
            await fetch[endpoint]("image")
    finally:
        await client.aclose()
    assert caught.value.endpoint == endpoint
    assert str(caught.value).startswith(f"{endpoint} (http://standin.test/api/v2/")
    assert expected in str(caught.value)
    assert len(standin_state(app).requests) == 1, "a malformed 200 is not retried"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"not": "a list"}, "invalid payload at body: Input should be a valid"),
        ([{"name": "m", "count": -1}], "invalid payload at 0.count"),
        ([{"count": 1}], "invalid payload at 0.name: Field required"),
    ],
)
async def test_validation_error_names_the_first_bad_field(body: object, where: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(body).encode())

    time = FakeTime()
    client = make_client(time, httpx.MockTransport(handler))
    try:
        with pytest.raises(MalformedPayloadError, match=where.replace(".", r"\.")):
            await client.status_models("image")
    finally:
        await client.aclose()
