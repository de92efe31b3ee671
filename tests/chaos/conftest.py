"""Fixtures and reporting of the chaos suite (``make chaos``; marker ``chaos``).

Each scenario starts the real services as processes against the session's broker and Redis
(scenarios that restart Redis or the broker bring their own), hurts them, and checks what the
gateway and the risk-change topic show. Measured figures are printed as ``CHAOS:`` lines at the
end of the run and written to ``bench/results/chaos.json``.
"""

from __future__ import annotations

import pytest

from tests.chaos import results
from tests.support.kafka_broker import KafkaInfo

BROKER: list[str] = []


@pytest.fixture(autouse=True)
def _note_broker(kafka: KafkaInfo) -> None:
    """Remember which broker the figures were measured against."""
    if not BROKER:
        BROKER.append(f"{kafka.kind} ({'external' if not kafka.managed else 'started by the tests'})")


def pytest_sessionfinish(session: pytest.Session) -> None:
    results.write(BROKER[0] if BROKER else "unknown")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not results.LINES:
        return
    terminalreporter.section("chaos figures")
    for line in results.LINES:
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"CHAOS: figures written to {results.RESULTS}")
