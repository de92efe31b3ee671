"""Reference sources: folder layouts, GitHub conditional GETs, the v2 API and its last_updated shortcut."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from services.reference_watcher.sources import (
    Fetched,
    FetchFailed,
    FetchResult,
    FolderSource,
    GithubSource,
    HttpPolicy,
    V2ApiSource,
)
from shared.domain.categories import ModelCategory

REFERENCE = Path(__file__).parents[2] / "fixtures" / "data" / "reference"
NO_WAIT = HttpPolicy(attempts=3, wait_seconds=0)
C = ModelCategory


def _fetched(results: list[FetchResult]) -> dict[ModelCategory, Fetched]:
    assert all(isinstance(r, Fetched) for r in results), results
    return {r.category: r for r in results if isinstance(r, Fetched)}


async def test_folder_legacy_layout(tmp_path: Path) -> None:
    shutil.copytree(REFERENCE / "image", tmp_path / "image")
    shutil.copytree(REFERENCE / "text", tmp_path / "text")
    found = _fetched(await FolderSource(tmp_path).fetch())
    assert list(found) == [
        C.BLIP,
        C.CLIP,
        C.CODEFORMER,
        C.CONTROLNET,
        C.ESRGAN,
        C.GFPGAN,
        C.SAFETY_CHECKER,
        C.IMAGE_GENERATION,
        C.TEXT_GENERATION,
        C.MISCELLANEOUS,
        C.LORA,
    ]
    assert found[C.IMAGE_GENERATION].origin.endswith("image/stable_diffusion.json")
    assert found[C.IMAGE_GENERATION].payload == (REFERENCE / "image" / "stable_diffusion.json").read_bytes()
    text = found[C.TEXT_GENERATION]
    # Contract, text reference source: models.csv (what maintainers edit) wins over db.json.
    assert (text.format, Path(text.origin).name) == ("csv", "models.csv")


async def test_folder_text_reads_models_csv_and_falls_back_to_db_json(tmp_path: Path) -> None:
    """Contract, text reference source: ``models.csv`` when present, ``db.json`` only without it."""
    (tmp_path / "text").mkdir()
    shutil.copy(REFERENCE / "text" / "db.json", tmp_path / "text")
    found = _fetched(await FolderSource(tmp_path).fetch())
    assert (found[C.TEXT_GENERATION].format, Path(found[C.TEXT_GENERATION].origin).name) == (
        "legacy",
        "db.json",
    )
    shutil.copy(REFERENCE / "text" / "models.csv", tmp_path / "text")
    found = _fetched(await FolderSource(tmp_path).fetch())
    assert list(found) == [C.TEXT_GENERATION]
    assert found[C.TEXT_GENERATION].format == "csv"


async def test_folder_v2_layout_is_detected() -> None:
    found = _fetched(await FolderSource(REFERENCE / "v2").fetch())
    assert C.IMAGE_GENERATION in found
    assert C.TEXT_GENERATION in found
    assert {r.format for r in found.values()} == {"v2"}
    assert found[C.IMAGE_GENERATION].origin.endswith("stable_diffusion.json")
    assert found[C.TEXT_GENERATION].origin.endswith("text_generation.json")


async def test_folder_v2_accepts_the_category_name_for_image_generation(tmp_path: Path) -> None:
    shutil.copy(REFERENCE / "v2" / "stable_diffusion.json", tmp_path / "image_generation.json")
    found = _fetched(await FolderSource(tmp_path, "v2").fetch())
    assert list(found) == [C.IMAGE_GENERATION]


async def test_folder_reports_only_present_files(tmp_path: Path) -> None:
    (tmp_path / "image").mkdir()
    assert await FolderSource(tmp_path).fetch() == []


Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _github(client: httpx.AsyncClient, categories: list[ModelCategory]) -> GithubSource:
    return GithubSource(
        client,
        image_base_url="https://img.example/main",
        text_base_url="https://txt.example/main/",
        categories=categories,
        policy=NO_WAIT,
    )


async def test_github_uses_etags_and_treats_304_as_unchanged() -> None:
    body = (REFERENCE / "image" / "clip.json").read_bytes()
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("If-None-Match")))
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, content=body, headers={"ETag": '"v1"'})

    async with _client(handler) as client:
        source = _github(client, [C.CLIP])
        first = _fetched(await source.fetch())[C.CLIP]
        second = _fetched(await source.fetch())[C.CLIP]
    url = "https://img.example/main/clip.json"
    assert seen == [(url, None), (url, '"v1"')]
    assert (first.payload, first.not_modified) == (body, False)
    assert (second.payload, second.not_modified) == (body, True)


async def test_github_text_url_and_errors_per_category() -> None:
    """Contract, text reference source: without ``models.csv`` (404) the generated ``db.json`` is read."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("db.json"):
            return httpx.Response(200, content=b"{}")
        return httpx.Response(404)

    async with _client(handler) as client:
        results = await _github(client, [C.TEXT_GENERATION, C.ESRGAN]).fetch()
    ok, failed = results
    assert isinstance(ok, Fetched)
    assert (ok.origin, ok.format) == ("https://txt.example/main/db.json", "legacy")
    assert isinstance(failed, FetchFailed)
    assert failed.error == "HTTP 404"
    assert failed.category is C.ESRGAN


async def test_github_text_reads_models_csv_first() -> None:
    """Contract, text reference source: ``models.csv`` is what maintainers edit; ``db.json`` is not read
    when it exists, and a server error on it keeps the previous version instead of switching files."""
    seen: list[str] = []
    csv_status = 200

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("models.csv"):
            return httpx.Response(csv_status, content=b"name,parameters_bn\nA/B-7B,7\n")
        return httpx.Response(200, content=b"{}")

    async with _client(handler) as client:
        result = (await _github(client, [C.TEXT_GENERATION]).fetch())[0]
        assert isinstance(result, Fetched)
        assert (result.format, result.origin) == ("csv", "https://txt.example/main/models.csv")
        assert seen == ["/main/models.csv"]
        csv_status = 500
        failed = (await _github(client, [C.TEXT_GENERATION]).fetch())[0]
    assert isinstance(failed, FetchFailed)
    assert not any(path.endswith("db.json") for path in seen)


async def test_github_retries_server_errors_then_gives_up() -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503) if calls < 3 else httpx.Response(200, content=b"[]")

    async with _client(flaky) as client:
        result = (await _github(client, [C.LORA]).fetch())[0]
    assert isinstance(result, Fetched)
    assert calls == 3

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with _client(down) as client:
        result = (await _github(client, [C.LORA]).fetch())[0]
    assert isinstance(result, FetchFailed)
    assert "ConnectError" in result.error


class FakeV2Api:
    """The reference service: category bodies and an optional ``last_updated`` stamp."""

    def __init__(self, stamp: int | None, metadata_status: int = 200) -> None:
        self.stamp = stamp
        self.metadata_status = metadata_status
        self.body_requests = 0
        self.body = (REFERENCE / "v2" / "clip.json").read_bytes()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/model_references/v2/metadata/clip/last_updated":
            payload = {"category": "clip", "last_updated": self.stamp}
            return httpx.Response(self.metadata_status, json=payload)
        if path == "/api/model_references/v2/clip":
            self.body_requests += 1
            return httpx.Response(200, content=self.body)
        return httpx.Response(404)


async def test_v2_api_skips_download_while_last_updated_is_unchanged() -> None:
    api = FakeV2Api(stamp=100)
    async with _client(api) as client:
        source = V2ApiSource(client, base_url="https://ref.example/api/", categories=[C.CLIP], policy=NO_WAIT)
        first = _fetched(await source.fetch())[C.CLIP]
        second = _fetched(await source.fetch())[C.CLIP]
        api.stamp = 200
        third = _fetched(await source.fetch())[C.CLIP]
    assert api.body_requests == 2
    assert first.format == "v2"
    assert first.origin == "https://ref.example/api/model_references/v2/clip"
    assert json.loads(first.payload) == json.loads(api.body)
    assert (second.not_modified, third.not_modified) == (True, False)
    assert second.payload == first.payload


@pytest.mark.parametrize(("stamp", "status"), [(100, 503), (None, 200), (100, 404)])
async def test_v2_api_downloads_when_metadata_cannot_tell(stamp: int | None, status: int) -> None:
    api = FakeV2Api(stamp=stamp, metadata_status=status)
    async with _client(api) as client:
        source = V2ApiSource(client, base_url="https://ref.example/api", categories=[C.CLIP], policy=NO_WAIT)
        await source.fetch()
        results = await source.fetch()
    assert api.body_requests == 2
    assert isinstance(results[0], Fetched)
    assert not results[0].not_modified


async def test_v2_api_failure_is_reported_per_category() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    async with _client(handler) as client:
        source = V2ApiSource(
            client,
            base_url="https://ref.example/api",
            categories=[C.CLIP, C.BLIP],
            use_last_updated=False,
            policy=NO_WAIT,
        )
        results = await source.fetch()
    assert [type(r) for r in results] == [FetchFailed, FetchFailed]
    assert [r.category for r in results] == [C.CLIP, C.BLIP]
