"""Backfill months of daily history into a running stack, so a new user sees history at once.

    python -m devtools.devstack.history_backfill [--days 120] [--data tests/fixtures/data]

Past snapshots cannot go through the input topics (the worker keeps only the newest snapshot, an
older one is ignored), so this publishes daily roll-ups straight to ``analytics.history.daily.v1``
(the stack's ``HORDE_*`` settings: broker, topic prefix, Redis) and then removes the history's
``meta`` key in Redis, which makes the owning worker rebuild the history from Kafka within
``HORDE_ANALYTICS__VERIFY_INTERVAL_SECONDS``. Only days before the stack's own first recorded day
(or before today) are written: recorded history is never overwritten.

Real data only where it is real: the real ``at_capture`` sets become one day each, at their
capture dates (image 2023-07-09: the 2023-07 reference with the real stats and workers; image
2024-06-08: the 2024-06 reference with the real status, stats taken from the synthetic set; text
2025-06-25: the 2025-06 ``db.json`` with the real stats, status from the synthetic set); a day with
any synthetic part is marked ``generated``. The daily sequence up to yesterday is generated from
the synthetic current snapshot with deterministic changes (some models lose their workers, usage
drifts) and every one of its days is marked ``generated``. The real days are older than the
default retention (400 days): the workers keep them only with ``HORDE_HISTORY__RETENTION_DAYS`` of
at least ~1,260 (they stay on the topic either way).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from shared.domain.categories import RUNTIME_CATEGORIES, ModelCategory
from shared.domain.history.rollup import (
    CategoryDay,
    ModelObservation,
    RiskMark,
    fold_capture,
    observations_of,
)
from shared.domain.horde.merge import merge_category
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeSnapshot, HordeWorker
from shared.domain.reference.parse import parse_reference, reference_version
from shared.domain.reference.records import ReferenceSnapshot
from shared.domain.risk.analysis import analyze_category
from shared.domain.risk.thresholds import RiskThresholds
from shared.events.history import rollup_key
from shared.kafka import encode_key, make_producer
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.connection import open_redis
from shared.topics import HISTORY_DAILY, partition_for

IMAGE, TEXT = ModelCategory.IMAGE_GENERATION, ModelCategory.TEXT_GENERATION
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "data"
CURRENT_REFERENCE = {IMAGE: "reference/image/stable_diffusion.json", TEXT: "reference/text/db.json"}


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _reference(category: ModelCategory, path: Path) -> ReferenceSnapshot:
    raw = path.read_bytes()
    return parse_reference(category, raw, format="legacy", version=reference_version(raw))


def _snapshot(
    data: Path, category: ModelCategory, *, status: Path | None, stats: Path, workers: Path | None
) -> HordeSnapshot:
    kind = RUNTIME_CATEGORIES[category]
    return HordeSnapshot(
        model_type=kind,
        status=tuple(HordeModelStatus.model_validate(e) for e in _json(status)) if status else None,
        stats=HordeModelStats.model_validate(_json(stats)),
        workers=tuple(HordeWorker.model_validate(w) for w in _json(workers) if w.get("type") == kind)
        if workers
        else None,
    )


def observations(reference: ReferenceSnapshot, snapshot: HordeSnapshot) -> dict[str, ModelObservation]:
    """What one capture of ``snapshot`` against ``reference`` records per model (the worker's rules)."""
    merged = merge_category(
        reference.names(), snapshot, include_workers=False, include_backend_variations=False
    )
    entries = analyze_category(reference.records, merged, reference.category, RiskThresholds())
    return observations_of(entries, merged)


def day_of(
    category: ModelCategory, day: date, seen: Mapping[str, ModelObservation], *, generated: bool
) -> CategoryDay:
    """A roll-up with one capture at noon UTC."""
    moment = datetime.combine(day, time(12), tzinfo=UTC)
    return fold_capture(None, category=category, captured_at=moment, observations=seen, generated=generated)


def drifted(base: Mapping[str, ModelObservation], offset: int, days: int) -> dict[str, ModelObservation]:
    """Day ``offset`` of ``days`` of the generated sequence: deterministic drifts per model.

    Every 11th served model loses its workers for good at a model-specific day; usage follows a
    weekly wave and, for every 7th model, a decline over the period; totals grow by the day's usage
    and end at the current totals.
    """
    out: dict[str, ModelObservation] = {}
    for i, (name, seen) in enumerate(sorted(base.items())):
        wave = 1 + 0.3 * math.sin((offset + i) * 2 * math.pi / 7)
        decline = 1 + (days - offset) / days if i % 7 == 0 else 1.0
        used = int(seen.usage_day * wave * decline)
        workers = seen.worker_count
        flags = tuple(f for f in seen.risk.flags if f != "no_active_workers")
        if i % 11 == 0 and workers and offset >= days * (i % 5 + 1) // 6:
            workers = 0
        if workers == 0:
            flags = (*flags, "no_active_workers")
        level = seen.risk.level if flags == seen.risk.flags else ("at_risk" if flags else "clear")
        total = max(0, seen.usage_total - seen.usage_day * (days - offset))
        risk = RiskMark(level=level, score=len(flags), flags=flags)
        out[name] = ModelObservation(used, seen.usage_month, total, workers, workers, seen.queued, risk)
    return out


def rollups(data: Path, days: int, today: date, before: Mapping[ModelCategory, date]) -> list[CategoryDay]:
    """The real days and the generated sequence of ``days`` days before ``today``, per category."""
    api = data / "horde_api"
    synthetic = api / "synthetic"
    capture = data / "reference" / "at_capture"
    image_2023 = _snapshot(
        data, IMAGE, status=None, stats=api / "stats_models_image.json", workers=api / "workers.json"
    )
    image_2024 = _snapshot(
        data,
        IMAGE,
        status=api / "status_models_image.json",
        stats=synthetic / "stats_models_image.json",
        workers=None,
    )
    text_2025 = _snapshot(
        data,
        TEXT,
        status=synthetic / "status_models_text.json",
        stats=api / "stats_models_text.json",
        workers=None,
    )
    real = [
        (
            IMAGE,
            date(2023, 7, 9),
            _reference(IMAGE, capture / "2023-07/image/stable_diffusion.json"),
            image_2023,
            False,
        ),
        (
            IMAGE,
            date(2024, 6, 8),
            _reference(IMAGE, capture / "2024-06/image/stable_diffusion.json"),
            image_2024,
            True,
        ),
        (TEXT, date(2025, 6, 25), _reference(TEXT, capture / "2025-06/text/db.json"), text_2025, True),
    ]
    out = [day_of(c, d, observations(r, s), generated=g) for c, d, r, s, g in real]
    for category in (IMAGE, TEXT):
        kind = RUNTIME_CATEGORIES[category]
        reference = _reference(category, data / CURRENT_REFERENCE[category])
        current = _snapshot(
            data, category, status=synthetic / f"status_models_{kind}.json",
            stats=synthetic / f"stats_models_{kind}.json", workers=synthetic / "workers.json",
        )  # fmt: skip
        base = observations(reference, current)
        for offset in range(days):
            day = today - timedelta(days=days - offset)
            out.append(day_of(category, day, drifted(base, offset, days), generated=True))
    return [r for r in out if r.day < before.get(r.category, today)]


async def backfill(settings: Settings, data: Path, days: int, *, today: date | None = None) -> dict[str, int]:
    """Publish the roll-ups, ask the workers to rebuild, wait until they did; returns days per category."""
    today = today or datetime.now(UTC).date()
    redis = open_redis(settings.redis)
    keys = RedisKeys(settings.redis.key_prefix)
    spec = HISTORY_DAILY.with_prefix(settings.kafka.topic_prefix)
    try:
        before: dict[ModelCategory, date] = {}
        for category in (IMAGE, TEXT):
            first = await redis.hget(keys.history_meta(category), "first_day")
            if first:
                before[category] = date.fromisoformat(first.decode() if isinstance(first, bytes) else first)
        chosen = rollups(data, days, today, before)
        producer = make_producer(settings.kafka, client_id="history-backfill")
        await producer.start()
        try:
            for rollup in chosen:
                await producer.send(
                    spec.name, rollup.model_dump_json().encode(), key=encode_key(*rollup_key(rollup)),
                    partition=partition_for(rollup.category, settings.kafka.topic_partitions),
                )  # fmt: skip
            await producer.flush()
        finally:
            await producer.stop()
        for category in (IMAGE, TEXT):  # the owning worker rebuilds what Redis lost, from Kafka
            await redis.delete(keys.history_meta(category))
        deadline = asyncio.get_running_loop().time() + 120
        while asyncio.get_running_loop().time() < deadline:
            built = [await redis.hexists(keys.history_meta(c), "built") for c in (IMAGE, TEXT)]
            if all(built):
                break
            await asyncio.sleep(0.5)
        else:
            raise TimeoutError(
                "the analytics workers did not rebuild the history within 120 s: are they running?"
            )
        return {c.value: sum(1 for r in chosen if r.category is c) for c in (IMAGE, TEXT)}
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=120, help="generated days before today (default 120)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the recorded data folder")
    args = parser.parse_args()
    written = asyncio.run(backfill(Settings(), args.data, args.days))
    print(f"history backfilled (days written per category): {written}")


if __name__ == "__main__":
    main()
