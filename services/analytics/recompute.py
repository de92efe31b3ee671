"""From a category's inputs to one generation: id, basis and the rendered views.

The generation id hashes everything the views depend on (input versions, thresholds, view
schema), so recomputing the same inputs yields the same id and the store's swap is a no-op.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from services.analytics.state import CategoryInputs
from shared.domain.categories import ModelCategory
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.views import VIEW_SCHEMA_VERSION, build_category_views, render_views


@dataclass(frozen=True)
class Generation:
    """Everything written to Redis for one category in one swap."""

    category: ModelCategory
    generation: str
    basis: dict[str, str]
    views: dict[str, bytes]


def _ms(moment: datetime | None) -> str:
    return str(int(moment.timestamp() * 1000)) if moment else "0"


def generation_id(category: ModelCategory, inputs: CategoryInputs, thresholds: RiskThresholds) -> str:
    """Deterministic id of the views computed from ``inputs``."""
    parts = [
        str(VIEW_SCHEMA_VERSION),
        category.value,
        inputs.reference.version if inputs.reference else "-",
        inputs.status.content_hash if inputs.status else "-",
        inputs.stats.content_hash if inputs.stats else "-",
        inputs.workers.content_hash if inputs.workers else "-",
        thresholds.model_dump_json(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def basis_of(inputs: CategoryInputs, *, computed_at: int) -> dict[str, str]:
    """What a generation is based on; also the freshness fields the gateway reports."""
    reference = inputs.reference
    return {
        "computed_at": str(computed_at),
        "reference_version": reference.version if reference else "",
        "reference_detected_at_ms": _ms(reference.detected_at if reference else None),
        "reference_seq": str(inputs.reference_seq),
        "status_at_ms": _ms(inputs.status.captured_at if inputs.status else None),
        "stats_at_ms": _ms(inputs.stats.captured_at if inputs.stats else None),
        "workers_at_ms": _ms(inputs.workers.captured_at if inputs.workers else None),
        "status_hash": inputs.status.content_hash if inputs.status else "",
        "stats_hash": inputs.stats.content_hash if inputs.stats else "",
        "workers_hash": inputs.workers.content_hash if inputs.workers else "",
        "view_schema": str(VIEW_SCHEMA_VERSION),
    }


def recompute(
    category: ModelCategory, inputs: CategoryInputs, thresholds: RiskThresholds, *, computed_at: int
) -> Generation | None:
    """All views of ``category``, or ``None`` while its reference is unknown."""
    reference = inputs.reference_snapshot()
    if reference is None:
        return None
    views = build_category_views(reference, inputs.horde_snapshot(), thresholds, computed_at=computed_at)
    return Generation(
        category=category,
        generation=generation_id(category, inputs, thresholds),
        basis=basis_of(inputs, computed_at=computed_at),
        views=render_views(views),
    )
