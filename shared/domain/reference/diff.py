"""What changed between two versions of one category's reference.

Pure functions, no I/O: the reference watcher turns a diff into a ``ReferenceCategoryChanged``
event, and the same diff feeds the mass-removal guard. Modified fields are compared on the source
JSON (``raw``) because that is what reference maintainers edit and recognise (``config``,
``homepage``); normalised fields are the fallback when a side has no ``raw``, which is the case
for state rebuilt from Kafka (events do not carry ``raw``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.reference.records import ReferenceRecord, ReferenceSnapshot


@dataclass(frozen=True, slots=True)
class ModelChange:
    """A model present in both versions whose record differs, with the top-level fields that do."""

    name: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReferenceDiff:
    """Added and modified names in current reference order; removed names in previous order."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[ModelChange, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when no model was added, removed or modified (a reorder alone is empty)."""
        return not (self.added or self.removed or self.modified)


#: Stands for an absent key, so ``null`` and absent stay different.
_MISSING = object()


def _changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    """Keys whose values differ (absent counts as a value), in ``after`` order then ``before``-only keys."""
    keys = [*after, *(key for key in before if key not in after)]
    return tuple(key for key in keys if before.get(key, _MISSING) != after.get(key, _MISSING))


def changed_fields(previous: ReferenceRecord, current: ReferenceRecord) -> tuple[str, ...]:
    """Top-level fields that differ: on ``raw`` when both sides have it, else on normalised fields."""
    if previous.raw and current.raw:
        return _changed_keys(previous.raw, current.raw)
    return _changed_keys(previous.model_dump(mode="json"), current.model_dump(mode="json"))


def diff_references(previous: ReferenceSnapshot | None, current: ReferenceSnapshot) -> ReferenceDiff:
    """Diff two snapshots of the same category; ``previous=None`` (first sight) means all added."""
    if previous is None:
        return ReferenceDiff(added=tuple(current.names()))
    if previous.category is not current.category:
        raise ValueError(f"cannot diff {previous.category} against {current.category}")
    before = {record.name: record for record in previous.records}
    after_names = {record.name for record in current.records}
    added: list[str] = []
    modified: list[ModelChange] = []
    for record in current.records:
        old = before.get(record.name)
        if old is None:
            added.append(record.name)
            continue
        fields = changed_fields(old, record)
        if fields:
            modified.append(ModelChange(record.name, fields))
    removed = tuple(name for name in before if name not in after_names)
    return ReferenceDiff(added=tuple(added), removed=removed, modified=tuple(modified))


def removal_share(diff: ReferenceDiff, previous: ReferenceSnapshot | None) -> float:
    """Share of the previous version's models that the change removes (0.0 without a previous one)."""
    if previous is None or not previous.records:
        return 0.0
    return len(diff.removed) / len(previous.records)
