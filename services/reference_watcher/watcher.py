"""The reference watcher's decision loop: fetch, parse, guard, diff, publish one event per change.

State is only "what was last published per category", rebuilt from the compacted topic at start
(:mod:`services.reference_watcher.state`), so the watcher needs no storage of its own and a
restart publishes nothing when nothing changed.

Versions are the content hash of the parsed records (normalised fields, in reference order), not
of the bytes: the same reference read as legacy JSON, CSV or v2 has the same version, and a
consumer can recompute it from the event's ``records``. Edits to source fields analytics never
reads (``homepage`` alone, say) therefore do not make a new version; they ride along with the
next real change.

Guards, both of which keep the previously published version in force:

* a payload that cannot be parsed as a whole (truncated, empty, not JSON, wrong shape) is
  rejected: logged as an error naming category and source, counted
  ``hma_reference_rejected_total{reason="invalid_payload"}``;
* a change removing more than ``max_removed_share`` of the category's models is **held**: logged
  with its id ``<category>:<version>``, counted ``reason="mass_removal"``, and re-evaluated
  whenever the source changes again. It is published when an operator adds that id to
  ``HORDE_REFERENCE__CONFIRMED_VERSIONS`` and restarts the watcher (settings are read at start;
  the first poll then publishes it), and dropped when the source reverts to the published version.

The removal share is measured against the last **confirmed** state of the category, not the last
published one: the state at start, a version an operator confirmed, or a published change that
removed none of the confirmed state's models. Removals published without confirmation add up, so
two successive 15 % removals are 28 % of the confirmed state and the second one is held by a
20 % guard (each alone passed when compared with its predecessor).

After every poll the watcher reports each category's outcome (``ReferenceSourceHealthReported``):
read or failed, consecutive failures, the version the source shows and the one published, the
next attempt. A category that cannot be read, whose payload is rejected, or that the source no
longer offers counts as a failed poll; the heartbeat shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, SupportsIndex

from services.reference_watcher.sources import Fetched, FetchFailed, ReferenceSource
from shared import tracing
from shared.domain.categories import ModelCategory
from shared.domain.reference.diff import diff_references, removal_share
from shared.domain.reference.health import CategoryPolls, PollHealth
from shared.domain.reference.parse import parse_reference
from shared.domain.reference.records import ReferenceRecord, ReferenceSnapshot
from shared.domain.reference.validation import ReferenceFormatError
from shared.events.reference import ModifiedModel, ReferenceCategoryChanged, ReferenceSourceHealthReported
from shared.kafka import content_hash
from shared.metrics import REFERENCE_CHANGES_PUBLISHED, REFERENCE_REJECTED
from shared.settings import ReferenceSettings
from shared.topics import partition_for

log = logging.getLogger(__name__)


class EventPublisher(Protocol):
    """Sends one change event and returns once the broker acknowledged it."""

    async def publish(self, event: ReferenceCategoryChanged, *, event_id: str, partition: int) -> None: ...


class HealthPublisher(Protocol):
    """Sends one category's poll outcome."""

    async def publish_health(self, report: ReferenceSourceHealthReported, *, partition: int) -> None: ...


def records_version(records: tuple[ReferenceRecord, ...]) -> str:
    """Content hash of parsed records: equal references give equal versions, whatever the format."""
    return "sha256:" + content_hash([record.model_dump(mode="json") for record in records])


def event_id(category: ModelCategory, version: str) -> str:
    """Deterministic CloudEvents id: a re-publish of the same state carries the same id."""
    return f"{category.value}:{version}"


def patchable_payload(fetched: Fetched) -> str | None:
    """The file text removal proposals patch (image legacy JSON, text ``models.csv``), else None."""
    wanted = {ModelCategory.IMAGE_GENERATION: "legacy", ModelCategory.TEXT_GENERATION: "csv"}
    if wanted.get(fetched.category) != fetched.format or not fetched.payload:
        return None
    try:
        return fetched.payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


class ReferenceWatcher:
    """Turns source polls into change events; every decision is visible in logs and metrics."""

    def __init__(
        self,
        source: ReferenceSource,
        publisher: EventPublisher,
        settings: ReferenceSettings,
        *,
        partitions: SupportsIndex,
        published: dict[ModelCategory, ReferenceSnapshot] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        announce_absent: bool = False,
        health: HealthPublisher | None = None,
    ) -> None:
        self.source = source
        self.publisher = publisher
        self.settings = settings
        self.partitions = partitions
        #: Last published state per category (the topic's latest record per key).
        self.published: dict[ModelCategory, ReferenceSnapshot] = dict(published or {})
        #: Version of a held mass-removal change per category.
        self.held: dict[ModelCategory, str] = {}
        #: Last confirmed state per category: the baseline removals are measured against.
        self.confirmed: dict[ModelCategory, ReferenceSnapshot] = dict(self.published)
        self._clock = clock
        #: Publish "no models" for categories the source does not offer (the service does, D17).
        self.announce_absent = announce_absent
        # Digest of the last payload fully handled per category: identical bytes are not re-parsed.
        self._handled: dict[ModelCategory, str] = {}
        self._missing: set[ModelCategory] = set()
        #: Where the poll outcomes go (none: not reported), and what the polls said so far.
        self.health = health
        self.polls = PollHealth()
        # Why ``_parse`` rejected the payload it parsed last (None: it parsed).
        self._rejection: str | None = None
        # Per category: digest of the last payload parsed, its version, or why it was rejected.
        self._read: dict[ModelCategory, tuple[str, str | None, str | None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; one failing poll never ends the loop."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:
                log.exception("reference poll failed", extra={"source": self.source.name})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.poll_interval_seconds)

    @tracing.traced(lambda _: "reference poll")
    async def poll_once(self) -> list[ReferenceCategoryChanged]:
        """Fetch every category once; returns the events published by this poll."""
        try:
            results = await self.source.fetch()
        except Exception as exc:
            await self._report_unavailable(exc)
            raise
        self._report_missing({result.category for result in results})
        published: list[ReferenceCategoryChanged] = []
        origins: dict[ModelCategory, str] = {}
        for result in results:
            origins[result.category] = result.origin
            if isinstance(result, FetchFailed):
                self.polls.failed(result.category, result.error, now=self._clock())
                log.error(
                    "reference fetch failed; keeping the previous version",
                    extra={
                        "category": result.category.value,
                        "source": self.source.name,
                        "origin": result.origin,
                        "error": result.error,
                    },
                )
                continue
            try:
                event = await self._handle(result)
            except Exception:
                # Not marked handled: the next poll tries this category again.
                log.exception(
                    "publishing the reference change failed",
                    extra={"category": result.category.value, "source": self.source.name},
                )
                continue
            finally:
                self._note_read(result)
            if event is not None:
                published.append(event)
        offered = {result.category for result in results}
        if self.announce_absent:
            published.extend(await self._publish_absent(offered))
        await self._report_polls(offered, origins)
        return published

    async def _report_unavailable(self, error: Exception) -> None:
        """The whole source failed: a failed poll of every category known so far."""
        now = self._clock()
        known = set(self.published) | set(self.polls.categories)
        for category in known:
            self.polls.failed(category, f"source unavailable: {type(error).__name__}: {error}", now=now)
        await self._report_polls(known, dict.fromkeys(known, "unavailable"))

    def _note_read(self, fetched: Fetched) -> None:
        """Record the outcome of reading ``fetched`` (parsed or rejected) in the poll health."""
        read = self._read.get(fetched.category)
        if read is None or read[0] != hashlib.sha256(fetched.payload).hexdigest():
            return  # not parsed (a publish failed before): the next poll reads it again
        _, version, error = read
        if version is not None:
            self.polls.succeeded(fetched.category, version, now=self._clock())
        else:
            self.polls.failed(fetched.category, error or "payload rejected", now=self._clock())

    async def _report_polls(self, offered: set[ModelCategory], origins: dict[ModelCategory, str]) -> None:
        """Publish each category's poll outcome; a failure is logged and the next poll reports again.

        Categories the source does not offer: one published as "no models" (D17) is read as empty;
        one that had models is a failed poll (the source stopped offering it).
        """
        if self.health is None:
            return
        now = self._clock()
        for category in ModelCategory:
            if category not in offered:
                previous = self.published.get(category)
                if previous is None:
                    continue
                if previous.records:
                    self.polls.failed(category, "no longer offered by the source", now=now)
                else:
                    self.polls.succeeded(category, previous.version, now=now)
            polls = self.polls.categories.get(category)
            if polls is None:
                continue
            report = self._health_report(category, polls, origins.get(category, "absent"), now)
            try:
                await self.health.publish_health(report, partition=partition_for(category, self.partitions))
            except Exception:
                log.warning(
                    "publishing the reference poll outcome failed",
                    extra={"category": category.value, "source": self.source.name},
                    exc_info=True,
                )

    def _health_report(
        self, category: ModelCategory, polls: CategoryPolls, origin: str, now: datetime
    ) -> ReferenceSourceHealthReported:
        published = self.published.get(category)
        return ReferenceSourceHealthReported(
            category=category,
            source=f"{self.source.name}:{origin}",
            ok=polls.ok,
            checked_at=polls.checked_at,
            last_success_at=polls.last_success_at,
            consecutive_failures=polls.consecutive_failures,
            error=polls.error,
            source_version=polls.source_version,
            content_changed_at=polls.content_changed_at,
            published_version=published.version if published else None,
            next_attempt_at=now + timedelta(seconds=self.settings.poll_interval_seconds),
        )

    async def _publish_absent(self, offered: set[ModelCategory]) -> list[ReferenceCategoryChanged]:
        """Publish "no models" once for each category the source does not offer and that never had
        a published state (``video_generation``, ``ti``, a folder without ``clip.json``), so the
        gateway answers 404 for it at once instead of waiting for data that never comes (D17).

        A category that had models and disappears keeps its last version (see ``_report_missing``);
        a failed fetch is "offered" and never counts as absent.
        """
        events: list[ReferenceCategoryChanged] = []
        for category in ModelCategory:
            if category in offered or category in self.published:
                continue
            snapshot = ReferenceSnapshot(category=category, version=records_version(()))
            try:
                event = await self._decide(Fetched(category, "legacy", b"", "absent"), snapshot)
            except Exception:
                log.exception("publishing an absent category failed", extra={"category": category.value})
                continue
            if event is not None:
                events.append(event)
        return events

    def _report_missing(self, present: set[ModelCategory]) -> None:
        empty = {category for category, snapshot in self.published.items() if not snapshot.records}
        present = present | empty  # an absent category published as empty is not "missing"
        for category in sorted(set(self.published) - present - self._missing):
            log.warning(
                "category no longer offered by the source; keeping its last version",
                extra={"category": category.value, "source": self.source.name},
            )
        self._missing = set(self.published) - present

    async def _handle(self, fetched: Fetched) -> ReferenceCategoryChanged | None:
        category = fetched.category
        digest = hashlib.sha256(fetched.payload).hexdigest()
        read = self._read.get(category)
        if self._handled.get(category) == digest and read is not None and read[0] == digest:
            return None
        snapshot = self._parse(fetched)
        self._read[category] = (digest, snapshot.version if snapshot else None, self._rejection)
        if snapshot is None:
            self._handled[category] = digest
            return None
        event = await self._decide(fetched, snapshot)
        self._handled[category] = digest  # only after a successful publish: a failed one is retried
        return event

    def _parse(self, fetched: Fetched) -> ReferenceSnapshot | None:
        category = fetched.category
        self._rejection = None
        try:
            parsed = parse_reference(category, fetched.payload, format=fetched.format, version="")
        except ReferenceFormatError as exc:
            self._rejection = f"payload rejected: {exc}"
            REFERENCE_REJECTED.labels(category.value, "invalid_payload").inc()
            log.error(
                "reference payload rejected; keeping the previous version",
                extra={
                    "category": category.value,
                    "source": self.source.name,
                    "origin": fetched.origin,
                    "error": str(exc),
                },
            )
            return None
        for rejection in parsed.rejections:
            log.warning(
                "reference record rejected",
                extra={
                    "category": category.value,
                    "model": rejection.model,
                    "field": rejection.field,
                    "reason": rejection.reason,
                    "origin": fetched.origin,
                },
            )
        if parsed.rejections:
            REFERENCE_REJECTED.labels(category.value, "invalid_record").inc(len(parsed.rejections))
        return parsed.model_copy(update={"version": records_version(parsed.records)})

    async def _decide(self, fetched: Fetched, snapshot: ReferenceSnapshot) -> ReferenceCategoryChanged | None:
        category, version = snapshot.category, snapshot.version
        previous = self.published.get(category)
        if previous is not None and previous.version == version:
            if self.held.pop(category, None) is not None:
                log.info(
                    "held reference change reverted; nothing to publish",
                    extra={"category": category.value, "version": version},
                )
            return None
        diff = diff_references(previous, snapshot)
        baseline = self.confirmed.get(category, previous)
        share = removal_share(diff_references(baseline, snapshot), baseline)
        change_id = event_id(category, version)
        operator_confirmed = change_id in self.settings.confirmed_versions
        if share > self.settings.max_removed_share and not operator_confirmed:
            self.held[category] = version
            REFERENCE_REJECTED.labels(category.value, "mass_removal").inc()
            log.error(
                "reference change held: it removes too many models; confirm it with "
                "HORDE_REFERENCE__CONFIRMED_VERSIONS or wait for the source to revert",
                extra={
                    "category": category.value,
                    "source": self.source.name,
                    "origin": fetched.origin,
                    "change_id": change_id,
                    "removed": len(diff.removed),
                    "removed_share": round(share, 4),
                    "confirmed_version": baseline.version if baseline else None,
                    "max_removed_share": self.settings.max_removed_share,
                },
            )
            return None
        event = ReferenceCategoryChanged(
            category=category,
            version=version,
            previous_version=previous.version if previous else None,
            source=f"{self.source.name}:{fetched.origin}",
            detected_at=self._clock(),
            added=diff.added,
            removed=diff.removed,
            modified=tuple(ModifiedModel(name=c.name, fields=c.fields) for c in diff.modified),
            records=snapshot.records,
            source_format=fetched.format,
            source_payload=patchable_payload(fetched),
        )
        await self.publisher.publish(
            event, event_id=change_id, partition=partition_for(category, self.partitions)
        )
        self.published[category] = snapshot
        self.held.pop(category, None)
        if operator_confirmed or baseline is None or set(baseline.names()) <= set(snapshot.names()):
            self.confirmed[category] = snapshot
        REFERENCE_CHANGES_PUBLISHED.labels(category.value).inc()
        log.info(
            "reference change published",
            extra={
                "category": category.value,
                "version": version,
                "added": len(diff.added),
                "removed": len(diff.removed),
                "modified": len(diff.modified),
                "records": len(snapshot.records),
            },
        )
        return event
