"""Fill a Redis with real generations, as the analytics workers would, for the gateway benchmark.

Inputs are today's references × the synthetic Horde snapshot (as ``bench.recompute``); each
category goes through the real ``recompute`` and ``GenerationStore.write``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from redis.asyncio import Redis

from bench.synthetic import load_reference, load_snapshot, static_categories
from services.analytics.recompute import recompute
from services.analytics.state import CategoryInputs
from shared.domain.categories import RUNTIME_CATEGORIES, ModelCategory
from shared.domain.risk.thresholds import RiskThresholds
from shared.events.horde import HordeStatsCaptured, HordeStatusCaptured, HordeWorkersCaptured
from shared.events.reference import ReferenceCategoryChanged
from shared.redis_keys import RedisKeys
from shared.store.generations import GenerationStore


def category_inputs(category: ModelCategory, *, captured_at: datetime | None = None) -> CategoryInputs:
    """The worker's inputs for ``category`` built from the recorded data."""
    moment = captured_at or datetime.now(UTC)
    reference = load_reference(category)
    inputs = CategoryInputs(
        reference=ReferenceCategoryChanged(
            category=category, version=reference.version, source="bench", detected_at=moment,
            added=reference.names(), records=reference.records,
        ),
        reference_seq=0,
    )  # fmt: skip
    if category in RUNTIME_CATEGORIES:
        snapshot = load_snapshot(category)
        kind, common = snapshot.model_type, {"source_url": "bench", "captured_at": moment}
        assert snapshot.status is not None
        assert snapshot.stats is not None
        assert snapshot.workers is not None
        inputs.status = HordeStatusCaptured(
            model_type=kind, content_hash=f"status-{kind}", entries=snapshot.status, **common
        )
        inputs.stats = HordeStatsCaptured(
            model_type=kind, content_hash=f"stats-{kind}", stats=snapshot.stats, **common
        )
        inputs.workers = HordeWorkersCaptured(
            model_type=kind, content_hash=f"workers-{kind}", workers=snapshot.workers, **common
        )
    return inputs


async def fill(
    redis_url: str, key_prefix: str, categories: list[ModelCategory] | None = None
) -> dict[str, str]:
    """Write one generation per category; returns category → generation id."""
    chosen = categories or [*RUNTIME_CATEGORIES, *static_categories()]
    redis = Redis.from_url(redis_url)
    store = GenerationStore(redis, RedisKeys(key_prefix), superseded_ttl_seconds=3600)
    written: dict[str, str] = {}
    try:
        for category in chosen:
            generation = recompute(
                category, category_inputs(category), RiskThresholds(), computed_at=int(time.time())
            )
            assert generation is not None
            await store.write(category, generation.generation, generation.views, generation.basis)
            written[category.value] = generation.generation
    finally:
        await redis.aclose()
    return written
