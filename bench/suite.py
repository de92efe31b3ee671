"""``make bench``: every benchmark in one run, one combined table, one JSON file.

    python -m bench.suite [--quick] [--json PATH] [--max-minutes N]

Why one command: the figures only mean something side by side and with the machine they ran
on, and a regression is only caught if the whole set is cheap to re-run. The suite runs, one
after the other and each as its own ``python -m`` subprocess (own interpreter, own CPU pinning,
its processes cleaned up by its own ``finally`` blocks):

1. ``bench.recompute``: all views per category at 1×, 10×, 100× real size (quick: 1×, 10×);
2. ``bench.gateway_load``: req/s, p50/p99 per route at 1 and 16 connections against a bare
   ASGI app serving the same bytes (quick: 1 s per run instead of 3 s);
3. ``bench.freshness``: status snapshot publish → Redis pointer → gateway answer (120 snapshots;
   quick: 100);
4. ``bench.memory``: peak RSS per service process during a full offline stack run (20 s; quick 10 s);
5. ``bench.streams``: 1,000 event streams on one gateway process: memory per stream, risk event
   in Redis → last stream (p50, p99), query p99 with and without the streams (40 events; quick 20).

It then prints a markdown table (what / data / figure) preceded by the date and machine line,
and writes ``bench/results/suite.json`` (quick: ``suite-quick.json``) with the machine (CPU
count, memory, CPU model, Python), the broker kind, the load average around every phase (the
machine may be shared) and each benchmark's own JSON. Bounded: every phase has a time limit and
the whole suite stops starting phases after ``--max-minutes``; a phase that overruns gets SIGINT
(its ``finally`` blocks stop its servers), then SIGKILL of its process group.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.gateway_load import TARGET_P99_MS, TARGET_RATIO, VARIANTS

RESULTS = Path(__file__).resolve().parent / "results"
#: Recompute budget (all views of text at 1×, one core), as in ``bench.recompute``.
RECOMPUTE_TARGET_MS = 50.0


@dataclass(frozen=True)
class Phase:
    """One benchmark: its module, arguments and time limit for a full and a quick run."""

    name: str
    module: str
    full_args: tuple[str, ...]
    quick_args: tuple[str, ...]
    full_limit_s: float
    quick_limit_s: float


PHASES: tuple[Phase, ...] = (
    Phase(
        "recompute",
        "bench.recompute",
        ("--scales", "1,10,100", "--repeat", "3"),
        ("--scales", "1,10", "--repeat", "3"),
        540,
        150,
    ),
    Phase(
        "gateway_load",
        "bench.gateway_load",
        ("--seconds", "1", "--warmup", "0.3", "--rounds", "3"),
        ("--seconds", "0.5", "--warmup", "0.2", "--rounds", "2"),
        360,
        150,
    ),
    Phase(
        "freshness",
        "bench.freshness",
        ("--snapshots", "120", "--budget-seconds", "240"),
        ("--snapshots", "100", "--budget-seconds", "120"),
        360,
        210,
    ),
    Phase("memory", "bench.memory", ("--seconds", "20"), ("--seconds", "10"), 240, 150),
    Phase(
        "streams",
        "bench.streams",
        ("--streams", "1000", "--events", "40"),
        ("--streams", "1000", "--events", "20", "--query-seconds", "5"),
        240,
        150,
    ),
)


# -- machine ----------------------------------------------------------------------------------------
def _proc_field(path: str, name: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return "unknown"


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (other jobs on the machine show up here)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    """What the figures ran on: CPUs, memory, CPU model, Python, OS."""
    mem_kib = _proc_field("/proc/meminfo", "MemTotal").split()[0]
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": usable,
        "memory_gib": round(int(mem_kib) / 2**20, 1) if mem_kib.isdigit() else None,
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
    }


def machine_line(info: dict[str, Any], date: str, broker: str) -> str:
    """One line: date, CPUs, memory, CPU model, Python, broker, load at start."""
    load = "/".join(str(x) for x in info["load_average_at_start"]) or "n/a"
    return (
        f"Run {date} on {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB, "
        f"Python {info['python']}, broker {broker}; load average at start {load} (1/5/15 min)"
    )


# -- running ----------------------------------------------------------------------------------------
def run_phase(phase: Phase, *, quick: bool, out_dir: Path, limit: float) -> dict[str, Any]:
    """Run one benchmark as a subprocess (output to our stderr) within ``limit`` seconds."""
    json_path = out_dir / f"{phase.name}.json"
    json_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", phase.module, *(phase.quick_args if quick else phase.full_args)]
    command += ["--json", str(json_path)]
    print(
        f"\n[suite] {phase.name}: python {' '.join(command[1:])} (limit {limit:.0f} s)",
        file=sys.stderr,
        flush=True,
    )
    load_before, started = load_average(), time.monotonic()
    process = subprocess.Popen(command, stdout=sys.stderr, stderr=sys.stderr, start_new_session=True)
    outcome = "ok"
    try:
        returncode = process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        outcome = "timeout"
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        returncode = process.returncode
    if outcome == "ok" and returncode != 0:
        outcome = f"exit {returncode}"
    result = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else None
    return {
        "command": " ".join(["python", *command[1:]]),
        "outcome": outcome if result is not None or outcome != "ok" else "no result file",
        "seconds": round(time.monotonic() - started, 1),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "result": result,
    }


# -- table ------------------------------------------------------------------------------------------
def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def recompute_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    repeat = result.get("repeat", "?")
    rows: list[tuple[str, str, str]] = []
    static = [r for r in result["rows"] if r["horde_entries"] == 0]
    for r in result["rows"]:
        if r["horde_entries"] == 0:
            continue
        data = "real size" if r["scale"] == 1 else f"{r['scale']}× copies"
        rows.append(
            (
                f"recompute all {r['views']} views of {r['category']} "
                f"(build + render, 1 pinned core, median of {repeat})",
                f"{data}: {r['models']:,} models, {r['horde_entries']:,} Horde entries",
                f"{_n(r['median_ms'])} ms (min {_n(r['min_ms'])}; peak {_n(r['peak_mib'])} MiB"
                + (
                    f"; {r['ratio_to_1x']:.1f}× the 1× time)" if r["scale"] != 1 and r["ratio_to_1x"] else ")"
                ),
            )
        )
    if static:
        times = [r["median_ms"] for r in static]
        models = [r["models"] for r in static]
        rows.append(
            (
                f"recompute statistics of each of {len(static)} static categories",
                f"real size: {min(models)}–{max(models)} models, no Horde data",
                f"{min(times):.2f}–{max(times):.2f} ms",
            )
        )
    text = next((r for r in result["rows"] if r["category"] == "text_generation" and r["scale"] == 1), None)
    if text is not None:
        met = text["median_ms"] <= RECOMPUTE_TARGET_MS
        rows.append(
            (
                f"target: text_generation at 1× ≤ {RECOMPUTE_TARGET_MS:g} ms",
                "row above",
                f"{'met' if met else '**missed**'} ({_n(text['median_ms'])} ms)",
            )
        )
    return rows


def _ratio(row: dict[str, Any], limit: dict[str, Any] | None) -> float:
    """A row's ratio to the limit: the median of its per-round ratios where the JSON has it (older
    results: the ratio of the median rates)."""
    if row.get("ratio_to_limit") is not None:
        return float(row["ratio_to_limit"])
    return row["rps"] / limit["rps"] if limit and limit["rps"] else 0.0


def gateway_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    urls = {name: (url.replace("/model_references/statistics", "…"), gz) for name, url, gz in VARIANTS}
    limit = {(r["variant"], r["concurrency"]): r for r in result["rows"] if r["server"] == "limit"}
    routed = {(r["variant"], r["concurrency"]): r for r in result["rows"] if r["server"] == "routed"}
    settings = result.get("settings", {})
    seconds = f"{settings.get('rounds', 1)} × {settings.get('seconds', '?')}"
    rows: list[tuple[str, str, str]] = []
    ratios: list[float] = []
    p99_at_16: list[float] = []
    for r in (r for r in result["rows"] if r["server"] == "gateway"):
        lim = limit.get((r["variant"], r["concurrency"]))
        ratio = _ratio(r, lim)
        ratios.append(ratio)
        if r["concurrency"] == 16:
            p99_at_16.append(r["p99_ms"])
        url, gz = urls.get(r["variant"], (r["variant"], False))
        conn = "connection" if r["concurrency"] == 1 else "connections"
        slow = routed.get((r["variant"], r["concurrency"]))
        first = (
            f"; routed, no replay: {slow['rps']:,.0f} req/s, p99 {slow['p99_ms']:.2f} ms, "
            f"{_ratio(slow, lim):.2f}× bare ASGI"
            if slow
            else ""
        )
        rows.append(
            (
                f"gateway `GET {url}`{' (gzip)' if gz else ''}, {r['concurrency']} {conn}, {seconds} s",
                f"real recompute of current refs × synthetic snapshot; {r['body_bytes'] / 1024:,.0f} KiB",
                f"{r['rps']:,.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms; "
                f"{ratio:.2f}× bare ASGI ({lim['rps'] if lim else 0:,.0f} req/s){first}"
                + (f"; {r['errors']} errors" if r["errors"] else ""),
            )
        )
    if ratios:
        met = sum(x >= TARGET_RATIO for x in ratios)
        rows.append(
            (
                f"target: gateway ≥ {TARGET_RATIO:.0%} of the bare-ASGI limit",
                f"{len(ratios)} route × connection runs above",
                f"{'met' if met == len(ratios) else '**missed**'}: met by {met} of {len(ratios)} "
                f"(ratios {min(ratios):.2f}–{max(ratios):.2f})",
            )
        )
    if p99_at_16:
        met = sum(x <= TARGET_P99_MS for x in p99_at_16)
        rows.append(
            (
                f"target: gateway p99 ≤ {TARGET_P99_MS:g} ms at 16 connections",
                f"{len(p99_at_16)} routes above",
                f"{'met' if met == len(p99_at_16) else '**missed**'}: met by {met} of {len(p99_at_16)} "
                f"(p99 {min(p99_at_16):.1f}–{max(p99_at_16):.1f} ms)",
            )
        )
    return rows


def freshness_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    n = result["gateway"].get("count", 0)
    data = (
        f"{n} image status snapshots (synthetic, `stable_diffusion` threads changed each), "
        f"one every ~{result['elapsed_seconds'] / max(n, 1):.1f} s; {result['broker']}"
    )
    for key, what in (
        ("ack", "freshness: status snapshot publish → broker ack"),
        ("redis", "freshness: publish → new generation pointer in Redis"),
        ("gateway", "freshness: publish → gateway with-stats shows it"),
    ):
        s, missed = result[key], result["missed"].get(key, 0)
        figure = (
            f"p50 {s.get('p50_ms', '-')} ms, p99 {s.get('p99_ms', '-')} ms, max {s.get('max_ms', '-')} ms"
        )
        rows.append((what, data, figure + (f"; {missed} not seen in time" if missed else "")))
    return rows


def memory_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    activity = result["activity"]
    data = (
        f"offline stack {result['settings']['seconds']:g} s, recorded data, {activity['advances']} frame "
        f"advances, {activity['requests']:,} gateway requests"
    )
    rows = []
    for name, entry in result["processes"].items():
        label = f"{name} (infrastructure)" if entry.get("infrastructure") else name
        rows.append(
            (
                f"peak RSS (VmHWM) of {label}",
                data,
                f"{entry.get('VmHWM', '-')} MiB (at end {entry.get('VmRSS', '-')} MiB)",
            )
        )
    return rows


def streams_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    data = f"{result['streams']:,} event streams on one gateway process, {result['events']} risk events"
    fan, without, with_ = (
        result["fanout_to_last_ms"],
        result["query_without_streams"],
        result["query_with_streams"],
    )
    return [
        ("streams: memory per open stream (gateway RSS)", data, f"{result['kib_per_stream']} KiB (≤ 50)"),
        ("streams: XADD → last stream has it", data, f"p50 {fan['p50']} ms, p99 {fan['p99']} ms (≤ 250)"),
        (
            "streams: query p99 without / with streams",
            f"{without['requests']:,} / {with_['requests']:,} paced queries",
            f"{without['p99_ms']} / {with_['p99_ms']} ms (≤ 2×)",
        ),
    ]


ROWS = {
    "recompute": recompute_rows,
    "gateway_load": gateway_rows,
    "freshness": freshness_rows,
    "memory": memory_rows,
    "streams": streams_rows,
}


def format_table(phases: dict[str, dict[str, Any]]) -> str:
    """The combined markdown table."""
    lines = ["| what | data | figure |", "| --- | --- | --- |"]
    for name, phase in phases.items():
        if phase["result"] is None or phase["outcome"] != "ok":
            lines.append(f"| {name} | — | **{phase['outcome']}** (see the output above) |")
        if phase["result"] is not None:
            try:
                lines += [f"| {w} | {d} | {f} |" for w, d, f in ROWS[name](phase["result"])]
            except (KeyError, TypeError, ValueError) as error:
                lines.append(f"| {name} | — | unreadable result: {error!r} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller scales and shorter runs (≈ 4 min)")
    parser.add_argument("--json", type=Path, default=None, help="default bench/results/suite[-quick].json")
    parser.add_argument("--max-minutes", type=float, default=None, help="overall bound (default 20, quick 8)")
    parser.add_argument("--only", default="", help="comma-separated phases to run (default all)")
    args = parser.parse_args(argv)
    stem = "suite-quick" if args.quick else "suite"
    json_path = args.json or RESULTS / f"{stem}.json"
    out_dir = RESULTS / stem
    out_dir.mkdir(parents=True, exist_ok=True)
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    wanted = {p.strip() for p in args.only.split(",") if p.strip()}
    deadline = time.monotonic() + 60 * (args.max_minutes or (8 if args.quick else 20))
    phases: dict[str, dict[str, Any]] = {}
    for phase in PHASES:
        if wanted and phase.name not in wanted:
            continue
        remaining = deadline - time.monotonic()
        if remaining < 30:
            phases[phase.name] = {"outcome": "skipped (suite time limit)", "result": None}
            continue
        cap = phase.quick_limit_s if args.quick else phase.full_limit_s
        phases[phase.name] = run_phase(phase, quick=args.quick, out_dir=out_dir, limit=min(cap, remaining))
    brokers = {p["result"]["broker"] for p in phases.values() if p.get("result") and "broker" in p["result"]}
    broker = ", ".join(sorted(brokers)) or "none used"
    table = format_table(phases)
    header = machine_line(info, date, broker)
    total = sum(p.get("seconds", 0) for p in phases.values())
    print(f"\n{header}; suite {'quick' if args.quick else 'full'}, {total / 60:.1f} min\n")
    print(table)
    payload = {
        "date": date,
        "mode": "quick" if args.quick else "full",
        "machine": info,
        "broker": broker,
        "total_seconds": round(total, 1),
        "targets": {
            "recompute_text_1x_ms": RECOMPUTE_TARGET_MS,
            "gateway_ratio_to_limit": TARGET_RATIO,
            "gateway_p99_ms_at_16": TARGET_P99_MS,
        },
        "phases": phases,
        "table_markdown": table,
        "machine_line": header,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"\nresults written to {json_path} (each benchmark's own JSON in {out_dir})")
    return 0 if all(p["outcome"] == "ok" for p in phases.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
