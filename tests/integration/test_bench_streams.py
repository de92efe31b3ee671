"""``bench.streams`` runs end to end on a small scale and reports every figure (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_the_streams_benchmark_reports_memory_fanout_and_query_latency(tmp_path: Path) -> None:
    out = tmp_path / "streams.json"
    command = [sys.executable, "-m", "bench.streams", "--streams", "20", "--events", "3",
               "--interval", "0.05", "--query-seconds", "1", "--no-pin", "--json", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "XADD → last stream" in done.stdout
    report = json.loads(out.read_text())
    assert report["streams_still_open"] == 20
    assert report["fanout_to_last_ms"]["events"] == 3
    assert report["kib_per_stream"] is not None
    assert report["query_with_streams"]["requests"] > 0
