"""Per-model reference events (first seen, changed, removed) from a reference diff, and mod-data dates.

The image reference's ``model_mod_data.json`` records when each model was added, modified and
removed (unix seconds, from the reference's git history); where it has a model its ``date_added``
is the model's first-seen date, otherwise the watcher's first sighting is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from shared.domain.history.fields import FirstSeenSource
from shared.domain.history.rollup import ReferenceEvent
from shared.domain.reference.diff import ReferenceDiff


def events_of_diff(diff: ReferenceDiff, *, version: str, at: datetime, initial: bool) -> list[ReferenceEvent]:
    """One event per added, modified and removed model; ``initial`` marks the watcher's first load."""
    events = [
        ReferenceEvent(model=name, kind="first_seen", at=at, version=version, initial=initial)
        for name in diff.added
    ]
    events.extend(
        ReferenceEvent(model=change.name, kind="changed", at=at, version=version, fields=change.fields)
        for change in diff.modified
    )
    events.extend(ReferenceEvent(model=name, kind="removed", at=at, version=version) for name in diff.removed)
    return events


class ModDates(NamedTuple):
    """Dates of one model in ``model_mod_data.json``."""

    added: datetime | None
    modified: datetime | None
    removed: datetime | None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value, UTC)


def parse_mod_data(raw: Any) -> tuple[dict[str, ModDates], list[str]]:
    """Dates per model name and the reasons of entries that were skipped (never fatal)."""
    if not isinstance(raw, Mapping):
        return {}, [f"model_mod_data is a {type(raw).__name__}, not an object"]
    dates: dict[str, ModDates] = {}
    skipped: list[str] = []
    for name, entry in raw.items():
        if not isinstance(entry, Mapping):
            skipped.append(f"{name!r}: entry is not an object")
            continue
        added = _moment(entry.get("date_added"))
        if added is None and entry.get("date_added") is not None:
            skipped.append(f"{name!r}: date_added {entry.get('date_added')!r} is not a unix time")
        dates[str(name)] = ModDates(
            added, _moment(entry.get("date_modified")), _moment(entry.get("date_removed"))
        )
    return dates, skipped


class FirstSeen(NamedTuple):
    """When a model was first seen and from where (see ``docs/history.md``)."""

    at: datetime
    source: FirstSeenSource


def watcher_first_seen(events: Iterable[ReferenceEvent]) -> dict[str, FirstSeen]:
    """Each model's earliest ``first_seen`` event."""
    first: dict[str, FirstSeen] = {}
    for event in events:
        if event.kind != "first_seen":
            continue
        held = first.get(event.model)
        if held is None or event.at < held.at:
            first[event.model] = FirstSeen(event.at, "watcher_initial" if event.initial else "watcher")
    return first


def first_seen(
    name: str, mod_dates: Mapping[str, ModDates], watcher: Mapping[str, FirstSeen]
) -> FirstSeen | None:
    """``date_added`` where the mod data has it, else the watcher's first sighting, else unknown."""
    dates = mod_dates.get(name)
    if dates is not None and dates.added is not None:
        return FirstSeen(dates.added, "model_mod_data")
    return watcher.get(name)
