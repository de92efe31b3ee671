"""The recompute benchmark runs in-process and measures what a worker computes (no timing asserts)."""

from __future__ import annotations

import json

from bench.recompute import format_phases, format_table, phased_recompute, recompute, run_scales
from bench.synthetic import copy_name, load_reference, load_snapshot, scale_reference, scale_snapshot
from shared.domain.categories import ModelCategory

TEXT = ModelCategory.TEXT_GENERATION


def test_benchmark_runs_at_real_size_and_reports_sane_numbers() -> None:
    (row,) = run_scales([TEXT], [1], repeat=1)
    assert (row.category, row.scale, row.models, row.views) == ("text_generation", 1, 719, 9)
    assert row.horde_entries > 719
    assert 0 < row.min_ms <= row.median_ms
    assert row.ms_per_model > 0
    assert row.peak_mib > 0
    assert row.ratio_to_1x == 1.0
    assert "text_generation" in format_table([row])


def test_timed_phases_compute_exactly_the_recompute() -> None:
    reference, snapshot = load_reference(TEXT), load_snapshot(TEXT)
    phases: dict[str, list[float]] = {}
    assert phased_recompute(reference, snapshot, phases) == recompute(reference, snapshot)
    assert {"index build", "merge (4 flag sets)", "risk analysis", "rendering"} <= set(phases)
    assert "sum of phases" in format_phases({name: times[0] for name, times in phases.items()})


def test_copies_match_like_the_originals() -> None:
    """At 2× every copy matches its own Horde names, so usage and model counts double exactly."""
    assert copy_name("koboldcpp/L3-8B-Lunaris-v1.Q5_K_M", 2) == "koboldcpp/copy2-L3-8B-Lunaris-v1.Q5_K_M"
    assert copy_name("koboldcpp/X::user#1", 3) == "koboldcpp/copy3-X::user#1"
    reference, snapshot = load_reference(TEXT), load_snapshot(TEXT)
    single = json.loads(recompute(reference, snapshot)["deletion-risk"])
    double = json.loads(
        recompute(scale_reference(reference, 2), scale_snapshot(snapshot, 2))["deletion-risk"]
    )
    assert double["total_count"] == 2 * single["total_count"]
    assert double["category_total_month_usage"] == 2 * single["category_total_month_usage"]
    assert (
        double["summary"]["models_with_no_active_workers"]
        == 2 * single["summary"]["models_with_no_active_workers"]
    )


def test_gateway_load_ratios_pair_each_round_with_the_limit_round_beside_it() -> None:
    from bench.gateway_load import Round, format_table, summarise

    def rounds(*counts: int) -> list[Round]:
        return [Round([0.001] * n, 0, 0.9, 0.5) for n in counts]

    limit = rounds(100, 50, 100)  # the second round hit a burst of other load, on both sides
    routed = rounds(60, 30, 55)
    row = summarise("routed", "v", 16, routed, 1.0, 10, limit)
    assert row.ratio_to_limit == 0.6  # median of 0.60, 0.60, 0.55; the median rates give 0.55
    assert summarise("limit", "v", 16, limit, 1.0, 10).ratio_to_limit is None
    gateway = summarise("gateway", "v", 16, rounds(90, 45, 90), 1.0, 10, limit)
    table = format_table([gateway, summarise("limit", "v", 16, limit, 1.0, 10), row])
    assert table.splitlines()[-1].endswith("| 55 | 1.00 | 0.60 |")
