"""Property tests for the name parser and helpers.

Re-parsing a base name is *not* idempotent in general: upstream extracts one size, version, variant
and date, so a second one stays in the base and a re-parse removes it (spec row 35:
``Noromaid-v0.1-mixtral-8x7b-v3`` → ``Noromaid-mixtral-v3`` → ``Noromaid-mixtral``). What holds:

* the base is never longer than the name and never empty for a non-empty name, so repeated
  re-parsing reaches a fixed point;
* a base from which re-parsing extracts nothing is a fixed point (the converse fails only for the
  fallback: ``7B-8B-Chat`` → ``8B``, and ``8B`` alone has nothing left, so its base is ``8B`` again);
* the base holds no quantization token (D40), unless it is the original name (fallback).
"""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.text_names import (
    group_key,
    normalize_group_key,
    normalize_model_name,
    parse_text_model_name,
)

# Alphabet weighted toward the characters the parser cares about, plus arbitrary text below.
_NAME_CHARS = st.sampled_from(list(string.ascii_letters + string.digits + "-_. /:#xXvVqQkKbB"))
name_like = st.one_of(st.text(_NAME_CHARS, max_size=40), st.text(max_size=40))

_QUANTS = ["Q4_K_M", "Q5_K_S", "Q6_K", "Q8_0", "Q5_1", "Q4", "GGUF", "GPTQ", "AWQ", "EXL2", "fp16", "int4"]
_VARIANTS = ["Instruct", "Chat", "Code", "Base", "Uncensored", "Finetune", "FT", "Thinking", "Reasoning"]
_RESERVED = {w.lower() for w in _QUANTS + _VARIANTS + ["turbo", "preview", "latest", "ggml"]}
word = st.text(st.sampled_from(list(string.ascii_letters)), min_size=1, max_size=8).filter(
    lambda w: w.lower() not in _RESERVED
)


def _extracted_nothing(name: str) -> bool:
    p = parse_text_model_name(name)
    return not (p.size or p.version or p.variant or p.quants or p.extras)


@given(name_like)
def test_parse_never_raises_and_base_shrinks(name: str) -> None:
    parsed = parse_text_model_name(name)
    assert len(parsed.base_name) <= len(name)
    assert bool(parsed.base_name) == bool(name)


@given(name_like)
def test_reparsing_reaches_a_fixed_point(name: str) -> None:
    base = parse_text_model_name(name).base_name
    if _extracted_nothing(base):
        assert parse_text_model_name(base).base_name == base
    for _ in range(len(name) + 1):
        nxt = parse_text_model_name(base).base_name
        if nxt == base:
            break
        assert len(nxt) < len(base)
        base = nxt
    assert parse_text_model_name(base).base_name == base


@given(name_like)
def test_d40_base_holds_no_quant_token_unless_it_is_the_fallback(name: str) -> None:
    # D40: every quantization/format token is removed, not only the first.
    base = parse_text_model_name(name).base_name
    assert base == name or parse_text_model_name(base).quants == ()


@given(
    st.lists(word, min_size=1, max_size=3),
    st.integers(1, 999),
    st.sampled_from(_VARIANTS),
    st.lists(st.sampled_from(_QUANTS), min_size=1, max_size=2),
    st.sampled_from(["-", "_"]),
)
def test_d40_underscore_and_dash_separate_tokens_alike(
    words: list[str], billions: int, variant: str, quants: list[str], sep: str
) -> None:
    base = sep.join(words)
    name = sep.join([base, f"{billions}B", variant, *quants])
    parsed = parse_text_model_name(name)
    assert parsed.base_name == base
    assert parsed.size == f"{billions}B"
    assert parsed.variant == variant
    assert parsed.quants == tuple(q.upper() for q in quants)
    respelled = "-".join(words).upper() + name[len(base) :]
    assert group_key(name) == group_key(respelled)


@given(name_like)
def test_normalize_model_name_is_idempotent(name: str) -> None:
    once = normalize_model_name(name)
    assert normalize_model_name(once) == once


@given(name_like)
def test_normalize_group_key_is_idempotent_and_group_keys_are_normal(name: str) -> None:
    once = normalize_group_key(name)
    assert normalize_group_key(once) == once
    key = group_key(name)
    assert normalize_group_key(key) == key


def test_group_key_is_not_idempotent_on_its_own_output() -> None:
    # Documented limit: keys are normal forms of base names, not fixed points of the parser.
    assert group_key("Foo-7B-8B") == "foo-8b"
    assert group_key("foo-8b") == "foo"
    assert parse_text_model_name("Noromaid-mixtral-v3").base_name == "Noromaid-mixtral"
    # Fallback: a base made only of tokens is kept whole, although a token is extracted from it.
    assert parse_text_model_name("7B-8B-Chat").base_name == "8B"
    assert parse_text_model_name("8B").base_name == "8B"
    assert parse_text_model_name("8B").size == "8B"
