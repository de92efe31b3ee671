"""Backend spellings (§1.3), quantisation stripping (§2.3, extended) and Horde name normalisation."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.horde.spellings import (
    backend_spellings,
    normalize_horde_name,
    quantization_stems,
    split_user_tag,
    strip_quantization_suffix,
)


def test_backend_spellings_with_author_drop_it_for_koboldcpp_only() -> None:
    # Upstream §1.3 example (text_backend_names.py docstring, test_broken_tutu_grouping.py).
    assert backend_spellings("ReadyArt/Broken-Tutu-24B") == (
        ("canonical", "ReadyArt/Broken-Tutu-24B"),
        ("aphrodite", "aphrodite/ReadyArt/Broken-Tutu-24B"),
        ("koboldcpp", "koboldcpp/Broken-Tutu-24B"),
        ("koboldcpp", "koboldcpp/ReadyArt/Broken-Tutu-24B"),
    )


def test_d12_koboldcpp_with_the_full_canonical_name_is_a_spelling_of_the_model() -> None:
    # Real workers report `koboldcpp/PocketDoc/Dans-PersonalityEngine-V1.1.0-12b` (2025-06 text stats).
    assert ("koboldcpp", "koboldcpp/PocketDoc/Dans-PersonalityEngine-V1.1.0-12b") in backend_spellings(
        "PocketDoc/Dans-PersonalityEngine-V1.1.0-12b"
    )


def test_backend_spellings_without_author_are_three_distinct_names() -> None:
    assert backend_spellings("Lumimaid-v0.2-8B") == (
        ("canonical", "Lumimaid-v0.2-8B"),
        ("aphrodite", "aphrodite/Lumimaid-v0.2-8B"),
        ("koboldcpp", "koboldcpp/Lumimaid-v0.2-8B"),
    )


def test_backend_spellings_split_author_at_the_first_slash() -> None:
    assert backend_spellings("a/b/c")[2] == ("koboldcpp", "koboldcpp/b/c")


def test_backend_spellings_are_deduplicated() -> None:
    # A canonical name that already is a koboldcpp spelling yields it once, as canonical.
    assert backend_spellings("koboldcpp/X") == (
        ("canonical", "koboldcpp/X"),
        ("aphrodite", "aphrodite/koboldcpp/X"),
        ("koboldcpp", "koboldcpp/koboldcpp/X"),
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Upstream §2.3 oracles.
        ("Lumimaid-v0.2-8B-Q8_0", "Lumimaid-v0.2-8B"),
        ("koboldcpp/Lumimaid-v0.2-8B-Q4_K_M", "koboldcpp/Lumimaid-v0.2-8B"),
        ("Model_Q5_K_S", "Model"),
        ("Model-Q4", "Model"),
        ("Model-GPTQ", "Model"),
        ("Model-fp16", "Model"),
        ("Model-q6_k", "Model"),
        # Extension: a format token after a quant goes too (upstream keeps `X-Q4_K_M`; D40 spirit).
        ("X-Q4_K_M-GGUF", "X"),
        ("koboldcpp/xwin-lm-13b-v0.1.Q8_0.gguf", "koboldcpp/xwin-lm-13b-v0.1"),
        # Extension: `.` separates (GGUF file names, the synthetic `L3-8B-Lunaris-v1.Q5_K_M`).
        ("koboldcpp/L3-8B-Lunaris-v1.Q5_K_M", "koboldcpp/L3-8B-Lunaris-v1"),
        # Extension: i-quants and imatrix markers seen in the real and synthetic captures.
        ("koboldcpp/magnum-v4-9b.i1-Q4_K_S", "koboldcpp/magnum-v4-9b"),
        ("koboldcpp/EVA-Instruct-32B-IQ4_XS", "koboldcpp/EVA-Instruct-32B"),
        ("koboldcpp/Fimbulvetr-11B-v2-Q4_K_M-imat", "koboldcpp/Fimbulvetr-11B-v2"),
        ("X-UD-Q4_K_XL", "X-UD"),
    ],
)
def test_strip_quantization_suffix(name: str, expected: str) -> None:
    assert strip_quantization_suffix(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "Q4_K_M",  # no separator before the token
        "koboldcpp/Q4_K_M",  # `/` is not a quant separator
        "Lumimaid-v0.2-8B",
        "Q3.5-BlueStar-27B",
        "Model-Q9",  # not a quant level
        "lizpreciatior/lzlv_70b_fp16_hf",  # token not at the end
    ],
)
def test_strip_quantization_suffix_leaves_other_names(name: str) -> None:
    assert strip_quantization_suffix(name) == name


def test_quantization_stems_go_one_token_at_a_time() -> None:
    assert quantization_stems("X.i1-Q4_K_S") == ("X.i1", "X")
    assert quantization_stems("X-Q4_K_M-GGUF") == ("X-Q4_K_M", "X")
    assert quantization_stems("X") == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Real names from horde_api/stats_models_text.json.
        ("koboldcpp/\nmagnum-12b-v2 ", "koboldcpp/magnum-12b-v2"),
        ("koboldcpp/LLaMA2-13B-Tiefighter\t", "koboldcpp/llama2-13b-tiefighter"),
        ("koboldcpp/\nSao10K\n/\nFimbulvetr-11B-v2", "koboldcpp/sao10k/fimbulvetr-11b-v2"),
        ("koboldcpp/ \tGryphe/MythoMax-L2-13b", "koboldcpp/gryphe/mythomax-l2-13b"),
        ("koboldcpp//\nMidnight-Miqu-70B-v1.0.i1-Q2_K", "koboldcpp/midnight-miqu-70b-v1.0.i1-q2_k"),
        (" aphrodite/goliath-120b-gptq", "aphrodite/goliath-120b-gptq"),
        ("jondurbin\n/airoboros-13b", "jondurbin/airoboros-13b"),
        (
            "koboldcpp/Mistral-Nemo-12B-Instruct [Make sure to use token streaming]\n\n",
            "koboldcpp/mistral-nemo-12b-instruct [make sure to use token streaming]",
        ),
        # Kept: inner spaces (image names) and backslashes (a Windows path is not a spelling).
        ("Anything v5", "anything v5"),
        ("koboldcpp/koboldcpp\\silicon-maid-7b", "koboldcpp/koboldcpp\\silicon-maid-7b"),
        ("koboldcpp/airoboros-l2-13b-gpt4-m2.0  Q5_k_M", "koboldcpp/airoboros-l2-13b-gpt4-m2.0  q5_k_m"),
        # The real empty image-stats name stays empty and matches nothing.
        ("", ""),
        (" \n\t", ""),
    ],
)
def test_normalize_horde_name_on_real_odd_names(raw: str, expected: str) -> None:
    assert normalize_horde_name(raw) == expected


def _reference_normalize(name: str) -> str:
    """The slow, obviously correct definition the fast path must agree with."""
    cleaned = re.sub(r"[\n\r\t\v\f]+", "", name)
    cleaned = re.sub(r"\s*/+\s*", "/", cleaned)
    return cleaned.strip().lower()


@given(st.text(alphabet=st.sampled_from(list("aB/ -_.\n\t\r\u00a0\u3000Q4kM:#")), max_size=24))
def test_normalize_fast_path_agrees_with_definition(name: str) -> None:
    assert normalize_horde_name(name) == _reference_normalize(name)


@given(st.text(max_size=30))
def test_normalize_is_idempotent(name: str) -> None:
    once = normalize_horde_name(name)
    assert normalize_horde_name(once) == once


def test_split_user_tag() -> None:
    # AI Horde's is_known_text_model reads `X::user#id` as the known model X.
    assert split_user_tag("koboldcpp/eva-instruct-32b::mossy#132761") == "koboldcpp/eva-instruct-32b"
    assert split_user_tag("koboldcpp/eva-instruct-32b") is None
    assert split_user_tag("::nobody#1") is None


_PIECES = ["Model", "-", "_", ".", "Q4_K_M", "q8_0", "IQ4_XS", "i1", "GGUF", "fp16", "7B", "x", "L"]


@given(st.lists(st.sampled_from(_PIECES), max_size=8).map("".join))
def test_strip_fast_paths_agree_with_the_plain_anchored_pattern(name: str) -> None:
    from shared.domain.horde.spellings import _TRAILING_TOKEN

    expected = name
    while (shorter := _TRAILING_TOKEN.sub("", expected, count=1)) != expected:
        expected = shorter
    assert strip_quantization_suffix(name) == expected
