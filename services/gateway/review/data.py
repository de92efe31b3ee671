"""Reading for the review pages: the same generation, index, history and proposal inputs the API
routes read (through the gateway's caches), decoded for rendering. Nothing is recomputed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.gateway.answer import Gateway
from services.gateway.freshness import Provenance
from services.gateway.review.html import freshness_line
from services.gateway.review.table import Spark
from shared.domain.categories import ModelCategory
from shared.store.generations import CurrentGeneration
from shared.store.history import HistoryStore

#: Days of the table's sparklines and of the model page's charts.
SPARK_DAYS = 30
CHART_DAYS = 90


def last_day(current: CurrentGeneration) -> date:
    """The UTC day of the generation's newest Horde snapshot (the history routes' last day)."""
    newest = max(int(current.basis.get(k) or 0) for k in ("status_at_ms", "stats_at_ms", "workers_at_ms"))
    return datetime.fromtimestamp(newest / 1000, UTC).date() if newest else datetime.now(UTC).date()


def window(current: CurrentGeneration, days: int, retention: int) -> tuple[date, date]:
    last = last_day(current)
    return last - timedelta(days=min(days, retention) - 1), last


def freshness_html(gateway: Gateway, found: Provenance, *, page_line: bool = True) -> str:
    confirmed = found.headers.get("X-Horde-Confirmed-At")
    return freshness_line(
        json.loads(found.json),
        confirmed_at=int(confirmed) if confirmed else None,
        stale_after=gateway.settings.analytics.stale_after_seconds,
        page_line=page_line,
    )


def spark_of(raws: Sequence[str | None], days: int) -> Spark:
    usage: list[float | None] = []
    workers: list[float | None] = []
    for raw in raws:
        point = json.loads(raw) if raw else None
        if point is None or not point.get("has_data"):
            usage.append(None)
            workers.append(None)
        else:
            usage.append(point.get("usage"))
            workers.append(point.get("workers_mean"))
    return Spark(usage, workers, days)


async def sparks(
    gateway: Gateway,
    category: ModelCategory,
    current: CurrentGeneration,
    names: Sequence[str],
    held: dict[str, Spark] | None = None,
) -> dict[str, Spark]:
    """Recent daily usage and workers of ``names``: those not in ``held`` (what earlier pages of the
    same generation read) in one Redis round trip, added to ``held``."""
    held = {} if held is None else held
    missing = [name for name in names if name not in held]
    if missing:
        first, last = window(current, SPARK_DAYS, gateway.settings.history.retention_days)
        store = HistoryStore(gateway.redis, gateway.store.keys)
        found = await store.points_of_models(category, missing, first, last)
        days = (last - first).days + 1
        held.update((name, spark_of(raws, days)) for name, raws in zip(missing, found, strict=True))
    return {name: held[name] for name in names}


async def model_history(
    gateway: Gateway, category: ModelCategory, current: CurrentGeneration, model: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The model's day points (gaps included) and reference events; empty when it has none."""
    first, last = window(current, CHART_DAYS, gateway.settings.history.retention_days)
    held = await HistoryStore(gateway.redis, gateway.store.keys).model_history_json(
        category, model, first, last
    )
    if held is None:
        return [], []
    points, events = held
    return [json.loads(p) for p in points], [json.loads(e) for e in events]
