"""Choosing removal candidates from the current deletion-risk rows by a policy (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.impact.compute import gib
from shared.domain.impact.models import BrokenStyle, ModelImpact
from shared.domain.proposal.models import (
    Candidate,
    CandidateEvidence,
    ProposalBasis,
    ProposalTotals,
    RemovalPolicy,
    RemovalProposal,
    StyleBroken,
    WorkerLeftIdle,
    WouldBreak,
)
from shared.domain.risk.models import DELETION_RISK_FLAG_NAMES, ModelDeletionRiskInfo
from shared.domain.risk.presets import matches_preset
from shared.domain.risk.thresholds import RiskThresholds

_NO_IMPACT = ModelImpact()


class PolicyConflictError(ValueError):
    """A name both included and excluded."""


def _days_at_risk(row: ModelDeletionRiskInfo) -> int | None:
    """Days at risk from the row's lifecycle (None for rows without history)."""
    return row.lifecycle.days_at_risk if row.lifecycle is not None else None


def _evidence(row: ModelDeletionRiskInfo) -> CandidateEvidence:
    flags = row.deletion_risk_flags
    return CandidateEvidence(
        flags=tuple(name for name in DELETION_RISK_FLAG_NAMES if getattr(flags, name)),
        risk_score=row.risk_score,
        is_critical=row.is_critical,
        worker_count=row.worker_count,
        usage_day=row.usage_day,
        usage_month=row.usage_month,
        usage_total=row.usage_total,
        usage_percentage_of_category=row.usage_percentage_of_category,
        days_at_risk=_days_at_risk(row),
        lifecycle_reasons=row.lifecycle.reasons if row.lifecycle is not None else (),
    )


def _policy_reasons(
    row: ModelDeletionRiskInfo, policy: RemovalPolicy, thresholds: RiskThresholds, notes: set[str]
) -> list[str]:
    """Why the policy picks ``row`` (empty: it does not)."""
    life = row.lifecycle
    if life is not None and (life.in_grace_period or life.protected):
        return []
    matched = [p.value for p in policy.effective_presets() if matches_preset(row, p, thresholds)]
    if not matched:
        return []
    reasons = [f"matches preset {name}" for name in matched]
    if policy.min_days_at_risk is not None:
        days = _days_at_risk(row)
        if days is None:
            notes.add(
                f"min_days_at_risk={policy.min_days_at_risk} not applied: the risk rows carry no days_at_risk"
            )
        elif days < policy.min_days_at_risk:
            return []
        else:
            reasons.append(f"at risk for {days} days (minimum {policy.min_days_at_risk})")
    return reasons


def _would_break(candidates: Sequence[Candidate], rows: Sequence[ModelDeletionRiskInfo]) -> WouldBreak:
    removed = {c.name for c in candidates}
    styles = [
        StyleBroken(style=s.name, model=c.name, categories=s.categories)
        for c in candidates
        for s in c.impact.styles
    ]
    serves: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    families: dict[str, list[ModelDeletionRiskInfo]] = {}
    for row in rows:
        impact = row.impact or _NO_IMPACT
        for worker in impact.hosting_workers:
            serves.setdefault(worker.id, set()).add(row.name)
            names[worker.id] = worker.name
        if impact.family is not None:
            families.setdefault(impact.family, []).append(row)
    idle = [
        WorkerLeftIdle(id=wid, name=names[wid], models=tuple(sorted(models, key=str.casefold)))
        for wid, models in serves.items()
        if models <= removed
    ]
    unserved = sorted(
        family
        for family, members in families.items()
        if any(m.name in removed for m in members)
        and not any(m.worker_count > 0 for m in members if m.name not in removed)
    )
    return WouldBreak(
        styles=tuple(sorted(styles, key=lambda s: (s.model.casefold(), s.style.casefold()))),
        sole_serving_workers=tuple(sorted(idle, key=lambda w: (w.name.casefold(), w.id))),
        families_left_unserved=tuple(unserved),
    )


def build_proposal(
    rows: Sequence[ModelDeletionRiskInfo],
    policy: RemovalPolicy,
    basis: ProposalBasis,
    thresholds: RiskThresholds,
    *,
    already_broken: Sequence[BrokenStyle] = (),
) -> RemovalProposal:
    """The proposal for ``rows`` (the ungrouped risk rows of one category, with impact)."""
    included = {n.casefold() for n in policy.include}
    excluded = {n.casefold() for n in policy.exclude}
    both = sorted(included & excluded)
    if both:
        raise PolicyConflictError(f"names both included and excluded: {', '.join(both)}")
    notes: set[str] = set()
    chosen: list[Candidate] = []
    held: list[Candidate] = []
    for row in rows:
        key = row.name.casefold()
        if key in excluded:
            continue
        explicit = key in included
        reasons = (
            ["included by the include list"] if explicit else _policy_reasons(row, policy, thresholds, notes)
        )
        if not reasons:
            continue
        impact = row.impact or _NO_IMPACT
        candidate = Candidate(
            name=row.name, reasons=tuple(reasons), evidence=_evidence(row), impact=impact,
            breaks_styles=bool(impact.styles),
        )  # fmt: skip
        (held if impact.styles and not explicit else chosen).append(candidate)
    order = lambda c: (c.name.casefold(), c.name)  # noqa: E731
    chosen.sort(key=order)
    held.sort(key=order)
    known = {row.name.casefold() for row in rows}
    not_found = tuple(sorted((n for n in policy.include if n.casefold() not in known), key=str.casefold))
    would_break = _would_break(chosen, rows)
    breaking = {s.model for s in would_break.styles} | {
        m for w in would_break.sole_serving_workers for m in w.models
    }
    unserved = set(would_break.families_left_unserved)
    clean = tuple(c.name for c in chosen if c.name not in breaking and c.impact.family not in unserved)
    size = sum(c.impact.size_on_disk_bytes or 0 for c in chosen)
    totals = ProposalTotals(
        candidates=len(chosen),
        held_back=len(held),
        size_on_disk_bytes=size,
        disk_reclaimed_gb=gib(size),
        candidates_without_size=sum(1 for c in chosen if c.impact.size_on_disk_bytes is None),
        styles_broken=len(would_break.styles),
        sole_serving_workers=len(would_break.sole_serving_workers),
    )
    return RemovalProposal(
        category=basis.category,
        basis=basis,
        policy=policy,
        candidates=tuple(chosen),
        held_back=tuple(held),
        would_break=would_break,
        clean_removals=clean,
        already_broken_styles=tuple(already_broken),
        not_found=not_found,
        notes=tuple(sorted(notes)),
        totals=totals,
    )
