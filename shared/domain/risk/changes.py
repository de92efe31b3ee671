"""Which models' deletion risk changed between two states of a category (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
