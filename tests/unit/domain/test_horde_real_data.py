"""Merge on the recorded data: the synthetic current snapshot and the real captures (fixtures README).

Pinned numbers were read off the JSON files by hand (listed in the comments), not produced by the code.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from shared.domain.categories import HordeModelType
from shared.domain.horde.index import HordeIndex, ModelMatcher
from shared.domain.horde.merge import category_total_month_usage, merge_category, merge_matched
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeSnapshot, HordeWorker
from shared.domain.horde.runtime import UsageStats

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data"


@cache
def _json(relative: str) -> Any:
    return json.loads((DATA / relative).read_text(encoding="utf-8"))


def _snapshot(
    model_type: HordeModelType,
    *,
    status: str | None = None,
    stats: str | None = None,
    workers: str | None = None,
) -> HordeSnapshot:
    return HordeSnapshot(
        model_type=model_type,
        status=tuple(HordeModelStatus.model_validate(entry) for entry in _json(status)) if status else None,
        stats=HordeModelStats.model_validate(_json(stats)) if stats else None,
        workers=tuple(HordeWorker.model_validate(entry) for entry in _json(workers)) if workers else None,
    )


@cache
def _synthetic(model_type: HordeModelType) -> HordeSnapshot:
    kind = "image" if model_type == "image" else "text"
    return _snapshot(
        model_type,
        status=f"horde_api/synthetic/status_models_{kind}.json",
        stats=f"horde_api/synthetic/stats_models_{kind}.json",
        workers="horde_api/synthetic/workers.json",
    )


def _image_names() -> list[str]:
    return list(_json("reference/image/stable_diffusion.json"))


def _text_names() -> list[str]:
    return list(_json("reference/v2/text_generation.json"))


def _all(names: list[str], snap: HordeSnapshot) -> dict[str, Any]:
    return merge_category(names, snap, include_workers=True, include_backend_variations=True)


# --- synthetic, current snapshot ----------------------------------------------------------------


def test_synthetic_image_every_current_model_appears() -> None:
    merged = _all(_image_names(), _synthetic("image"))
    assert len(merged) == 161
    # README: 135 current models have a status entry, 26 none; 6 of the 135 are orphans (count 0).
    assert sum(stats.eta is not None for stats in merged.values()) == 135
    assert sum(stats.worker_count > 0 for stats in merged.values()) == 129
    assert sum(stats.thread_count > 0 for stats in merged.values()) == 129


def test_synthetic_image_usage_is_the_whole_known_stats() -> None:
    # Image stats are model_state=known: every key is a current reference name, all attributed.
    snap = _synthetic("image")
    merged = merge_category(_image_names(), snap, include_workers=False, include_backend_variations=False)
    assert snap.stats is not None
    assert category_total_month_usage(merged) == sum(snap.stats.month.values())


def test_synthetic_image_workers_and_threads_differ_d45() -> None:
    # `stable_diffusion`: 7 serving workers with 10 threads in all (workers.json / status entry).
    stats = _all(_image_names(), _synthetic("image"))["stable_diffusion"]
    assert (stats.worker_count, stats.thread_count, stats.worker_count_source) == (7, 10, "workers")
    assert len(stats.worker_summaries or {}) == 7


def test_synthetic_text_eva_instruct_over_all_spellings() -> None:
    stats = _all(_text_names(), _synthetic("text"))["ParasiticRogue/EVA-Instruct-32B"]
    # status_models_text.json: koboldcpp/EVA-Instruct-32B 7, aphrodite/ParasiticRogue/… 2, -IQ4_XS 1,
    # .Q8_0 1 (jobs 7, queued 1530, eta 10000), ::mossy#132761 1 (jobs 19, queued 4324, eta 10000),
    # ::tavern_fan#230018 1 (jobs 14, queued 3332, perf 20.0); perf 23.1 (aphrodite), 23.7 (IQ4_XS).
    assert stats.thread_count == 13
    assert stats.worker_count == 13  # 13 online, non-maintenance workers with one thread each
    assert stats.queued_jobs == 40.0
    assert stats.queued == 9186.0
    assert stats.eta == 10000
    assert stats.performance == pytest.approx((20.0 + 2 * 23.1 + 23.7) / 13)
    # stats_models_text.json month: 9460 + 5330 + 63948 + 9465 + 32044 + 10949 + 42883.
    assert stats.usage_stats.month == 174079
    variations = stats.backend_variations or {}
    assert list(variations) == ["canonical", "aphrodite", "koboldcpp"]
    assert sum(v.usage_month for v in variations.values()) == 174079
    assert [v.thread_count for v in variations.values()] == [0, 2, 11]


def test_synthetic_text_v2_model_does_not_take_v1_usage_d12() -> None:
    merged = _all(_text_names(), _synthetic("text"))
    # -v2 month: aphrodite/ParasiticRogue/EVA-Instruct-32B-v2 119690 + koboldcpp/…-v2 162710
    # + canonical 27263.
    assert merged["ParasiticRogue/EVA-Instruct-32B-v2"].usage_stats.month == 309663
    assert merged["ParasiticRogue/EVA-Instruct-32B-v2"].thread_count == 0


def test_synthetic_text_lunaris_dot_quant_counts() -> None:
    stats = _all(_text_names(), _synthetic("text"))["Sao10K/L3-8B-Lunaris-v1"]
    # koboldcpp/L3-8B-Lunaris-v1 (count 1) + koboldcpp/L3-8B-Lunaris-v1.Q5_K_M (count 1).
    assert (stats.thread_count, stats.worker_count) == (2, 2)
    # day: 23 (canonical) + 2742 + 1167; month: 484 + 49141 + 58579.
    assert (stats.usage_stats.day, stats.usage_stats.month) == (3932, 108204)


def test_synthetic_text_custom_models_match_nothing() -> None:
    snap = _synthetic("text")
    matcher = ModelMatcher(_text_names(), HordeIndex.from_snapshot(snap))
    matched = set(matcher.matched_keys())
    assert snap.status is not None
    unmatched = sorted(s.name for s in snap.status if s.name.lower() not in matched)
    # The 10 invented custom names (make_snapshot.CUSTOM_TEXT_PARTS); everything else matches.
    assert len(unmatched) == 10
    assert all(
        name.split("/")[1].split("-")[0] in {"Velvet", "Nova", "Midnight", "Rogue", "Amber", "Echo"}
        for name in unmatched
    )


@pytest.mark.parametrize("model_type", ["image", "text"])
def test_no_double_counting(model_type: HordeModelType) -> None:
    snap = _synthetic(model_type)
    names = _image_names() if model_type == "image" else _text_names()
    merged = merge_category(names, snap, include_workers=False, include_backend_variations=False)
    assert snap.stats is not None
    assert snap.status is not None
    for window in ("day", "month", "total"):
        matched = sum(getattr(stats.usage_stats, window) for stats in merged.values())
        assert matched <= sum(getattr(snap.stats, window).values())
    assert sum(stats.thread_count for stats in merged.values()) <= sum(s.count for s in snap.status)


def test_all_flag_combinations_share_the_numbers() -> None:
    snap = _synthetic("text")
    matcher = ModelMatcher(_text_names(), HordeIndex.from_snapshot(snap))
    results = [
        merge_matched(matcher, include_workers=w, include_backend_variations=v)
        for w in (False, True)
        for v in (False, True)
    ]
    for name in matcher.names:
        assert len({(r[name].usage_stats, r[name].worker_count, r[name].thread_count) for r in results}) == 1


# --- real captures with the reference in force at capture time ----------------------------------


def test_real_2024_06_image_status_all_189_names_match() -> None:
    snap = _snapshot("image", status="horde_api/status_models_image.json")
    names = list(_json("reference/at_capture/2024-06/image/stable_diffusion.json"))
    merged = merge_category(names, snap, include_workers=False, include_backend_variations=False)
    assert len(merged) == 189
    assert all(stats.thread_count >= 2 and stats.eta is not None for stats in merged.values())
    assert snap.status is not None
    assert sum(stats.thread_count for stats in merged.values()) == sum(s.count for s in snap.status)


def test_real_2023_07_image_stats_two_models() -> None:
    snap = _snapshot("image", stats="horde_api/stats_models_image.json")
    names = list(_json("reference/at_capture/2023-07/image/stable_diffusion.json"))
    merged = merge_category(names, snap, include_workers=False, include_backend_variations=False)
    assert merged["Deliberate"].usage_stats == UsageStats(day=104891, month=3119191, total=13190062)
    assert merged["stable_diffusion"].usage_stats == UsageStats(day=18700, month=932563, total=6821016)
    # The real empty name "" (total 160) and the 26 non-reference names are nobody's.
    assert sum(stats.usage_stats.total for stats in merged.values()) < 51_414_234


def test_real_2023_07_workers_serve_227_reference_models() -> None:
    snap = _snapshot("image", workers="horde_api/workers.json")
    names = list(_json("reference/at_capture/2023-07/image/stable_diffusion.json"))
    merged = merge_category(names, snap, include_workers=True, include_backend_variations=False)
    # README: 227 of the 229 image model names of workers.json are in this reference.
    assert sum(stats.worker_count > 0 for stats in merged.values()) == 227


def test_real_2025_06_text_stats_fimbulvetr() -> None:
    snap = _snapshot("text", stats="horde_api/stats_models_text.json")
    db = _json("reference/at_capture/2025-06/text/db.json")
    names = [name for name in db if not name.startswith(("aphrodite/", "koboldcpp/"))]
    assert len(names) == 517
    merged = merge_category(names, snap, include_workers=False, include_backend_variations=False)
    # day: koboldcpp/Fimbulvetr-11B-v2 3749; month: that 88962 + `.i1-Q6_K` 25 + `.Q8_0` 2600.
    # Not counted: `koboldcpp/Sao10K/Fimbulvetr-11B-v2` (not one of the spellings),
    # `…-Test-14` (another model).
    fimbulvetr = merged["Sao10K/Fimbulvetr-11B-v2"].usage_stats
    assert (fimbulvetr.day, fimbulvetr.month) == (3749, 91587)
    assert snap.stats is not None
    assert category_total_month_usage(merged) <= sum(snap.stats.month.values())


def test_d12_koboldcpp_author_spelling_counts_on_the_2025_06_capture() -> None:
    """Real text stats of 2025-06 against the reference of that day: 97 ``koboldcpp/<author>/<model>``
    names match a reference model; PocketDoc's engine has 1,509 monthly requests under that spelling."""
    names = [name for name in _json("reference/at_capture/2025-06/text/db.json") if "/" in name]
    names = [n for n in names if not n.startswith(("koboldcpp/", "aphrodite/"))]
    snapshot = _snapshot("text", stats="horde_api/stats_models_text.json")
    merged = merge_category(names, snapshot, include_workers=False, include_backend_variations=True)
    model = merged["PocketDoc/Dans-PersonalityEngine-V1.1.0-12b"]
    assert model.usage_stats.month >= 1509
    koboldcpp = (model.backend_variations or {})["koboldcpp"]
    assert koboldcpp.usage_month == model.usage_stats.month
    matcher = ModelMatcher(names, HordeIndex.from_snapshot(snapshot))
    by_full_spelling = [
        match.key
        for name in names
        for match in matcher.matches(name)
        if match.spelling == f"koboldcpp/{name}"
    ]
    assert len(by_full_spelling) >= 90  # 90 exact keys, more with quantisation suffixes


def test_maintenance_workers_are_reported_apart_on_real_workers() -> None:
    """Real ``/v2/workers`` (2023-07): all five workers in maintenance list ``Deliberate`` (read off the
    file). They serve nothing, so they are not in ``worker_count`` but in ``maintenance_worker_count``."""
    listed = [
        w for w in _json("horde_api/workers.json") if w["type"] == "image" and "Deliberate" in w["models"]
    ]
    resting = [w for w in listed if w["online"] and w.get("maintenance_mode")]
    assert len(resting) == 5
    horde = _snapshot("image", status="horde_api/status_models_image.json", workers="horde_api/workers.json")
    merged = merge_category(["Deliberate"], horde, include_workers=True, include_backend_variations=False)
    deliberate = merged["Deliberate"]
    assert deliberate.maintenance_worker_count == 5
    assert deliberate.worker_count == len([w for w in listed if w["online"]]) - 5
