"""Which models' deletion risk changed between two states of a category, and how each change
event is numbered and named (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from shared.domain.risk.models import DeletionRiskFlags, ModelDeletionRiskInfo

ChangeKind = Literal[
    "added", "removed", "flags", "risk_score", "is_critical", "has_warning", "workers_crossed_zero",
    "lifecycle_state",
]  # fmt: skip


def signature(
    flags: DeletionRiskFlags,
    risk_score: int,
    is_critical: bool,
    has_warning: bool,
    has_workers: bool,
    lifecycle_state: str | None = None,
) -> tuple[object, ...]:
    """What must differ for a risk change: flags, score, critical, warning, workers crossing zero,
    and the lifecycle state (which moves at most once a UTC day, docs/history.md)."""
    return (flags, risk_score, is_critical, has_warning, has_workers, lifecycle_state)


def risk_signature(model: ModelDeletionRiskInfo) -> tuple[object, ...]:
    """The signature of one risk entry."""
    return signature(
        model.deletion_risk_flags,
        model.risk_score,
        model.is_critical,
        model.has_warning,
        model.worker_count > 0,
        model.lifecycle.lifecycle_state if model.lifecycle is not None else None,
    )


def describe_change(
    previous: tuple[object, ...] | None, current: tuple[object, ...] | None
) -> tuple[ChangeKind, ...]:
    """The kinds of change between two signatures (empty when nothing relevant changed)."""
    if previous is None and current is None:
        return ()
    if previous is None:
        return ("added",)
    if current is None:
        return ("removed",)
    kinds: tuple[ChangeKind, ...] = (
        "flags",
        "risk_score",
        "is_critical",
        "has_warning",
        "workers_crossed_zero",
        "lifecycle_state",
    )
    return tuple(kind for kind, old, new in zip(kinds, previous, current, strict=True) if old != new)


def changed_models(
    previous: Mapping[str, tuple[object, ...]], current: Sequence[ModelDeletionRiskInfo]
) -> list[tuple[str, tuple[ChangeKind, ...]]]:
    """Models whose signature changed, appeared or disappeared; current order, then removals."""
    changes: list[tuple[str, tuple[ChangeKind, ...]]] = []
    seen: set[str] = set()
    for model in current:
        seen.add(model.name)
        kinds = describe_change(previous.get(model.name), risk_signature(model))
        if kinds:
            changes.append((model.name, kinds))
    changes.extend((name, ("removed",)) for name in previous if name not in seen)
    return changes


def risk_event_id(category: str, model: str, generation: str, sequence: int) -> str:
    """The id of one risk event: its category, model, generation and place in the category's
    sequence. Unique per event (the sequence is never reused), reproduced by a replay that
    numbers the same changes from the same published state."""
    return hashlib.sha256(f"{category}/{model}@{generation}#{sequence}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class PublishedChange:
    """A change event already on the history topic: the last one of its category."""

    model: str
    generation: str
    sequence: int
    event_id: str
    #: Signature of the state the event moved to (``None``: removed).
    current: tuple[object, ...] | None


@dataclass(frozen=True, slots=True)
class NumberedChange:
    """One change to publish, with its sequence and id."""

    model: str
    kinds: tuple[ChangeKind, ...]
    sequence: int
    event_id: str
    #: The change event is on the history topic already (a crashed owner published it but not
    #: the model's current state): only the current state is still to be written.
    already_published: bool


def number_changes(
    category: str,
    generation: str,
    changes: Sequence[tuple[str, tuple[ChangeKind, ...]]],
    current: Mapping[str, tuple[object, ...]],
    *,
    last_sequence: int,
    pending: PublishedChange | None,
) -> list[NumberedChange]:
    """Give each change the next sequence number after ``last_sequence``, and its id.

    ``pending`` is the category's last history event when its current state was not recorded
    (its sequence is above every sequence on the current-state topic): the same change of the
    same generation is that event, re-found by the next owner, so it keeps its number and id and
    is not published again.
    """
    numbered: list[NumberedChange] = []
    sequence = last_sequence
    for model, kinds in changes:
        if (
            pending is not None
            and pending.model == model
            and pending.generation == generation
            and pending.current == current.get(model)
        ):
            numbered.append(NumberedChange(model, kinds, pending.sequence, pending.event_id, True))
            pending = None
            continue
        sequence += 1
        event_id = risk_event_id(category, model, generation, sequence)
        numbered.append(NumberedChange(model, kinds, sequence, event_id, False))
    return numbered
