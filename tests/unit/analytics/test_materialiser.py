"""Issue 15: the materialiser on its own — pending, caught-up categories are recomputed (the real,
pure recompute) and written through a fake store; fencing, rebalances, backoff and verification
decide what is written, retried or healed."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Mapping
from datetime import UTC, date, datetime

import pytest
from aiokafka import TopicPartition

from services.analytics.intake import Pending
from services.analytics.materialiser import Materialiser
from services.analytics.ownership import Fences, Tenure
from services.analytics.state import AnalyticsState
from shared.domain.categories import ModelCategory
from shared.domain.history.enrich import LifecycleContext
from shared.domain.history.rollup import ModelObservation
from shared.domain.risk.thresholds import RiskThresholds
from shared.events.horde import SourceHealthReported
from shared.events.reference import ReferenceCategoryChanged
from shared.store.generations import SwapOutcome
from shared.topics import partition_for
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic
from tests.unit.analytics.fakes import FakeClaims, FakeRisk, FakeStore

PARTITIONS = 3
IMAGE = ModelCategory.IMAGE_GENERATION
TP = TopicPartition("reference", partition_for(IMAGE, PARTITIONS))
NOW = datetime.now(UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Parts:
    """One materialiser with its fakes, owning IMAGE's partition (caught up unless told)."""

    def __init__(self, *, target: int = 0, history: object = None) -> None:
        self.claims = FakeClaims()
        self.store = FakeStore(self.claims)
        self.risk = FakeRisk()
        self.clock = Clock()
        self.state = AnalyticsState()
        self.pending = Pending()
        self.tenure = Tenure(PARTITIONS)
        self.tenure.own({TP: target})
        self.fences = Fences(self.claims)
        self.materialiser = Materialiser(
            state=self.state, pending=self.pending, tenure=self.tenure, fences=self.fences, store=self.store,
            thresholds=RiskThresholds(), risk=self.risk, history=history, clock=self.clock,  # type: ignore[arg-type]
        )  # fmt: skip

    def feed(self) -> None:
        reference = reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json", detected_at=NOW)
        self.state.apply(reference, offset=0)
        self.state.apply(status_event(synthetic("status_models_image.json"), captured_at=NOW), offset=1)  # type: ignore[arg-type]
        self.state.apply(stats_event(synthetic("stats_models_image.json"), captured_at=NOW), offset=2)  # type: ignore[arg-type]
        self.pending.views.add(IMAGE)


async def test_a_ready_category_is_written_and_its_risk_changes_published() -> None:
    parts = Parts()
    parts.feed()
    await parts.materialiser.materialise_ready()
    generation, basis = parts.store.pointers[IMAGE]
    assert basis.reference_seq == 0
    assert basis.status_seq == 1
    assert parts.materialiser.pointers == {IMAGE: generation}
    assert parts.materialiser.generations_written == 1
    assert parts.risk.published == [(IMAGE, generation, 1)]
    assert parts.pending.views == set()
    await parts.materialiser.materialise(IMAGE)  # the same inputs: the same generation, unchanged
    assert parts.materialiser.generations_written == 1


async def test_a_category_still_replaying_is_not_written() -> None:
    parts = Parts(target=5)
    parts.feed()
    await parts.materialiser.materialise_ready()
    assert parts.store.attempts == 0
    assert parts.pending.views == {IMAGE}, "written once its partition has caught up"


async def test_a_fenced_off_member_writes_and_publishes_nothing() -> None:
    parts = Parts()
    parts.feed()
    await parts.fences.claim_all({IMAGE})
    await parts.claims.claim(IMAGE)  # another member was assigned IMAGE since
    await parts.materialiser.materialise_ready()
    assert parts.store.attempts == 1
    assert parts.store.pointers == {}
    assert parts.risk.published == []
    assert parts.materialiser.pointers == {}


class RebalancingHistory:
    """A history whose lifecycle lookup (made while the recompute starts) coincides with a rebalance."""

    def __init__(self, tenure: Tenure) -> None:
        self.tenure = tenure
        self.recorded = 0

    def context(
        self, category: ModelCategory, today: date, reference: ReferenceCategoryChanged | None = None
    ) -> LifecycleContext | None:
        self.tenure.revoked()
        self.tenure.assigning()
        self.tenure.assigned()
        return None

    async def record(
        self, category: ModelCategory, *, captured_at: datetime,
        observations: Mapping[str, ModelObservation], reference: ReferenceCategoryChanged | None = None,
    ) -> None:  # fmt: skip
        self.recorded += 1

    async def verify(self) -> None:
        return None


async def test_a_rebalance_during_the_recompute_drops_its_result() -> None:
    parts = Parts()
    history = RebalancingHistory(parts.tenure)
    parts.materialiser.history = history  # type: ignore[assignment]
    parts.feed()
    await parts.materialiser.materialise(IMAGE)
    assert parts.store.attempts == 0
    assert history.recorded == 0
    assert parts.risk.published == []


async def test_a_failing_write_is_retried_after_the_categorys_backoff() -> None:
    parts = Parts()
    parts.feed()
    parts.store.failing = True
    await parts.materialiser.materialise_ready()
    assert parts.store.attempts == 1
    assert parts.pending.views == {IMAGE}, "kept for the retry"
    await parts.materialiser.materialise_ready()
    assert parts.store.attempts == 1, "not before its backoff elapsed"
    parts.store.failing = False
    parts.clock.now += 10
    await parts.materialiser.materialise_ready()
    assert parts.store.attempts == 2
    assert IMAGE in parts.store.pointers
    assert parts.materialiser.retry_at == {}


async def test_verification_marks_what_redis_lost_for_rewriting() -> None:
    parts = Parts()
    parts.feed()
    parts.state.apply_health(
        SourceHealthReported(endpoint="status", model_type="image", ok=True, checked_at=NOW), offset=3
    )
    parts.pending.health.add(IMAGE)
    await parts.materialiser.materialise_ready()
    assert not await parts.materialiser.verify(), "Redis holds what was written"
    parts.store.pointers.clear()
    parts.store.health.clear()  # FLUSHDB
    assert await parts.materialiser.verify()
    assert parts.pending.views == {IMAGE}
    assert parts.pending.health == {IMAGE}
    await parts.materialiser.materialise_ready()
    assert IMAGE in parts.store.pointers
    assert "status" in parts.store.health[IMAGE]


@pytest.mark.parametrize("holds", [True, False])
async def test_source_health_is_written_only_while_the_fence_holds(holds: bool) -> None:
    parts = Parts()
    parts.state.apply_health(
        SourceHealthReported(endpoint="stats", model_type="image", ok=False, checked_at=NOW), offset=0
    )
    await parts.fences.claim_all({IMAGE})
    if not holds:
        await parts.claims.claim(IMAGE)
    await parts.materialiser.write_health(IMAGE)
    assert (IMAGE in parts.store.health) is holds


class OrderedHistory:
    """A history that notes whether the pointer had swapped when the capture was recorded; it can
    fail, or coincide with a rebalance, while recording."""

    def __init__(
        self, store: FakeStore, tenure: Tenure, *, failing: bool = False, rebalance: bool = False
    ) -> None:
        self.store, self.tenure = store, tenure
        self.failing, self.rebalance = failing, rebalance
        self.swapped_before: list[bool] = []

    def context(
        self, category: ModelCategory, today: date, reference: ReferenceCategoryChanged | None = None
    ) -> LifecycleContext | None:
        return None

    async def record(
        self, category: ModelCategory, *, captured_at: datetime,
        observations: Mapping[str, ModelObservation], reference: ReferenceCategoryChanged | None = None,
    ) -> None:  # fmt: skip
        await asyncio.sleep(0.05)  # waits on Kafka and Redis while the stored values are rendered
        self.swapped_before.append(category in self.store.pointers)
        assert observations
        if self.failing:
            raise ConnectionError("kafka away")
        if self.rebalance:
            self.tenure.revoked()
            self.tenure.assigning()
            self.tenure.assigned()

    async def verify(self) -> None:
        return None


async def test_the_capture_joins_the_history_before_the_pointer_swaps() -> None:
    """Issue 15: the history is recorded while the values are rendered, and still before the swap."""
    parts = Parts()
    history = OrderedHistory(parts.store, parts.tenure)
    parts.materialiser.history = history  # type: ignore[assignment]
    parts.feed()
    await parts.materialiser.materialise_ready()
    assert history.swapped_before == [False]
    assert IMAGE in parts.store.pointers
    assert parts.risk.published


async def test_a_failing_history_record_swaps_nothing_and_is_retried() -> None:
    parts = Parts()
    parts.materialiser.history = OrderedHistory(parts.store, parts.tenure, failing=True)  # type: ignore[assignment]
    parts.feed()
    await parts.materialiser.materialise_ready()
    assert parts.store.attempts == 0
    assert parts.pending.views == {IMAGE}


async def test_a_rebalance_while_the_history_records_drops_the_result() -> None:
    parts = Parts()
    parts.materialiser.history = OrderedHistory(parts.store, parts.tenure, rebalance=True)  # type: ignore[assignment]
    parts.feed()
    await parts.materialiser.materialise(IMAGE)
    assert parts.store.attempts == 0
    assert parts.risk.published == []


class CollectorWatchingStore(FakeStore):
    """Notes whether the cyclic collector was running when the generation was written."""

    def __init__(self, claims: FakeClaims) -> None:
        super().__init__(claims)
        self.collector_at_write: list[bool] = []

    async def write(self, *args: object, **kwargs: object) -> SwapOutcome:
        self.collector_at_write.append(gc.isenabled())
        return await super().write(*args, **kwargs)  # type: ignore[arg-type]


async def test_the_collector_waits_until_the_generation_is_written() -> None:
    """Issue 15: no garbage collection between the recompute's start and the pointer swap; the
    collector runs again afterwards (and stays off if it was off)."""
    for enabled in (True, False):
        parts = Parts()
        store = CollectorWatchingStore(parts.claims)
        parts.store = parts.materialiser.store = store
        parts.feed()
        (gc.enable if enabled else gc.disable)()
        try:
            await parts.materialiser.materialise_ready()
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
        assert store.collector_at_write == [False]
