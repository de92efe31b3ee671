"""``GET /heartbeat``: what the sources are doing, in the original's shape, extended per source.

The original answers ``{"status": "ok", "ai_horde": {"degraded", "consecutive_failures",
"seconds_until_retry"}}`` from its circuit breaker. Here it is built (``shared.domain.heartbeat``,
pure) from what Redis holds: the poller's latest health record per endpoint and model type and the
reference watcher's per category (kept by the analytics workers), and every category's pointer.

Schema 2 added ``reference`` and the reference entries' poll fields (from the watcher's
``ReferenceSourceHealthReported``, field ``reference`` of each category's source-health hash).
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.gateway.answer import gateway_of
from services.gateway.errors import error_responses
from shared.domain.categories import ModelCategory
from shared.domain.heartbeat import ENDPOINTS, Heartbeat, build_heartbeat
from shared.store.generations import as_text

router = APIRouter(tags=["heartbeat"])

#: Pointer fields the heartbeat reads per category.
_POINTER = ("generation", "reference_version", "reference_detected_at_ms", *(f"{e}_hash" for e in ENDPOINTS))


async def read_heartbeat(request: Request) -> Heartbeat:
    """Every category's pointer fields and health records, one round trip."""
    store = gateway_of(request).store
    categories = list(ModelCategory)
    pipe = store.redis.pipeline(transaction=False)
    for category in categories:
        pipe.hmget(store.keys.current(category), _POINTER)
    for category in categories:
        pipe.hgetall(store.keys.source_health(category))
    found = await pipe.execute()
    pointers: dict[ModelCategory, dict[str, str]] = {}
    for category, values in zip(categories, found[: len(categories)], strict=True):
        if values[0] is not None:
            fields = zip(_POINTER, values, strict=True)
            pointers[category] = {k: as_text(v) for k, v in fields if v is not None}
    health: dict[ModelCategory, dict[str, dict[str, Any]]] = {}
    for category, raw in zip(categories, found[len(categories) :], strict=True):
        records: dict[str, dict[str, Any]] = {}
        for endpoint, value in (raw or {}).items():
            try:
                records[as_text(endpoint)] = json.loads(value)
            except ValueError:
                continue
        health[category] = records
    return build_heartbeat(pointers, health, now=time.time())


@router.get(
    "/heartbeat",
    response_model=Heartbeat,
    operation_id="read_heartbeat",
    summary="What the sources are doing",
    responses=error_responses(503),
)
async def heartbeat(request: Request) -> Response:
    """The AI Horde summary of the original (``status``, ``ai_horde``), the same summary for the
    reference (``reference``), and per source (AI Horde endpoint per model type, reference per
    category): last successful poll, last content change, consecutive failures, next attempt, and
    whether what is served matches what the source last said."""
    found = await read_heartbeat(request)
    return Response(
        found.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-cache"}
    )
