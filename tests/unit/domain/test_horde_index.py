"""Attribution of Horde names to reference models: spellings, quant suffixes, user tags, collisions."""

from __future__ import annotations

from shared.domain.horde.index import HordeIndex, ModelMatcher
from shared.domain.horde.merge import merge_category
from shared.domain.horde.payloads import HordeSnapshot
from tests.unit.domain.horde_builders import snapshot, status, worker


def _owners(names: list[str], snap: HordeSnapshot) -> dict[str, list[str]]:
    matcher = ModelMatcher(names, HordeIndex.from_snapshot(snap))
    return {name: [match.key for match in matcher.matches(name)] for name in names}


def test_org_prefixed_family_name_gets_nothing_from_sized_names_d12() -> None:
    # §2.4 upstream oracle: `NeverSleep/Lumimaid-v0.2` aggregated the 8B names. Not any more.
    snap = snapshot(
        "text",
        month={
            "koboldcpp/Lumimaid-v0.2-8B": 1,
            "koboldcpp/Lumimaid-v0.2-8B-Q8_0": 2,
            "aphrodite/NeverSleep/Lumimaid-v0.2-8B": 3,
        },
    )
    assert _owners(["NeverSleep/Lumimaid-v0.2"], snap) == {"NeverSleep/Lumimaid-v0.2": []}


def test_user_tagged_names_belong_to_the_tagged_model() -> None:
    # Decision: `X::user#id` is one user's worker offering X (AI Horde's is_known_text_model splits
    # on `::`), so its usage and workers count for X, under X's backend.
    snap = snapshot(
        "text",
        statuses=[status("koboldcpp/EVA-Instruct-32B::mossy#132761", 1)],
        month={"koboldcpp/EVA-Instruct-32B.Q8_0::tavern_fan#230018": 7, "Org/Other::u#1": 1},
        workers=[worker("w1", ["koboldcpp/EVA-Instruct-32B::mossy#132761"])],
    )
    merged = merge_category(
        ["ParasiticRogue/EVA-Instruct-32B"], snap, include_workers=True, include_backend_variations=True
    )["ParasiticRogue/EVA-Instruct-32B"]
    assert (merged.usage_stats.month, merged.thread_count, merged.worker_count) == (7, 1, 1)
    variations = merged.backend_variations or {}
    assert list(variations) == ["koboldcpp"]
    assert variations["koboldcpp"].variant_name == "koboldcpp/EVA-Instruct-32B::mossy#132761"


def test_exact_spelling_beats_quant_stem() -> None:
    # A reference name that itself ends in a precision token keeps its own exact key, and its
    # quantised uploads are matched to it (longest known stem first), not to a shorter name.
    snap = snapshot(
        "text",
        month={"koboldcpp/Tenebra_30B_Alpha01_FP16": 1, "koboldcpp/Tenebra_30B_Alpha01_FP16-Q4_K_M": 2},
    )
    owners = _owners(["S/Tenebra_30B_Alpha01_FP16", "S/Tenebra_30B_Alpha01"], snap)
    assert owners == {
        "S/Tenebra_30B_Alpha01_FP16": [
            "koboldcpp/tenebra_30b_alpha01_fp16",
            "koboldcpp/tenebra_30b_alpha01_fp16-q4_k_m",
        ],
        "S/Tenebra_30B_Alpha01": [],
    }


def test_colliding_spellings_go_to_the_better_backend_then_the_smaller_name() -> None:
    # `koboldcpp/Bar-7B` is the koboldcpp spelling of both `A/Bar-7B` and `B/Bar-7B`: the smaller
    # name takes it (and its quantised forms), whatever the input order.
    snap = snapshot("text", month={"koboldcpp/Bar-7B": 10, "koboldcpp/Bar-7B-Q8_0": 1, "Bar-7B": 5})
    for order in (["B/Bar-7B", "A/Bar-7B"], ["A/Bar-7B", "B/Bar-7B"]):
        owners = _owners(order, snap)
        assert owners["A/Bar-7B"] == ["koboldcpp/bar-7b", "koboldcpp/bar-7b-q8_0"]
        assert owners["B/Bar-7B"] == []
    # A canonical spelling outranks another model's koboldcpp spelling, whatever the order.
    for order in (["A/Bar-7B", "koboldcpp/Bar-7B"], ["koboldcpp/Bar-7B", "A/Bar-7B"]):
        owners = _owners(order, snap)
        assert owners["koboldcpp/Bar-7B"] == ["koboldcpp/bar-7b", "koboldcpp/bar-7b-q8_0"]
        assert owners["A/Bar-7B"] == []


def test_reference_names_differing_only_in_case_do_not_share_usage() -> None:
    snap = snapshot("image", month={"anything v5": 4})
    merged = merge_category(
        ["anything v5", "Anything v5"], snap, include_workers=False, include_backend_variations=False
    )
    assert [stats.usage_stats.month for stats in merged.values()] == [0, 4]  # "A" < "a"


def test_each_horde_name_is_attributed_at_most_once() -> None:
    snap = snapshot("text", month={"koboldcpp/Bar-7B": 10, "aphrodite/A/Bar-7B": 2, "Bar-7B": 5})
    matcher = ModelMatcher(["A/Bar-7B", "B/Bar-7B", "Bar-7B"], HordeIndex.from_snapshot(snap))
    keys = list(matcher.matched_keys())
    assert sorted(keys) == sorted(set(keys)) == ["aphrodite/a/bar-7b", "bar-7b", "koboldcpp/bar-7b"]


def test_image_names_match_exactly_only() -> None:
    # Image workers use neither backend prefixes, quant suffixes nor user tags as model spellings.
    snap = snapshot(
        "image",
        month={"Anything v5": 1, "Anything v3": 2, "koboldcpp/Anything v5": 4, "Anything v5-fp16": 8},
        workers=[worker("w", ["SDXL_beta::stability.ai#6901"], model_type="image")],
    )
    assert _owners(["Anything v5", "Anything v3", "SDXL_beta"], snap) == {
        "Anything v5": ["anything v5"],
        "Anything v3": ["anything v3"],
        "SDXL_beta": [],
    }


def test_raw_names_that_normalise_alike_are_summed() -> None:
    # Real capture: `koboldcpp/LLaMA2-13B-Psyfighter2 ` and `...\t` are two Horde counters.
    snap = snapshot(
        "text",
        day={"koboldcpp/LLaMA2-13B-Psyfighter2 ": 1, "koboldcpp/LLaMA2-13B-Psyfighter2\t": 2},
        month={"koboldcpp/LLaMA2-13B-Psyfighter2 ": 10, "koboldcpp/LLaMA2-13B-Psyfighter2\t": 20},
        statuses=[
            status("koboldcpp/LLaMA2-13B-Psyfighter2 ", 1),
            status("KOBOLDCPP/LLaMA2-13B-Psyfighter2", 2),
        ],
    )
    index = HordeIndex.from_snapshot(snap)
    assert index.usage["koboldcpp/llama2-13b-psyfighter2"] == (3, 30, 0)
    assert len(index.statuses["koboldcpp/llama2-13b-psyfighter2"]) == 2
    merged = merge_category(
        ["KoboldAI/LLaMA2-13B-Psyfighter2"], snap, include_workers=False, include_backend_variations=False
    )
    assert merged["KoboldAI/LLaMA2-13B-Psyfighter2"].thread_count == 3


def test_empty_horde_name_is_never_indexed() -> None:
    index = HordeIndex.from_snapshot(snapshot("image", total={"": 160, "A": 1}))
    assert "" not in index.candidates
    assert index.usage[""] == (0, 0, 160)  # kept in the raw sums, matchable by nobody


def test_duplicate_worker_ids_count_once() -> None:
    snap = snapshot("text", workers=[worker("w", ["m"]), worker("w", ["koboldcpp/m"])])
    merged = merge_category(["m"], snap, include_workers=True, include_backend_variations=False)["m"]
    assert merged.worker_count == 1
