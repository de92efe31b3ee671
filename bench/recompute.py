"""Time the full analytics recompute (every view of a category, built and rendered) by data size.

A worker runs ``build_category_views`` + ``render_views`` once per category on every new Horde
snapshot or reference version, so that pair is what is timed, on one core, at the real size and
at k-fold copies of it (see :mod:`bench.synthetic`) to show whether cost grows linearly. As in the
worker (``services/analytics/recompute.py``), the cyclic garbage collector is paused during the
recompute (:func:`shared.collector.collector_paused`).

    python -m bench.recompute [--scales 1,10,100] [--repeat N] [--json PATH] [--no-pin]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from bench.synthetic import (
    LEGACY_REFERENCES,
    horde_entries,
    load_reference,
    load_snapshot,
    scale_reference,
    scale_snapshot,
    static_categories,
)
from shared.collector import collector_paused
from shared.domain.categories import ModelCategory
from shared.domain.horde.index import HordeIndex, ModelMatcher
from shared.domain.horde.payloads import HordeSnapshot
from shared.domain.reference.records import ReferenceSnapshot
from shared.domain.risk.analysis import category_total_month_usage
from shared.domain.risk.grouping import group_risk_models
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.views import (
    CategoryViews,
    RuntimeViews,
    analyze_all,
    build_category_views,
    merge_all_flags,
    render_views,
    risk_responses,
    static_statistics,
    with_impacts,
)

T = TypeVar("T")
THRESHOLDS = RiskThresholds()
COMPUTED_AT = 1_782_000_000
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "recompute.json"
#: The budget this benchmark reports against (all views of text at real size, one core).
TARGET_MS = 50.0
#: Issue 17's budget for the same recompute with the lifecycle fields of every risk row.
LIFECYCLE_TARGET_MS = 60.0
#: Days of generated history behind the lifecycle fields (a summary's size does not grow with them).
LIFECYCLE_DAYS = 30
TARGET_CATEGORY = ModelCategory.TEXT_GENERATION


@dataclass(frozen=True)
class Row:
    """One (category, scale) measurement; times in milliseconds, memory in MiB."""

    category: str
    scale: int
    models: int
    horde_entries: int
    views: int
    median_ms: float
    min_ms: float
    ms_per_model: float
    peak_mib: float
    ratio_to_1x: float | None = None


def pin_to_one_core() -> int | None:
    """Pin this process to the last CPU it may use (less scheduler noise); None where unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def recompute(reference: ReferenceSnapshot, horde: HordeSnapshot | None) -> dict[str, bytes]:
    """What a worker does for one category: build every view and render it, collector paused."""
    with collector_paused():
        return render_views(build_category_views(reference, horde, THRESHOLDS, computed_at=COMPUTED_AT))


def _timed(run: Callable[[], object], repeat: int) -> list[float]:
    times: list[float] = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return times


def peak_mib(run: Callable[[], object]) -> float:
    """Peak memory allocated during one run (tracemalloc; a separate, untimed run)."""
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measure(
    category: ModelCategory,
    reference: ReferenceSnapshot,
    horde: HordeSnapshot | None,
    scale: int,
    repeat: int,
    *,
    gc_freeze: bool = False,
) -> Row:
    """Time ``repeat`` recomputes of one category (after one warm-up) and one traced run.

    ``gc_freeze`` moves the inputs out of the collector's reach first (``gc.freeze``), as a worker
    could after loading them: full collections otherwise re-traverse the whole input every time.
    """
    print(f"measuring {category.value} ×{scale} ...", file=sys.stderr, flush=True)
    if gc_freeze:
        gc.collect()
        gc.freeze()
    try:
        views = recompute(reference, horde)  # warm-up: imports, caches, pydantic schema builds
        times = _timed(lambda: recompute(reference, horde), repeat)
        peak = peak_mib(lambda: recompute(reference, horde))
    finally:
        gc.unfreeze()
    median = statistics.median(times)
    return Row(
        category=category.value,
        scale=scale,
        models=len(reference.records),
        horde_entries=horde_entries(horde),
        views=len(views),
        median_ms=round(median, 2),
        min_ms=round(min(times), 2),
        ms_per_model=round(median / max(len(reference.records), 1), 4),
        peak_mib=round(peak, 2),
    )


def run_scales(
    categories: Sequence[ModelCategory], scales: Sequence[int], repeat: int, *, gc_freeze: bool = False
) -> list[Row]:
    """Runtime categories at every scale (ratio = median / median at 1×), static ones at 1× only.

    Smallest scale first for all categories, rows listed by category. A large run leaves its names
    in the domain's memos, scattered through the freed heap, and a later 1× run then measured up to
    30 % slower: a state a worker, which only ever sees its own size, is never in.
    """
    measured: dict[tuple[ModelCategory, int], Row] = {}
    for scale in scales:
        for category in categories:
            static = category not in LEGACY_REFERENCES
            if static and scale > 1:
                continue
            reference = load_reference(category)
            reference = reference if static else scale_reference(reference, scale)
            snapshot = None if static else scale_snapshot(load_snapshot(category), scale)
            row = measure(category, reference, snapshot, scale, repeat, gc_freeze=gc_freeze)
            measured[(category, scale)] = row
    rows: list[Row] = []
    for category in categories:
        base = measured[(category, 1)].median_ms if category in LEGACY_REFERENCES else None
        for scale in scales:
            row = measured.get((category, scale))
            if row is not None:
                ratio = round(row.median_ms / base, 2) if base else None
                rows.append(Row(**{**asdict(row), "ratio_to_1x": ratio}))
    return rows


def _clock(phases: dict[str, list[float]], name: str, step: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = step()
    phases.setdefault(name, []).append((time.perf_counter() - start) * 1000)
    return result


def phased_recompute(
    reference: ReferenceSnapshot, horde: HordeSnapshot, phases: dict[str, list[float]]
) -> dict[str, bytes]:
    """The steps of ``build_category_views`` + ``render_views``, each timed into ``phases``.

    Uses the same helpers as ``shared.domain.views`` so the sum of phases is the recompute
    (the smoke test checks the bytes are identical). Grouping is also timed on its own, although
    it runs again inside the risk responses, to show its share.
    """
    stats, grouped_stats = _clock(
        phases, "statistics (static)", lambda: static_statistics(reference, computed_at=COMPUTED_AT)
    )
    index = _clock(phases, "index build", lambda: HordeIndex.from_snapshot(horde))
    matcher = _clock(phases, "matching", lambda: ModelMatcher(reference.names(), index))
    with_stats = _clock(phases, "merge (4 flag sets)", lambda: merge_all_flags(matcher))
    full = with_stats[(True, True)]
    total = category_total_month_usage(reference.records, full)
    analyses = _clock(phases, "risk analysis", lambda: analyze_all(reference, full, THRESHOLDS))
    analyses = _clock(phases, "impact", lambda: with_impacts(analyses, reference, full, None))
    _clock(
        phases,
        "(grouping alone)",
        lambda: group_risk_models(analyses[False], category_total_month_usage=total, thresholds=THRESHOLDS),
    )
    risk = _clock(
        phases,
        "risk responses (grouping, summaries)",
        lambda: risk_responses(reference.category, analyses, total, THRESHOLDS),
    )
    runtime = RuntimeViews(with_stats, {f: tuple(r.models) for f, r in risk.items()}, risk, total)
    views = CategoryViews(reference.category, stats, grouped_stats, runtime)
    return _clock(phases, "rendering", lambda: render_views(views))


def measure_phases(category: ModelCategory, repeat: int) -> dict[str, float]:
    """Median milliseconds of each phase at real size (collector paused, as in :func:`recompute`)."""
    reference, snapshot = load_reference(category), load_snapshot(category)
    phased_recompute(reference, snapshot, {})  # warm-up
    phases: dict[str, list[float]] = {}
    for _ in range(repeat):
        gc.collect()
        with collector_paused():
            phased_recompute(reference, snapshot, phases)
    return {name: round(statistics.median(times), 2) for name, times in phases.items()}


def measure_lifecycle(repeat: int) -> dict[str, float]:
    """Median ms of all text views at real size without and with lifecycle fields (``bench.history``'s
    generated history of ``LIFECYCLE_DAYS`` days behind every model)."""
    from datetime import UTC, datetime

    from bench.history import generated_days, recompute_with_lifecycle

    names = list(load_reference(TARGET_CATEGORY).names())
    today = datetime.now(UTC).date()
    return recompute_with_lifecycle(generated_days(names, LIFECYCLE_DAYS, today), today, repeat=repeat)


def format_table(rows: Sequence[Row]) -> str:
    """Fixed-width table of the rows, one line each."""
    header = (
        f"{'category':<17} {'scale':>5} {'models':>7} {'horde':>7} {'views':>5} {'median ms':>10} "
        f"{'min ms':>9} {'ms/model':>9} {'peak MiB':>9} {'ratio 1x':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        ratio = f"{r.ratio_to_1x:.2f}" if r.ratio_to_1x is not None else "-"
        lines.append(
            f"{r.category:<17} {r.scale:>5} {r.models:>7} {r.horde_entries:>7} {r.views:>5} "
            f"{r.median_ms:>10.2f} {r.min_ms:>9.2f} {r.ms_per_model:>9.4f} {r.peak_mib:>9.2f} {ratio:>8}"
        )
    return "\n".join(lines)


def format_phases(phases: dict[str, float]) -> str:
    """One line per phase; the total excludes the informative grouping-alone line."""
    total = sum(ms for name, ms in phases.items() if not name.startswith("("))
    lines = [f"  {name:<38} {ms:>9.2f} ms" for name, ms in phases.items()]
    return "\n".join([*lines, f"  {'sum of phases':<38} {total:>9.2f} ms"])


def _parse_scales(text: str) -> list[int]:
    scales = sorted({int(part) for part in text.split(",") if part.strip()})
    if not scales or scales[0] < 1:
        raise argparse.ArgumentTypeError("scales must be positive integers, e.g. 1,10,100")
    return scales if scales[0] == 1 else [1, *scales]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; prints the tables and writes the JSON results."""
    parser = argparse.ArgumentParser(prog="python -m bench.recompute", description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=_parse_scales, default=[1, 10, 100], help="e.g. 1,10,100 (1 added)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="results file ('' to skip)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() the inputs before timing")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)

    cpu = None if args.no_pin else pin_to_one_core()
    print(f"pinned to CPU {cpu}" if cpu is not None else "not pinned (unsupported or --no-pin)")
    gc_mode = "inputs frozen (gc.freeze)" if args.gc_freeze else "default gc"
    print(f"python {platform.python_version()} on {platform.machine()}, repeat {repeat}, median, {gc_mode}\n")

    categories = [*LEGACY_REFERENCES, *static_categories()]
    phases = measure_phases(TARGET_CATEGORY, repeat)  # at real size, before any larger run (see run_scales)
    lifecycle = measure_lifecycle(max(repeat, 9))
    rows = run_scales(categories, args.scales, repeat, gc_freeze=args.gc_freeze)
    print(format_table(rows))
    print(f"\nphases of {TARGET_CATEGORY.value} at 1× (median ms):\n{format_phases(phases)}")
    target_row = next(r for r in rows if r.category == TARGET_CATEGORY.value and r.scale == 1)
    verdict = "met" if target_row.median_ms <= TARGET_MS else "MISSED"
    print(
        f"\ntarget: all views of {TARGET_CATEGORY.value} at 1× ≤ {TARGET_MS:g} ms on one core: "
        f"median {target_row.median_ms:.2f} ms → {verdict}"
    )
    with_lifecycle = lifecycle["with_lifecycle"]
    lifecycle_verdict = "met" if with_lifecycle <= LIFECYCLE_TARGET_MS else "MISSED"
    print(
        f"target: the same with lifecycle fields ≤ {LIFECYCLE_TARGET_MS:g} ms: "
        f"median {with_lifecycle:.1f} ms (without {lifecycle['without_lifecycle']:.1f} ms, interleaved; "
        f"min {lifecycle['with_lifecycle_min']:.1f} / {lifecycle['without_lifecycle_min']:.1f} ms, "
        f"CPU time {lifecycle['with_lifecycle_cpu']:.1f} / {lifecycle['without_lifecycle_cpu']:.1f} ms) "
        f"→ {lifecycle_verdict}"
    )

    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "pinned_cpu": cpu,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "repeat": repeat,
            "gc_freeze": args.gc_freeze,
            "scales": args.scales,
            "rows": [asdict(r) for r in rows],
            "phases_text_generation_1x_ms": phases,
            "target": {
                "category": TARGET_CATEGORY.value,
                "max_ms": TARGET_MS,
                "median_ms": target_row.median_ms,
                "met": verdict == "met",
            },
            "lifecycle_target": {
                "category": TARGET_CATEGORY.value,
                "max_ms": LIFECYCLE_TARGET_MS,
                "median_ms": lifecycle,
                "met": lifecycle_verdict == "met",
            },
        }
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
