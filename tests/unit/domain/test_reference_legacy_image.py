"""Legacy image reference parsing, on the real files and on malformed records derived from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.reference.legacy_image import LEGACY_IMAGE_FILES, parse_legacy_image
from shared.domain.reference.records import ReferenceSnapshot
from shared.domain.reference.v2 import normalise_image_baseline
from shared.domain.reference.validation import ReferenceFormatError

DATA = Path(__file__).parents[2] / "fixtures" / "data" / "reference"
IMAGE = ModelCategory.IMAGE_GENERATION


def _parse(path: str, category: ModelCategory = IMAGE) -> ReferenceSnapshot:
    return parse_legacy_image(category, (DATA / path).read_bytes(), version="test")


def _valid_image(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"name": "M", "baseline": "stable diffusion 1", "nsfw": False}
    record.update(fields)
    return record


@pytest.mark.parametrize(
    ("path", "count"),
    [
        ("image/stable_diffusion.json", 161),
        ("previous/image/stable_diffusion.json", 160),
        ("at_capture/2023-07/image/stable_diffusion.json", 228),
        ("at_capture/2024-06/image/stable_diffusion.json", 189),
    ],
)
def test_real_image_files_parse_completely(path: str, count: int) -> None:
    snapshot = _parse(path)
    assert len(snapshot.records) == count
    assert snapshot.rejections == ()


def test_record_order_is_file_order() -> None:
    raw = json.loads((DATA / "image/stable_diffusion.json").read_text())
    assert _parse("image/stable_diffusion.json").names() == list(raw)


def test_previous_to_current_difference_matches_readme() -> None:
    current = set(_parse("image/stable_diffusion.json").names())
    previous = set(_parse("previous/image/stable_diffusion.json").names())
    assert current - previous == {
        "Nova Flat XL",
        "Nova Furry XL",
        "PerfectDeliberate",
        "Rag Illustrious Mix",
        "Ri-Mix",
    }
    assert previous - current == {"Anime Illust Diffusion XL", "ChilloutMix", "Dark Sushi Mix", "Furry Epoch"}


@pytest.mark.parametrize(
    ("legacy", "v2"),
    [
        ("stable diffusion 1", "stable_diffusion_1"),
        ("stable diffusion 2", "stable_diffusion_2_768"),
        ("stable diffusion 2 512", "stable_diffusion_2_512"),
        ("stable_diffusion_xl", "stable_diffusion_xl"),
        ("flux_1", "flux_1"),
        ("some_future_baseline", "some_future_baseline"),
    ],
)
def test_baselines_are_normalised_like_the_v2_converter(legacy: str, v2: str) -> None:
    assert normalise_image_baseline(legacy) == v2


def test_real_baselines_after_normalisation() -> None:
    baselines = {r.baseline for r in _parse("image/stable_diffusion.json").records}
    assert baselines == {
        "stable_diffusion_1",
        "stable_diffusion_xl",
        "stable_diffusion_2_768",
        "stable_cascade",
        "flux_1",
    }
    old = {r.baseline for r in _parse("at_capture/2023-07/image/stable_diffusion.json").records}
    assert "stable_diffusion_2_512" in old


def test_fields_of_a_real_model() -> None:
    records = {r.name: r for r in _parse("image/stable_diffusion.json").records}
    sd21 = records["stable_diffusion_2.1"]
    assert sd21.baseline == "stable_diffusion_2_768"
    assert sd21.nsfw is False
    assert sd21.style == "generalist"
    assert sd21.version == "2.1"
    assert sd21.size_on_disk_bytes == 5214865159
    assert [d.file_url for d in sd21.downloads] == [
        "https://huggingface.co/mirroring/horde_models/resolve/main/model_2_1.ckpt?download=true"
    ]
    assert sd21.downloads[0].file_name == "model_2_1.ckpt"
    assert len(sd21.showcases) == 2
    assert sd21.has_requirements is False
    assert sd21.raw["type"] == "ckpt"  # unknown-to-us fields stay available


def test_flags_from_real_data() -> None:
    records = _parse("image/stable_diffusion.json").records
    assert sum(r.nsfw for r in records) == 82
    assert sum(bool(r.trigger) for r in records) == 24
    assert sum(r.has_requirements for r in records) == 29
    assert sum(r.inpainting for r in records) == 8
    assert sum(r.size_on_disk_bytes is None for r in records) == 1


@pytest.mark.parametrize(
    ("category", "count"),
    [
        (ModelCategory.CONTROLNET, 18),
        (ModelCategory.ESRGAN, 6),
        (ModelCategory.BLIP, 2),
        (ModelCategory.CLIP, 2),
        (ModelCategory.CODEFORMER, 1),
        (ModelCategory.GFPGAN, 1),
        (ModelCategory.SAFETY_CHECKER, 1),
        (ModelCategory.MISCELLANEOUS, 2),
        (ModelCategory.LORA, 0),
    ],
)
def test_real_auxiliary_category_files(category: ModelCategory, count: int) -> None:
    snapshot = _parse(f"image/{LEGACY_IMAGE_FILES[category]}", category)
    assert len(snapshot.records) == count
    assert snapshot.rejections == ()


def test_auxiliary_categories_keep_only_their_v2_fields() -> None:
    """The v2 converter drops style/nsfw/baseline outside image generation; so do we."""
    controlnet = _parse("image/controlnet.json", ModelCategory.CONTROLNET).records[0]
    assert controlnet.style is None
    assert controlnet.raw["style"] == "control_canny"
    misc = _parse("image/miscellaneous.json", ModelCategory.MISCELLANEOUS).records[0]
    assert misc.baseline is None


@pytest.mark.parametrize("path", ["image/db.json", "image/models.json", "image/diffusers.json"])
def test_empty_objects_are_valid_and_empty(path: str) -> None:
    snapshot = _parse(path, ModelCategory.MISCELLANEOUS)
    assert snapshot.records == ()
    assert snapshot.rejections == ()


def test_list_payload_names_records_by_their_name_field() -> None:
    payload = [{"name": "a-lora", "nsfw": True}, {"nsfw": False}, "junk"]
    snapshot = parse_legacy_image(ModelCategory.LORA, payload, version="v")
    assert snapshot.names() == ["a-lora"]
    assert snapshot.records[0].nsfw is True
    assert [(r.model, r.field) for r in snapshot.rejections] == [
        ("<unnamed record #1>", "name"),
        ("<unnamed record #2>", "name"),
    ]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"name": "M", "nsfw": False}, "baseline"),
        (_valid_image(baseline=""), "baseline"),
        (_valid_image(baseline=1), "baseline"),
        (_valid_image(nsfw="yes"), "nsfw"),
        ({"name": "M", "baseline": "flux_1"}, "nsfw"),
        (_valid_image(size_on_disk_bytes=-1), "size_on_disk_bytes"),
        (_valid_image(size_on_disk_bytes="5GB"), "size_on_disk_bytes"),
        (_valid_image(size_on_disk_bytes=1.5), "size_on_disk_bytes"),
        (_valid_image(size_on_disk_bytes=True), "size_on_disk_bytes"),
        (_valid_image(tags="anime"), "tags"),
        (_valid_image(tags=["anime", 3]), "tags"),
        (_valid_image(trigger="word"), "trigger"),
        (_valid_image(showcases={"a": 1}), "showcases"),
        (_valid_image(requirements=["clip_skip"]), "requirements"),
        (_valid_image(inpainting="no"), "inpainting"),
        (_valid_image(style=["anime"]), "style"),
        (_valid_image(config=[]), "config"),
        (_valid_image(config={"download": {"file_url": "x"}}), "config.download"),
        (_valid_image(config={"download": ["https://x"]}), "config.download[0]"),
        (_valid_image(config={"download": [{"file_url": 5}]}), "config.download[0].file_url"),
    ],
)
def test_invalid_record_is_rejected_naming_model_and_field(
    record: dict[str, Any], field: str
) -> None:  # D6, D46
    payload = {"Good": _valid_image(name="Good"), "M": record}
    snapshot = parse_legacy_image(IMAGE, payload, version="v")
    assert snapshot.names() == ["Good"]
    assert len(snapshot.rejections) == 1
    rejection = snapshot.rejections[0]
    assert (rejection.category, rejection.model, rejection.field) == (IMAGE, "M", field)
    assert field in str(rejection)


@pytest.mark.parametrize("value", [5, "text", None, ["list"]])
def test_non_object_record_is_rejected(value: object) -> None:  # D6
    snapshot = parse_legacy_image(IMAGE, {"Bad": value, "Good": _valid_image()}, version="v")
    assert snapshot.names() == ["Good"]
    assert [(r.model, r.field) for r in snapshot.rejections] == [("Bad", "(record)")]


def test_blank_name_is_rejected() -> None:
    snapshot = parse_legacy_image(IMAGE, {" ": _valid_image()}, version="v")
    assert snapshot.records == ()
    assert snapshot.rejections[0].field == "name"


def test_unknown_fields_and_nulls_are_tolerated() -> None:
    record = _valid_image(tags=None, trigger=None, showcases=None, requirements=None, size_on_disk_bytes=None)
    record["brand_new_field"] = {"anything": [1, 2]}
    snapshot = parse_legacy_image(IMAGE, {"M": record}, version="v")
    assert snapshot.rejections == ()
    assert snapshot.records[0].tags == ()


def test_key_is_the_model_name() -> None:
    snapshot = parse_legacy_image(IMAGE, {"Key": _valid_image(name="Other")}, version="v")
    assert snapshot.names() == ["Key"]


@pytest.mark.parametrize("payload", [b"", "   ", b'{"a": {"name": ', "null", "42", '"text"', b"\xff\xfe"])
def test_unusable_payload_raises(payload: str | bytes) -> None:
    with pytest.raises(ReferenceFormatError):
        parse_legacy_image(IMAGE, payload, version="v")


def test_truncated_real_file_raises() -> None:
    data = (DATA / "image/stable_diffusion.json").read_bytes()
    with pytest.raises(ReferenceFormatError, match="not valid JSON"):
        parse_legacy_image(IMAGE, data[: len(data) // 2], version="v")


def test_category_without_legacy_file_is_refused() -> None:
    with pytest.raises(ValueError, match="no legacy image format"):
        parse_legacy_image(ModelCategory.VIDEO_GENERATION, {}, version="v")
