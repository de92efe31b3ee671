"""``GET …/{category}/removal-proposal``: candidates for the next model batch, with their impact.

Answered from the generation's stored proposal inputs (risk rows with impact, already broken
styles, the reference file as published): the policy is applied per request, nothing is
recomputed. The policy is canonicalised (presets in their declared order, names deduplicated and
sorted) so equivalent queries share an ETag and the same bytes. Freshness travels in headers only:
the body depends on the inputs alone (reproducible).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.gateway.answer import gateway_of, serve
from services.gateway.encoding import Body
from services.gateway.errors import echo, error_responses, failure
from services.gateway.fastroute import FastRoute
from services.gateway.freshness import Provenance
from services.gateway.routes.common import JSON, PREFIX, CategoryPath, parse_category
from shared.domain.categories import ModelCategory
from shared.domain.proposal.build import PolicyConflictError, build_proposal
from shared.domain.proposal.markdown import render_markdown
from shared.domain.proposal.models import RemovalPolicy, RemovalProposal
from shared.domain.proposal.patch import PatchUnavailableError, patch_reference
from shared.domain.risk.presets import VALID_PRESETS, DeletionRiskFilterPreset
from shared.materialized.proposal_inputs import PROPOSAL_VIEW, ProposalInputs
from shared.store.generations import CurrentGeneration

router = APIRouter(tags=["removal-proposal"], route_class=FastRoute)

MARKDOWN = "text/markdown; charset=utf-8"
PATCH_FILES = {ModelCategory.IMAGE_GENERATION: ("stable_diffusion.json", JSON),
               ModelCategory.TEXT_GENERATION: ("models.csv", "text/csv; charset=utf-8")}  # fmt: skip


class ProposalFormat(StrEnum):
    """Body of a proposal: the JSON model, a pull-request body, or the patched reference file."""

    JSON = "json"
    MARKDOWN = "markdown"
    PATCH = "patch"


def _names(values: list[str] | None) -> tuple[str, ...]:
    cleaned = {v.strip() for v in values or () if v.strip()}
    return tuple(sorted(cleaned, key=lambda n: (n.casefold(), n)))


def parse_policy(
    preset: list[str] | None, include: list[str] | None, exclude: list[str] | None, min_days: int | None
) -> RemovalPolicy:
    """The canonical policy, or 422 naming the bad value."""
    presets = [p for p in preset or () if p]
    unknown = sorted(set(presets) - set(VALID_PRESETS))
    if unknown:
        raise failure(422, f"Unknown preset: {', '.join(map(echo, unknown[:5]))}.", VALID_PRESETS)
    chosen = tuple(p for p in DeletionRiskFilterPreset if p.value in presets)
    policy = RemovalPolicy(
        presets=chosen, include=_names(include), exclude=_names(exclude), min_days_at_risk=min_days
    )
    both = sorted({n.casefold() for n in policy.include} & {n.casefold() for n in policy.exclude})
    if both:
        raise failure(422, f"Names both included and excluded: {', '.join(map(echo, both[:5]))}.")
    return policy


def _body(
    category: ModelCategory, inputs: ProposalInputs, proposal: RemovalProposal, format: ProposalFormat
) -> Body:
    if format is ProposalFormat.MARKDOWN:
        return Body(render_markdown(proposal).encode(), MARKDOWN)
    if format is ProposalFormat.JSON:
        return Body(proposal.model_dump_json().encode(), JSON)
    if inputs.source_payload is None or inputs.source_format is None:
        raise failure(
            409,
            f"No patch for {category.value}: the reference was not read from its legacy file "
            "(stable_diffusion.json for image, models.csv for text), or was published before reference "
            "events carried the file.",
        )
    try:
        patched = patch_reference(
            category, inputs.source_format, inputs.source_payload, [c.name for c in proposal.candidates]
        )
    except PatchUnavailableError as error:
        raise failure(409, f"No patch for {category.value}: {error}") from None
    return Body(patched.encode(), PATCH_FILES[category][1])


async def removal_proposal(
    request: Request,
    category: CategoryPath,
    preset: Annotated[
        list[str] | None,
        Query(
            description="Policy presets (repeatable; a model matching any is a candidate). Without presets "
            "and without `include`: `critical`. Unknown: 422.",
            json_schema_extra={"items": {"enum": list(VALID_PRESETS)}},
        ),
    ] = None,
    include: Annotated[
        list[str] | None,
        Query(
            description="Models proposed whatever the presets say (repeatable, case-insensitive); "
            'an included model that breaks a style is proposed and listed under "would break".'
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None, Query(description="Models never proposed (repeatable, case-insensitive).")
    ] = None,
    min_days_at_risk: Annotated[
        int | None,
        Query(
            ge=0,
            description="Policy candidates must have been at risk this many days (rows with "
            "`days_at_risk`; otherwise noted as not applied).",
        ),
    ] = None,
    format: Annotated[
        ProposalFormat,
        Query(
            description="`json`, `markdown` (a pull-request body) or `patch` (the reference file without "
            "the candidates, in the repository's formatting)."
        ),
    ] = ProposalFormat.JSON,
) -> Response:
    """A removal proposal for image or text generation: candidates by policy with reasons, evidence and
    impact (styles, sole-serving workers, disk, text families), reproducible from its basis."""
    chosen = parse_category(category, runtime=True)
    policy = parse_policy(preset, include, exclude, min_days_at_risk)
    cache = gateway_of(request).cache
    key = f"proposal|{policy.model_dump_json()}|{format.value}"

    async def build(current: CurrentGeneration, found: Provenance) -> Body | None:
        inputs = await cache.proposal_inputs(chosen, current.generation)
        if inputs is None:
            return None
        try:
            proposal = build_proposal(
                inputs.rows, policy, inputs.basis, inputs.thresholds, already_broken=inputs.already_broken
            )
        except PolicyConflictError as error:  # pragma: no cover - parse_policy refuses it first
            raise failure(422, str(error)) from None
        return _body(chosen, inputs, proposal, format)

    response = await serve(request, chosen, PROPOSAL_VIEW, key, build)
    if format is ProposalFormat.PATCH and response.status_code == 200:
        response.headers["Content-Disposition"] = f'attachment; filename="{PATCH_FILES[chosen][0]}"'
    return response


router.add_api_route(
    f"{PREFIX}/{{category}}/removal-proposal",
    removal_proposal,
    methods=["GET"],
    response_model=RemovalProposal,
    operation_id="read_v2_category_removal_proposal",
    description=removal_proposal.__doc__ or "",
    responses={
        200: {
            "content": {MARKDOWN: {"schema": {"type": "string"}}, "text/csv": {"schema": {"type": "string"}}}
        },
        **error_responses(400, 404, 409, 414, 422, 503),
    },
)
