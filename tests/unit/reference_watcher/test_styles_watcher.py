"""The styles as a watched source (issue 18): publish once per version, malformed files rejected
with a clear error and the previous styles kept, GitHub ETags honoured."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.reference_watcher.sources import HttpPolicy
from services.reference_watcher.styles import (
    FolderStylesSource,
    GithubStylesSource,
    StylesWatcher,
    build_styles_source,
)
from shared.domain.categories import ModelCategory
from shared.events.styles import StylesChanged
from shared.settings import ReferenceSettings
from shared.topics import partition_for

STYLES = Path(__file__).parents[2] / "fixtures" / "data" / "styles"


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[StylesChanged, int]] = []

    async def publish(self, event: StylesChanged, *, partition: int) -> None:
        self.sent.append((event, partition))


def _folder(tmp_path: Path) -> Path:
    for name in ("styles.json", "categories.json"):
        shutil.copyfile(STYLES / name, tmp_path / name)
        (tmp_path / name).chmod(0o644)
    return tmp_path


def _watcher(folder: Path) -> tuple[StylesWatcher, RecordingPublisher]:
    publisher = RecordingPublisher()
    watcher = StylesWatcher(
        FolderStylesSource(folder), publisher, ReferenceSettings(), partitions=4,
        clock=lambda: datetime(2026, 6, 17, tzinfo=UTC),
    )  # fmt: skip
    return watcher, publisher


async def test_styles_are_published_once_per_version_on_the_image_partition(tmp_path: Path) -> None:
    watcher, publisher = _watcher(_folder(tmp_path))
    event = await watcher.poll_once()
    assert event is not None
    assert len(event.styles) == 396
    assert await watcher.poll_once() is None
    assert [p for _, p in publisher.sent] == [partition_for(ModelCategory.IMAGE_GENERATION, 4)]
    shutil.copyfile(STYLES / "styles_after_batch_261.json", tmp_path / "styles.json")
    second = await watcher.poll_once()
    assert second is not None
    assert second.previous_version == event.version


async def test_a_restart_with_the_published_styles_publishes_nothing(tmp_path: Path) -> None:
    watcher, _ = _watcher(_folder(tmp_path))
    first = await watcher.poll_once()
    restarted, publisher = _watcher(tmp_path)
    restarted.published = first
    assert await restarted.poll_once() is None
    assert publisher.sent == []


@pytest.mark.parametrize(
    ("file", "content", "error"),
    [
        (
            "styles.json",
            b'{"broken": {"prompt": "{p}"}}',
            "styles.json: style 'broken' has no 'model' string",
        ),
        ("styles.json", b'{"truncated": {"model": "x"', "styles.json is not JSON"),
        ("categories.json", b'{"c": 3}', "categories.json: category 'c' must be a list of names"),
        ("styles.json", b"", "styles.json is empty"),
    ],
)
async def test_malformed_styles_are_rejected_and_the_previous_styles_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, file: str, content: bytes, error: str
) -> None:
    folder = _folder(tmp_path)
    watcher, publisher = _watcher(folder)
    good = await watcher.poll_once()
    (folder / file).write_bytes(content)
    with caplog.at_level(logging.ERROR):
        assert await watcher.poll_once() is None
    rejected = [r for r in caplog.records if r.getMessage().startswith("styles rejected")]
    assert len(rejected) == 1
    assert str(getattr(rejected[0], "error", "")).startswith(error)
    assert watcher.published == good
    assert len(publisher.sent) == 1


async def test_a_missing_file_keeps_the_previous_styles(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    watcher, _ = _watcher(folder)
    good = await watcher.poll_once()
    (folder / "categories.json").unlink()
    assert await watcher.poll_once() is None
    assert watcher.published == good


async def test_github_source_sends_the_etag_and_reuses_the_body_on_304() -> None:
    bodies = {"styles.json": (STYLES / "styles.json").read_bytes(), "categories.json": b'{"c": []}'}
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("If-None-Match"))
        name = request.url.path.rsplit("/", 1)[1]
        if request.headers.get("If-None-Match") == f'"{name}"':
            return httpx.Response(304)
        return httpx.Response(200, content=bodies[name], headers={"ETag": f'"{name}"'})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        source = GithubStylesSource(client, "https://raw.example/styles/main/", HttpPolicy(wait_seconds=0))
        first = await source.fetch()
        second = await source.fetch()
    assert first == second
    assert seen == [None, None, '"styles.json"', '"categories.json"']


def test_auto_styles_source_follows_the_reference_source() -> None:
    client = httpx.AsyncClient()
    assert isinstance(build_styles_source(ReferenceSettings(source="folder"), client), FolderStylesSource)
    assert isinstance(build_styles_source(ReferenceSettings(source="github"), client), GithubStylesSource)
    assert build_styles_source(ReferenceSettings(styles_source="off"), client) is None
