"""Name helpers and grouping of spec §4.10/§4.14, with the D40 grouping reconciliation."""

from __future__ import annotations

import pytest

from shared.domain.text_names import (
    TextModelGroup,
    get_base_model_name,
    get_model_size,
    get_model_variant,
    group_key,
    group_text_models_by_base,
    is_quantized_variant,
    normalize_group_key,
    normalize_model_name,
    strip_backend_prefix,
    strip_user_suffix,
)

BASE_NAME_EXAMPLES: list[tuple[str, str]] = [
    ("Llama-3-8B-Instruct-Q4_K_M", "Llama-3"),
    ("Mistral-7B-v0.1", "Mistral"),
    ("Gemma-2B-Instruct", "Gemma"),
    ("koboldcpp/Llama-3-8B-Instruct", "Llama-3"),
    ("aphrodite/Mistral-7B-v0.1", "Mistral"),
    ("ReadyArt/Broken-Tutu-24B", "Broken-Tutu"),
    ("aphrodite/ReadyArt/Broken-Tutu-24B", "Broken-Tutu"),
    # D41: the upstream docstring's `StrawberryLemonade-L3-v1` is stale; tests expect this.
    ("StrawberryLemonade-L3-70B-v1.2", "StrawberryLemonade-L3"),
    ("sophosympatheia/StrawberryLemonade-L3-70B-v1.2", "StrawberryLemonade-L3"),
    ("koboldcpp/sophosympatheia/StrawberryLemonade-L3-70B-v1.2", "StrawberryLemonade-L3"),
    ("aphrodite/sophosympatheia/StrawberryLemonade-L3-70B-v1.2", "StrawberryLemonade-L3"),
    ("aphrodite/NeverSleep/Lumimaid-v0.2-8B", "Lumimaid"),
    ("Qwen3-4B-Instruct-2507", "Qwen3"),
    ("Qwen3-4B-Thinking-2507", "Qwen3"),
    ("Qwen3-4B", "Qwen3"),
    ("Mistral-Large-Instruct-2407", "Mistral-Large"),
    ("Mistral-Large-Instruct-2411", "Mistral-Large"),
    ("Mistral-Small-Instruct-2409", "Mistral-Small"),
    ("Mistral-Small-24B-Instruct-2501", "Mistral-Small"),
    ("Mistral-Nemo-Instruct-2407", "Mistral-Nemo"),
    ("GLM-4-32B-0414", "GLM-4"),
    ("GLM-4-9B-0414", "GLM-4"),
    ("GLM-Z1-32B-0414", "GLM-Z1"),
    ("GLM-Z1-9B-0414", "GLM-Z1"),
    ("GLM-Z1-Rumination-32B-0414", "GLM-Z1-Rumination"),
    ("Ministral-3-8B-Instruct-2512", "Ministral-3"),
    ("Ministral-3-14B-Instruct-2512", "Ministral-3"),
    ("Ministral-3-8B-Reasoning-2512", "Ministral-3"),
    ("Ministral-3-14B-Reasoning-2512", "Ministral-3"),
    ("DeepSeek-V2.5-1210", "DeepSeek"),
    ("Devstral-2-123B-Instruct-2512", "Devstral-2"),
    ("Devstral-2-123B-Instruct", "Devstral-2"),
    ("Devstral-Small-2-24B-Instruct-2512", "Devstral-Small-2"),
    ("c4ai-command-r-08-2024", "c4ai-command-r"),
    ("c4ai-command-r-v01", "c4ai-command-r"),
    ("Qwen3-235B-A22B", "Qwen3-A22B"),
    ("Qwen3-235B-A22B-Instruct-2507", "Qwen3-A22B"),
    ("Qwen3-235B-A22B-Thinking-2507", "Qwen3-A22B"),
    ("Qwen3-30B-A3B", "Qwen3-A3B"),
    ("Qwen3-Coder-480B-A35B-Instruct", "Qwen3-Coder-A35B"),
    ("Qwen3-Coder-30B-A3B-Instruct", "Qwen3-Coder-A3B"),
    ("Qwen3-Coder-Next", "Qwen3-Coder-Next"),
    ("Broken-Tutu-24B", "Broken-Tutu"),
    ("Broken-Tutu-24B-Transgression-v2.0", "Broken-Tutu-Transgression"),
    ("Broken-Tutu-24B-Unslop-v2.0", "Broken-Tutu-Unslop"),
    ("Llama-3.2-3B-Instruct", "Llama-3.2"),
    ("aphrodite/mistralai/Mistral-Large-Instruct-2407", "Mistral-Large"),
    ("koboldcpp/Mistral-Large-Instruct-2407", "Mistral-Large"),
    ("mistralai/Mistral-Large-Instruct-2407", "Mistral-Large"),
    ("koboldcpp/SicariusSicariiStuff/Fiendish_LLAMA_3B", "Fiendish_LLAMA"),
    ("koboldcpp/allura-org/MS-Meadowlark-22B", "MS-Meadowlark"),
    ("llama-2-7b-Q4_K_M", "llama-2"),
    ("llama-2-7b-Q8", "llama-2"),
    ("mistral-7b", "mistral"),
    ("mixtral-8x7b-Q4", "mixtral"),
    ("Anything v3", "Anything"),  # (D) image-style names; relevant to D12
    ("Anything v5", "Anything"),
]


@pytest.mark.parametrize(("name", "expected"), BASE_NAME_EXAMPLES)
def test_get_base_model_name_examples(name: str, expected: str) -> None:
    assert get_base_model_name(name) == expected


def test_get_base_model_name_drops_the_horde_owner_suffix() -> None:
    # Horde stats keys carry `::username#id` for models served under a worker-chosen name.
    name = "aphrodite/Black-Ink-Guild/Pernicious_Prophecy_70B::Invisietch#345260"
    assert get_base_model_name(name) == "Pernicious_Prophecy"
    assert strip_user_suffix("CLUSTER::Stonemeld#107224") == "CLUSTER"
    assert strip_user_suffix("a::b") == "a::b"


def test_get_base_model_name_drops_up_to_the_first_slash_only() -> None:
    # Upstream rule kept (the stats index uses the last segment instead, D43).
    assert get_base_model_name("koboldcpp/a/b/Model-7B") == "b/Model"


def test_strip_backend_prefix_removes_one_case_sensitive_prefix() -> None:
    assert strip_backend_prefix("aphrodite/X") == "X"
    assert strip_backend_prefix("koboldcpp/koboldcpp/X") == "koboldcpp/X"
    assert strip_backend_prefix("KoboldCPP/X") == "KoboldCPP/X"
    assert strip_backend_prefix("X") == "X"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Llama-3-8B-Instruct", "llama_3_8b_instruct"),
        ("Llama-3 8B.Instruct", "llama_3_8b_instruct"),
        ("Llama--3__8B", "llama_3_8b"),
        ("-Llama-3-", "llama_3"),
        ("Author/Model-7B", "author/model_7b"),
    ],
)
def test_normalize_model_name(name: str, expected: str) -> None:
    assert normalize_model_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("GPT-2-1.5B", "1.5B"), ("Mixtral-8x7B-Instruct", "8X7B"), ("GPT-4", None), ("Claude", None)],
)
def test_get_model_size(name: str, expected: str | None) -> None:
    assert get_model_size(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"), [("CodeLlama-7B-Code", "Code"), ("Llama-3-8B", None), ("Mistral-7B", None)]
)
def test_get_model_variant(name: str, expected: str | None) -> None:
    assert get_model_variant(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Llama-3-8B-Instruct-Q4_K_M", True),
        ("Llama-3-8B-Instruct-Q8_0", True),
        ("Model-Q4_0", True),
        ("Model-Q5_1", True),
        ("Mistral-7B-GGUF", True),
        ("Llama-2-13B-GPTQ", True),
        ("Mistral-7B-AWQ", True),
        ("Angelic_Eclipse_12B_Q4_K_M", True),  # D40: `_`-glued quant is detected
        ("Llama-3-8B-Instruct", False),
        ("Mistral-7B-v0.1", False),
    ],
)
def test_is_quantized_variant(name: str, expected: bool) -> None:
    assert is_quantized_variant(name) is expected


def test_group_key_folds_case_and_separators() -> None:
    assert group_key("koboldcpp/Qwen2.5-7B-Instruct") == "qwen2-5"
    assert group_key("Qwen2_5-7B") == "qwen2-5"
    assert normalize_group_key("  Foo__Bar.-Baz ") == "foo-bar-baz"


def test_d40_underscore_and_dash_spellings_share_a_group_while_bases_keep_separators() -> None:
    # D40, the contract: the base name keeps the name's own separators (`Llama_3_8B_Instruct` → `Llama_3`,
    # as the upstream oracle `Angelic_Eclipse_12B` → `Angelic_Eclipse`), and families are grouped by the
    # separator- and case-insensitive `group_key`, so both spellings land in one group, displayed with
    # its first member's base name.
    assert get_base_model_name("Llama_3_8B_Instruct") == "Llama_3"
    assert group_key("Llama_3_8B_Instruct") == group_key("Llama-3-8B") == "llama-3"
    groups = group_text_models_by_base(["Llama_3_8B_Instruct", "Llama-3-8B", "llama-3-70b-Q4_K_M"])
    assert groups == {
        "Llama_3": TextModelGroup(
            key="llama-3",
            base_name="Llama_3",
            variants=("Llama_3_8B_Instruct", "Llama-3-8B", "llama-3-70b-Q4_K_M"),
        )
    }


def test_group_text_models_by_base_oracle() -> None:
    names = [
        "Llama-3-8B-Instruct",
        "Llama-3-8B-Instruct-Q4",
        "Llama-2-7B-Chat",
        "Mistral-7B-v0.1",
        "Mistral-7B-v0.1-GGUF",
    ]
    groups = group_text_models_by_base(names)
    assert list(groups) == ["Llama-3", "Llama-2", "Mistral"]
    assert [len(g.variants) for g in groups.values()] == [2, 1, 2]
    assert groups["Mistral"].variants == ("Mistral-7B-v0.1", "Mistral-7B-v0.1-GGUF")


def test_group_text_models_by_base_lumimaid_quants_form_one_group() -> None:
    names = ["Lumimaid-v0.2-8B", "Lumimaid-v0.2-8B-Q4_K_M", "Lumimaid-v0.2-8B-Q8_0"]
    assert list(group_text_models_by_base(names)) == ["Lumimaid"]


def test_group_text_models_by_base_with_aliases() -> None:
    aliases = {"Broken-Tutu-Unslop": "Broken-Tutu", "Broken-Tutu-Transgression": "Broken-Tutu"}
    names = [
        "koboldcpp/Broken-Tutu-24B-Unslop-v2.0-Q4_K_M",
        "ReadyArt/Broken-Tutu-24B-Transgression-v2.0-Q4_K_M",
        "koboldcpp/Broken-Tutu-24B-Q5_K_M",
    ]
    groups = group_text_models_by_base(names, aliases)
    assert list(groups) == ["Broken-Tutu"]
    assert groups["Broken-Tutu"].variants == tuple(names)
    assert groups["Broken-Tutu"].key == "broken-tutu"


def test_aliases_match_case_and_separator_insensitively() -> None:
    groups = group_text_models_by_base(
        ["broken_tutu_unslop-24B", "Broken-Tutu-24B"], {"Broken-Tutu-Unslop": "Broken-Tutu"}
    )
    assert list(groups) == ["Broken-Tutu"]


def test_conflicting_aliases_are_rejected() -> None:
    with pytest.raises(ValueError, match="maps to both"):
        group_text_models_by_base(["X"], {"Foo-Bar": "A", "foo_bar": "B"})


def test_group_text_models_by_base_empty() -> None:
    assert group_text_models_by_base([]) == {}
