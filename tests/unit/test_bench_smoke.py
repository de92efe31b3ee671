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
