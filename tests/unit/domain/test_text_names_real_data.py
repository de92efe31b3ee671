"""The parser and grouping on the real text reference and a real Horde text stats capture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.domain.text_names import (
    get_base_model_name,
    group_key,
    group_text_models_by_base,
    parse_text_model_name,
)

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data"


def _load(relative: str) -> Any:
    return json.loads((DATA / relative).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def canonical_names() -> list[str]:
    return list(_load("reference/v2/text_generation.json"))


def test_every_legacy_reference_name_parses() -> None:
    names = list(_load("reference/text/db.json"))
    assert len(names) == 2157
    for name in names:
        parsed = parse_text_model_name(name)
        assert parsed.base_name
        assert group_key(name)


def test_every_horde_stats_key_parses() -> None:
    stats = _load("horde_api/stats_models_text.json")
    keys = set(stats["day"]) | set(stats["month"]) | set(stats["total"])
    assert len(keys) == 8103
    for name in keys:
        parse_text_model_name(name)
        get_base_model_name(name)


def test_canonical_names_fall_into_418_groups(canonical_names: list[str]) -> None:
    assert len(canonical_names) == 719
    assert len({group_key(n) for n in canonical_names}) == 418
    # 419 distinct base names: `OPT-Nerys` and `OPT-nerys` differ only in case and share a group.
    assert len({get_base_model_name(n) for n in canonical_names}) == 419
    groups = group_text_models_by_base(canonical_names)
    assert len(groups) == 418
    assert groups["OPT-Nerys"].variants == (
        "KoboldAI/OPT-13B-Nerys-v2",
        "KoboldAI/OPT-2.7B-Nerys-v2",
        "KoboldAI/OPT-350M-Nerys-v2",
        "KoboldAI/OPT-6B-nerys-v2",
    )
    assert groups["Qwen1.5"].key == "qwen1-5"
    assert len(groups["Qwen1.5"].variants) == 16


@pytest.mark.parametrize(
    ("name", "base", "size", "quants"),
    [
        ("SicariusSicariiStuff/Angelic_Eclipse_12B", "Angelic_Eclipse", "12B", ()),
        ("Black-Ink-Guild/Pernicious_Prophecy_70B", "Pernicious_Prophecy", "70B", ()),
        ("NeverSleep/Lumimaid-v0.2-8B", "Lumimaid", "8B", ()),
        ("xxx777xxxASD/L3_SnowStorm_4x8B", "L3_SnowStorm", "4X8B", ()),
        ("lizpreciatior/lzlv_70b_fp16_hf", "lzlv_hf", "70B", ("FP16",)),  # D40: `_fp16_` is a quant
        ("koboldcpp/LLaMA2-13B-Tiefighter.Q5_K_M.gguf", "LLaMA2-Tiefighter", "13B", ("Q5_K_M", "GGUF")),
    ],
)
def test_spot_checks(name: str, base: str, size: str, quants: tuple[str, ...]) -> None:
    parsed = parse_text_model_name(name)
    assert get_base_model_name(name) == base
    assert parsed.size == size
    assert parsed.quants == quants
