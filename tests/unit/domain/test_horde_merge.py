"""Merge oracles of upstream §3.6, §4.2, §2.4 and §4.15, adapted to the amended model (docs/contract.md).

Where an expectation differs from upstream, the comment names the defect (D-number) it fixes.
"""

from __future__ import annotations

import pytest

from shared.domain.horde.index import HordeIndex, ModelMatcher
from shared.domain.horde.merge import category_total_month_usage, merge_category, merge_matched
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeSnapshot, HordeWorker
from shared.domain.horde.runtime import CombinedModelStatistics, UsageStats
from tests.unit.domain.horde_builders import snapshot, status, worker


def _merge(
    names: list[str], snap: HordeSnapshot, *, workers: bool = False, variations: bool = False
) -> dict[str, CombinedModelStatistics]:
    return merge_category(names, snap, include_workers=workers, include_backend_variations=variations)


# --- §4.2 oracles (tests/horde_api/test_data_merger.py) ---------------------------------------

_ORACLE = snapshot(
    "image",
    statuses=[status("test_model", 5, jobs=10, performance=100.5, eta=30, queued=500)],
    day={"test_model": 100},
    month={"test_model": 3000},
    total={"test_model": 50000},
)


def test_status_and_stats_merge() -> None:
    merged = _merge(["test_model"], _ORACLE)["test_model"]
    # No workers payload: worker_count falls back to the status threads and says so (D45).
    assert (merged.worker_count, merged.thread_count, merged.worker_count_source) == (5, 5, "status")
    assert (merged.queued_jobs, merged.performance, merged.eta, merged.queued) == (10, 100.5, 30, 500)
    assert merged.usage_stats == UsageStats(day=100, month=3000, total=50000)


def test_reference_name_matches_case_insensitively() -> None:
    merged = _merge(["TEST_MODEL"], _ORACLE)
    assert list(merged) == ["TEST_MODEL"]
    assert merged["TEST_MODEL"].worker_count == 5
    assert merged["TEST_MODEL"].usage_stats.month == 3000


def test_unknown_model_is_present_with_zero_usage_d13() -> None:
    merged = _merge(["test_model", "unknown"], _ORACLE)
    assert list(merged) == ["test_model", "unknown"]
    unknown = merged["unknown"]
    assert (unknown.queued_jobs, unknown.performance, unknown.eta, unknown.queued) == (None,) * 4
    assert unknown.worker_count == 0
    # D13: upstream leaves usage_stats null; we report 0/0/0 so zero-usage flags fire.
    assert unknown.usage_stats == UsageStats(day=0, month=0, total=0)


def test_status_without_stats_has_zero_usage_d13() -> None:
    snap = snapshot("image", statuses=[status("test_model", 5)])
    merged = _merge(["test_model"], snap)["test_model"]
    assert merged.usage_stats == UsageStats()  # D13: upstream null
    assert merged.worker_count == 5


def test_stats_without_status_has_no_status_fields() -> None:
    snap = snapshot("image", day={"test_model": 1}, month={"test_model": 2}, total={"test_model": 3})
    merged = _merge(["test_model"], snap)["test_model"]
    assert (merged.queued_jobs, merged.performance, merged.eta, merged.queued) == (None,) * 4
    assert (merged.worker_count, merged.thread_count) == (0, 0)
    assert merged.usage_stats == UsageStats(day=1, month=2, total=3)


def test_workers_are_counted_per_model() -> None:
    snap = snapshot(
        "image",
        statuses=[status("test_model", 10), status("other_model", 10)],
        workers=[
            worker("worker-1", ["test_model", "other_model"], model_type="image"),
            worker("worker-2", ["test_model"], model_type="image"),
        ],
    )
    merged = _merge(["test_model", "other_model"], snap, workers=True)
    assert list(merged["test_model"].worker_summaries or {}) == ["worker-1", "worker-2"]
    assert merged["test_model"].worker_count == 2
    assert merged["other_model"].worker_count == 1
    # Distinct workers, not threads (D45): the status said 10 threads.
    assert merged["test_model"].thread_count == 10
    assert merged["test_model"].worker_count_source == "workers"


def test_horde_only_models_never_appear() -> None:
    assert list(_merge(["a"], snapshot("image", statuses=[status("b", 3)], month={"b": 9}))) == ["a"]


def test_duplicate_input_names_appear_once_in_first_order() -> None:
    assert list(_merge(["b", "a", "b"], _ORACLE)) == ["b", "a"]


# --- §3.6 worker_count oracles (tests/test_combined_model_statistics.py), amended ----------------


def test_worker_count_ignores_status_when_workers_payload_exists_d45() -> None:
    # Upstream: summaries of 2 with status 10 → 2. Ours: the same, from the workers payload.
    snap = snapshot("text", statuses=[status("m", 10)], workers=[worker("w1", ["m"]), worker("w2", ["m"])])
    merged = _merge(["m"], snap, workers=True)["m"]
    assert (merged.worker_count, merged.thread_count) == (2, 10)


def test_worker_count_is_the_same_with_or_without_include_workers_d15() -> None:
    snap = snapshot("text", statuses=[status("m", 10)], workers=[worker("w1", ["m"]), worker("w2", ["m"])])
    without = _merge(["m"], snap, workers=False)["m"]
    assert without.worker_summaries is None
    assert without.worker_count == 2


def test_empty_worker_summaries_are_an_empty_dict_d19() -> None:
    """D19: with a workers snapshot and none serving the model, ``worker_summaries`` is ``{}`` and
    ``worker_count`` is 0 from the workers (upstream: null, and a fallback to the status count)."""
    snap = snapshot("text", statuses=[status("m", 5)], workers=[worker("w1", ["other"])])
    merged = _merge(["m"], snap, workers=True)["m"]
    assert merged.worker_summaries == {}
    assert (merged.worker_count, merged.thread_count, merged.worker_count_source) == (0, 5, "workers")


def test_no_workers_payload_gives_no_summaries_and_status_fallback() -> None:
    merged = _merge(["m"], snapshot("text", statuses=[status("m", 5)]), workers=True)["m"]
    assert merged.worker_summaries is None
    assert (merged.worker_count, merged.worker_count_source) == (5, "status")


def test_offline_maintenance_and_other_type_workers_are_not_counted() -> None:
    # Same rule as the status `count`: online (seen within 300 s) and not in maintenance.
    snap = snapshot(
        "text",
        workers=[
            worker("on", ["m"]),
            worker("off", ["m"], online=False),
            worker("maint", ["m"], maintenance=True),
            worker("img", ["m"], model_type="image"),
        ],
    )
    assert list(_merge(["m"], snap, workers=True)["m"].worker_summaries or {}) == ["on"]


def test_worker_summaries_are_ordered_by_name_then_id() -> None:
    snap = snapshot(
        "text",
        workers=[
            worker("id-3", ["m"], name="beta"),
            worker("id-2", ["m"], name="Alpha"),
            worker("id-1", ["m"], name="alpha"),
        ],
    )
    assert list(_merge(["m"], snap, workers=True)["m"].worker_summaries or {}) == ["id-2", "id-1", "id-3"]


# --- D45 / D18: counts over all spellings --------------------------------------------------------


def test_threads_are_summed_and_workers_distinct_over_spellings_d45_d18() -> None:
    # Upstream takes the single status with the largest count (3) and only canonical-name workers.
    snap = snapshot(
        "text",
        statuses=[
            status("koboldcpp/Model-7B", 3, jobs=2, queued=200.0, performance=10.0, eta=20),
            status("aphrodite/Org/Model-7B", 2, jobs=1.5, queued=50.5, performance=20.0, eta=40),
        ],
        workers=[
            worker("w1", ["koboldcpp/Model-7B"], threads=2),
            worker("w2", ["koboldcpp/Model-7B", "aphrodite/Org/Model-7B"]),
            worker("w3", ["aphrodite/Org/Model-7B"]),
        ],
    )
    merged = _merge(["Org/Model-7B"], snap, workers=True)["Org/Model-7B"]
    assert merged.thread_count == 5
    assert merged.worker_count == 3  # w2 serves both spellings and counts once
    assert list(merged.worker_summaries or {}) == ["w1", "w2", "w3"]
    assert merged.queued_jobs == 3.5  # summed; fractions accepted (D22)
    assert merged.queued == 250.5
    assert merged.performance == pytest.approx((3 * 10.0 + 2 * 20.0) / 5)  # thread-weighted
    assert merged.eta == 40  # maximum


def test_performance_of_orphan_spellings_is_the_plain_mean() -> None:
    snap = snapshot(
        "text", statuses=[status("m", 0, performance=4.0), status("koboldcpp/m", 0, performance=8.0)]
    )
    merged = _merge(["m"], snap)["m"]
    assert (merged.performance, merged.thread_count) == (6.0, 0)


# --- §2.4 stats aggregation oracles, rewritten for the exact-model rule (D12, D43) ------------------


def _month(names: list[str], month: dict[str, int], *, variations: bool = False) -> dict[str, int]:
    merged = _merge(names, snapshot("text", month=month), variations=variations)
    return {name: stats.usage_stats.month for name, stats in merged.items()}


def test_quantised_spellings_of_the_same_size_count() -> None:
    month = {
        "koboldcpp/Lumimaid-v0.2-8B": 4080,
        "koboldcpp/Lumimaid-v0.2-8B-Q8_0": 1500,
        "koboldcpp/Lumimaid-v0.2-8B-Q4_K_M": 800,
    }
    assert _month(["Lumimaid-v0.2-8B"], month) == {"Lumimaid-v0.2-8B": 6380}


def test_the_three_backend_spellings_count() -> None:
    month = {
        "Lumimaid-v0.2-8B": 1000,
        "aphrodite/NeverSleep/Lumimaid-v0.2-8B": 2000,
        "koboldcpp/Lumimaid-v0.2-8B": 3000,
    }
    # D43: upstream gave 6000 to `Lumimaid-v0.2-8B` through the family index. Exactly, the aphrodite
    # spelling belongs to `NeverSleep/Lumimaid-v0.2-8B`, and the author-less name does not have it.
    assert _month(["Lumimaid-v0.2-8B"], month) == {"Lumimaid-v0.2-8B": 4000}
    assert _month(["NeverSleep/Lumimaid-v0.2-8B"], month) == {"NeverSleep/Lumimaid-v0.2-8B": 5000}


def test_d12_koboldcpp_full_name_counts_in_usage_workers_threads_and_variations() -> None:
    full = "koboldcpp/PocketDoc/Dans-PersonalityEngine-V1.1.0-12b"
    short = "koboldcpp/Dans-PersonalityEngine-V1.1.0-12b"
    snapshot = HordeSnapshot(
        model_type="text",
        status=(
            HordeModelStatus(name=full, count=2, jobs=1, queued=10, performance=5.0, eta=3),
            HordeModelStatus(name=short, count=1, jobs=0, queued=0, performance=2.0, eta=0),
        ),
        stats=HordeModelStats(day={full: 7}, month={full: 1509, short: 1}, total={full: 9000}),
        workers=(
            HordeWorker(id="w1", name="a", type="text", online=True, models=(full,)),
            HordeWorker(id="w2", name="b", type="text", online=True, models=(short,)),
        ),
    )
    name = "PocketDoc/Dans-PersonalityEngine-V1.1.0-12b"
    merged = merge_category([name], snapshot, include_workers=True, include_backend_variations=True)[name]
    assert merged.usage_stats == UsageStats(day=7, month=1510, total=9000)
    assert (merged.worker_count, merged.thread_count) == (2, 3)
    assert (merged.queued_jobs, merged.queued) == (1, 10)
    variations = merged.backend_variations or {}
    assert list(variations) == ["koboldcpp"]
    assert (variations["koboldcpp"].usage_month, variations["koboldcpp"].worker_count) == (1510, 2)


def test_other_sizes_of_the_family_do_not_count_d12() -> None:
    month = {
        "koboldcpp/Lumimaid-v0.2-8B": 100,
        "koboldcpp/Lumimaid-v0.2-12B": 200,
        "koboldcpp/Lumimaid-v0.2-12B-Q8_0": 400,
        "koboldcpp/Llama-3-8B": 1000,
    }
    # D12: upstream gave both Lumimaid models the family total 700.
    assert _month(["NeverSleep/Lumimaid-v0.2-8B", "NeverSleep/Lumimaid-v0.2-12B"], month) == {
        "NeverSleep/Lumimaid-v0.2-8B": 100,
        "NeverSleep/Lumimaid-v0.2-12B": 600,
    }


def test_stats_match_case_insensitively() -> None:
    month = {"KOBOLDCPP/Lumimaid-v0.2-8B": 100, "koboldcpp/lumimaid-v0.2-8b-q8_0": 200}
    assert _month(["Lumimaid-v0.2-8B"], month) == {"Lumimaid-v0.2-8B": 300}


def test_exact_match_is_counted_once_and_empty_maps_give_zero() -> None:
    assert _month(["m"], {"m": 7}) == {"m": 7}
    assert _month(["m"], {}) == {"m": 0}


def test_usage_does_not_depend_on_include_backend_variations_d12() -> None:
    # §2.4 "stats with variations" oracle: 100 + 200 + 300 + 400 for `C = Lumimaid-v0.2-8B`.
    month = {
        "Lumimaid-v0.2-8B": 100,
        "aphrodite/Lumimaid-v0.2-8B": 200,
        "koboldcpp/Lumimaid-v0.2-8B": 300,
        "koboldcpp/Lumimaid-v0.2-8B-Q8_0": 400,
        "koboldcpp/Lumimaid-v0.2-12B": 5000,
    }
    assert _month(["Lumimaid-v0.2-8B"], month) == _month(["Lumimaid-v0.2-8B"], month, variations=True)
    merged = _merge(["Lumimaid-v0.2-8B"], snapshot("text", month=month), variations=True)["Lumimaid-v0.2-8B"]
    variations = merged.backend_variations or {}
    assert {backend: v.usage_month for backend, v in variations.items()} == {
        "canonical": 100,
        "aphrodite": 200,
        "koboldcpp": 700,
    }
    assert merged.usage_stats.month == 1000


# --- §4.15 "Text usage aggregation", amended ----------------------------------------------------

_LUMIMAID = ["NeverSleep/Lumimaid-v0.2-8B", "NeverSleep/Lumimaid-v0.2-12B"]
_LUMIMAID_MONTH = {"koboldcpp/Lumimaid-v0.2-8B": 100, "aphrodite/NeverSleep/Lumimaid-v0.2-12B": 50}


@pytest.mark.parametrize("variations", [False, True])
def test_text_usage_aggregation_example_d12_d44(variations: bool) -> None:
    # Upstream without variations: 150 each (family), T = 300; with variations 100/50, T = 150.
    # D12: the same 100/50 and T = 150 either way.
    merged = _merge(_LUMIMAID, snapshot("text", month=_LUMIMAID_MONTH), variations=variations)
    assert [stats.usage_stats.month for stats in merged.values()] == [100, 50]
    assert category_total_month_usage(merged) == 150
    if variations:
        eight_b = merged["NeverSleep/Lumimaid-v0.2-8B"].backend_variations or {}
        assert list(eight_b) == ["koboldcpp"]
        # D44: upstream fabricated "koboldcpp/NeverSleep/Lumimaid-v0.2-8B"; this is the real spelling.
        assert eight_b["koboldcpp"].variant_name == "koboldcpp/Lumimaid-v0.2-8B"
        assert (eight_b["koboldcpp"].worker_count, eight_b["koboldcpp"].usage_month) == (0, 100)
        assert list(merged["NeverSleep/Lumimaid-v0.2-12B"].backend_variations or {}) == ["aphrodite"]
    else:
        assert all(stats.backend_variations is None for stats in merged.values())


# --- backend variations ------------------------------------------------------------------------


def test_backend_variations_come_in_fixed_order_d23() -> None:
    snap = snapshot(
        "text",
        statuses=[status("koboldcpp/X-7B", 1), status("Org/X-7B", 2), status("aphrodite/Org/X-7B", 3)],
        workers=[worker("w1", ["koboldcpp/X-7B"]), worker("w2", ["aphrodite/Org/X-7B"])],
    )
    merged = _merge(["Org/X-7B"], snap, variations=True)["Org/X-7B"]
    variations = merged.backend_variations or {}
    assert list(variations) == ["canonical", "aphrodite", "koboldcpp"]
    assert [v.thread_count for v in variations.values()] == [2, 3, 1]
    assert [v.worker_count for v in variations.values()] == [0, 1, 1]


def test_variant_name_is_the_horde_name_when_reported() -> None:
    snap = snapshot("text", statuses=[status("KoboldCPP/X-7B-Q4_K_M", 2)])
    variations = _merge(["Org/X-7B"], snap, variations=True)["Org/X-7B"].backend_variations or {}
    assert variations["koboldcpp"].variant_name == "KoboldCPP/X-7B-Q4_K_M"


def test_backend_without_status_usage_or_workers_is_skipped() -> None:
    snap = snapshot("text", statuses=[status("Org/X-7B", 1)], month={"koboldcpp/X-7B": 0})
    variations = _merge(["Org/X-7B"], snap, variations=True)["Org/X-7B"].backend_variations
    assert list(variations or {}) == ["canonical"]


def test_model_without_horde_data_has_empty_variations() -> None:
    assert _merge(["m"], snapshot("text"), variations=True)["m"].backend_variations == {}


# --- reuse of the index ------------------------------------------------------------------------


def test_prebuilt_index_gives_the_same_result_for_all_flag_combinations() -> None:
    snap = snapshot(
        "text",
        statuses=[status("koboldcpp/X-7B", 3, jobs=1)],
        month={"Org/X-7B": 5},
        workers=[worker("w1", ["koboldcpp/X-7B"])],
    )
    index = HordeIndex.from_snapshot(snap)
    for include_workers in (False, True):
        for include_variations in (False, True):
            reused = merge_category(
                ["Org/X-7B"],
                snap,
                include_workers=include_workers,
                include_backend_variations=include_variations,
                index=index,
            )
            fresh = merge_category(
                ["Org/X-7B"],
                snap,
                include_workers=include_workers,
                include_backend_variations=include_variations,
            )
            assert reused == fresh


def test_merge_matched_is_merge_category() -> None:
    matcher = ModelMatcher(["test_model"], HordeIndex.from_snapshot(_ORACLE))
    assert merge_matched(matcher, include_workers=True, include_backend_variations=True) == _merge(
        ["test_model"], _ORACLE, workers=True, variations=True
    )


def test_workers_in_maintenance_are_reported_apart_not_counted() -> None:
    """Our rule (contract: workers in maintenance): a worker in maintenance serves nothing, so it is
    not in ``worker_count``; ``maintenance_worker_count`` says how many ``/v2/workers`` lists besides."""
    horde = snapshot(
        "image",
        statuses=[status("A", 2)],
        month={"A": 5},
        workers=[
            worker("w1", ["A"], model_type="image"),
            worker("w2", ["A"], model_type="image", maintenance=True),
            worker("w3", ["A"], model_type="image", maintenance=True, online=False),
        ],
    )
    merged = merge_category(["A"], horde, include_workers=True, include_backend_variations=False)["A"]
    assert (merged.worker_count, merged.maintenance_worker_count) == (1, 1)
    assert list(merged.worker_summaries or {}) == ["w1"]


def test_queued_and_jobs_are_written_as_integers_when_whole() -> None:
    """Upstream wire format: ``queued``/``queued_jobs`` are integers; a real fraction stays (D22)."""
    horde = snapshot(
        statuses=[status("A", 1, jobs=7.0, queued=1502.0), status("B", 1, jobs=0.5, queued=3.25)]
    )
    merged = merge_category(["A", "B"], horde, include_workers=False, include_backend_variations=True)
    a = merged["A"].model_dump(mode="json")
    assert (a["queued_jobs"], a["queued"]) == (7, 1502)
    assert isinstance(a["queued"], int)
    assert a["backend_variations"]["canonical"]["queued"] == 1502
    b = merged["B"].model_dump(mode="json")
    assert (b["queued_jobs"], b["queued"]) == (0.5, 3.25)
