"""v2 record parsing on the real (upstream-converted) files, and its validation rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.reference.v2 import parse_v2
from shared.domain.reference.validation import ReferenceFormatError

DATA = Path(__file__).parents[2] / "fixtures" / "data" / "reference" / "v2"
TEXT = ModelCategory.TEXT_GENERATION


@pytest.mark.parametrize(
    ("file_name", "category", "count"),
    [
        ("stable_diffusion.json", ModelCategory.IMAGE_GENERATION, 161),
        ("text_generation.json", TEXT, 719),
        ("controlnet.json", ModelCategory.CONTROLNET, 18),
        ("esrgan.json", ModelCategory.ESRGAN, 6),
        ("blip.json", ModelCategory.BLIP, 2),
        ("clip.json", ModelCategory.CLIP, 2),
        ("codeformer.json", ModelCategory.CODEFORMER, 1),
        ("gfpgan.json", ModelCategory.GFPGAN, 1),
        ("safety_checker.json", ModelCategory.SAFETY_CHECKER, 1),
        ("miscellaneous.json", ModelCategory.MISCELLANEOUS, 2),
    ],
)
def test_real_v2_files(file_name: str, category: ModelCategory, count: int) -> None:
    raw = json.loads((DATA / file_name).read_text())
    snapshot = parse_v2(category, (DATA / file_name).read_bytes(), version="v")
    assert len(snapshot.records) == count
    assert snapshot.rejections == ()
    assert snapshot.names() == list(raw)
    assert all(r.category is category for r in snapshot.records)


def test_text_parameters_are_read_from_the_parameters_key() -> None:  # D3
    snapshot = parse_v2(TEXT, (DATA / "text_generation.json").read_bytes(), version="v")
    assert all(r.parameters_count for r in snapshot.records)
    records = {r.name: r for r in snapshot.records}
    assert records["acrastt/Marx-3B-V3"].parameters_count == 3_000_000_000
    assert records["acrastt/Marx-3B-V3"].text_model_group == "Marx"


def test_parameters_count_key_is_a_fallback_only() -> None:  # D3
    snapshot = parse_v2(
        TEXT, {"A": {"parameters_count": 5}, "B": {"parameters": 7, "parameters_count": 5}}, version="v"
    )
    assert [r.parameters_count for r in snapshot.records] == [5, 7]


def test_text_url_is_the_download_location_when_config_has_none() -> None:
    payload: dict[str, Any] = {
        "A": {"config": {"download": []}, "url": "https://huggingface.co/org/A"},
        "B": {
            "config": {"download": [{"file_url": "https://cdn/x.gguf"}]},
            "url": "https://huggingface.co/org/B",
        },
        "C": {"url": ""},
    }
    records = parse_v2(TEXT, payload, version="v").records
    assert [[d.file_url for d in r.downloads] for r in records] == [
        ["https://huggingface.co/org/A"],
        ["https://cdn/x.gguf"],
        [],
    ]


def test_url_is_not_a_download_outside_text() -> None:
    snapshot = parse_v2(ModelCategory.CONTROLNET, {"A": {"url": "https://x/y"}}, version="v")
    assert snapshot.records[0].downloads == ()


def test_fields_of_a_real_image_record() -> None:
    records = {
        r.name: r
        for r in parse_v2(
            ModelCategory.IMAGE_GENERATION, (DATA / "stable_diffusion.json").read_bytes(), version="v"
        ).records
    }
    sd21 = records["stable_diffusion_2.1"]
    assert sd21.baseline == "stable_diffusion_2_768"
    assert sd21.size_on_disk_bytes == 5214865159
    assert sd21.downloads[0].file_name == "model_2_1.ckpt"


def test_record_type_of_another_category_is_rejected() -> None:  # D6
    snapshot = parse_v2(
        ModelCategory.CLIP, {"A": {"record_type": "blip"}, "B": {"record_type": "clip"}}, version="v"
    )
    assert snapshot.names() == ["B"]
    assert [(r.model, r.field) for r in snapshot.rejections] == [("A", "record_type")]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"nsfw": False}, "baseline"),
        ({"baseline": "flux_1", "nsfw": "yes"}, "nsfw"),
        ({"baseline": "flux_1", "nsfw": False, "size_on_disk_bytes": -5}, "size_on_disk_bytes"),
        (
            {"baseline": "flux_1", "nsfw": False, "config": {"download": [{"size_bytes": -1}]}},
            "config.download[0].size_bytes",
        ),
    ],
)
def test_invalid_image_record_is_rejected(record: dict[str, Any], field: str) -> None:  # D6, D46
    snapshot = parse_v2(ModelCategory.IMAGE_GENERATION, {"Bad": record}, version="v")
    assert snapshot.records == ()
    assert [(r.model, r.field) for r in snapshot.rejections] == [("Bad", field)]


def test_non_image_records_need_no_baseline_or_nsfw() -> None:
    snapshot = parse_v2(TEXT, {"A": {}}, version="v")
    assert snapshot.records[0].baseline is None
    assert snapshot.records[0].nsfw is False


@pytest.mark.parametrize("category", list(ModelCategory))
def test_every_category_accepts_an_empty_object(category: ModelCategory) -> None:
    snapshot = parse_v2(category, b"{}", version="v")
    assert (snapshot.records, snapshot.rejections, snapshot.category) == ((), (), category)


@pytest.mark.parametrize("payload", [b"", b"[]", b"[{}]", b"null", b'{"A": {"name": "A"', "3.5"])
def test_unusable_v2_payload_raises(payload: bytes | str) -> None:
    with pytest.raises(ReferenceFormatError):
        parse_v2(TEXT, payload, version="v")
