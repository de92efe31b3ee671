"""The heartbeat (``GET /heartbeat``) built from pointer fields and source-health records (pure).

The original answers ``{"status": "ok", "ai_horde": {"degraded", "consecutive_failures",
"seconds_until_retry"}}`` from its circuit breaker; here the same summary covers the AI Horde
endpoints per model type and the reference per category, and ``sources`` lists each of them.
Schema 2 added ``reference`` and the reference entries' poll fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.categories import RUNTIME_CATEGORIES, HordeModelType, ModelCategory

#: The AI Horde endpoints the poller reads per model type.
ENDPOINTS: tuple[Literal["status", "stats", "workers"], ...] = ("status", "stats", "workers")


class AiHordeHeartbeat(BaseModel):
    """The original's summary: is the AI Horde failing, how often in a row, when do we retry."""

    model_config = ConfigDict(frozen=True)

    #: True when the latest poll of some AI Horde endpoint failed.
    degraded: bool
    #: Most consecutive failed polls of any endpoint (0: all healthy).
    consecutive_failures: int
    #: Seconds until a failing endpoint is polled again (0.1 s steps; null when not degraded).
    seconds_until_retry: float | None


class HordeSourceHeartbeat(BaseModel):
    """One AI Horde endpoint of one model type, as its latest poll reported it."""

    model_config = ConfigDict(frozen=True)

    endpoint: Literal["status", "stats", "workers"]
    model_type: HordeModelType
    category: ModelCategory
    #: When the latest poll ran, and whether it succeeded (null: never reported).
    last_checked_at: datetime | None
    ok: bool | None
    last_success_at: datetime | None
    #: When the poller first saw the content its latest successful poll saw.
    last_content_change_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    next_attempt_at: datetime | None
    #: Content hash the latest successful poll saw, and the one the served generation was built from.
    source_content_hash: str | None
    served_content_hash: str | None
    #: True when they are equal; null when either is unknown (nothing served, an old poller).
    served_matches_source: bool | None


class ReferenceHeartbeat(AiHordeHeartbeat):
    """The same summary for the model reference: is some category's latest poll failing."""


class ReferenceSourceHeartbeat(BaseModel):
    """The model reference of one category: what is served, and what the watcher's latest poll saw.

    Poll fields are null until the watcher has reported a poll of the category.
    """

    model_config = ConfigDict(frozen=True)

    category: ModelCategory
    #: Reference version of the served generation, and when the watcher detected it.
    served_version: str | None
    served_detected_at: datetime | None = None
    #: Source kind and what was read (``github:https://…``), from the latest poll.
    source: str | None = None
    last_checked_at: datetime | None = None
    ok: bool | None = None
    last_success_at: datetime | None = None
    #: Since when the source shows ``source_version`` (as first seen by the watcher); before any
    #: poll is reported, when the served version was detected.
    last_content_change_at: datetime | None
    consecutive_failures: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    #: Version the source shows (its last payload that parsed) and the one the watcher published
    #: (they differ while a mass removal is held).
    source_version: str | None = None
    published_version: str | None = None
    #: ``served_version == source_version``; null when either is unknown.
    served_matches_source: bool | None = None


class HeartbeatSources(BaseModel):
    """Every source, one entry per AI Horde endpoint and model type, one per reference category."""

    model_config = ConfigDict(frozen=True)

    ai_horde: list[HordeSourceHeartbeat]
    reference: list[ReferenceSourceHeartbeat]


class Heartbeat(BaseModel):
    """``GET /heartbeat``: the original's ``status`` and ``ai_horde``, plus ``sources``."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[2] = 2
    #: The gateway answers (Redis unreachable: 503 like every route).
    status: Literal["ok"] = "ok"
    ai_horde: AiHordeHeartbeat
    reference: ReferenceHeartbeat
    sources: HeartbeatSources


def build_heartbeat(
    pointers: dict[ModelCategory, dict[str, str]],
    health: dict[ModelCategory, dict[str, dict[str, Any]]],
    *,
    now: float,
) -> Heartbeat:
    """The heartbeat from the pointer fields and the health records per category (pure)."""
    horde = [
        _horde_source(
            category, model_type, endpoint, health.get(category, {}).get(endpoint), pointers.get(category)
        )
        for category, model_type in RUNTIME_CATEGORIES.items()
        for endpoint in ENDPOINTS
    ]
    reference = [
        _reference_source(category, health.get(category, {}).get("reference"), pointers.get(category))
        for category in ModelCategory
    ]
    return Heartbeat(
        ai_horde=AiHordeHeartbeat(**_summary(horde, now)),
        reference=ReferenceHeartbeat(**_summary(reference, now)),
        sources=HeartbeatSources(ai_horde=horde, reference=reference),
    )


def _summary(
    sources: list[HordeSourceHeartbeat] | list[ReferenceSourceHeartbeat], now: float
) -> dict[str, Any]:
    """``degraded``, ``consecutive_failures`` and ``seconds_until_retry`` over some sources."""
    failing = [s for s in sources if s.ok is False]
    retry_in = [(s.next_attempt_at.timestamp() - now) for s in failing if s.next_attempt_at is not None]
    wait = round(max(0.0, min(retry_in)), 1) if retry_in else None
    return {
        "degraded": bool(failing),
        "consecutive_failures": max((s.consecutive_failures for s in sources), default=0),
        "seconds_until_retry": wait or None,
    }


def _reference_source(
    category: ModelCategory, record: dict[str, Any] | None, pointer: dict[str, str] | None
) -> ReferenceSourceHeartbeat:
    record = record or {}
    served = (pointer or {}).get("reference_version") or None
    detected = _from_ms((pointer or {}).get("reference_detected_at_ms"))
    seen = record.get("source_version") or None
    return ReferenceSourceHeartbeat(
        category=category,
        served_version=served,
        served_detected_at=detected,
        source=record.get("source"),
        last_checked_at=record.get("checked_at"),
        ok=record.get("ok"),
        last_success_at=record.get("last_success_at"),
        last_content_change_at=record.get("content_changed_at") or detected,
        consecutive_failures=int(record.get("consecutive_failures") or 0),
        last_error=record.get("error"),
        next_attempt_at=record.get("next_attempt_at"),
        source_version=seen,
        published_version=record.get("published_version"),
        served_matches_source=(seen == served) if seen and served else None,
    )


def _horde_source(
    category: ModelCategory,
    model_type: HordeModelType,
    endpoint: Literal["status", "stats", "workers"],
    record: dict[str, Any] | None,
    pointer: dict[str, str] | None,
) -> HordeSourceHeartbeat:
    record = record or {}
    seen = record.get("content_hash") or None
    served = (pointer or {}).get(f"{endpoint}_hash") or None
    return HordeSourceHeartbeat(
        endpoint=endpoint,
        model_type=model_type,
        category=category,
        last_checked_at=record.get("checked_at"),
        ok=record.get("ok"),
        last_success_at=record.get("last_success_at"),
        last_content_change_at=record.get("content_changed_at"),
        consecutive_failures=int(record.get("consecutive_failures") or 0),
        last_error=record.get("error"),
        next_attempt_at=record.get("next_attempt_at"),
        source_content_hash=seen,
        served_content_hash=served,
        served_matches_source=(seen == served) if seen and served else None,
    )


def _from_ms(value: str | None) -> datetime | None:
    if not value or value == "0":
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC)
