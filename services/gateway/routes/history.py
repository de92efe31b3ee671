"""History routes: a model's daily series with its reference events, and a category's day summary.

They read the history the analytics workers materialise in Redis (``shared.store.history``), as
of the current generation: freshness headers, ETag and 304 come from ``serve`` like every other
route, and the last day of the answer is the UTC day of the generation's newest Horde snapshot.
``days`` must lie in 1–``HORDE_HISTORY__RETENTION_DAYS`` (else 422).

An answer of up to 90 days is one Redis lookup and a join of bytes: the worker keeps each model's
(and the summary's) completed days pre-joined (``shared.store.history``); a longer range, a CSV or
a window not yet rewritten for the day joins the day fields instead (same bytes).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.gateway.answer import gateway_of, serve
from services.gateway.encoding import Body
from services.gateway.errors import echo, error_responses, failure
from services.gateway.fastroute import FastRoute
from services.gateway.freshness import Freshness, Provenance
from services.gateway.routes.common import (
    CSV,
    JSON,
    PREFIX,
    CategoryPath,
    Format,
    FormatQuery,
    csv_response_doc,
    parse_category,
)
from shared.domain.categories import ModelCategory
from shared.domain.history.rollup import ReferenceEvent
from shared.domain.history.series import CategoryDayPoint, DayPoint
from shared.store.basis import newest_capture_ms
from shared.store.generations import CurrentGeneration
from shared.store.history import DEFAULT_DAYS, HistoryStore

router = APIRouter(tags=["history"], route_class=FastRoute)
DaysQuery = Annotated[int, Query(ge=1, description="Days up to the current generation's day (1–retention).")]
SERIES_CSV_HEADER = (
    "day", "has_data", "generated", "usage", "usage_source", "usage_reported", "usage_disagrees",
    "workers_min", "workers_max", "workers_mean", "share_polls_with_workers", "threads_min", "threads_max",
    "queued_max", "risk_level", "risk_score", "flags", "usage_note",
)  # fmt: skip


class ModelHistoryAnswer(BaseModel):
    """A model's daily series (a day without data has ``has_data: false`` and nulls) and events."""

    category: ModelCategory
    model: str
    days: int
    first_day: date
    last_day: date
    series: tuple[DayPoint, ...]
    reference_events: tuple[ReferenceEvent, ...]
    freshness: Freshness


class HistorySummaryAnswer(BaseModel):
    """Per day: models, at risk, critical, zero-worker models and the category's usage."""

    category: ModelCategory
    days: int
    first_day: date
    last_day: date
    series: tuple[CategoryDayPoint, ...]
    freshness: Freshness


def _range(request: Request, current: CurrentGeneration, days: int) -> tuple[date, date]:
    retention = gateway_of(request).settings.history.retention_days
    if days > retention:
        raise failure(422, f"days must be between 1 and {retention} (the retention), not {echo(days)}")
    newest = newest_capture_ms(current.basis)
    last = datetime.fromtimestamp(newest / 1000, UTC).date() if newest else datetime.now(UTC).date()
    return last - timedelta(days=days - 1), last


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ";".join(str(v) for v in value)
    return value


def render_series_csv(points: list[DayPoint]) -> bytes:
    """One row per day, gaps as empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SERIES_CSV_HEADER)
    for point in points:
        values = point.model_dump()
        writer.writerow([_csv_cell(values[column]) for column in SERIES_CSV_HEADER])
    return buffer.getvalue().encode()


def _answer(head: str, series: bytes, after: bytes, found: Provenance) -> Body:
    """``{head,"series":[series]after,"freshness":…}``: the JSON answer around the joined day points
    (a stored window or the day fields alike)."""
    return Body(b"{" + head.encode() + b',"series":[' + series + b"]" + after + found.object_end, JSON)


async def model_history(
    request: Request,
    category: CategoryPath,
    model: Annotated[str, Path(description="Model name; may contain `/`.", examples=["stable_diffusion"])],
    days: DaysQuery = DEFAULT_DAYS,
    format: FormatQuery = Format.JSON,
) -> Response:
    """A model's daily history (usage, workers, threads, queue, end-of-day risk) and its reference events."""
    chosen = parse_category(category, runtime=True)
    gateway = gateway_of(request)
    store = HistoryStore(gateway.redis, gateway.store.keys)

    async def build(current: CurrentGeneration, found: Provenance) -> Body | None:
        first, last = _range(request, current, days)
        joined = None
        if format is Format.JSON:  # the stored window: one lookup
            joined = await store.model_history_joined(chosen, model, days, last)
        if joined is None:
            held = await store.model_history_json(chosen, model, first, last)
            if held is None:
                raise failure(404, f"No history of {echo(model)} in {category} (names are exact).")
            points, events = held  # stored rendered: the answer is a join of strings
            if format is Format.CSV:
                return Body(render_series_csv([DayPoint.model_validate_json(p) for p in points]), CSV)
            joined = ",".join(points).encode(), ",".join(events).encode()
        series, joined_events = joined
        head = (
            f'"category":"{chosen.value}","model":{json.dumps(model)},"days":{days},'
            f'"first_day":"{first}","last_day":"{last}"'
        )
        return _answer(head, series, b',"reference_events":[' + joined_events + b"]", found)

    return await serve(request, chosen, "history", f"history|{model}|{days}|{format.value}", build)


async def history_summary(
    request: Request, category: CategoryPath, days: DaysQuery = DEFAULT_DAYS
) -> Response:
    """Per day of the category: models, at risk, critical, zero-worker models and category usage."""
    chosen = parse_category(category, runtime=True)
    gateway = gateway_of(request)
    store = HistoryStore(gateway.redis, gateway.store.keys)

    async def build(current: CurrentGeneration, found: Provenance) -> Body | None:
        first, last = _range(request, current, days)
        series = await store.summary_joined(chosen, days, last)  # the stored window: one lookup
        if series is None:
            series = ",".join(await store.summary_json(chosen, first, last)).encode()
        head = f'"category":"{chosen.value}","days":{days},"first_day":"{first}","last_day":"{last}"'
        return _answer(head, series, b"", found)

    return await serve(request, chosen, "history", f"history-summary|{days}", build)


_ERRORS = error_responses(400, 404, 414, 422, 503)
#: FastAPI's own scan needs it before the single-model route, whose ``{model:path}`` would take
#: ``…/history``; the hot-route table matches it first whatever the order (``stack.specificity``).
router.add_api_route(
    f"{PREFIX}/{{category}}/deletion-risk/{{model:path}}/history",
    model_history,
    methods=["GET"],
    response_model=ModelHistoryAnswer,
    operation_id="read_model_history",
    responses={200: {"content": csv_response_doc(",".join(SERIES_CSV_HEADER) + "\n")}, **_ERRORS},
)
router.add_api_route(
    f"{PREFIX}/{{category}}/history/summary",
    history_summary,
    methods=["GET"],
    response_model=HistorySummaryAnswer,
    operation_id="read_history_summary",
    responses=_ERRORS,
)
