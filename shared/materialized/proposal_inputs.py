"""What a removal proposal is computed from, stored with each generation of image/text generation.

The gateway builds every proposal (any policy, any format) from this one value without
recomputing risk: the ungrouped risk rows with their impact, the styles already broken, the
generation's basis, and the reference file as published (for ``format=patch``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.impact.models import BrokenStyle
from shared.domain.proposal.models import ProposalBasis
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.domain.risk.thresholds import RiskThresholds

#: View name (freshness and ETags); ``.workers`` makes its freshness include the workers snapshot.
PROPOSAL_VIEW = "removal-proposal.workers"
#: Stored key of the inputs: like the listing ``.index`` values, what answers every request of the view.
PROPOSAL_INPUTS = f"{PROPOSAL_VIEW}.index"


class ProposalInputs(BaseModel):
    """The inputs of every removal proposal of one generation."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    basis: ProposalBasis
    #: The thresholds the rows were computed with (presets are matched with them).
    thresholds: RiskThresholds
    rows: tuple[ModelDeletionRiskInfo, ...]
    already_broken: tuple[BrokenStyle, ...] = ()
    source_format: str | None = None
    source_payload: str | None = None
