"""The common entry point, the version label, and agreement between formats of the same data."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.reference.parse import V2_FILES, parse_reference, reference_version
from shared.domain.reference.records import ReferenceRecord
from shared.domain.reference.validation import ReferenceFormatError

DATA = Path(__file__).parents[2] / "fixtures" / "data" / "reference"
IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION
AUXILIARY = [
    "blip",
    "clip",
    "codeformer",
    "controlnet",
    "esrgan",
    "gfpgan",
    "miscellaneous",
    "safety_checker",
]


def _records(category: ModelCategory, path: str, fmt: str) -> list[ReferenceRecord]:
    snapshot = parse_reference(category, (DATA / path).read_bytes(), format=fmt, version="v")  # type: ignore[arg-type]
    return list(snapshot.records)


def test_dispatch_and_version_label() -> None:
    payload = (DATA / "image/stable_diffusion.json").read_bytes()
    snapshot = parse_reference(IMAGE, payload, format="legacy", version=reference_version(payload))
    assert snapshot.category is IMAGE
    assert snapshot.version.startswith("sha256:")
    assert len(snapshot.records) == 161


def test_reference_version_is_a_content_hash() -> None:
    assert reference_version(b"{}") == reference_version(b"{}")
    assert reference_version(b"{}") != reference_version(b"{ }")


def test_v2_file_names() -> None:
    assert V2_FILES[IMAGE] == "stable_diffusion.json"
    assert V2_FILES[TEXT] == "text_generation.json"
    assert len(V2_FILES) == 15


@pytest.mark.parametrize(
    ("category", "fmt"),
    [
        (IMAGE, "csv"),
        (ModelCategory.VIDEO_GENERATION, "legacy"),
        (ModelCategory.AUDIO_GENERATION, "legacy"),
        (ModelCategory.CONTROLNET_ANNOTATOR, "legacy"),
    ],
)
def test_format_that_does_not_exist_for_the_category(category: ModelCategory, fmt: str) -> None:
    with pytest.raises(ReferenceFormatError):
        parse_reference(category, b"{}", format=fmt, version="v")  # type: ignore[arg-type]


def test_csv_must_be_text() -> None:
    with pytest.raises(ReferenceFormatError):
        parse_reference(TEXT, {"name": "x"}, format="csv", version="v")


def test_legacy_and_v2_image_records_are_identical() -> None:
    """v2 was produced from these legacy files; parsing either must give the same records."""
    legacy = _records(IMAGE, "image/stable_diffusion.json", "legacy")
    v2 = _records(IMAGE, "v2/stable_diffusion.json", "v2")
    assert [r.model_dump() for r in legacy] == [r.model_dump() for r in v2]


@pytest.mark.parametrize("name", AUXILIARY)
def test_legacy_and_v2_auxiliary_records_are_identical(name: str) -> None:
    category = ModelCategory(name)
    legacy = _records(category, f"image/{name}.json", "legacy")
    v2 = _records(category, f"v2/{name}.json", "v2")
    assert [r.model_dump() for r in legacy] == [r.model_dump() for r in v2]


def test_spot_check_image_models_by_hand() -> None:
    legacy = {r.name: r for r in _records(IMAGE, "image/stable_diffusion.json", "legacy")}
    v2 = {r.name: r for r in _records(IMAGE, "v2/stable_diffusion.json", "v2")}
    for name in ("stable_diffusion_2.1", "Nova Anime XL", "Deliberate", "Flux.1-Schnell fp8 (Compact)"):
        a, b = legacy[name], v2[name]
        assert (a.baseline, a.nsfw, a.style, a.size_on_disk_bytes, a.downloads) == (
            b.baseline,
            b.nsfw,
            b.style,
            b.size_on_disk_bytes,
            b.downloads,
        )
    assert legacy["Flux.1-Schnell fp8 (Compact)"].baseline == "flux_1"


def test_csv_and_v2_text_agree_except_the_group_v2_adds() -> None:
    """v2 text was converted from models.csv; only ``text_model_group`` is computed by the converter."""
    csv = _records(TEXT, "text/models.csv", "csv")
    v2 = _records(TEXT, "v2/text_generation.json", "v2")
    assert [r.model_dump(exclude={"text_model_group"}) for r in csv] == [
        r.model_dump(exclude={"text_model_group"}) for r in v2
    ]
    assert all(r.text_model_group is None for r in csv)


def test_db_json_and_v2_text_agree_on_key_fields() -> None:
    """db.json adds size/style tags and a default style and version; the analytic keys agree."""
    db = _records(TEXT, "text/db.json", "legacy")
    v2 = _records(TEXT, "v2/text_generation.json", "v2")
    keys = {"name", "baseline", "nsfw", "parameters_count", "description", "downloads", "size_on_disk_bytes"}
    assert [r.model_dump(include=keys) for r in db] == [r.model_dump(include=keys) for r in v2]
    db_by_name = {r.name: r for r in db}
    assert db_by_name["acrastt/Marx-3B-V3"].tags == ("3B",)
