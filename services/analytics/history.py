"""The worker's daily history: fold each generation's capture into today's roll-up, publish it,
materialise it; rebuild everything from the compacted ``analytics.history.daily.v1`` topic.

Kafka is the source of truth: after every fold the whole roll-up of the day is published (key
``category/day``), so a worker killed mid-day loses nothing and its successor continues the day
from the last published roll-up. Redis is rebuilt from the topic on assignment and whenever its
history of an owned category disappeared (FLUSHDB, restart without persistence). A record that
is not a valid roll-up goes to ``<topic>.dlq`` with its reason; the rest still rebuilds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from services.analytics.dead_letters import publish_dead_letter
from shared.domain.categories import RUNTIME_CATEGORIES, ModelCategory
from shared.domain.history.days import ONE_DAY, utc_day
from shared.domain.history.enrich import LifecycleContext
from shared.domain.history.policy import LifecyclePolicy
from shared.domain.history.reference_events import (
    FirstSeen,
    ModDates,
    events_of_diff,
    parse_mod_data,
    watcher_first_seen,
)
from shared.domain.history.rollup import (
    CategoryDay,
    ModelObservation,
    ReferenceEvent,
    add_reference_events,
    fold_capture,
)
from shared.domain.history.summary import PastSummary
from shared.domain.reference.diff import ModelChange, ReferenceDiff
from shared.events.history import MalformedRollupError, decode_rollup, rollup_key
from shared.events.reference import ReferenceCategoryChanged
from shared.kafka import drain_to_end, encode_key, kafka_client_options, publish_event
from shared.settings import KafkaSettings
from shared.store.history import WINDOW_DAYS, HistoryStore, WrittenDay, retention_start
from shared.topics import TopicSpec, categories_of_partition, partition_for

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

log = logging.getLogger(__name__)
PRODUCER = "analytics"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def load_mod_dates(path: str) -> dict[str, ModDates]:
    """``model_mod_data.json`` from ``path`` (empty: none); an unreadable file is logged, not fatal."""
    if not path:
        return {}
    try:
        dates, skipped = parse_mod_data(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as error:
        log.error("model_mod_data not read; first-seen dates come from the watcher: %s", error)
        return {}
    if skipped:
        log.warning("model_mod_data entries skipped", extra={"skipped": skipped[:20]})
    return dates


def reference_events_of(reference: ReferenceCategoryChanged, *, known: set[str]) -> list[ReferenceEvent]:
    """Events of a reference change; with no model known yet, the models it did not add are
    initial sightings (they existed before the history did)."""
    diff = ReferenceDiff(
        added=reference.added,
        removed=reference.removed,
        modified=tuple(ModelChange(m.name, m.fields) for m in reference.modified),
    )
    initial = reference.previous_version is None
    events = events_of_diff(diff, version=reference.version, at=reference.detected_at, initial=initial)
    if not known and not initial:
        added = set(reference.added)
        events = [
            ReferenceEvent(
                model=r.name,
                kind="first_seen",
                at=reference.detected_at,
                version=reference.version,
                initial=True,
            )
            for r in reference.records
            if r.name not in added
        ] + events
    return events


class HistoryRecorder:
    """Today's roll-up per owned runtime category, its publication and its materialisation."""

    def __init__(
        self,
        *,
        store: HistoryStore,
        broker: KafkaBroker,
        spec: TopicSpec,
        kafka_settings: KafkaSettings,
        partitions: int,
        retention_days: int,
        consumer_name: str,
        tombstones: AIOKafkaProducer | None = None,
        clock: Callable[[], datetime] = _utc_now,
        policy: LifecyclePolicy | None = None,
        mod_dates: Mapping[str, ModDates] | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.spec = spec
        self.kafka_settings = kafka_settings
        self.partitions = partitions
        self.retention_days = retention_days
        self.consumer_name = consumer_name
        self.tombstones = tombstones
        self.clock = clock
        self.policy = policy or LifecyclePolicy()
        #: ``model_mod_data.json`` dates of image models (first-seen source ``model_mod_data``).
        self.mod_dates: Mapping[str, ModDates] = mod_dates or {}
        #: Per category and model, the completed days folded for lifecycle fields, and through when.
        self.summaries: dict[ModelCategory, dict[str, PastSummary]] = {}
        self.summarised: dict[ModelCategory, date] = {}
        self.sightings: dict[ModelCategory, dict[str, FirstSeen]] = {}
        #: The latest roll-up per category and the one of the day before (for that day's usage).
        self.current: dict[ModelCategory, CategoryDay] = {}
        self.previous: dict[ModelCategory, CategoryDay] = {}
        #: Days held on the topic per category (tombstoned when they leave retention).
        self.days: dict[ModelCategory, set[date]] = {}
        #: Reference versions already recorded, and models with a first-seen event.
        self.versions: dict[ModelCategory, set[str]] = {}
        self.known: dict[ModelCategory, set[str]] = {}
        self.owned: set[ModelCategory] = set()
        #: The owned history is rebuilt; until then nothing is recorded (a fold into a day that
        #: was not read back would publish that day without its earlier captures).
        self.loaded = False
        self.dead_lettered = 0
        #: Records already dead-lettered by this process (a rebuild after a Redis wipe reads them again).
        self.rejected: set[tuple[str, int, int]] = set()
        #: Per category, the fields of its latest day as this recorder last wrote them (only the
        #: fields a capture changed are sent again); dropped with everything else on ``forget``.
        self.written: dict[ModelCategory, WrittenDay] = {}

    def forget(self) -> None:
        held: list[dict[ModelCategory, Any]] = [self.current, self.previous, self.days, self.versions]
        held += [self.known, self.summaries, self.summarised, self.sightings, self.written]
        for mapping in held:
            mapping.clear()
        self.owned = set()
        self.loaded = False

    # -- rebuild ---------------------------------------------------------------------------
    async def load(self, partitions: set[int], *, limit_seconds: float = 120) -> None:
        """Read the owned partitions of the history topic and rebuild Redis from them."""
        self.forget()
        self.owned = {
            c
            for p in partitions
            for c in categories_of_partition(p, self.partitions)
            if c in RUNTIME_CATEGORIES
        }
        if not partitions:
            self.loaded = True
            return
        latest: dict[str, ConsumerRecord[Any, Any]] = {}
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka_settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=self.kafka_settings.max_message_bytes * 2,
            **kafka_client_options(self.kafka_settings),
        )  # fmt: skip
        await consumer.start()
        try:
            assigned = [TopicPartition(self.spec.name, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            ends = await consumer.end_offsets(assigned)
            await consumer.seek_to_beginning(*assigned)

            def keep(record: ConsumerRecord[Any, Any]) -> None:
                key = (
                    record.key.decode(errors="replace")
                    if record.key
                    else f"@{record.partition}:{record.offset}"
                )
                latest[key] = record  # the newest record of a key wins, as compaction would keep it

            await asyncio.wait_for(drain_to_end(consumer, assigned, ends, keep), limit_seconds)
        finally:
            await consumer.stop()
        await self.rebuild(latest.values())
        self.loaded = True

    async def rebuild(self, records: Iterable[ConsumerRecord[Any, Any]]) -> None:
        """Decode the latest record per key, dead-letter bad ones, write the owned days in order."""
        by_category: dict[ModelCategory, list[CategoryDay]] = {}
        for record in records:
            try:
                rollup = decode_rollup(record.key, record.value)
            except MalformedRollupError as error:
                await self.dead_letter(record, error)
                continue
            if rollup is not None and rollup.category in self.owned:
                by_category.setdefault(rollup.category, []).append(rollup)
        first_kept = retention_start(utc_day(self.clock()), self.retention_days)
        for category in sorted(self.owned):
            rollups = sorted(by_category.get(category, []), key=lambda r: r.day)
            self.days[category] = {r.day for r in rollups}
            kept = [r for r in rollups if r.day >= first_kept]
            await self.store.clear(category)
            await self.store.write_days(kept)
            self.versions[category] = {e.version for r in rollups for e in r.reference_events}
            self.known[category] = {
                e.model for r in rollups for e in r.reference_events if e.kind == "first_seen"
            }
            self.sightings[category] = watcher_first_seen(e for r in rollups for e in r.reference_events)
            for rollup in kept[:-1]:
                self._summarise(category, rollup)
            if rollups:
                self.current[category] = rollups[-1]
                if len(rollups) > 1 and rollups[-2].day == rollups[-1].day - ONE_DAY:
                    self.previous[category] = rollups[-2]
                await self._write_windows(category, rollups[-1].day)
            await self.store.mark_built(category)  # last: a reader waiting for it sees every key
            log.info("history rebuilt", extra={"category": category.value, "days": len(kept)})

    async def dead_letter(self, record: ConsumerRecord[Any, Any], error: Exception) -> None:
        """Dead-letter a malformed roll-up once per process (the rebuild reads it again each time)."""
        coordinates = (record.topic, record.partition, record.offset)
        if coordinates in self.rejected:
            return
        self.rejected.add(coordinates)
        await publish_dead_letter(
            self.broker,
            self.spec.dead_letter,
            record,
            error,
            consumer=self.consumer_name,
            max_message_bytes=self.kafka_settings.max_message_bytes,
        )
        self.dead_lettered += 1

    async def verify(self) -> list[ModelCategory]:
        """Rebuild from Kafka every owned category whose history Redis lost (or all of them when the
        rebuild at assignment failed); returns them."""
        lost = [c for c in sorted(self.owned) if not self.loaded or not await self.store.is_built(c)]
        if lost:
            log.warning(
                "redis lost the history; rebuilding from kafka", extra={"categories": [c.value for c in lost]}
            )
            partitions = {partition_for(c, self.partitions) for c in self.owned}
            await self.load(partitions)
        return lost

    # -- lifecycle -------------------------------------------------------------------------
    def _summarise(self, category: ModelCategory, rollup: CategoryDay) -> None:
        """Fold a completed day into the models' summaries (once per day, in day order)."""
        through = self.summarised.get(category)
        if through is not None and rollup.day <= through:
            return
        summaries = self.summaries.setdefault(category, {})
        window = 2 * self.policy.trend_window_days
        if rollup.has_data:
            for name, model_day in rollup.models.items():
                summary = summaries.get(name)
                if summary is None:
                    summary = summaries[name] = PastSummary()
                summary.add_day(rollup.day, model_day, generated=rollup.generated, window_days=window)
        self.summarised[category] = rollup.day

    def context(
        self, category: ModelCategory, today: date, reference: ReferenceCategoryChanged | None = None
    ) -> LifecycleContext:
        """The lifecycle context of a recompute whose capture is of ``today``: the completed days and
        the sightings, including those of ``reference`` not recorded yet; never today's roll-up, so
        the answer depends on the generation's inputs and the history before it only."""
        current = self.current.get(category)
        if current is not None and current.day < today:
            self._summarise(category, current)
        seen: dict[str, FirstSeen] = dict(self.sightings.get(category, {}))
        if reference is not None and reference.version not in self.versions.get(category, set()):
            pending = reference_events_of(reference, known=self.known.get(category, set()))
            for name, sighting in watcher_first_seen(pending).items():
                seen.setdefault(name, sighting)
        if category is ModelCategory.IMAGE_GENERATION:
            for name, dates in self.mod_dates.items():
                if dates.added is not None:
                    seen[name] = FirstSeen(dates.added, "model_mod_data")
        return LifecycleContext(
            category=category,
            today=today,
            policy=self.policy,
            summaries=dict(self.summaries.get(category, {})),
            first_seen=seen,
        )

    # -- recording -------------------------------------------------------------------------
    async def record(
        self,
        category: ModelCategory,
        *,
        captured_at: datetime,
        observations: Mapping[str, ModelObservation],
        reference: ReferenceCategoryChanged | None = None,
        generated: bool = False,
    ) -> CategoryDay | None:
        """Fold one capture (and a new reference version's events) into the day; publish, write.

        Nothing before the owned history is rebuilt: verification retries the rebuild."""
        if not self.loaded:
            return None
        held = self.current.get(category)
        day = utc_day(captured_at)
        if held is not None and day < held.day:
            return None  # an input older than the day being recorded: that day is closed
        if held is not None and day > held.day:
            self.previous[category] = held
            self._summarise(category, held)
            held = None
        rollup = fold_capture(
            held, category=category, captured_at=captured_at, observations=observations, generated=generated
        )
        versions = self.versions.setdefault(category, set())
        # A reference detected after the capture's day waits for the first capture of its day.
        if (
            reference is not None
            and reference.version not in versions
            and utc_day(reference.detected_at) <= day
        ):
            events = reference_events_of(reference, known=self.known.setdefault(category, set()))
            rollup = add_reference_events(rollup, events)
            versions.add(reference.version)
            self.known[category].update(e.model for e in events if e.kind == "first_seen")
            sightings = self.sightings.setdefault(category, {})
            for name, sighting in watcher_first_seen(events).items():
                sightings.setdefault(name, sighting)
        if rollup is held:
            return None
        self.current[category] = rollup
        await self.publish(rollup)
        previous = self.previous.get(category)
        written = self.written.setdefault(category, WrittenDay())
        await self.store.write_days([rollup], previous=previous, written=written)
        if held is None:
            await self._retire(category, rollup.day, rollup.models)
            await self._write_windows(category, rollup.day)
        return rollup

    async def _write_windows(self, category: ModelCategory, today: date) -> None:
        """Pre-join the completed days before ``today`` for the history routes (once per day):
        for every model with data within the window, the same set after a rebuild."""
        lowest = max(today - WINDOW_DAYS * ONE_DAY, retention_start(today, self.retention_days))
        summaries = self.summaries.get(category, {})
        wanted = {
            name
            for name, summary in summaries.items()
            if summary.last_data_day is not None and summary.last_data_day >= lowest
        }
        await self.store.write_windows(category, today, wanted)
        await self.store.drop_windows(category, set(summaries) - wanted)

    async def publish(self, rollup: CategoryDay) -> None:
        key = encode_key(*rollup_key(rollup))
        stamp = int(rollup.last_captured_at.timestamp() * 1000) if rollup.last_captured_at else 0
        await publish_event(
            self.broker,
            self.spec,
            rollup,
            key=key,
            partition=partition_for(rollup.category, self.partitions),
            event_id=f"{rollup.category.value}/{rollup.day}/{stamp}",
            time=rollup.last_captured_at or self.clock(),
            producer=PRODUCER,
            subject=f"{rollup.category.value}/{rollup.day}",
        )
        self.days.setdefault(rollup.category, set()).add(rollup.day)

    async def _retire(self, category: ModelCategory, today: date, models: Iterable[str]) -> None:
        """Tombstone and unmaterialise the days that left retention when a new day started."""
        first_kept = retention_start(today, self.retention_days)
        old = sorted(d for d in self.days.get(category, set()) if d < first_kept)
        if not old:
            return
        await self.store.drop_days(category, models, old)
        if self.tombstones is not None:
            partition = partition_for(category, self.partitions)
            for day in old:
                key = encode_key(category.value, day.isoformat())
                await self.tombstones.send_and_wait(self.spec.name, None, key=key, partition=partition)
        self.days[category] -= set(old)
