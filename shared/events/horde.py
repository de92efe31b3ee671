"""Snapshot events of the AI Horde API, published by the poller when a payload's content changes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.domain.categories import HordeModelType
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeWorker

#: The polled AI Horde endpoints (one row each in ``shared.horde_sources``).
Endpoint = Literal["status", "stats", "workers"]


class _Captured(BaseModel):
    """Common fields of a captured payload: what, from where, when, and its content hash."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    model_type: HordeModelType
    source_url: str
    captured_at: AwareDatetime
    #: sha256 of the canonical JSON of the validated payload; equal hash = equal content.
    content_hash: str


class HordeStatusCaptured(_Captured):
    """A validated ``/v2/status/models?type=…`` payload."""

    entries: tuple[HordeModelStatus, ...]


class HordeStatsCaptured(_Captured):
    """A validated ``/v2/stats/{img,text}/models`` payload."""

    stats: HordeModelStats


class HordeWorkersCaptured(_Captured):
    """A validated ``/v2/workers?type=…`` payload, reduced to the fields analytics uses."""

    workers: tuple[HordeWorker, ...]


class SourceHealthReported(BaseModel):
    """Outcome of one poll: lets operators and the gateway see a failing or throttled source.

    Version 2 adds what the poll saw (``content_hash``), since when that content has been the
    source's (``content_changed_at``) and when the poller tries again (``next_attempt_at``): the
    gateway counts a poll as confirming an answer only when the answer's input has that hash.
    Version 1 records (no hash) are still read; they confirm whatever is served, as before.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1, 2] = 2
    endpoint: Endpoint
    model_type: HordeModelType
    ok: bool
    checked_at: AwareDatetime
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    error: str | None = None
    rate_limit_remaining: int | None = None
    rate_limit_limit: int | None = None
    #: Content hash of the last successful poll's payload (the snapshot events' ``content_hash``).
    content_hash: str | None = None
    #: When the poller first saw that content (the source's last content change it observed).
    content_changed_at: datetime | None = None
    #: When the poller polls this endpoint again.
    next_attempt_at: datetime | None = None
