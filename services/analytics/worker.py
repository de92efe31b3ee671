"""The analytics worker: owned partitions → rebuilt inputs → coalesced recomputes → Redis.

Ownership follows the consumer group: every event about a category uses the same partition
number on every input topic and the range assignor hands a member the same partition numbers on
all topics, so one member owns all inputs of a category. On assignment the member forgets the
revoked categories, seeks the new partitions to the beginning and replays them (the topics are
compacted: Kafka is the only source of truth). It writes a category only once it has caught up
with the end offsets seen at assignment, so a replay never publishes a half-built state.

A rebalance interrupts the member between two steps: a recompute still in its thread is dropped,
a risk publish stops after its current model, and the revocation waits for that step to end
(``busy``), so the next owner never races a write of the previous one. A worker that misses
the rebalance (paused longer than the session timeout) is fenced instead: each assignment takes
a new token per category (``shared.store.fencing``), and the pointer swap and every risk event
check it, so the resumed worker's writes are refused once the next owner has been assigned. Every
``verify_interval_seconds`` the worker checks that Redis still holds what it wrote (pointer and
source health) and rewrites what is missing: a FLUSHDB or a restarted Redis without persistence
heals from the in-memory state, which is Kafka's, without any new input.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.analytics.dead_letters import publish_dead_letter
from services.analytics.history import HistoryRecorder, capture_moment
from services.analytics.inputs import (
    InputTopics,
    PoisonRecordError,
    arrival_time,
    check_not_future,
    decode_record,
)
from services.analytics.lag import LAG_INTERVAL_SECONDS, LagGauge, measure_lag
from services.analytics.recompute import Generation, capture_day, recompute
from services.analytics.risk_events import RiskChangePublisher, read_current_states, read_last_changes
from services.analytics.state import AnalyticsState
from shared import tracing
from shared.backoff import Backoff
from shared.domain.categories import ModelCategory
from shared.domain.risk.summary import risk_state_counts
from shared.domain.risk.thresholds import RiskThresholds
from shared.events.horde import SourceHealthReported
from shared.events.reference import ReferenceSourceHealthReported
from shared.events.risk import RiskBasis
from shared.metrics import (
    CURRENT_GENERATION,
    LAST_GENERATION,
    RECOMPUTE_SECONDS,
    RISK_MODELS,
    forget_categories,
    note_status_confirmed,
)
from shared.settings import KafkaSettings
from shared.store.fencing import Fence, OwnerFence
from shared.store.generations import GenerationStore
from shared.topics import categories_of_partition, misplaced

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer
    from faststream.kafka import KafkaBroker

log = logging.getLogger(__name__)


@dataclass
class Ownership:
    """Partitions this member owns and how far each must be read before its categories are current."""

    targets: dict[TopicPartition, int] = field(default_factory=dict)
    caught_up: set[TopicPartition] = field(default_factory=set)

    def partitions(self) -> set[int]:
        return {tp.partition for tp in self.targets}


class AnalyticsWorker:
    """Applies input records to the state and keeps Redis in step with it."""

    def __init__(
        self,
        *,
        topics: InputTopics,
        partitions: int,
        store: GenerationStore,
        thresholds: RiskThresholds,
        broker: KafkaBroker,
        consumer_name: str,
        risk: RiskChangePublisher | None = None,
        kafka_settings: KafkaSettings | None = None,
        verify_interval_seconds: float = 5.0,
        max_future_seconds: float = 60.0,
        lag_interval_seconds: float = LAG_INTERVAL_SECONDS,
        history: HistoryRecorder | None = None,
    ) -> None:
        self.topics = topics
        self.partitions = partitions
        self.store = store
        self.thresholds = thresholds
        self.broker = broker
        self.consumer_name = consumer_name
        self.risk = risk
        self.history = history
        self.kafka_settings = kafka_settings
        self.state = AnalyticsState()
        self.ownership = Ownership()
        self.dirty: set[ModelCategory] = set()
        self.health_dirty: set[ModelCategory] = set()
        self.wakeup = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.generations_written = 0
        self.loading = False
        self.verify_interval_seconds = verify_interval_seconds
        self.max_future_seconds = max_future_seconds
        #: Generation each owned category's Redis pointer held after this worker's last write.
        self.pointers: dict[ModelCategory, str] = {}
        #: Held while writing a generation and its risk events, verifying or rebuilding.
        self.busy = asyncio.Lock()
        self.revoking = False
        #: Incremented by every revocation and assignment: a result computed before is dropped.
        self.epoch = 0
        #: Trace contexts of the records behind each pending recompute (tracing: shared/tracing.py).
        self.traces = tracing.PendingTraces()
        self.owner_fence = OwnerFence(store.redis, store.keys)
        #: The fencing token this worker's latest assignment took for each owned category.
        self.fences: dict[ModelCategory, Fence] = {}
        #: Per category with failing writes: its backoff and when the next attempt may run.
        self.backoffs: dict[ModelCategory, Backoff] = {}
        self.retry_at: dict[ModelCategory, float] = {}
        #: Consumer lag of the owned partitions, read from the broker on a timer (services/analytics/lag.py).
        self.lag = LagGauge()
        self.lag_interval_seconds = lag_interval_seconds

    # -- ownership -------------------------------------------------------------------------
    def owned_categories(self) -> set[ModelCategory]:
        return {c for p in self.ownership.partitions() for c in categories_of_partition(p, self.partitions)}

    def category_ready(self, category: ModelCategory) -> bool:
        """True when every owned partition holding ``category`` has been replayed to its target."""
        wanted = [
            tp
            for tp in self.ownership.targets
            if category in categories_of_partition(tp.partition, self.partitions)
        ]
        return all(tp in self.ownership.caught_up for tp in wanted)

    async def on_assigned(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """Forget everything, load the published risk states, replay the partitions from the start.

        Records that arrive while this runs are ignored: the final seek delivers them again.
        """
        self.loading = True
        self.epoch += 1
        try:
            async with self.busy:
                await self._rebuild(consumer, assigned)
        finally:
            self.loading = False
            self.revoking = False
        log.info(
            "partitions assigned; replaying",
            extra={
                "partitions": sorted(str(tp) for tp in assigned),
                "categories": sorted(self.owned_categories()),
            },
        )

    async def _rebuild(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        self.consumer = consumer
        self._forget_owned()
        self._follow_partition_count(consumer, assigned)
        targets = await consumer.end_offsets(list(assigned)) if assigned else {}
        partitions = {tp.partition for tp in assigned}
        await self._claim({c for p in partitions for c in categories_of_partition(p, self.partitions)})
        if self.risk is not None and self.kafka_settings is not None:
            published = await read_current_states(self.kafka_settings, self.risk.current, partitions)
            last = await read_last_changes(self.kafka_settings, self.risk.changed, partitions)
            self.risk.load(published, last)
            log.info(
                "published risk states loaded",
                extra={
                    "models": {c.value: len(v) for c, v in self.risk.states.items()},
                    "sequences": {c.value: n for c, n in self.risk.sequences.items()},
                    "pending": {c.value: e.event_id for c, e in self.risk.pending.items()},
                },
            )
        if self.history is not None:
            try:
                await self.history.load({tp.partition for tp in assigned})
            except Exception as error:  # Redis or Kafka away: verification rebuilds it later
                log.warning("history not rebuilt at assignment; retried by verification: %r", error)
        self.ownership = Ownership(targets=dict(targets))
        self.ownership.caught_up = {tp for tp, end in targets.items() if end == 0}
        if assigned:
            await consumer.seek_to_beginning(*assigned)

    def _follow_partition_count(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """Take the input topics' partition count from the consumer's metadata: after the partitions
        grow, the group rebalances and categories are owned (and published) where they now live."""
        counts = [len(consumer.partitions_for_topic(t) or ()) for t in {tp.topic for tp in assigned}]
        count = max(counts, default=0)
        if count and count != self.partitions:
            log.warning(
                "partition count changed", extra={"partitions_before": self.partitions, "partitions": count}
            )
            self.partitions = count
            for follower in (self.risk, self.history):
                if follower is not None:
                    follower.partitions = count

    async def _claim(self, categories: set[ModelCategory]) -> None:
        """Take a new fencing token for each category (fences off every earlier owner)."""
        for category in sorted(categories):
            try:
                self.fences[category] = await self.owner_fence.claim(category)
            except Exception:
                log.exception(
                    "taking the fencing token of %s failed; retried before its first write", category
                )
        if self.fences:
            log.info(
                "fencing tokens taken",
                extra={"owner_epochs": {c.value: f.token for c, f in self.fences.items()}},
            )

    async def _fence(self, category: ModelCategory) -> Fence:
        """This worker's token for ``category`` (taken now if the assignment could not take it)."""
        fence = self.fences.get(category)
        if fence is None:
            fence = self.fences[category] = await self.owner_fence.claim(category)
        return fence

    async def _holds(self, category: ModelCategory) -> bool:
        """Whether no worker was assigned ``category`` after this one (a zombie's answer is no)."""
        return await self.owner_fence.holds(await self._fence(category))

    async def on_revoked(self) -> None:
        """Stop writing (a write in flight ends after its current model), then forget everything."""
        self.revoking = True
        self.epoch += 1
        async with self.busy:
            self._forget_owned()

    def _forget_owned(self) -> None:
        """Drop every input, pending recompute, pointer and exported gauge of the partitions held
        so far (revoked, or about to be replayed from the start)."""
        self.state.forget(set(self.state.categories))
        self.ownership = Ownership()
        self.dirty.clear()
        self.health_dirty.clear()
        self.pointers.clear()
        self.fences.clear()
        self.backoffs.clear()
        self.retry_at.clear()
        if self.risk is not None:
            self.risk.forget()
        if self.history is not None:
            self.history.forget()
        RISK_MODELS.clear()  # exported again by the owner's first write of each category
        self.lag.forget()  # no lag series outlives the ownership of its partition
        forget_categories()

    # -- records ---------------------------------------------------------------------------
    async def handle_records(self, records: tuple[ConsumerRecord[Any, Any], ...]) -> None:
        """Apply a batch (bursts coalesce here), then let the materialiser recompute."""
        if self.loading:
            return
        now = datetime.now(UTC)
        for record in records:
            if misplaced(record.key, record.partition, self.partitions):
                continue  # left behind by a smaller partition count; shared.repartition copied it
            try:
                event = decode_record(self.topics, record.topic, record.value)
                check_not_future(
                    event,
                    received_at=arrival_time(record.timestamp, now),
                    tolerance_seconds=self.max_future_seconds,
                )
            except PoisonRecordError as error:
                await self.dead_letter(record, error)
                continue
            if isinstance(event, SourceHealthReported | ReferenceSourceHealthReported):
                touched = self.state.apply_health(event, offset=record.offset)
                if touched is not None:
                    self.health_dirty.add(touched)
                continue
            changed = self.state.apply(event, offset=record.offset)
            if changed is not None:
                self.dirty.add(changed)
                self.traces.note(changed, record.headers)
        await self._update_progress({TopicPartition(r.topic, r.partition) for r in records})
        self.wakeup.set()

    async def _update_progress(self, touched: set[TopicPartition]) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        for tp in touched:
            if tp not in self.ownership.targets:
                continue
            position = await consumer.position(tp)
            # The highwater of fetch responses is exact; end offsets of the embedded broker are not.
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.lag.set(tp, highwater - position)
            if position >= max(self.ownership.targets[tp], highwater or 0):
                self.ownership.caught_up.add(tp)

    async def dead_letter(self, record: ConsumerRecord[Any, Any], error: Exception) -> None:
        """Move a poison record to its ``.dlq`` topic (``services.analytics.dead_letters``); go on."""
        await publish_dead_letter(
            self.broker,
            self.topics.spec(record.topic).dead_letter,
            record,
            error,
            consumer=self.consumer_name,
            max_message_bytes=self.kafka_settings.max_message_bytes if self.kafka_settings else None,
        )

    # -- materialiser ----------------------------------------------------------------------
    async def materialise_forever(self, stop: asyncio.Event) -> None:
        """Recompute dirty categories that are caught up, and verify Redis every few seconds.

        Nothing here may end the loop: a failure (Redis or Kafka unavailable) is logged and the
        work is retried after a capped exponential backoff (``shared.backoff``).
        """
        verified_at = time.monotonic()
        lag_at = float("-inf")
        failing = Backoff()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=1.0)
            self.wakeup.clear()
            if time.monotonic() - lag_at >= self.lag_interval_seconds:
                lag_at = time.monotonic()
                await self.measure_lag()
            try:
                if time.monotonic() - verified_at >= self.verify_interval_seconds:
                    verified_at = time.monotonic()
                    await self.verify_materialised()
                await self.materialise_ready()
                failing.reset()
            except Exception:
                delay = failing.next_delay()
                log.exception("materialising failed; retrying", extra={"retry_in_seconds": round(delay, 2)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)

    async def measure_lag(self) -> None:
        """Export the owned partitions' lag from the broker's end offsets (a stalled consumer's grows).

        A failure is logged and the next tick tries again; a rebalance during the read drops it."""
        consumer, epoch = self.consumer, self.epoch
        if consumer is None or self.loading or self.revoking:
            return
        try:
            lags = await asyncio.wait_for(
                measure_lag(consumer, self.ownership.targets), self.lag_interval_seconds
            )
        except Exception as error:
            log.warning(
                "measuring the consumer lag failed", extra={"error": f"{type(error).__name__}: {error}"}
            )
            return
        if self._still_owned(epoch):
            self.lag.export(lags)

    def _waiting(self, category: ModelCategory) -> bool:
        """The category's last write failed and its backoff has not elapsed yet."""
        return self.retry_at.get(category, 0.0) > time.monotonic()

    def _failed(self, category: ModelCategory) -> float:
        """Note a failed write of ``category``; returns the seconds until its next attempt."""
        delay = self.backoffs.setdefault(category, Backoff()).next_delay()
        self.retry_at[category] = time.monotonic() + delay
        return delay

    def _succeeded(self, category: ModelCategory) -> None:
        self.backoffs.pop(category, None)
        self.retry_at.pop(category, None)

    async def materialise_ready(self) -> None:
        for category in sorted(self.health_dirty & self.owned_categories()):
            if self.loading or self.revoking:
                return
            if self.category_ready(category) and not self._waiting(category):
                self.health_dirty.discard(category)
                try:
                    await self.write_health(category)
                    self._succeeded(category)
                except Exception:
                    delay = self._failed(category)
                    log.exception(
                        "writing the source health of %s failed; retrying", category,
                        extra={"category": category.value, "retry_in_seconds": round(delay, 2)},
                    )  # fmt: skip
                    self.health_dirty.add(category)
        for category in sorted(self.dirty & self.owned_categories()):
            if self.loading or self.revoking:
                return
            if not self.category_ready(category) or self._waiting(category):
                continue
            self.dirty.discard(category)
            try:
                with self.traces.span(category, f"recompute {category.value}"):
                    await self.materialise(category)
                self._succeeded(category)
            except Exception:
                delay = self._failed(category)
                log.exception(
                    "recompute of %s failed; retrying", category,
                    extra={"category": category.value, "retry_in_seconds": round(delay, 2)},
                )  # fmt: skip
                self.dirty.add(category)

    def _still_owned(self, epoch: int) -> bool:
        """No rebalance started since ``epoch`` was read: what was computed may still be written."""
        return epoch == self.epoch and not self.revoking and not self.loading

    async def verify_materialised(self) -> None:
        """Mark for rewriting every owned, caught-up category whose Redis state is not what this
        worker last wrote: a missing or foreign pointer, or missing source health."""
        if self.loading or self.revoking:
            return
        async with self.busy:
            if self.history is not None:
                await self.history.verify()
            checked = [
                (category, inputs)
                for category in sorted(self.owned_categories())
                if self.category_ready(category)
                and (inputs := self.state.categories.get(category)) is not None
                and (inputs.reference is not None or inputs.health or inputs.reference_health)
            ]
            if not checked:
                return
            pipe = self.store.redis.pipeline(transaction=False)
            for category, _ in checked:
                pipe.hget(self.store.keys.current(category), "generation")
                pipe.exists(self.store.keys.source_health(category))
            found = await pipe.execute()
            healed: list[str] = []
            for index, (category, inputs) in enumerate(checked):
                raw, health_exists = found[2 * index], found[2 * index + 1]
                generation = raw.decode() if isinstance(raw, bytes) else raw
                if inputs.reference is not None:
                    CURRENT_GENERATION.labels(category.value).set(1 if generation else 0)
                if inputs.reference is not None and generation != self.pointers.get(category):
                    self.dirty.add(category)
                    healed.append(category.value)
                if (inputs.health or inputs.reference_health) and not health_exists:
                    self.health_dirty.add(category)
                    healed.append(f"{category.value} (source health)")
        if healed:
            log.warning("redis lost what this worker wrote; rewriting", extra={"categories": healed})
            self.wakeup.set()

    async def write_health(self, category: ModelCategory) -> None:
        """Latest poll outcome per endpoint, read by the gateway to tell whether answers are stale,
        and the reference's (field ``reference`` of the same hash, read by the heartbeat)."""
        async with self.busy:
            if self.revoking or self.loading:
                return
            health = self.state.inputs(category).health
            reference = self.state.inputs(category).reference_health
            if (health or reference) and not await self._holds(category):
                log.warning("source health not written: another worker owns %s now", category)
                return
            if health:
                status = health.get("status")
                if status is not None and status.last_success_at is not None:
                    note_status_confirmed(category.value, status.last_success_at.timestamp())
                mapping = {endpoint: event.model_dump_json() for endpoint, event in health.items()}
                await self.store.redis.hset(self.store.keys.source_health(category), mapping=mapping)  # type: ignore[arg-type]
                await self.store.announce(category)
            if reference:
                await self.store.redis.hset(
                    self.store.keys.source_health(category), "reference", reference.model_dump_json()
                )

    async def materialise(self, category: ModelCategory) -> None:
        """Recompute ``category`` (in a thread, outside the lock), then write it and publish its risk
        changes, unless a rebalance started meanwhile (the next owner computes it again)."""
        epoch = self.epoch
        inputs = replace(self.state.inputs(category))  # a stable copy for the worker thread
        reference = inputs.reference
        today = capture_day(inputs)
        lifecycle = self.history.context(category, today, reference) if self.history and today else None
        started = time.perf_counter()
        generation = await asyncio.to_thread(
            recompute, category, inputs, self.thresholds, computed_at=int(time.time()), lifecycle=lifecycle
        )
        if generation is None:
            return
        async with self.busy:
            if not self._still_owned(epoch):
                log.info("partitions moved during the recompute of %s; result dropped", category)
                return
            # The capture joins the history first, so the history answers of a generation include it.
            if self.history is not None and generation.observations is not None:
                if not await self._holds(category):  # fenced like the generation and risk events
                    log.warning("history not recorded: another worker owns %s now", category)
                    return
                await self.history.record(
                    category,
                    captured_at=capture_moment(generation.basis),
                    observations=generation.observations,
                    reference=reference,
                )
            await self._write(category, generation, started, epoch)

    async def _write(
        self, category: ModelCategory, generation: Generation, started: float, epoch: int
    ) -> None:
        fence = await self._fence(category)
        with tracing.span("redis write generation", attributes={"category": category.value}):
            # The partition count orders generations across a growth (shared/store/generations.py).
            stored = {**generation.basis, "partitions": str(self.partitions)}
            outcome = await self.store.write(
                category, generation.generation, generation.views, stored, fence=fence
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
        if outcome != "older" and int(generation.basis.get("status_at_ms") or 0) > 0:
            note_status_confirmed(category.value, int(generation.basis["status_at_ms"]) / 1000)
        if outcome != "older" and generation.risk_models is not None:
            for state, count in risk_state_counts(generation.risk_models).items():
                RISK_MODELS.labels(category.value, state).set(count)
        if outcome != "older" and self.risk is not None and generation.risk_models is not None:
            basis = RiskBasis(
                generation=generation.generation,
                reference_version=generation.basis["reference_version"],
                horde_status_at_ms=int(generation.basis["status_at_ms"]),
                horde_stats_at_ms=int(generation.basis["stats_at_ms"]),
            )
            await self.risk.publish(
                category, generation.risk_models, basis, keep_going=lambda: self._still_owned(epoch),
                fence=fence,
            )  # fmt: skip
        log.info(
            "generation %s",
            outcome,
            extra={
                "category": category.value,
                "generation": generation.generation,
                "views": len(generation.views),
            },
        )
