"""What the polls of the reference source said per category: pure bookkeeping, clock passed in.

The watcher notes each category's poll outcome here and publishes the result, so the heartbeat
can say when the source was last read, since when it shows its current version, how many polls in
a row failed, and whether what is served is what the source shows. A poll fails when the category
cannot be read or its payload is rejected as a whole; the source version is then the last one
that parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain.categories import ModelCategory


@dataclass(frozen=True, slots=True)
class CategoryPolls:
    """The poll history of one category, as far as the heartbeat needs it."""

    ok: bool
    checked_at: datetime
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    error: str | None = None
    #: Version of the last payload that parsed, and when it was first seen.
    source_version: str | None = None
    content_changed_at: datetime | None = None


class PollHealth:
    """Per category: the latest poll outcome and the counters that span polls."""

    def __init__(self) -> None:
        self.categories: dict[ModelCategory, CategoryPolls] = {}

    def succeeded(self, category: ModelCategory, version: str, *, now: datetime) -> CategoryPolls:
        """The category was read and parsed; ``version`` is what the source shows now."""
        before = self.categories.get(category)
        changed = before.content_changed_at if before and before.source_version == version else now
        polls = CategoryPolls(
            ok=True, checked_at=now, last_success_at=now, source_version=version, content_changed_at=changed
        )
        self.categories[category] = polls
        return polls

    def failed(self, category: ModelCategory, error: str, *, now: datetime) -> CategoryPolls:
        """The category could not be read or was rejected; the last good version is kept."""
        before = self.categories.get(category)
        polls = CategoryPolls(
            ok=False,
            checked_at=now,
            last_success_at=before.last_success_at if before else None,
            consecutive_failures=(before.consecutive_failures if before else 0) + 1,
            error=error,
            source_version=before.source_version if before else None,
            content_changed_at=before.content_changed_at if before else None,
        )
        self.categories[category] = polls
        return polls
