"""How far the AI Horde polls confirm the content a generation was built from (issue 13).

Pure: the gateway reads the pointer and each endpoint's source-health record from Redis and asks
this module which basis fields they add (``status_confirmed_at_ms``, ``<endpoint>_moved_at_ms``);
the freshness of every answer follows from those fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Poll:
    """What the latest successful poll of one endpoint saw (from its source-health record)."""

    last_success_ms: int | None
    #: ``None``: a version-1 record, which cannot tell which content it saw.
    content_hash: str | None
    content_changed_ms: int | None


def confirmation_fields(basis: dict[str, str], polls: Mapping[str, Poll | None]) -> dict[str, str]:
    """Basis fields saying how far the polls confirm the content a generation was built from.

    A poll confirms the served input only if it saw the same content hash (a version-1 health
    record without a hash confirms it as before). ``status_confirmed_at_ms``: the last poll that
    saw the served status. ``<endpoint>_moved_at_ms``: the endpoint's latest poll saw other
    content, first seen then; the served answer was true until that moment and turns stale one
    stale limit later, whatever keeps us from catching up (a Redis write failure, a stuck worker).
    """
    fields: dict[str, str] = {}
    for endpoint, poll in polls.items():
        served = basis.get(f"{endpoint}_hash")
        if poll is None or poll.last_success_ms is None:
            continue
        if poll.content_hash is None or not served or poll.content_hash == served:
            if endpoint == "status":
                fields["status_confirmed_at_ms"] = str(poll.last_success_ms)
            continue
        fields[f"{endpoint}_moved_at_ms"] = str(poll.content_changed_ms or poll.last_success_ms)
    return fields


def poll_of(raw: Any) -> Poll | None:
    """One endpoint's source-health record (JSON, as the analytics workers write it) as a ``Poll``;
    ``None`` when missing or unreadable."""
    if not raw:
        return None
    try:
        record = json.loads(raw)
        return Poll(
            _ms(record.get("last_success_at")),
            record.get("content_hash") or None,
            _ms(record.get("content_changed_at")),
        )
    except (ValueError, TypeError, AttributeError):
        return None


def _ms(value: Any) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(str(value)).timestamp() * 1000)
