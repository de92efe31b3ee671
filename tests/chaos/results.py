"""Measured figures of the chaos suite: printed as ``CHAOS:`` lines and kept in bench/results/chaos.json."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "chaos.json"

#: Figures of this session, in the order they were measured.
FIGURES: dict[str, dict[str, Any]] = {}
LINES: list[str] = []


def record(name: str, value: float | int | str, unit: str = "", note: str = "") -> None:
    """Keep one measured figure and print it with the ``CHAOS:`` prefix."""
    shown = f"{value:.2f}" if isinstance(value, float) else str(value)
    line = f"CHAOS: {name} = {shown}{(' ' + unit) if unit else ''}{('  (' + note + ')') if note else ''}"
    LINES.append(line)
    FIGURES[name] = {
        "value": round(value, 3) if isinstance(value, float) else value,
        "unit": unit,
        "note": note,
    }
    print(line, flush=True)


def write(broker: str) -> Path | None:
    """Merge this session's figures into the results file (each figure says when and against which
    broker it was measured, so a partial run refreshes only what it measured)."""
    if not FIGURES:
        return None
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    try:
        document: dict[str, Any] = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        document = {}
    measured_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    figures = document.get("figures", {}) if isinstance(document.get("figures"), dict) else {}
    for name, figure in FIGURES.items():
        figures[name] = figure | {"measured_at": measured_at, "broker": broker}
    document = {
        "updated_at": measured_at,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.system()},
        "figures": dict(sorted(figures.items())),
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    return RESULTS
