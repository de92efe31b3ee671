"""Replay of real captures through the running stack: the gateway's numbers equal the domain's.

``python -m devtools.devstack.replay`` starts the stand-in serving a capture folder and the four
services as processes, then compares every default answer with ``build_category_views`` over the
same files; categories the capture lacks must answer 404 (D17).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.devstack.capture import load_capture
from devtools.devstack.replay import replay
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(400)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "captures"


@pytest.mark.parametrize("name", ["2024-06", "2025-06"])
def test_replayed_capture_equals_the_domain(
    kafka: KafkaInfo, redis_url: str, tmp_path: Path, name: str
) -> None:
    capture = load_capture(EXAMPLES / name)
    base = kafka.env() | {"HORDE_REDIS__URL": redis_url, "HORDE_LOG_JSON": "false"}
    report = replay(capture, base_env=base, log_dir=tmp_path, within=180)
    different = [c for c in report.compared if not c.equal]
    assert report.compared
    assert not different, different
    paths = [c.path for c in report.compared]
    assert any("/with-stats" in p for p in paths)
    assert any("/deletion-risk" in p for p in paths)
