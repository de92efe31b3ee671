"""The AI Horde stand-in: recorded bytes, server-like filters, rate limits, faults, frames, log."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from devtools.horde_standin import Scenario, create_app, load_frame, set_model_counts
from devtools.horde_standin.reference import load_known_models
from devtools.horde_standin.xfields import MaskError, parse_mask

ROOT = Path(__file__).parents[3]
DATA = ROOT / "tests" / "fixtures" / "data"
SYNTHETIC = DATA / "horde_api" / "synthetic"
REAL = DATA / "horde_api"
AGENT = "hma-tests:0.1:ops@example.org"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def known() -> dict[str, frozenset[str]]:
    return load_known_models(DATA / "reference")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(known: dict[str, frozenset[str]], clock: FakeClock) -> Starlette:
    return create_app(Scenario.from_dir(SYNTHETIC, known_models=known), clock=clock)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://standin", headers={"Client-Agent": AGENT}
    ) as c:
        yield c


def names(response: httpx.Response) -> list[str]:
    return [entry["name"] for entry in response.json()]


async def add_fault(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/_control/faults", json=body)
    assert response.status_code == 201, response.text
    fault: dict[str, Any] = response.json()["faults"][0]
    return fault


# --- recorded data -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "file"),
    [
        ("/api/v2/status/models", {}, "status_models_image.json"),
        ("/api/v2/status/models", {"type": "image", "model_state": "all"}, "status_models_image.json"),
        ("/api/v2/status/models", {"type": "text"}, "status_models_text.json"),
        ("/api/v2/stats/img/models", {}, "stats_models_image.json"),
        ("/api/v2/stats/text/models", {}, "stats_models_text.json"),
        ("/api/v2/workers", {}, "workers.json"),
    ],
)
async def test_unfiltered_requests_return_the_recorded_bytes(
    client: httpx.AsyncClient, path: str, params: dict[str, str], file: str
) -> None:
    response = await client.get(path, params=params)
    recorded = (SYNTHETIC / file).read_bytes()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == recorded
    assert response.json() == json.loads(recorded)


async def test_real_capture_quirks_survive_byte_for_byte() -> None:
    app = create_app(Scenario.from_dir(REAL))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        text_stats = await c.get("/api/v2/stats/text/models", params={"model_state": "custom"})
        image_stats = await c.get("/api/v2/stats/img/models")
        status_text = await c.get("/api/v2/status/models", params={"type": "text"})
    assert text_stats.content == (REAL / "stats_models_text.json").read_bytes()
    assert b"koboldcpp\\/" in text_stats.content
    assert "" in image_stats.json()["total"]
    assert status_text.json() == []  # no real text status capture: the empty default


# --- filters ---------------------------------------------------------------------------------------


async def test_status_count_filters(client: httpx.AsyncClient) -> None:
    full = (await client.get("/api/v2/status/models", params={"type": "image"})).json()
    params: dict[str, str | int] = {"type": "image", "min_count": 5, "max_count": 10}
    response = await client.get("/api/v2/status/models", params=params)
    kept = response.json()
    assert kept == [e for e in full if 5 <= e["count"] <= 10]
    assert 0 < len(kept) < len(full)


async def test_status_model_state_known_and_custom(client: httpx.AsyncClient) -> None:
    custom = await client.get("/api/v2/status/models", params={"type": "image", "model_state": "custom"})
    known = await client.get("/api/v2/status/models", params={"type": "image", "model_state": "known"})
    assert sorted(names(custom)) == ["Anime Illust Diffusion XL", "ChilloutMix", "Dark Sushi Mix"]
    assert len(known.json()) + len(custom.json()) == 138
    params = {"type": "text", "model_state": "custom"}
    text_custom = names(await client.get("/api/v2/status/models", params=params))
    assert "koboldcpp/Velvet-Maid-12B-v3" in text_custom
    assert not any("::" in n for n in text_custom)  # name::user#id maps to its reference name


async def test_status_bad_arguments_give_400(client: httpx.AsyncClient) -> None:
    bad_state = await client.get("/api/v2/status/models", params={"model_state": "weird"})
    assert bad_state.status_code == 400
    assert "model_state" in bad_state.json()["message"]
    bad_count = await client.get("/api/v2/status/models", params={"min_count": "many"})
    assert bad_count.status_code == 400
    assert "min_count" in bad_count.json()["errors"]
    assert "X-RateLimit-Remaining" in bad_count.headers


async def test_stats_model_state(client: httpx.AsyncClient, known: dict[str, frozenset[str]]) -> None:
    custom = (await client.get("/api/v2/stats/img/models", params={"model_state": "custom"})).json()
    assert custom == {"day": {}, "month": {}, "total": {}}
    bad = await client.get("/api/v2/stats/img/models", params={"model_state": "nope"})
    assert bad.status_code == 400
    text = await client.get("/api/v2/stats/text/models", params={"model_state": "nope"})
    assert text.status_code == 200  # the text route takes no arguments at all
    frame = {"stats_models_image": {"day": {"Deliberate": 1, "mine": 2}, "month": {}, "total": {"mine": 3}}}
    app = create_app(Scenario.from_frames([frame], known_models=known))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert (await c.get("/api/v2/stats/img/models")).json()["day"] == {"Deliberate": 1}
        everything = (await c.get("/api/v2/stats/img/models", params={"model_state": "all"})).json()
    assert everything == frame["stats_models_image"]


async def test_workers_type_and_name_filters(client: httpx.AsyncClient) -> None:
    text = (await client.get("/api/v2/workers", params={"type": "text"})).json()
    assert len(text) == 60
    assert {w["type"] for w in text} == {"text"}
    one = (await client.get("/api/v2/workers", params={"name": text[0]["name"].upper()})).json()
    assert [w["id"] for w in one] == [text[0]["id"]]
    assert (await client.get("/api/v2/workers", params={"type": "video"})).status_code == 400


async def test_x_fields_masks_workers(client: httpx.AsyncClient) -> None:
    fields = "id,name,online,models,threads,maintenance_mode,type,trusted,performance,uptime"
    response = await client.get("/api/v2/workers", params={"type": "image"}, headers={"X-Fields": fields})
    workers = response.json()
    assert len(workers) == 75
    assert all(set(w) == set(fields.split(",")) for w in workers)
    nested = (await client.get("/api/v2/workers", headers={"X-Fields": "{id,team{name}}"})).json()
    assert set(nested[0]) == {"id", "team"}
    assert set(nested[0]["team"]) == {"name"}
    bad = await client.get("/api/v2/workers", headers={"X-Fields": "id,team{name"})
    assert bad.status_code == 400


def test_mask_parser() -> None:
    expected = {"id": None, "name": None, "team": {"name": None, "id": None}}
    assert parse_mask("id, name ,team{name,id}") == expected
    for bad in ("", "{", "a}", "{a}}", "team{}"):
        with pytest.raises(MaskError):
            parse_mask(bad)


# --- rate limit ------------------------------------------------------------------------------------


async def test_rate_limit_headers_and_429_after_90(client: httpx.AsyncClient, clock: FakeClock) -> None:
    path = "/api/v2/status/models?type=text"
    for used in range(1, 91):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "90"
        assert response.headers["X-RateLimit-Remaining"] == str(90 - used)
        assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())
    refused = await client.get(path)
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert (await client.get("/api/v2/workers")).status_code == 200  # other routes count apart
    assert (await client.get("/_control/state")).status_code == 200  # control API is not limited
    clock.now += 60
    assert (await client.get(path)).headers["X-RateLimit-Remaining"] == "89"


async def test_rate_limit_is_configurable_and_resettable(clock: FakeClock) -> None:
    app = create_app(Scenario.from_dir(SYNTHETIC), clock=clock, rate_limit=2, rate_limit_per_route=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert (await c.get("/api/v2/workers")).status_code == 200
        assert (await c.get("/api/v2/stats/text/models")).status_code == 200
        assert (await c.get("/api/v2/status/models")).status_code == 429
        await c.delete("/_control/rate_limit")
        assert (await c.get("/api/v2/status/models")).status_code == 200


# --- faults ----------------------------------------------------------------------------------------


async def test_status_fault_for_next_n_requests_and_selector(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="status", status=503, endpoint="status", model_type="text", count=2)
    assert (await client.get("/api/v2/status/models", params={"type": "image"})).status_code == 200
    assert (await client.get("/api/v2/workers")).status_code == 200
    first = await client.get("/api/v2/status/models", params={"type": "text"})
    assert first.status_code == 503
    assert "X-RateLimit-Limit" in first.headers
    assert (await client.get("/api/v2/status/models", params={"type": "text"})).status_code == 503
    assert (await client.get("/api/v2/status/models", params={"type": "text"})).status_code == 200
    assert (await client.get("/_control/faults")).json() == {"faults": []}


async def test_fault_duration_expires(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await add_fault(client, kind="status", status=502, duration=10)
    assert (await client.get("/api/v2/stats/text/models")).status_code == 502
    assert (await client.get("/api/v2/workers")).status_code == 502
    clock.now += 10
    assert (await client.get("/api/v2/workers")).status_code == 200


async def test_rate_limit_fault(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="rate_limit", retry_after=7, endpoint="workers", count=1)
    response = await client.get("/api/v2/workers")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["X-RateLimit-Remaining"] == "0"


async def test_truncated_json_fault(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="truncated_json", endpoint="stats", count=1)
    response = await client.get("/api/v2/stats/img/models")
    assert response.status_code == 200
    assert 0 < len(response.content) < len((SYNTHETIC / "stats_models_image.json").read_bytes())
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_wrong_types_fault(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="wrong_types", count=3)
    status = (await client.get("/api/v2/status/models")).json()
    assert isinstance(status[0]["count"], str)
    assert isinstance(status[0]["jobs"], list)
    stats = (await client.get("/api/v2/stats/text/models")).json()
    assert all(isinstance(v, str) for v in stats["month"].values())
    workers = (await client.get("/api/v2/workers")).json()
    assert isinstance(workers[0]["threads"], str)


async def test_empty_fault(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="empty", count=1)
    response = await client.get("/api/v2/status/models")
    assert response.status_code == 200
    assert response.content == b""


async def test_latency_fault_delays_then_answers(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="latency", seconds=0.2, count=1)
    started = time.perf_counter()
    response = await client.get("/api/v2/status/models")
    assert time.perf_counter() - started >= 0.2
    assert response.status_code == 200


async def test_timeout_fault_outlasts_the_client(client: httpx.AsyncClient) -> None:
    fault = await add_fault(client, kind="timeout", endpoint="workers")
    assert fault["seconds"] > 30  # longer than the poller's default request timeout
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.get("/api/v2/workers"), timeout=0.3)
    assert (await client.delete("/_control/faults")).json() == {"cleared": 1}
    assert (await client.get("/api/v2/workers")).status_code == 200


async def test_invalid_fault_bodies_are_rejected(client: httpx.AsyncClient) -> None:
    invalid = ({"kind": "meteor"}, {"kind": "status", "endpoint": "users"}, {"kind": "status", "status": 42})
    for body in invalid:
        assert (await client.post("/_control/faults", json=body)).status_code == 400
    listed = await client.post("/_control/faults", json={"faults": [{"kind": "empty"}, {"kind": "latency"}]})
    assert [f["kind"] for f in listed.json()["faults"]] == ["empty", "latency"]
    state = (await client.get("/_control/state")).json()
    assert len(state["faults"]) == 2


# --- frames ----------------------------------------------------------------------------------------


def derived_scenario(**kwargs: Any) -> Scenario:
    base = load_frame(SYNTHETIC)
    changed = set_model_counts(base, "image", {"Nova Furry Pony": 1, "Brand New Model": 4})
    second = {"status_models_image": changed["status_models_image"]}
    third: dict[str, Any] = {"workers": []}  # only workers change; status/stats come from frame 1
    return Scenario.from_frames([base, second, third], **kwargs)


def count_of(response: httpx.Response, name: str) -> int | None:
    return next((e["count"] for e in response.json() if e["name"] == name), None)


async def test_frames_advance_on_command_and_inherit_payloads() -> None:
    app = create_app(derived_scenario())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert count_of(await c.get("/api/v2/status/models"), "Nova Furry Pony") == 24
        assert (await c.post("/_control/advance")).json() == {"frame": 1, "frames": 3}
        status = await c.get("/api/v2/status/models")
        assert count_of(status, "Nova Furry Pony") == 1
        assert count_of(status, "Brand New Model") == 4
        assert len((await c.get("/api/v2/workers")).json()) == 153
        assert (await c.post("/_control/frame/2")).json()["frame"] == 2
        assert (await c.get("/api/v2/workers")).json() == []
        assert count_of(await c.get("/api/v2/status/models"), "Nova Furry Pony") == 1
        assert (await c.post("/_control/advance")).json()["frame"] == 2  # stays on the last frame
        assert (await c.post("/_control/frame/3")).status_code == 404
        assert (await c.post("/_control/frame/0")).json()["frame"] == 0


async def test_frames_advance_on_a_timer(clock: FakeClock) -> None:
    app = create_app(derived_scenario(advance_every_seconds=30), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert (await c.get("/_control/state")).json()["frame"] == 0
        clock.now += 30
        assert count_of(await c.get("/api/v2/status/models"), "Nova Furry Pony") == 1
        clock.now += 300
        assert (await c.get("/_control/state")).json()["frame"] == 2


def test_scenario_rejects_unknown_payloads() -> None:
    with pytest.raises(ValueError, match="unknown payload"):
        Scenario.from_frames([{"status_models_video": []}])


# --- request log -----------------------------------------------------------------------------------


async def test_request_log_records_client_agent(client: httpx.AsyncClient) -> None:
    await client.get("/api/v2/workers?type=image", headers={"X-Fields": "id,name"})
    await client.get("/api/v2/status/models", params={"type": "text"}, headers={"Client-Agent": "other:1:me"})
    log = (await client.get("/_control/requests")).json()["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/api/v2/workers", 200),
        ("GET", "/api/v2/status/models", 200),
    ]
    assert log[0]["client_agent"] == AGENT
    assert log[0]["query"] == "type=image"
    assert log[0]["headers"]["x-fields"] == "id,name"
    assert log[1]["client_agent"] == "other:1:me"
    assert log[1]["params"] == {"type": "text"}
    assert isinstance(log[0]["time"], float)
    assert (await client.delete("/_control/requests")).json() == {"cleared": 2}
    assert (await client.get("/_control/requests")).json() == {"requests": []}


# --- the real process ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_process_serves_and_stops_cleanly_on_sigterm() -> None:
    port = free_port()
    env = os.environ | {"HORDE_LOG_JSON": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.horde_standin", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "stand-in did not become healthy"
            time.sleep(0.1)
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/metrics").status_code == 200
        status = httpx.get(f"{base}/api/v2/status/models", params={"type": "image"})
        assert status.status_code == 200
        assert status.content == (SYNTHETIC / "status_models_image.json").read_bytes()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
