"""The removal proposal: its policy, candidates with evidence and impact, what it would break.

Every field is derived from the inputs named in :class:`ProposalBasis`, never from the clock, so
the same inputs give the same bytes in every format.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.categories import ModelCategory
from shared.domain.impact.models import BrokenStyle, ModelImpact
from shared.domain.risk.presets import DeletionRiskFilterPreset


class RemovalPolicy(BaseModel):
    """Which risk rows become candidates.

    A row is a candidate when it is in ``include`` (case-insensitive; explicit, wins over every
    other rule but ``exclude``), or when it matches one of ``presets`` and has been at risk for at
    least ``min_days_at_risk`` days (when the rows carry ``days_at_risk``), is not in its grace
    period and is not protected. Without presets and without an include list the preset is
    ``critical``. ``exclude`` always wins; a name both included and excluded is refused.
    """

    model_config = ConfigDict(frozen=True)

    presets: tuple[DeletionRiskFilterPreset, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_days_at_risk: int | None = Field(default=None, ge=0)

    def effective_presets(self) -> tuple[DeletionRiskFilterPreset, ...]:
        if not self.presets and not self.include:
            return (DeletionRiskFilterPreset.CRITICAL,)
        return self.presets


class ProposalBasis(BaseModel):
    """What the proposal was computed from (the generation's basis): enough to reproduce it."""

    model_config = ConfigDict(frozen=True)

    category: ModelCategory
    generation: str
    reference_version: str
    reference_detected_at_ms: int = 0
    horde_status_at_ms: int = 0
    horde_stats_at_ms: int = 0
    horde_workers_at_ms: int = 0
    styles_version: str | None = None


class CandidateEvidence(BaseModel):
    """The lifecycle and usage facts behind a candidate, as its risk row states them."""

    model_config = ConfigDict(frozen=True)

    flags: tuple[str, ...] = ()
    risk_score: int = 0
    is_critical: bool = False
    worker_count: int = 0
    usage_day: int = 0
    usage_month: int = 0
    usage_total: int = 0
    usage_percentage_of_category: float = 0.0
    #: From the lifecycle fields when the rows carry them (null otherwise).
    days_at_risk: int | None = None
    lifecycle_reasons: tuple[str, ...] = ()


class Candidate(BaseModel):
    """One model proposed for removal (or held back), why, on what evidence, and its impact."""

    model_config = ConfigDict(frozen=True)

    name: str
    reasons: tuple[str, ...]
    evidence: CandidateEvidence
    impact: ModelImpact
    breaks_styles: bool = False


class StyleBroken(BaseModel):
    """A style whose model the proposal removes."""

    model_config = ConfigDict(frozen=True)

    style: str
    model: str
    categories: tuple[str, ...] = ()


class WorkerLeftIdle(BaseModel):
    """A worker all of whose reference models are proposed: it would serve nothing afterwards."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    models: tuple[str, ...]


class WouldBreak(BaseModel):
    """What the proposed removals break (held-back candidates are not counted here)."""

    model_config = ConfigDict(frozen=True)

    styles: tuple[StyleBroken, ...] = ()
    sole_serving_workers: tuple[WorkerLeftIdle, ...] = ()
    #: Text: families left without any served member.
    families_left_unserved: tuple[str, ...] = ()


class ProposalTotals(BaseModel):
    """Sums over the proposed candidates."""

    model_config = ConfigDict(frozen=True)

    candidates: int = 0
    held_back: int = 0
    size_on_disk_bytes: int = 0
    disk_reclaimed_gb: float = 0.0
    #: Candidates without a size in the reference (not in the disk total).
    candidates_without_size: int = 0
    styles_broken: int = 0
    sole_serving_workers: int = 0


class RemovalProposal(BaseModel):
    """A reviewable removal proposal for one category."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    category: ModelCategory
    basis: ProposalBasis
    policy: RemovalPolicy
    candidates: tuple[Candidate, ...] = ()
    #: Chosen by the policy, but removing them breaks a style: listed apart, not in the patch.
    held_back: tuple[Candidate, ...] = ()
    would_break: WouldBreak = Field(default_factory=WouldBreak)
    #: Candidates whose removal breaks nothing: no style, no worker left idle, no family unserved.
    clean_removals: tuple[str, ...] = ()
    #: Styles that name a model absent from the reference already (reported once, not caused here).
    already_broken_styles: tuple[BrokenStyle, ...] = ()
    #: Included names that are not in the reference.
    not_found: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    totals: ProposalTotals = Field(default_factory=ProposalTotals)
