"""The gauges the alert rules (monitoring/prometheus/alerts.yaml) read, set by a real worker.

``hma_answers_confirmed_timestamp_seconds`` drives HmaAnswersStale, ``hma_current_generation_present``
HmaCategoryWithoutGeneration; the worker runs in-process, so its gauges are in this registry.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from shared.domain.categories import ModelCategory
from shared.settings import Settings
from shared.store.generations import GenerationStore
from tests.support.analytics import publish_input, running_worker, wait_for_view
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
IMAGE = ModelCategory.IMAGE_GENERATION


async def _sample(name: str, labels: dict[str, str], wanted: float, within: float = 60) -> None:
    """Bounded wait until the gauge has the wanted value."""
    for _ in range(int(within / 0.1)):
        if REGISTRY.get_sample_value(name, labels) == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name}{labels} = {REGISTRY.get_sample_value(name, labels)}, wanted {wanted}")


async def test_worker_exports_confirmation_time_and_generation_presence(
    settings: Settings, store: GenerationStore
) -> None:
    captured = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    async with running_worker(settings):
        await publish_input(settings, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json"))
        await publish_input(settings, stats_event(synthetic("stats_models_image.json")))
        status = synthetic("status_models_image.json")
        await publish_input(settings, status_event(status, captured_at=captured))  # type: ignore[arg-type]
        await wait_for_view(store, IMAGE, "with-stats")
        labels = {"category": IMAGE.value}
        await _sample("hma_answers_confirmed_timestamp_seconds", labels, captured.timestamp())
        # Set by the periodic verification (HORDE_ANALYTICS__VERIFY_INTERVAL_SECONDS, 5 s by default).
        await _sample("hma_current_generation_present", labels, 1.0)
