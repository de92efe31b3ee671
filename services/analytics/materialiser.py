"""From pending categories to Redis: recompute, swap the generation in, publish its consequences;
verify that Redis still holds what was written and heal what it lost.

A recompute runs in threads outside ``busy``; its result is written only if no rebalance started
meanwhile (``Tenure.still_owned``) and the category's fence still holds: the history capture first
(so a generation's history answers include it; recorded while the stored values are rendered),
then the pointer swap (fenced in its script), then the risk events. A failed write of a category
is retried after that category's own capped exponential backoff (``shared.backoff``), so one
failing category does not hold up the others.

Every verification compares the owned, caught-up categories' pointers and source health with what
this worker last wrote: a FLUSHDB or a restarted Redis without persistence heals from the
in-memory state, which is Kafka's, without any new input.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Protocol

from services.analytics.intake import Pending
from services.analytics.ownership import Fences, Tenure
from services.analytics.recompute import (
    Carry,
    ComputedViews,
    Generation,
    capture_day,
    compute_views,
    finish,
)
from services.analytics.state import AnalyticsState
from shared import tracing
from shared.backoff import Backoff
from shared.collector import collector_paused
from shared.domain.categories import ModelCategory
from shared.domain.history.enrich import LifecycleContext
from shared.domain.history.rollup import ModelObservation
from shared.domain.risk.summary import risk_state_counts
from shared.domain.risk.thresholds import RiskThresholds
from shared.events.reference import ReferenceCategoryChanged
from shared.metrics import (
    CURRENT_GENERATION,
    LAST_GENERATION,
    RECOMPUTE_SECONDS,
    RISK_MODELS,
    note_status_confirmed,
)
from shared.store.basis import GenerationBasis
from shared.store.fencing import Fence
from shared.store.generations import CurrentGeneration, SwapOutcome

log = logging.getLogger(__name__)


class ViewStore(Protocol):
    """The materialised layout in Redis (``shared.store.generations.GenerationStore``)."""

    async def write(
        self,
        category: ModelCategory,
        generation: str,
        views: Mapping[str, bytes],
        basis: GenerationBasis,
        *,
        fence: Fence | None = None,
    ) -> SwapOutcome: ...

    async def current(self, category: ModelCategory) -> CurrentGeneration | None: ...

    async def write_source_health(
        self, category: ModelCategory, endpoints: Mapping[str, str], *, reference: str | None = None
    ) -> None: ...

    async def written_state(self, categories: Sequence[ModelCategory]) -> list[tuple[str | None, bool]]: ...


class History(Protocol):
    """The daily history (``services.analytics.history.HistoryRecorder``)."""

    def context(
        self, category: ModelCategory, today: date, reference: ReferenceCategoryChanged | None = None
    ) -> LifecycleContext: ...

    async def record(
        self,
        category: ModelCategory,
        *,
        captured_at: datetime,
        observations: Mapping[str, ModelObservation],
        reference: ReferenceCategoryChanged | None = None,
    ) -> object: ...

    async def verify(self) -> object: ...


class RiskSink(Protocol):
    """Publishes a written generation's risk changes (``services.analytics.risk_feed.RiskFeed``)."""

    async def publish(
        self, category: ModelCategory, generation: Generation, *, fence: Fence, keep_going: Callable[[], bool]
    ) -> None: ...


class Materialiser:
    """Keeps Redis in step with the state of the owned categories."""

    def __init__(
        self,
        *,
        state: AnalyticsState,
        pending: Pending,
        tenure: Tenure,
        fences: Fences,
        store: ViewStore,
        thresholds: RiskThresholds,
        risk: RiskSink | None = None,
        history: History | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.pending = pending
        self.tenure = tenure
        self.fences = fences
        self.store = store
        self.thresholds = thresholds
        self.risk = risk
        self.history = history
        self.clock = clock
        #: Generation each owned category's Redis pointer held after this worker's last write.
        self.pointers: dict[ModelCategory, str] = {}
        #: Per category with failing writes: its backoff and when the next attempt may run.
        self.backoffs: dict[ModelCategory, Backoff] = {}
        self.retry_at: dict[ModelCategory, float] = {}
        #: Per category, what its previous recompute built that the next may reuse (issue 15).
        self.carries: dict[ModelCategory, Carry] = {}
        self.generations_written = 0

    def forget(self) -> None:
        """Nothing written is remembered (the partitions moved)."""
        self.pointers.clear()
        self.backoffs.clear()
        self.retry_at.clear()
        self.carries.clear()

    # -- per-category backoff ----------------------------------------------------------------
    def _waiting(self, category: ModelCategory) -> bool:
        """The category's last write failed and its backoff has not elapsed yet."""
        return self.retry_at.get(category, 0.0) > self.clock()

    def _failed(self, category: ModelCategory) -> float:
        """Note a failed write of ``category``; returns the seconds until its next attempt."""
        delay = self.backoffs.setdefault(category, Backoff()).next_delay()
        self.retry_at[category] = self.clock() + delay
        return delay

    def _succeeded(self, category: ModelCategory) -> None:
        self.backoffs.pop(category, None)
        self.retry_at.pop(category, None)

    # -- the pass ----------------------------------------------------------------------------
    async def materialise_ready(self) -> None:
        """Write every pending, owned, caught-up category whose backoff has elapsed."""
        tenure, pending = self.tenure, self.pending
        for category in sorted(pending.health & tenure.owned_categories()):
            if not tenure.settled:
                return
            if tenure.category_ready(category) and not self._waiting(category):
                await self._attempt(category, pending.health, "writing the source health", self.write_health)
        for category in sorted(pending.views & tenure.owned_categories()):
            if not tenure.settled:
                return
            if tenure.category_ready(category) and not self._waiting(category):
                await self._attempt(category, pending.views, "recompute", self._traced_materialise)

    async def _traced_materialise(self, category: ModelCategory) -> None:
        # The cyclic collector waits until the generation is written (shared/collector.py): a
        # recompute leaves ~10^5 young objects, and collections triggered meanwhile, by the
        # recompute's threads or by the event loop's history and Redis work, walked them on the way
        # to the pointer swap (issue 15: 10–30 ms per text generation, a full one 110–150 ms).
        with self.pending.traces.span(category, f"recompute {category.value}"), collector_paused():
            await self.materialise(category)

    async def _attempt(
        self,
        category: ModelCategory,
        marks: set[ModelCategory],
        what: str,
        write: Callable[[ModelCategory], Awaitable[None]],
    ) -> None:
        """One write of ``category`` off its pending ``marks``; a failure logs, backs off, re-marks."""
        marks.discard(category)
        try:
            await write(category)
            self._succeeded(category)
        except Exception:
            delay = self._failed(category)
            log.exception(
                "%s of %s failed; retrying", what, category,
                extra={"category": category.value, "retry_in_seconds": round(delay, 2)},
            )  # fmt: skip
            marks.add(category)

    async def verify(self) -> bool:
        """Mark for rewriting every owned, caught-up category whose Redis state is not what this
        worker last wrote (a missing or foreign pointer, or missing source health); True when
        something was marked."""
        tenure = self.tenure
        if not tenure.settled:
            return False
        async with tenure.busy:
            if self.history is not None:
                await self.history.verify()
            checked = [
                (category, inputs)
                for category in sorted(tenure.owned_categories())
                if tenure.category_ready(category)
                and (inputs := self.state.categories.get(category)) is not None
                and (inputs.reference is not None or inputs.health or inputs.reference_health)
            ]
            if not checked:
                return False
            found = await self.store.written_state([category for category, _ in checked])
            healed: list[str] = []
            for (category, inputs), (generation, health_exists) in zip(checked, found, strict=True):
                if inputs.reference is not None:
                    CURRENT_GENERATION.labels(category.value).set(1 if generation else 0)
                if inputs.reference is not None and generation != self.pointers.get(category):
                    self.pending.views.add(category)
                    healed.append(category.value)
                if (inputs.health or inputs.reference_health) and not health_exists:
                    self.pending.health.add(category)
                    healed.append(f"{category.value} (source health)")
        if healed:
            log.warning("redis lost what this worker wrote; rewriting", extra={"categories": healed})
        return bool(healed)

    async def write_health(self, category: ModelCategory) -> None:
        """Latest poll outcome per endpoint, read by the gateway to tell whether answers are stale,
        and the reference's (read by the heartbeat)."""
        async with self.tenure.busy:
            if not self.tenure.settled:
                return
            health = self.state.inputs(category).health
            reference = self.state.inputs(category).reference_health
            if (health or reference) and not await self.fences.holds(category):
                log.warning("source health not written: another worker owns %s now", category)
                return
            status = health.get("status")
            if status is not None and status.last_success_at is not None:
                note_status_confirmed(category.value, status.last_success_at.timestamp())
            await self.store.write_source_health(
                category,
                {endpoint: event.model_dump_json() for endpoint, event in health.items()},
                reference=reference.model_dump_json() if reference else None,
            )

    async def materialise(self, category: ModelCategory) -> None:
        """Recompute ``category`` (in threads, outside the lock), then write it and publish its risk
        changes, unless a rebalance started meanwhile (the next owner computes it again).

        The views are built first; then the capture joins the history while the stored values are
        rendered in a thread, and the pointer swaps only after both: a generation's history answers
        include its capture, and the history write (mostly waiting on Kafka and Redis) overlaps the
        rendering instead of lengthening the path to the swap (issue 15)."""
        epoch = self.tenure.epoch
        inputs = replace(self.state.inputs(category))  # a stable copy for the worker threads
        reference = inputs.reference
        today = capture_day(inputs)
        lifecycle = self.history.context(category, today, reference) if self.history and today else None
        started = time.perf_counter()
        computed = await asyncio.to_thread(
            compute_views,
            category,
            inputs,
            self.thresholds,
            computed_at=int(time.time()),
            lifecycle=lifecycle,
        )
        if computed is None:
            return
        finished, recorded = await asyncio.gather(
            asyncio.to_thread(finish, computed, self.carries.setdefault(category, Carry())),
            self._record_history(category, computed, reference, epoch),
            return_exceptions=True,
        )
        if isinstance(recorded, BaseException):
            raise recorded
        if isinstance(finished, BaseException):
            raise finished
        if not recorded:
            return
        async with self.tenure.busy:
            if not self.tenure.still_owned(epoch):
                log.info("partitions moved during the recompute of %s; result dropped", category)
                return
            await self._write(category, finished, started, epoch)

    async def _record_history(
        self,
        category: ModelCategory,
        computed: ComputedViews,
        reference: ReferenceCategoryChanged | None,
        epoch: int,
    ) -> bool:
        """Fold the capture into the history (fenced like the generation and its risk events);
        ``False``: the result is to be dropped (partitions moved, or the fence is another's)."""
        async with self.tenure.busy:
            if not self.tenure.still_owned(epoch):
                log.info("partitions moved during the recompute of %s; result dropped", category)
                return False
            if self.history is not None and computed.observations is not None:
                if not await self.fences.holds(category):
                    log.warning("history not recorded: another worker owns %s now", category)
                    return False
                await self.history.record(
                    category,
                    captured_at=computed.basis.captured_at(),
                    observations=computed.observations,
                    reference=reference,
                )
        return True

    async def _write(
        self, category: ModelCategory, generation: Generation, started: float, epoch: int
    ) -> None:
        fence = await self.fences.of(category)
        with tracing.span("redis write generation", attributes={"category": category.value}):
            # The partition count orders generations across a growth (shared/store/generations.py).
            basis = replace(generation.basis, partitions=self.tenure.partition_count)
            outcome = await self.store.write(
                category, generation.generation, generation.views, basis, fence=fence
            )
        if outcome == "fenced":
            log.warning(
                "generation refused: another worker owns the category now",
                extra={
                    "category": category.value,
                    "generation": generation.generation,
                    "owner_epoch": fence.token,
                },
            )
            return
        if outcome == "older":
            # A newer generation is current: remember it, so verification does not retry forever.
            current = await self.store.current(category)
            self.pointers[category] = current.generation if current else generation.generation
        else:
            self.pointers[category] = generation.generation
        RECOMPUTE_SECONDS.labels(category.value).observe(time.perf_counter() - started)
        if outcome == "written":
            self.generations_written += 1
            LAST_GENERATION.labels(category.value).set(time.time())
        if outcome != "older":
            if generation.basis.status_at_ms > 0:
                note_status_confirmed(category.value, generation.basis.status_at_ms / 1000)
            if generation.risk_models is not None:
                for state, count in risk_state_counts(generation.risk_models).items():
                    RISK_MODELS.labels(category.value, state).set(count)
            if self.risk is not None:
                await self.risk.publish(
                    category, generation, fence=fence, keep_going=lambda: self.tenure.still_owned(epoch)
                )
        log.info(
            "generation %s",
            outcome,
            extra={
                "category": category.value,
                "generation": generation.generation,
                "views": len(generation.views),
            },
        )
