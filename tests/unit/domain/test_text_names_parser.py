"""Parser rows of spec §4.14, amended where we fix D39 (date position) and D40 (`_`, every quant)."""

from __future__ import annotations

import pytest

from shared.domain.text_names import ExtraPartType, ParsedTextModelName, parse_text_model_name

DATE = ExtraPartType.DATE
LEAD = ExtraPartType.LEADING_VERSION

Extra = tuple[str, int, ExtraPartType]

# (input, base_name, size, variant, quant, version, extras as (value, position, type))
ROWS: list[tuple[str, str, str | None, str | None, str | None, str | None, tuple[Extra, ...]]] = [
    ("Llama-3", "Llama-3", None, None, None, None, ()),  # 1
    ("Llama-3-8B", "Llama-3", "8B", None, None, None, ()),  # 2
    ("Llama-3-8B-Instruct-Q4_K_M", "Llama-3", "8B", "Instruct", "Q4_K_M", None, ()),  # 3
    ("Mistral-7B-v0.1", "Mistral", "7B", None, None, "v0.1", ()),  # 4
    ("Mixtral-8x7B-Instruct-v0.1", "Mixtral", "8X7B", "Instruct", None, "v0.1", ()),  # 5
    ("Phi-3-Mini-4K-Instruct", "Phi-3-Mini", "4K", "Instruct", None, None, ()),  # 6
    ("Vicuna-13B-Chat", "Vicuna", "13B", "Chat", None, None, ()),  # 7
    ("Llama-3-8B-Instruct-GGUF", "Llama-3", "8B", "Instruct", "GGUF", None, ()),  # 8
    ("Llama-2-13B-GPTQ", "Llama-2", "13B", None, "GPTQ", None, ()),  # 9
    ("Mistral-7B-Instruct-AWQ", "Mistral", "7B", "Instruct", "AWQ", None, ()),  # 10
    ("Llama-3-8B-fp16", "Llama-3", "8B", None, "FP16", None, ()),  # 11
    ("Llama-2-7B-Uncensored", "Llama-2", "7B", "Uncensored", None, None, ()),  # 12
    ("Qwen-1.5B-Chat", "Qwen", "1.5B", "Chat", None, None, ()),  # 13
    ("Lumimaid-v0.2-8B-Q8_0", "Lumimaid", "8B", None, "Q8_0", "v0.2", ()),  # 14
    ("Mistral-7B-Q5_1", "Mistral", "7B", None, "Q5_1", None, ()),  # 15
    ("bloomz-7b1", "bloomz", "7B1", None, None, None, ()),  # 16
    ("Angelic_Eclipse_12B", "Angelic_Eclipse", "12B", None, None, None, ()),  # 17
    ("Behemoth-X-123B-v2.1", "Behemoth-X", "123B", None, None, "v2.1", ()),  # 18
    ("Captain-Eris_Violet-V0.420-12B", "Captain-Eris_Violet", "12B", None, None, "V0.420", ()),  # 19
    ("Llama-2-7B-Instruct", "Llama-2", "7B", "Instruct", None, None, ()),  # 20
    # 21: D39 — position counted in the original name: 4 separators precede `2512` (upstream said 2).
    ("Devstral-2-123B-Instruct-2512", "Devstral-2", "123B", "Instruct", None, None, (("2512", 4, DATE),)),
    ("c4ai-command-r-08-2024", "c4ai-command-r", None, None, None, None, (("08-2024", 3, DATE),)),  # 22
    ("SomeModel-2024-08", "SomeModel", None, None, None, None, (("2024-08", 1, DATE),)),  # 23
    ("2.0-SomeModel-7B", "SomeModel", "7B", None, None, None, (("2.0", 0, LEAD),)),  # 24
    ("Mistral-Large-Instruct-2407", "Mistral-Large", None, "Instruct", None, None, (("2407", 3, DATE),)),
    # 26: D39 — `GLM-4-32B-0414`: `0414` is the fourth part, position 3 (upstream said 2).
    ("GLM-4-32B-0414", "GLM-4", "32B", None, None, None, (("0414", 3, DATE),)),
    ("GLM-4-32B-0414-abliterated", "GLM-4-abliterated", "32B", None, None, None, (("0414", 3, DATE),)),
    # 28: D39 — `1210` is the third `-`-part, position 2 (upstream said 1; `.` in `V2.5` is no separator).
    ("DeepSeek-V2.5-1210", "DeepSeek", None, None, None, "V2.5", (("1210", 2, DATE),)),
    ("Qwen3-4B-Thinking-2507", "Qwen3", "4B", "Thinking", None, None, (("2507", 3, DATE),)),  # 29
    ("Ministral-3-14B-Reasoning-2512", "Ministral-3", "14B", "Reasoning", None, None, (("2512", 4, DATE),)),
    ("Qwen2-57B-A14B", "Qwen2-A14B", "57B", None, None, None, ()),  # 31
    ("AID-Neo-125M", "AID-Neo", "125M", None, None, None, ()),  # 32
    ("SomeModel-12345-7B", "SomeModel-12345", "7B", None, None, None, ()),  # 33
    ("4.2.0-Broken-Tutu-24b", "Broken-Tutu", "24B", None, None, None, (("4.2.0", 0, LEAD),)),  # 34
    ("Noromaid-v0.1-mixtral-8x7b-v3", "Noromaid-mixtral-v3", "8X7B", None, None, "v0.1", ()),  # 35
    ("airoboros-33b-gpt4-1.2", "airoboros-gpt4-1.2", "33B", None, None, None, ()),  # 36
    ("Qwen2.5-Coder-0.5B-Instruct", "Qwen2.5-Coder", "0.5B", "Instruct", None, None, ()),  # 37
    ("Qwen3-235B-A22B-Instruct-2507", "Qwen3-A22B", "235B", "Instruct", None, None, (("2507", 4, DATE),)),
    ("13B-BlueMethod", "BlueMethod", "13B", None, None, None, ()),  # 39
    ("Pernicious_Prophecy_70B", "Pernicious_Prophecy", "70B", None, None, None, ()),  # 40
    ("Qwen2.5-Coder-32B-Instruct", "Qwen2.5-Coder", "32B", "Instruct", None, None, ()),  # 41
    # 42: D40 — every quant/format token is removed (upstream kept `GGUF` in the base).
    ("X-Q4_K_M-GGUF", "X", None, None, "Q4_K_M", None, ()),
    # 43: D40 — `_` separates tokens, so the `_Q4_K_M` suffix is a quant (upstream kept it in the base).
    ("Angelic_Eclipse_12B_Q4_K_M", "Angelic_Eclipse", "12B", None, "Q4_K_M", None, ()),
    ("Foo-BASE-7b", "Foo", "7B", "BASE", None, None, ()),  # 44
    (
        "koboldcpp/sophosympatheia/StrawberryLemonade-L3-70B-v1.2",
        "koboldcpp/sophosympatheia/StrawberryLemonade-L3",
        "70B",
        None,
        None,
        "v1.2",
        (),
    ),  # 45
]


@pytest.mark.parametrize(
    ("name", "base", "size", "variant", "quant", "version", "extras"), ROWS, ids=[r[0] for r in ROWS]
)
def test_spec_4_14_rows(
    name: str,
    base: str,
    size: str | None,
    variant: str | None,
    quant: str | None,
    version: str | None,
    extras: tuple[Extra, ...],
) -> None:
    parsed = parse_text_model_name(name)
    assert parsed.original_name == name
    assert parsed.base_name == base
    assert parsed.size == size
    assert parsed.variant == variant
    assert parsed.quant == quant
    assert parsed.version == version
    assert tuple((e.value, e.position, e.inferred_type) for e in parsed.extras) == extras


def test_d40_every_quant_token_is_reported_in_name_order_primary_by_upstream_priority() -> None:
    # D40: all tokens go; `quant` keeps upstream's pick (pattern priority), `quants` lists all in order.
    parsed = parse_text_model_name("X-Q4_K_M-GGUF")
    assert parsed.quants == ("Q4_K_M", "GGUF")
    glued = parse_text_model_name("ggml-alpaca-7b-q4-v2")
    assert glued.quant == "Q4"
    assert glued.quants == ("GGML", "Q4")
    assert glued.base_name == "alpaca"


@pytest.mark.parametrize(
    ("name", "base", "variant", "quant"),
    [
        ("Llama_3_8B_Instruct", "Llama_3", "Instruct", None),
        ("Model_Q5_1", "Model", None, "Q5_1"),
        ("Model_Q4_0_Chat", "Model", "Chat", "Q4_0"),
        ("lzlv_70b_fp16_hf", "lzlv_hf", None, "FP16"),
        ("Model_Q8", "Model", None, "Q8"),
    ],
)
def test_d40_underscore_separates_variant_and_quant_tokens(
    name: str, base: str, variant: str | None, quant: str | None
) -> None:
    # D40: `_` separates tokens like `-`; quant tokens containing `_` (Q4_0, Q5_1) still match whole.
    parsed = parse_text_model_name(name)
    assert (parsed.base_name, parsed.variant, parsed.quant) == (base, variant, quant)


def test_d40_base_names_keep_the_names_own_characters() -> None:
    # D40: a mixed run of separators left by a removal stays as the name has it (upstream §4.9 step 7
    # collapses only runs of one repeated separator); grouping ignores separators anyway.
    assert parse_text_model_name("Impish_QWEN_14B-1M").base_name == "Impish_QWEN_-1M"
    assert parse_text_model_name("Phi-3.5-mini-instruct_Uncensored").base_name == "Phi-3.5-mini-_Uncensored"
    assert parse_text_model_name("X--7B").base_name == "X"
    assert parse_text_model_name("A__B-7B").base_name == "A_B"


def test_variant_words_inside_longer_words_are_not_variants() -> None:
    parsed = parse_text_model_name("Qwen2.5-Coder-7B")
    assert parsed.variant is None
    assert parsed.base_name == "Qwen2.5-Coder"


def test_only_one_size_version_variant_and_date_are_extracted() -> None:
    parsed = parse_text_model_name("Foo-7B-8B-v1-v2-Chat-Instruct-2401-2402")
    # Leftmost match of the first variant pattern that matches: `Chat` precedes `Instruct`.
    assert (parsed.size, parsed.version, parsed.variant) == ("7B", "v1", "Chat")
    assert parsed.base_name == "Foo-8B-v2-Instruct-2402"
    assert [e.value for e in parsed.extras] == ["2401"]


def test_name_made_only_of_tokens_keeps_the_original_as_base() -> None:
    assert parse_text_model_name("7B-Instruct").base_name == "7B-Instruct"
    assert parse_text_model_name("").base_name == ""


def test_normalized_name_and_memoisation() -> None:
    parsed = parse_text_model_name("Llama-3 8B.Instruct")
    assert parsed.normalized_name == "llama_3_8b_instruct"
    assert parse_text_model_name("Llama-3 8B.Instruct") is parsed


def test_parsed_name_is_frozen() -> None:
    parsed = parse_text_model_name("Llama-3-8B")
    assert isinstance(parsed, ParsedTextModelName)
    with pytest.raises(ValueError, match="frozen"):
        parsed.base_name = "x"  # type: ignore[misc]
