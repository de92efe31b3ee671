"""Scenario 5: a corpus of malformed inputs (``tests/chaos/corpus.py``) against the running stack.

Horde payloads are served by the stand-in (mutated frames, then faults) and the poller must
reject every one and publish nothing; reference files land in the watcher's folder and are
rejected or held, the previous version kept; raw records on the input topics are dead-lettered
with a reason; bad gateway parameters get a 4xx that says what is wrong. Afterwards every service
still runs and is ready, and the gateway answers exactly as before (modulo freshness).

The first test checks the corpus itself, offline: it is deterministic, and every case is invalid
for the very code that must reject it (the poller's client against the stand-in app, the
watcher's decision, the worker's decoder), so a live pass cannot be a corpus that is too kind.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devtools.horde_standin.app import create_app
from devtools.horde_standin.reference import load_known_models
from devtools.horde_standin.scenario import Scenario
from services.analytics.inputs import InputTopics, PoisonRecordError, decode_record
from services.poller.budget import RequestBudget
from services.poller.client import HordeApiClient, MalformedPayloadError
from services.reference_watcher.sources import Fetched, FetchFailed
from services.reference_watcher.watcher import ReferenceWatcher, records_version
from shared.domain.categories import ModelCategory
from shared.domain.reference.parse import parse_reference
from shared.events.reference import ReferenceCategoryChanged
from shared.settings import HordeApiSettings, ReferenceSettings
from shared.topics import (
    HORDE_STATS_CAPTURED,
    HORDE_STATUS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    REFERENCE_CHANGED,
)
from tests.chaos.corpus import Corpus, build_corpus
from tests.chaos.results import record
from tests.chaos.stack import PREFIX, ChaosStack, running_stack, wait_until
from tests.support.events import DATA, SYNTHETIC
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(360)]

ENV = {
    "HORDE_HORDE_API__STATS_INTERVAL_SECONDS": "1",
    "HORDE_REFERENCE__POLL_INTERVAL_SECONDS": "0.3",
}
#: Views compared before and after the corpus (bodies without their ``freshness``).
VIEWS = [
    f"{PREFIX}/{category}{suffix}"
    for category in ("image_generation", "text_generation")
    for suffix in ("", "/with-stats", "/with-stats?include_workers=true", "/deletion-risk",
                   "/deletion-risk?group_text_models=true")
]  # fmt: skip
REJECTIONS = {
    "invalid_payload": "reference payload rejected; keeping the previous version",
    "mass_removal": "reference change held: it removes too many models; confirm it with "
    "HORDE_REFERENCE__CONFIRMED_VERSIONS or wait for the source to revert",
}


# ---------------------------------------------------------------------------------- offline check


def _good_frame() -> dict[str, Any]:
    names = (
        "status_models_image",
        "status_models_text",
        "stats_models_image",
        "stats_models_text",
        "workers",
    )
    return {name: json.loads((SYNTHETIC / f"{name}.json").read_text()) for name in names}


async def _poller_rejects(corpus: Corpus) -> list[str]:
    """Cases the poller's own client accepts when the stand-in app serves them (should be none)."""
    scenario = Scenario.from_frames(
        [_good_frame(), *corpus.frames()], known_models=load_known_models(DATA / "reference")
    )
    app = create_app(scenario, rate_limit=1_000_000)
    state = app.state.standin
    settings = HordeApiSettings(base_url="http://standin/api", max_attempts=1)
    client = HordeApiClient(settings, RequestBudget(1_000_000), transport=httpx.ASGITransport(app=app))
    accepted: list[str] = []
    try:
        for case in corpus.horde:
            state.faults.clear()
            if case.fault is not None:
                state.set_frame(0)
                state.faults.add(
                    case.fault | {"endpoint": case.endpoint, "model_type": case.model_type, "count": 1}
                )
            else:
                state.set_frame(corpus.frame_of(case))
            fetch = {"status": client.status_models, "stats": client.stats_models, "workers": client.workers}
            try:
                await fetch[case.endpoint](case.model_type)  # type: ignore[arg-type]
            except MalformedPayloadError:
                continue
            accepted.append(case.name)
    finally:
        await client.aclose()
    return accepted


async def _watcher_publishes(corpus: Corpus) -> list[str]:
    """Cases the watcher's decision would publish, or reject for another reason (should be none)."""
    published: list[str] = []
    good = {}
    for case in corpus.reference:
        category = ModelCategory(case.category)
        raw = (DATA / "reference" / case.path).read_bytes()
        parsed = parse_reference(category, raw, format="legacy", version="")
        good[category] = parsed.model_copy(update={"version": records_version(parsed.records)})

    class Source:
        name = "corpus"

        def __init__(self) -> None:
            self.next: list[Fetched | FetchFailed] = []

        async def fetch(self) -> list[Fetched | FetchFailed]:
            return self.next

    class Publisher:
        def __init__(self) -> None:
            self.events: list[ReferenceCategoryChanged] = []

        async def publish(self, event: ReferenceCategoryChanged, *, event_id: str, partition: int) -> None:
            self.events.append(event)

    for case in corpus.reference:
        source, publisher = Source(), Publisher()
        watcher = ReferenceWatcher(source, publisher, ReferenceSettings(), partitions=4, published=dict(good))
        source.next = [Fetched(ModelCategory(case.category), "legacy", case.content, case.path)]
        await watcher.poll_once()
        held = ModelCategory(case.category) in watcher.held
        if publisher.events or held != (case.expected == "mass_removal"):
            published.append(f"{case.name} (published: {bool(publisher.events)}, held: {held})")
    return published


def test_the_corpus_is_deterministic_and_every_case_is_invalid() -> None:
    corpus = build_corpus()
    assert corpus == build_corpus(), "same seed, same corpus"
    counts = corpus.counts()
    record(
        "corpus.cases",
        counts["total"],
        "inputs",
        ", ".join(f"{k} {v}" for k, v in counts.items() if k != "total"),
    )
    assert counts["total"] >= 100
    assert all(counts[kind] >= 20 for kind in ("horde", "reference", "kafka", "http")), counts
    names = {c.name for kind in (corpus.horde, corpus.reference, corpus.kafka, corpus.http) for c in kind}
    assert len(names) == counts["total"], "every case has its own name"
    # The watcher skips bytes it has just handled: every file of a category must differ.
    assert len({(c.category, c.content) for c in corpus.reference}) == len(corpus.reference)
    assert not asyncio.run(_poller_rejects(corpus)), "the poller would accept these"
    assert not asyncio.run(_watcher_publishes(corpus)), "the watcher would publish these"
    topics = InputTopics.with_prefix("")
    decoded = []
    for case in corpus.kafka:
        try:
            decode_record(topics, case.topic.name, case.value)
        except PoisonRecordError:
            continue
        decoded.append(case.name)
    assert not decoded, f"the worker would accept these: {decoded}"


# --------------------------------------------------------------------------------------- live run


def answers(stack: ChaosStack) -> dict[str, Any]:
    """Every compared view: status, generation and body without freshness."""
    found: dict[str, Any] = {}
    for view in VIEWS:
        answer = stack.http.get(stack.gateway + view)
        body = answer.json()
        if "with-stats" not in view:  # object bodies end with their freshness; with-stats is a map
            body.pop("freshness", None)
        found[view] = (answer.status_code, answer.headers.get("X-Generation"), body)
    return found


async def _end_offsets(bootstrap: str, topics: list[str], partitions: int) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {t: sum(n for tp, n in ends.items() if tp.topic == t) for t in topics}


def serve_horde_cases(stack: ChaosStack, corpus: Corpus) -> dict[str, int]:
    """Serve every Horde case; returns how many poll rejections the poller logged per source."""
    first = 1
    frames = corpus.frames()
    for offset in range(len(frames)):
        index = first + offset
        wanted = {
            (c.endpoint, c.model_type)
            for c in corpus.horde
            if c.fault is None and corpus.frame_of(c) == offset + 1
        }
        stack.set_frame(index)

        def fetched(index: int = index, wanted: set[tuple[str, str]] = wanted) -> bool:
            seen = {(e["endpoint"], e["model_type"]) for e in stack.standin_requests() if e["frame"] == index}
            return wanted <= seen

        wait_until(fetched, within=30, what=f"the poller to fetch mutated frame {index}", stack=stack)
    stack.set_frame(0)
    faults = [c.fault | {"endpoint": c.endpoint, "model_type": c.model_type, "count": 1}
              for c in corpus.horde if c.fault is not None]  # fmt: skip
    stack.add_faults(*faults)

    def faults_used() -> bool:
        answer = stack.http.get(f"{stack.standin.base_url}/_control/faults")
        return not answer.json()["faults"]

    wait_until(faults_used, within=60, what="the poller to meet every injected fault", stack=stack)

    def rejected() -> Counter[str]:
        return Counter(
            f"{line.get('endpoint')}/{line.get('model_type')}"
            for line in stack.recent_log("poller")
            if line.get("message", "").startswith("poll failed")
            and "invalid payload" in str(line.get("error"))
        )

    # The last rejections reach the log just after the last fault was served: poll until every case
    # is there (bounded; the test's assertion names any still missing), not a fixed 1.5 s.
    expected = Counter(f"{c.endpoint}/{c.model_type}" for c in corpus.horde)
    deadline = time.monotonic() + 15
    while not rejected() >= expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return dict(rejected())


def write_reference_cases(stack: ChaosStack, corpus: Corpus) -> Counter[str]:
    """Write every reference case (image and text side by side) and wait for each rejection."""

    def rejections() -> Counter[str]:
        return Counter(
            f"{line.get('category')}:{kind}"
            for line in stack.recent_log("reference-watcher")
            for kind, message in REJECTIONS.items()
            if line.get("message") == message
        )

    by_category: dict[str, list[Any]] = {}
    for case in corpus.reference:
        by_category.setdefault(case.category, []).append(case)
    for step in range(max(len(v) for v in by_category.values())):
        batch = [cases[step] for cases in by_category.values() if step < len(cases)]
        before = rejections()
        for case in batch:
            target = stack.reference / case.path
            partial = target.with_suffix(".partial")
            partial.write_bytes(case.content)
            os.replace(partial, target)
        expected = Counter(f"{case.category}:{case.expected}" for case in batch)

        def all_rejected(before: Counter[str] = before, expected: Counter[str] = expected) -> bool:
            return rejections() - before >= expected

        wait_until(
            all_rejected, within=20, what=f"the watcher to reject {[c.name for c in batch]}", stack=stack
        )
    for path in ("image/stable_diffusion.json", "text/db.json"):
        target = stack.reference / path
        partial = target.with_suffix(".partial")
        partial.write_bytes((DATA / "reference" / path).read_bytes())
        os.replace(partial, target)
    time.sleep(1.0)  # one more poll sees the good files again
    return rejections()


async def publish_and_collect_dead_letters(bootstrap: str, stack: ChaosStack, corpus: Corpus) -> list[str]:
    """Publish every Kafka case raw; returns the names of cases not dead-lettered within 60 s."""
    partitions = 4
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=32 * 1024 * 1024)
    await producer.start()
    try:
        for case in corpus.kafka:
            topic = case.topic.with_prefix(stack.topic_prefix).name
            await producer.send_and_wait(
                topic, case.value, key=case.key, partition=case.partition(partitions)
            )
    finally:
        await producer.stop()
    pending = Counter((c.topic.with_prefix(stack.topic_prefix).name, c.value or b"") for c in corpus.kafka)
    names = {(c.topic.with_prefix(stack.topic_prefix).name, c.value or b""): c.name for c in corpus.kafka}
    dead_letter_topics = sorted({c.topic.with_prefix(stack.topic_prefix).dead_letter for c in corpus.kafka})
    consumer = AIOKafkaConsumer(*dead_letter_topics, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
                                max_partition_fetch_bytes=32 * 1024 * 1024)  # fmt: skip
    await consumer.start()
    reasons: list[str] = []
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while +pending and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for entry in records:
                    headers = {k: v.decode() for k, v in entry.headers}
                    source = headers.get("dlq_source_topic", "")
                    key = (source, entry.value or b"")
                    if pending[key] > 0 and headers.get("dlq_error"):
                        pending[key] -= 1
                        reasons.append(headers["dlq_error"])
    finally:
        await consumer.stop()
    record("malformed.dead_letter_reasons", len(set(reasons)), "distinct", reasons[0][:80] if reasons else "")
    return [names[key] for key, n in pending.items() if n > 0]


def test_malformed_inputs_are_rejected_and_nothing_valid_is_lost(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path
) -> None:
    corpus = build_corpus()
    started = time.monotonic()
    with running_stack(
        tmp_path,
        kafka_env=kafka.env(),
        redis_url=redis_url,
        unique=unique,
        env=ENV,
        extra_frames=corpus.frames(),
        wait_for_quiet=False,
    ) as stack:
        before = answers(stack)
        assert all(status == 200 for status, _, _ in before.values()), {v: a[0] for v, a in before.items()}
        snapshots = (HORDE_STATUS_CAPTURED, HORDE_STATS_CAPTURED, HORDE_WORKERS_CAPTURED)
        poller_topics = [spec.with_prefix(stack.topic_prefix).name for spec in snapshots]
        reference_topic = REFERENCE_CHANGED.with_prefix(stack.topic_prefix).name
        offsets_before = asyncio.run(
            _end_offsets(kafka.bootstrap_servers, [*poller_topics, reference_topic], 4)
        )

        phase = time.monotonic()
        rejected = serve_horde_cases(stack, corpus)
        horde_seconds = time.monotonic() - phase
        phase = time.monotonic()
        reference_rejections = write_reference_cases(stack, corpus)
        reference_seconds = time.monotonic() - phase
        offsets_after = asyncio.run(
            _end_offsets(kafka.bootstrap_servers, [*poller_topics, reference_topic], 4)
        )

        phase = time.monotonic()
        not_dead_lettered = asyncio.run(
            publish_and_collect_dead_letters(kafka.bootstrap_servers, stack, corpus)
        )
        kafka_seconds = time.monotonic() - phase

        http_failures: list[str] = []
        http_statuses: Counter[int] = Counter()
        for case in corpus.http:
            url = f"{stack.gateway}{case.path}" + (f"?{case.query}" if case.query else "")
            answer = stack.http.get(httpx.URL(url))
            http_statuses[answer.status_code] += 1
            try:
                detail = answer.json().get("detail")
            except ValueError:
                detail = None
            if answer.status_code != case.status or not isinstance(detail, str) or not detail:
                http_failures.append(f"{case.name}: {answer.status_code} {answer.text[:160]}")

        time.sleep(2)  # let the workers settle after the dead letters before comparing
        after = answers(stack)
        crashed, not_ready = stack.crashed(), stack.not_ready()

    counts = corpus.counts()
    record("malformed.horde", counts["horde"], "inputs", f"rejected by the poller in {horde_seconds:.1f} s")
    record(
        "malformed.reference",
        counts["reference"],
        "inputs",
        f"rejected by the watcher in {reference_seconds:.1f} s",
    )
    record("malformed.kafka", counts["kafka"], "inputs", f"dead-lettered in {kafka_seconds:.1f} s")
    record("malformed.http", counts["http"], "inputs", f"statuses {dict(sorted(http_statuses.items()))}")
    record("malformed.total", counts["total"], "inputs", f"whole scenario {time.monotonic() - started:.0f} s")

    assert not crashed, crashed
    assert not not_ready, not_ready
    expected_rejections = Counter(f"{c.endpoint}/{c.model_type}" for c in corpus.horde)
    short = {k: (rejected.get(k, 0), n) for k, n in expected_rejections.items() if rejected.get(k, 0) < n}
    assert not short, f"poller rejections (logged, expected at least): {short}"
    assert {t: offsets_after[t] for t in poller_topics} == {t: offsets_before[t] for t in poller_topics}, (
        "the poller published a snapshot of a malformed payload"
    )
    assert offsets_after[reference_topic] == offsets_before[reference_topic], (
        "the watcher published a bad file"
    )
    expected_reference = Counter(f"{c.category}:{c.expected}" for c in corpus.reference)
    assert reference_rejections >= expected_reference, (reference_rejections, expected_reference)
    assert not not_dead_lettered, f"not dead-lettered: {not_dead_lettered}"
    assert not http_failures, http_failures
    changed = [view for view in VIEWS if after[view] != before[view]]
    assert not changed, f"answers changed: {changed}"
