"""From a category's inputs to one generation: id, basis, every view body and its indexes.

The generation id hashes everything the views depend on (input versions, thresholds, view
schema), so recomputing the same inputs yields the same id and the store's swap is a no-op.
Besides each default body the generation holds, per listing view, an ``.index`` (fragments and
precomputed orders, filters and summaries) and a ``.gz`` (the body's deflate, for splicing).

Two stages, so the worker can record the history of a capture while the second runs:
``compute_views`` (the views, the generation id, the history's observations) and ``finish`` (the
stored bytes); ``recompute`` runs both.
"""

from __future__ import annotations

import hashlib
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pydantic import BaseModel

from services.analytics.state import CategoryInputs
from shared.collector import collector_paused
from shared.domain.categories import ModelCategory
from shared.domain.history.enrich import LifecycleContext
from shared.domain.history.rollup import ModelObservation, observations_of
from shared.domain.impact.models import BrokenStyle
from shared.domain.proposal.models import ProposalBasis
from shared.domain.risk.models import CategoryDeletionRiskResponse, ModelDeletionRiskInfo
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.views import (
    VIEW_SCHEMA_VERSION,
    CategoryViews,
    build_category_views,
    render_views,
    risk_view,
    statistics_view,
    with_stats_view,
)
from shared.materialized.gzip_splice import compress_prefix
from shared.materialized.index_codec import encode_index
from shared.materialized.layout import gzip_key, splice_prefix
from shared.materialized.proposal_inputs import PROPOSAL_INPUTS, ProposalInputs
from shared.materialized.risk_listing import (
    RiskListingIndex,
    RiskQuery,
    RiskRowCarry,
    build_risk_indexes,
    render_risk_page,
)
from shared.materialized.with_stats_listing import (
    WithStatsCarry,
    build_with_stats_indexes,
    render_with_stats_json,
)
from shared.store.basis import GenerationBasis


@dataclass(frozen=True)
class Generation:
    """Everything written to Redis for one category in one swap."""

    category: ModelCategory
    generation: str
    basis: GenerationBasis
    views: dict[str, bytes]
    #: The ungrouped risk entries (for risk-change events), when runtime views exist.
    risk_models: tuple[ModelDeletionRiskInfo, ...] | None
    #: Per model, what this capture adds to the daily history (runtime views only).
    observations: dict[str, ModelObservation] | None = None


def _ms(moment: datetime | None, *, not_after: int) -> int:
    """Unix ms of ``moment`` (0: none), never later than ``not_after`` (Unix seconds): a time
    within the tolerated clock skew ahead of us is reported as now, never as the future."""
    return min(int(moment.timestamp() * 1000), not_after * 1000) if moment else 0


def generation_id(
    category: ModelCategory,
    inputs: CategoryInputs,
    thresholds: RiskThresholds,
    lifecycle: LifecycleContext | None = None,
) -> str:
    """Deterministic id of the views computed from ``inputs`` (and the lifecycle's day and policy)."""
    parts = [
        str(VIEW_SCHEMA_VERSION),
        category.value,
        inputs.reference.version if inputs.reference else "-",
        inputs.status.content_hash if inputs.status else "-",
        inputs.stats.content_hash if inputs.stats else "-",
        inputs.workers.content_hash if inputs.workers else "-",
        thresholds.model_dump_json(),
        inputs.styles.version if inputs.styles else "-",
    ]
    if lifecycle is not None:
        parts += [lifecycle.today.isoformat(), lifecycle.policy.model_dump_json()]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def capture_day(inputs: CategoryInputs) -> date | None:
    """UTC day of the newest Horde snapshot of ``inputs`` (the lifecycle's "today"); None without one."""
    moments = [e.captured_at for e in (inputs.status, inputs.stats, inputs.workers) if e is not None]
    return max(moments).astimezone(UTC).date() if moments else None


def basis_of(inputs: CategoryInputs, *, computed_at: int) -> GenerationBasis:
    """What a generation is based on; also the freshness fields the gateway reports."""
    reference = inputs.reference
    now = computed_at
    return GenerationBasis(
        computed_at=computed_at,
        reference_version=reference.version if reference else "",
        reference_detected_at_ms=_ms(reference.detected_at if reference else None, not_after=now),
        reference_seq=inputs.reference_seq,
        status_at_ms=_ms(inputs.status.captured_at if inputs.status else None, not_after=now),
        stats_at_ms=_ms(inputs.stats.captured_at if inputs.stats else None, not_after=now),
        workers_at_ms=_ms(inputs.workers.captured_at if inputs.workers else None, not_after=now),
        status_seq=inputs.status_seq,
        stats_seq=inputs.stats_seq,
        workers_seq=inputs.workers_seq,
        status_hash=inputs.status.content_hash if inputs.status else "",
        stats_hash=inputs.stats.content_hash if inputs.stats else "",
        workers_hash=inputs.workers.content_hash if inputs.workers else "",
        view_schema=VIEW_SCHEMA_VERSION,
        reference_models=len(reference.records) if reference else None,
        styles_version=inputs.styles.version if inputs.styles else "",
    )


@dataclass
class Carry:
    """What a category's previous generation computed that the next one may reuse (issue 15).

    A new snapshot usually changes a few models, so most listing rows, sort orders and some whole
    bodies are the same as in the previous generation. The worker keeps one per owned category
    and passes it to :func:`finish`; each part is looked up by the value it was computed from
    (a row's fragment, a column's keys, a body's bytes), so a stale or foreign entry can only
    miss, never change a byte. Not thread-safe: one recompute of a category at a time.
    """

    risk: RiskRowCarry = field(default_factory=RiskRowCarry)
    with_stats: WithStatsCarry = field(default_factory=WithStatsCarry)
    #: Per view: the splice prefix last compressed and its deflate.
    deflated: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)


#: Compresses the splice prefixes while the recompute's thread builds the indexes: zlib releases
#: the GIL, so on a second core the ~15–25 ms of deflate of a text generation costs no wall time.
_DEFLATE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deflate")


def _deflate_all(rendered: dict[str, bytes], carry: Carry | None) -> dict[str, bytes]:
    """``view.gz`` → deflate of the view's splice prefix (``shared.materialized.layout``), reusing
    the previous generation's for a prefix that is byte for byte the same."""
    members: dict[str, bytes] = {}
    kept: dict[str, tuple[bytes, bytes]] = {}
    for view, body in rendered.items():
        prefix = splice_prefix(view, body)
        previous = carry.deflated.get(view) if carry is not None else None
        deflated = previous[1] if previous is not None and previous[0] == prefix else compress_prefix(prefix)
        members[gzip_key(view)] = deflated
        kept[view] = (prefix, deflated)
    if carry is not None:
        carry.deflated = kept
    return members


def materialise(
    views: CategoryViews, thresholds: RiskThresholds, carry: Carry | None = None
) -> dict[str, bytes]:
    """Every stored value of a generation: bodies, listing indexes, precompressed prefixes.

    Same bytes as ``with_gzip_members(render_views(views))`` plus each listing view's index, in
    that order. A listing body is joined from its index's row fragments (each row serialised once,
    not again for the body); the prefixes are deflated in a thread while the indexes are encoded;
    with ``carry`` what the previous generation computed from equal values is reused."""
    runtime = views.runtime
    if runtime is None:
        rendered = render_views(views)
        return {**rendered, **_deflate_all(rendered, carry)}
    rendered = {
        statistics_view(False): _json_model(views.statistics),
        statistics_view(True): _json_model(views.statistics_grouped),
    }
    with_stats = build_with_stats_indexes(runtime.with_stats, carry.with_stats if carry else None)
    for (workers, variations), index in with_stats.items():
        rendered[with_stats_view(workers, variations)] = render_with_stats_json(
            index, range(len(index.names))
        )
    risk_indexes = build_risk_indexes(
        runtime.risk_models,
        category=views.category,
        category_total_month_usage=runtime.category_total_month_usage,
        thresholds=thresholds,
        carry=carry.risk if carry else None,
    )
    for key, response in runtime.risk.items():
        rendered[risk_view(*key)] = _risk_body(risk_indexes.get(key), response)
    deflating = _DEFLATE.submit(_deflate_all, rendered, carry)
    try:
        indexes = {f"{with_stats_view(*key)}.index": encode_index(index) for key, index in with_stats.items()}
        for key, risk_index in risk_indexes.items():
            indexes[f"{risk_view(*key)}.index"] = encode_index(risk_index)
    finally:
        members = deflating.result()
    return {**rendered, **members, **indexes}


def _json_model(model: BaseModel) -> bytes:
    """``model.model_dump_json().encode()`` without the round trip through ``str`` (as ``render_views``)."""
    return type(model).__pydantic_serializer__.to_json(model)


def _risk_body(index: RiskListingIndex | None, response: CategoryDeletionRiskResponse) -> bytes:
    """The default risk body from the index of the same rows (their fragments joined), or
    serialised whole where the index does not list exactly the response's rows."""
    if index is None or index.names != tuple(m.name for m in response.models):
        return _json_model(response)
    if response.returned_count != len(index.names):
        return _json_model(response)
    query = RiskQuery(offset=response.offset, limit=response.limit)
    models = b",".join(index.encoded_fragments)
    return render_risk_page(
        index, query, response.total_count, len(index.names), models, _json_model(response.summary)
    )


def body_checksum(body: bytes) -> tuple[int, int]:
    """CRC-32 and length of the spliced prefix of a body (what ``gzip_with_tail`` needs)."""
    return zlib.crc32(body), len(body)


@dataclass(frozen=True)
class ComputedViews:
    """The first stage of a recompute: the views and what the history needs (``observations``);
    ``finish`` turns it into the stored :class:`Generation`. The worker records the history of a
    capture while ``finish`` runs, so the history answers of a generation include its capture
    without the history write lengthening the path to the pointer swap."""

    category: ModelCategory
    generation: str
    basis: GenerationBasis
    inputs: CategoryInputs
    thresholds: RiskThresholds
    views: CategoryViews
    risk_models: tuple[ModelDeletionRiskInfo, ...] | None
    observations: dict[str, ModelObservation] | None


def compute_views(
    category: ModelCategory,
    inputs: CategoryInputs,
    thresholds: RiskThresholds,
    *,
    computed_at: int,
    lifecycle: LifecycleContext | None = None,
) -> ComputedViews | None:
    """Every view of ``category`` (not yet serialised), or ``None`` while its reference is unknown."""
    reference = inputs.reference_snapshot()
    if reference is None:
        return None
    horde = inputs.horde_snapshot()
    styles = inputs.styles.catalog() if inputs.styles else None
    with collector_paused():
        views = build_category_views(
            reference, horde, thresholds, computed_at=computed_at, styles=styles, lifecycle=lifecycle
        )
    runtime = views.runtime
    risk_models = runtime.risk_models.get((False, False)) if runtime else None
    observations = (
        observations_of(risk_models, runtime.with_stats[(False, False)])
        if runtime is not None and risk_models is not None
        else None
    )
    return ComputedViews(
        category=category,
        generation=generation_id(category, inputs, thresholds, lifecycle),
        basis=basis_of(inputs, computed_at=computed_at),
        inputs=inputs,
        thresholds=thresholds,
        views=views,
        risk_models=risk_models,
        observations=observations,
    )


def finish(computed: ComputedViews, carry: Carry | None = None) -> Generation:
    """The stored values of ``computed``: bodies, listing indexes, gzip prefixes, proposal inputs
    (reusing what ``carry``, the category's previous generation, computed from equal values)."""
    views, risk_models = computed.views, computed.risk_models
    with collector_paused():
        stored = materialise(views, computed.thresholds, carry)
        if risk_models is not None and views.runtime is not None:
            stored[PROPOSAL_INPUTS] = proposal_inputs(
                computed.category,
                computed.generation,
                computed.basis,
                computed.inputs,
                computed.thresholds,
                risk_models,
                views.runtime.broken_styles,
            )
    return Generation(
        category=computed.category,
        generation=computed.generation,
        basis=computed.basis,
        views=stored,
        risk_models=risk_models,
        observations=computed.observations,
    )


def recompute(
    category: ModelCategory,
    inputs: CategoryInputs,
    thresholds: RiskThresholds,
    *,
    computed_at: int,
    lifecycle: LifecycleContext | None = None,
    carry: Carry | None = None,
) -> Generation | None:
    """All views of ``category``, or ``None`` while its reference is unknown (both stages at once).

    The cyclic garbage collector is paused while the views are built and materialised
    (:mod:`shared.collector`), as ``bench/recompute.py`` measures it.
    """
    computed = compute_views(category, inputs, thresholds, computed_at=computed_at, lifecycle=lifecycle)
    return finish(computed, carry) if computed is not None else None


def proposal_inputs(
    category: ModelCategory,
    generation: str,
    basis: GenerationBasis,
    inputs: CategoryInputs,
    thresholds: RiskThresholds,
    rows: tuple[ModelDeletionRiskInfo, ...],
    broken: tuple[BrokenStyle, ...],
) -> bytes:
    """The stored inputs of this generation's removal proposals (see ``ProposalInputs``)."""
    reference = inputs.reference
    value = ProposalInputs(
        basis=ProposalBasis(
            category=category,
            generation=generation,
            reference_version=basis.reference_version,
            reference_detected_at_ms=basis.reference_detected_at_ms,
            horde_status_at_ms=basis.status_at_ms,
            horde_stats_at_ms=basis.stats_at_ms,
            horde_workers_at_ms=basis.workers_at_ms,
            styles_version=basis.styles_version or None,
        ),
        thresholds=thresholds,
        rows=rows,
        already_broken=broken,
        source_format=reference.source_format if reference else None,
        source_payload=reference.source_payload if reference else None,
    )
    return value.model_dump_json().encode()
