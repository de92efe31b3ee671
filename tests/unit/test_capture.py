"""Capture folders for ``make run OFFLINE=1 DATA=<folder>``: checked at start-up, errors name the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from devtools.devstack.capture import CaptureError, load_capture
from devtools.devstack.stack import main as stack_main
from devtools.devstack.stack import offline_reference, service_env, standin_env
from devtools.horde_standin import Scenario, create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "captures"


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    folder = tmp_path / "capture"
    shutil.copytree(EXAMPLES / "2024-06", folder)
    return folder


def test_the_shipped_examples_are_valid_captures() -> None:
    first = load_capture(EXAMPLES / "2024-06")
    assert len(first.references) == 1
    assert first.status["image"] is not None
    assert first.workers is None  # marked not recorded
    second = load_capture(EXAMPLES / "2025-06")
    assert second.text_source == "models.csv"
    assert second.stats["text"] is not None
    assert len(second.stats["text"].month) == 8103


def test_a_missing_answer_is_an_error_naming_the_file(capture: Path) -> None:
    (capture / "horde_api" / "status_models_image.json").unlink()
    with pytest.raises(CaptureError, match=r"status_models_image\.json: missing"):
        load_capture(capture)


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("horde_api/status_models_image.json", b"[{", "not valid JSON"),
        ("horde_api/status_models_image.json", b'[{"name": "x"}]', "not a valid AI Horde answer"),
        ("horde_api/stats_models_image.json", b"\xff\xfe", "not valid JSON"),
        ("reference/image/stable_diffusion.json", b"{", "unusable reference file"),
    ],
)
def test_an_unreadable_file_is_an_error_naming_it(
    capture: Path, relative: str, content: bytes, message: str
) -> None:
    (capture / relative).write_bytes(content)
    with pytest.raises(CaptureError) as caught:
        load_capture(capture)
    assert str(capture / relative) in str(caught.value)
    assert message in str(caught.value)


def test_a_capture_without_reference_is_an_error(capture: Path) -> None:
    shutil.rmtree(capture / "reference")
    with pytest.raises(CaptureError, match="reference"):
        load_capture(capture)


def test_make_run_with_a_broken_capture_stops_before_starting_anything(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (capture / "horde_api" / "workers.not-recorded").unlink()
    assert stack_main(["--data", str(capture)]) == 2
    assert "workers.json: missing" in capsys.readouterr().err


def test_one_folder_feeds_the_watcher_and_the_stand_in(capture: Path) -> None:
    env = service_env(
        bootstrap="b", redis_url="r", embedded_broker=False, horde_url="h", offline=True, data=capture
    )
    assert env["HORDE_REFERENCE__FOLDER"] == str(capture / "reference")
    assert standin_env(capture) == {
        "HORDE_STANDIN__REFERENCE_DIR": str(capture / "reference"),
        "HORDE_STANDIN__DATA_DIR": str(capture / "horde_api"),
    }


def test_offline_without_data_keeps_a_reference_folder_set_by_the_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HORDE_REFERENCE__FOLDER", "/my/reference")
    assert offline_reference(None) == Path("/my/reference")
    assert standin_env(None)["HORDE_STANDIN__REFERENCE_DIR"] == "/my/reference"


async def test_the_stand_in_answers_404_for_an_answer_not_recorded(capture: Path) -> None:
    app = create_app(Scenario.from_dir(capture / "horde_api"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://standin") as client:
        workers = await client.get("/api/v2/workers", params={"type": "image"})
        status = await client.get("/api/v2/status/models", params={"type": "image"})
    assert workers.status_code == 404
    assert workers.json()["rc"] == "NotRecorded"
    assert status.status_code == 200
    assert len(status.json()) == 189


STYLES = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "styles"


def test_a_capture_without_styles_runs_without_any(capture: Path) -> None:
    """Never another day's styles: no ``styles/`` folder means no styles (no style impact)."""
    loaded = load_capture(capture)
    assert loaded.styles is None
    assert loaded.styles_env() == {"HORDE_REFERENCE__STYLES_SOURCE": "off"}


def test_a_capture_with_styles_serves_them_and_the_domain_uses_them(capture: Path) -> None:
    (capture / "styles").mkdir()
    for name in ("styles.json", "categories.json"):
        shutil.copy(STYLES / name, capture / "styles" / name)
    loaded = load_capture(capture)
    assert loaded.styles is not None
    assert loaded.styles_env() == {
        "HORDE_REFERENCE__STYLES_SOURCE": "folder",
        "HORDE_REFERENCE__STYLES_FOLDER": str(capture / "styles"),
    }


@pytest.mark.parametrize(
    ("styles", "message"), [(None, r"categories\.json: missing"), (b"[", "unusable styles")]
)
def test_bad_capture_styles_are_an_error_naming_the_file(
    capture: Path, styles: bytes | None, message: str
) -> None:
    (capture / "styles").mkdir()
    (capture / "styles" / "styles.json").write_bytes(styles if styles is not None else b"{}")
    if styles is not None:
        shutil.copy(STYLES / "categories.json", capture / "styles" / "categories.json")
    with pytest.raises(CaptureError, match=message):
        load_capture(capture)
