"""The recompute entry point (``build_category_views`` + ``render_views``) on the recorded data.

Pinned numbers were read off the JSON files by hand or with a few lines of plain Python over the
raw files (noted beside each), not produced by the code under test.
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache
from random import Random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.categories import HordeModelType, ModelCategory
from shared.domain.horde.index import HordeIndex, ModelMatcher
from shared.domain.horde.merge import merge_matched
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeSnapshot, HordeWorker
from shared.domain.reference.parse import parse_reference
from shared.domain.reference.records import ReferenceSnapshot
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.views import (
    WITH_STATS_FLAGS,
    CategoryViews,
    build_category_views,
    merge_all_flags,
    render_views,
)
from tests.support.events import DATA

IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION
THRESHOLDS = RiskThresholds()
AT = 1_782_000_000

STATISTICS_VIEWS = {"statistics", "statistics.grouped"}
WITH_STATS_VIEWS = {
    "with-stats",
    "with-stats.workers",
    "with-stats.variations",
    "with-stats.workers.variations",
}
RISK_VIEWS = {
    IMAGE: {"deletion-risk"},
    TEXT: {"deletion-risk", "deletion-risk.grouped", "deletion-risk.variations"},
}
UNGROUPED_RISK = ("deletion-risk", "deletion-risk.variations")


@cache
def _json(relative: str) -> Any:
    return json.loads((DATA / relative).read_text(encoding="utf-8"))


@cache
def _reference(category: ModelCategory, relative: str = "") -> ReferenceSnapshot:
    default = "reference/image/stable_diffusion.json" if category is IMAGE else "reference/text/db.json"
    raw = (DATA / (relative or default)).read_bytes()
    return parse_reference(category, raw, format="legacy", version=relative or default)


def _snapshot(
    model_type: HordeModelType,
    *,
    status: list[dict[str, Any]] | None = None,
    stats: dict[str, Any] | None = None,
    workers: list[dict[str, Any]] | None = None,
) -> HordeSnapshot:
    return HordeSnapshot(
        model_type=model_type,
        status=tuple(HordeModelStatus.model_validate(e) for e in status) if status is not None else None,
        stats=HordeModelStats.model_validate(stats) if stats is not None else None,
        workers=tuple(HordeWorker.model_validate(w) for w in workers) if workers is not None else None,
    )


def _synthetic_payloads(model_type: HordeModelType) -> dict[str, Any]:
    base = "horde_api/synthetic"
    return {
        "status": _json(f"{base}/status_models_{model_type}.json"),
        "stats": _json(f"{base}/stats_models_{model_type}.json"),
        "workers": _json(f"{base}/workers.json"),
    }


@cache
def _synthetic(model_type: HordeModelType) -> HordeSnapshot:
    return _snapshot(model_type, **_synthetic_payloads(model_type))


def _build(reference: ReferenceSnapshot, horde: HordeSnapshot | None) -> CategoryViews:
    return build_category_views(reference, horde, THRESHOLDS, computed_at=AT)


def _model_type(category: ModelCategory) -> HordeModelType:
    return "image" if category is IMAGE else "text"


@cache
def _rendered(category: ModelCategory) -> dict[str, bytes]:
    return render_views(_views(category))


@cache
def _views(category: ModelCategory) -> CategoryViews:
    return _build(_reference(category), _synthetic(_model_type(category)))


def _decoded(rendered: dict[str, bytes]) -> dict[str, Any]:
    return {name: json.loads(body) for name, body in rendered.items()}


def _shuffled(payloads: dict[str, Any], rng: Random) -> dict[str, Any]:
    """The same payloads in another order: status entries, stats keys per window, workers, models."""
    status = list(payloads["status"])
    rng.shuffle(status)
    stats = {}
    for window, counts in payloads["stats"].items():
        items = list(counts.items())
        rng.shuffle(items)
        stats[window] = dict(items)
    workers = []
    for worker in payloads["workers"]:
        models = list(worker.get("models", []))
        rng.shuffle(models)
        workers.append({**worker, "models": models})
    rng.shuffle(workers)
    return {"status": status, "stats": stats, "workers": workers}


def assert_invariants(views: CategoryViews, reference: ReferenceSnapshot) -> None:
    """What must hold for any reference and any Horde snapshot with status and stats."""
    rendered = _decoded(render_views(views))
    names = reference.names()
    assert set(rendered) == STATISTICS_VIEWS | WITH_STATS_VIEWS | RISK_VIEWS[reference.category]
    for view in WITH_STATS_VIEWS:
        assert list(rendered[view]) == names, view  # every model once, reference order, no Horde-only name
    ungrouped_sum = None
    for view in RISK_VIEWS[reference.category]:
        response = rendered[view]
        models = response["models"]
        assert response["total_count"] == response["returned_count"] == len(models)  # unpaged (D9)
        assert response["summary"]["total_models"] == len(models)
        assert response["category_total_month_usage"] == response["summary"]["category_total_month_usage"]
        assert all(0 <= m["usage_percentage_of_category"] <= 100 for m in models)
        months = [m["usage_month"] for m in models]
        assert months == sorted(months, reverse=True)
        total = sum(months)
        assert total == response["category_total_month_usage"]
        if view in UNGROUPED_RISK:
            assert sorted(m["name"] for m in models) == sorted(names)
            ungrouped_sum = total if ungrouped_sum is None else ungrouped_sum
            assert total == ungrouped_sum
    assert ungrouped_sum == sum(entry["usage_stats"]["month"] for entry in rendered["with-stats"].values())


# --- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("category", [IMAGE, TEXT])
def test_same_inputs_give_the_same_bytes(category: ModelCategory) -> None:
    reference, snapshot = _reference(category), _synthetic(_model_type(category))
    first = render_views(_build(reference, snapshot))
    second = render_views(_build(reference, snapshot))
    assert first == second
    assert set(first) == STATISTICS_VIEWS | WITH_STATS_VIEWS | RISK_VIEWS[category]


@pytest.mark.parametrize("category", [IMAGE, TEXT])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_horde_payload_order_does_not_change_any_byte(category: ModelCategory, seed: int) -> None:
    model_type = _model_type(category)
    shuffled = _snapshot(model_type, **_shuffled(_synthetic_payloads(model_type), Random(seed)))
    views = _build(_reference(category), shuffled)
    assert render_views(views) == _rendered(category)


@pytest.mark.parametrize("category", [IMAGE, TEXT])
def test_reference_order_only_breaks_ties(category: ModelCategory) -> None:
    reference = _reference(category)
    reversed_reference = reference.model_copy(update={"records": reference.records[::-1]})
    views = _decoded(render_views(_build(reversed_reference, _synthetic(_model_type(category)))))
    original = _decoded(_rendered(category))
    for view in WITH_STATS_VIEWS:
        assert list(views[view]) == list(original[view])[::-1]
        assert views[view] == original[view]  # same entries, only the order differs
    for view in UNGROUPED_RISK if category is TEXT else ("deletion-risk",):
        ties: dict[int, list[str]] = defaultdict(list)
        for model in original[view]["models"]:
            ties[model["usage_month"]].append(model["name"])
        expected = [name for month in sorted(ties, reverse=True) for name in ties[month][::-1]]
        assert [m["name"] for m in views[view]["models"]] == expected
        by_name = {m["name"]: m for m in original[view]["models"]}
        assert {m["name"]: m for m in views[view]["models"]} == by_name


def test_merging_once_gives_the_same_maps_as_merging_per_flag_set() -> None:
    """``merge_all_flags`` derives three maps from one merge; they must equal separate merges."""
    for category in (IMAGE, TEXT):
        matcher = ModelMatcher(
            _reference(category).names(), HordeIndex.from_snapshot(_synthetic(_model_type(category)))
        )
        derived = merge_all_flags(matcher)
        for workers, variations in WITH_STATS_FLAGS:
            direct = merge_matched(matcher, include_workers=workers, include_backend_variations=variations)
            rendered = {
                name: stats.model_dump_json() for name, stats in derived[(workers, variations)].items()
            }
            assert rendered == {name: stats.model_dump_json() for name, stats in direct.items()}


def test_payload_order_of_statuses_that_normalise_alike_does_not_matter() -> None:
    reference = _reference(IMAGE)
    entries = [
        {"name": "Deliberate", "count": 1, "performance": 0.1},
        {"name": "Deliberate ", "count": 1, "performance": 0.2},
        {"name": "deliberate", "count": 1, "performance": 0.3},
    ]
    first = render_views(_build(reference, _snapshot("image", status=entries, stats={})))
    second = render_views(_build(reference, _snapshot("image", status=entries[::-1], stats={})))
    assert first == second


# --- invariants on the synthetic snapshot ---------------------------------------------------------


@pytest.mark.parametrize("category", [IMAGE, TEXT])
def test_invariants_hold_on_the_synthetic_snapshot(category: ModelCategory) -> None:
    assert_invariants(_views(category), _reference(category))


def test_no_horde_only_name_appears_anywhere() -> None:
    # Custom names in the synthetic text status (README §3), unknown to the reference.
    rendered = _rendered(TEXT)
    for name in ("koboldcpp/Velvet-Maid-12B-v3", "Velvet-Maid-12B-v3", "koboldcpp/Nova-Chronicle-22B-v1"):
        for view in WITH_STATS_VIEWS | RISK_VIEWS[TEXT]:
            assert json.dumps(name) not in rendered[view].decode(), (name, view)
    # Image: names removed in the last reference change but still served (README §3).
    image = _rendered(IMAGE)
    for name in ("ChilloutMix", "Anime Illust Diffusion XL", "Dark Sushi Mix"):
        assert all(
            json.dumps(name) not in image[view].decode() for view in WITH_STATS_VIEWS | RISK_VIEWS[IMAGE]
        )


def test_grouped_risk_keeps_the_usage_and_counts_groups() -> None:
    rendered = _decoded(_rendered(TEXT))
    grouped, plain = rendered["deletion-risk.grouped"], rendered["deletion-risk"]
    assert sum(m["usage_month"] for m in grouped["models"]) == sum(m["usage_month"] for m in plain["models"])
    assert sum(m["usage_day"] for m in grouped["models"]) == sum(m["usage_day"] for m in plain["models"])
    # D9: total_count counts the groups returned, not the models grouped.
    assert grouped["total_count"] == len(grouped["models"]) < plain["total_count"] == 719
    assert grouped["category_total_month_usage"] == plain["category_total_month_usage"]  # D10
    names = [m["name"] for m in grouped["models"]]
    assert len(names) == len(set(names))


# --- no runtime views without a complete Horde snapshot -------------------------------------------


@pytest.mark.parametrize("category", [IMAGE, TEXT])
@pytest.mark.parametrize("missing", ["snapshot", "status", "stats", "status and stats"])
def test_missing_horde_data_gives_only_the_statistics_views(category: ModelCategory, missing: str) -> None:
    model_type = _model_type(category)
    payloads = _synthetic_payloads(model_type)
    horde = None
    if missing != "snapshot":
        horde = _snapshot(model_type, **{k: v for k, v in payloads.items() if k not in missing})
    views = _build(_reference(category), horde)
    assert views.runtime is None
    rendered = render_views(views)
    assert set(rendered) == STATISTICS_VIEWS
    assert rendered["statistics"] == _rendered(category)["statistics"]


def test_missing_workers_falls_back_to_status_threads() -> None:
    payloads = _synthetic_payloads("image")
    horde = _snapshot("image", status=payloads["status"], stats=payloads["stats"])
    views = _build(_reference(IMAGE), horde)
    assert views.runtime is not None
    with_stats = views.runtime.with_stats[(True, False)]
    assert all(s.worker_count_source == "status" and s.worker_summaries is None for s in with_stats.values())
    assert all(s.worker_count == s.thread_count for s in with_stats.values())


def test_static_categories_have_only_statistics() -> None:
    raw = (DATA / "reference/v2/controlnet.json").read_bytes()
    reference = parse_reference(ModelCategory.CONTROLNET, raw, format="v2", version="v2")
    views = _build(reference, _synthetic("image"))
    assert views.runtime is None
    assert json.loads(render_views(views)["statistics"])["total_models"] == 18


# --- pinned facts: synthetic snapshot × current references ----------------------------------------


def test_synthetic_image_facts() -> None:
    runtime = _views(IMAGE).runtime
    assert runtime is not None
    with_stats = runtime.with_stats[(False, False)]
    assert len(with_stats) == 161
    # README §3: 26 current models have no status entry and 6 only an orphan entry (count 0).
    assert sum(stats.worker_count == 0 for stats in with_stats.values()) == 32
    # Σ month of stats_models_image.json: every key is a current reference name.
    assert runtime.category_total_month_usage == 18_934_237
    assert runtime.risk[(False, False)].category_total_month_usage == 18_934_237
    # README §3: the 5 models added in the last change are not in the stats yet.
    added = ("Nova Flat XL", "Nova Furry XL", "PerfectDeliberate", "Rag Illustrious Mix", "Ri-Mix")
    assert all(with_stats[name].usage_stats.total == 0 for name in added)


def test_synthetic_text_facts() -> None:
    runtime = _views(TEXT).runtime
    assert runtime is not None
    # Σ month over stats keys that are db.json keys (4,692,671) plus 10 quantised/user-tagged names
    # whose stem is one (361,590), by a 10-line script over the raw files.
    assert runtime.category_total_month_usage == 5_054_261
    assert len(runtime.with_stats[(False, False)]) == 719


def test_synthetic_text_entry_by_hand() -> None:
    """``ParasiticRogue/EVA-Instruct-32B``: six status entries and seven stats keys of its own.

    Its ``-v2`` sibling (another reference model) must not leak in (D12). Workers: 14 list one of
    its spellings, ``Smurf 3`` is offline, so 13 count.
    """
    runtime = _views(TEXT).runtime
    assert runtime is not None
    stats = runtime.with_stats[(True, True)]["ParasiticRogue/EVA-Instruct-32B"]
    # day 288+1664+143+2576+1152+412+128; month 9465+42883+5330+63948+32044+10949+9460.
    usage = stats.usage_stats
    assert (usage.day, usage.month, usage.total) == (6363, 174_079, 1_954_509)
    assert stats.thread_count == 13  # 1+1+2+1+7+1
    assert stats.worker_count == 13
    assert stats.worker_summaries is not None
    assert len(stats.worker_summaries) == 13
    assert "Smurf 3" not in {w.name for w in stats.worker_summaries.values()}
    assert (stats.queued_jobs, stats.queued, stats.eta) == (40.0, 9186.0, 10000)
    assert stats.performance == pytest.approx((20.0 + 23.1 * 2 + 23.7) / 13)
    assert stats.backend_variations is not None
    assert list(stats.backend_variations) == ["canonical", "aphrodite", "koboldcpp"]
    canonical = stats.backend_variations["canonical"]
    assert (canonical.worker_count, canonical.usage_month, canonical.performance) == (0, 63_948, None)
    aphrodite = stats.backend_variations["aphrodite"]
    assert (aphrodite.worker_count, aphrodite.thread_count, aphrodite.usage_month) == (2, 2, 5330)
    risk = {m.name: m for m in runtime.risk[(False, True)].models}["ParasiticRogue/EVA-Instruct-32B"]
    assert (risk.usage_month, risk.worker_count) == (174_079, 13)
    assert risk.usage_percentage_of_category == round(174_079 / 5_054_261 * 100, 4)


# --- real captures with the reference in force when they were taken -------------------------------


def test_real_2024_06_status_with_its_reference() -> None:
    reference = _reference(IMAGE, "reference/at_capture/2024-06/image/stable_diffusion.json")
    status = _json("horde_api/status_models_image.json")
    assert _build(reference, _snapshot("image", status=status)).runtime is None
    # An empty (valid) stats payload, so the runtime views exist; usage is then zero by data.
    horde = _snapshot("image", status=status, stats={})
    views = _build(reference, horde)
    assert views.runtime is not None
    assert_invariants(views, reference)
    with_stats = views.runtime.with_stats[(False, False)]
    assert len(with_stats) == 189  # README: its 189 names are exactly this reference's 189 names
    assert all(stats.thread_count > 0 for stats in with_stats.values())  # count is 2–21
    assert sum(stats.thread_count for stats in with_stats.values()) == 742  # Σ count of the file
    deliberate = with_stats["Deliberate"]  # {"performance": 541063.1, "count": 12, "eta": 0, ...}
    assert (deliberate.thread_count, deliberate.worker_count, deliberate.performance) == (12, 12, 541063.1)
    assert views.runtime.category_total_month_usage == 0


def test_real_2023_07_stats_and_workers_with_their_reference() -> None:
    reference = _reference(IMAGE, "reference/at_capture/2023-07/image/stable_diffusion.json")
    stats, workers = _json("horde_api/stats_models_image.json"), _json("horde_api/workers.json")
    horde = _snapshot("image", status=[], stats=stats, workers=workers)  # no status capture of that day
    views = _build(reference, horde)
    assert views.runtime is not None
    assert_invariants(views, reference)
    with_stats = views.runtime.with_stats[(True, False)]
    assert len(with_stats) == 228
    # Σ month/day/total over the 228 reference names (the 26 other stats names never count).
    assert views.runtime.category_total_month_usage == 9_845_958
    assert sum(s.usage_stats.day for s in with_stats.values()) == 314_312
    assert sum(s.usage_stats.total for s in with_stats.values()) == 50_788_175
    # README: 227 of the 229 image model names of the workers are reference names; all served ones
    # belong to online, not-in-maintenance workers.
    assert sum(s.worker_count > 0 for s in with_stats.values()) == 227
    deliberate = with_stats["Deliberate"]
    assert (deliberate.usage_stats.day, deliberate.usage_stats.month) == (104_891, 3_119_191)
    assert deliberate.worker_count == 56
    assert deliberate.worker_summaries is not None
    assert len(deliberate.worker_summaries) == 56


# --- property: random subsets of the real image reference and the synthetic status ----------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    models=st.lists(st.integers(0, 160), unique=True, max_size=25),
    entries=st.lists(st.integers(0, 137), unique=True, max_size=40),
    seed=st.integers(0, 2**16),
)
def test_any_subset_builds_and_keeps_the_invariants(models: list[int], entries: list[int], seed: int) -> None:
    full = _reference(IMAGE)
    reference = full.model_copy(update={"records": tuple(full.records[i] for i in sorted(models))})
    payloads = _synthetic_payloads("image")
    subset = {**payloads, "status": [payloads["status"][i] for i in sorted(entries)]}
    views = _build(reference, _snapshot("image", **subset))
    assert views.runtime is not None
    assert_invariants(views, reference)
    shuffled = _snapshot("image", **_shuffled(subset, Random(seed)))
    assert render_views(_build(reference, shuffled)) == render_views(views)
