"""The layout of the materialised deletion-risk views: the field set (recursively) of the risk
rows, the summary, the response and the listing index, with the schema versions in force.

Pinned in ``layout.json`` beside this module; ``tests/unit/domain/test_view_layout.py`` fails when
the layout changes while ``VIEW_SCHEMA_VERSION`` stays the same. Regenerate with the golden views:

    .venv/bin/python -m tests.golden.views --write
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared.domain.risk.models import (
    CategoryDeletionRiskResponse,
    CategoryDeletionRiskSummary,
    ModelDeletionRiskInfo,
)
from shared.domain.views import VIEW_SCHEMA_VERSION
from shared.materialized.risk_listing import SUMMARY_COUNTERS, RiskListingIndex

GOLDEN = Path(__file__).with_name("layout.json")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models named by a field annotation (through Optional, tuple, dict, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def fields(model: type[BaseModel]) -> list[str]:
    """Dotted field names of ``model`` in declaration order, nested models expanded."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        out.append(name)
        for nested in _models_in(info.annotation):
            out += [f"{name}.{inner}" for inner in fields(nested)]
    return out


def layout() -> dict[str, Any]:
    return {
        "view_schema_version": VIEW_SCHEMA_VERSION,
        "risk_listing_index_schema_version": RiskListingIndex.model_fields["schema_version"].default,
        "risk_row": fields(ModelDeletionRiskInfo),
        "risk_summary": fields(CategoryDeletionRiskSummary),
        "risk_response": [
            f for f in fields(CategoryDeletionRiskResponse) if not f.startswith(("models.", "summary."))
        ],
        "risk_listing_index": fields(RiskListingIndex),
        "risk_summary_row": [*SUMMARY_COUNTERS, "risk_score"],
    }


def write() -> None:
    GOLDEN.write_text(json.dumps(layout(), indent=2) + "\n")


#: Parts of the layout whose change needs a ``VIEW_SCHEMA_VERSION`` bump (the listing index may
#: instead bump its own ``schema_version``).
VIEW_PARTS = ("risk_row", "risk_summary", "risk_response")
INDEX_PARTS = ("risk_listing_index", "risk_summary_row")
REGENERATE = ".venv/bin/python -m tests.golden.views --write"


def change_error(pinned: dict[str, Any], current: dict[str, Any]) -> str | None:
    """Why ``current`` may not replace ``pinned``, or None when they are the same."""
    same_view = current["view_schema_version"] == pinned["view_schema_version"]
    same_index = current["risk_listing_index_schema_version"] == pinned["risk_listing_index_schema_version"]
    moved = [part for part in (*VIEW_PARTS, *INDEX_PARTS) if current[part] != pinned[part]]
    if same_view and any(part in VIEW_PARTS for part in moved):
        return (
            f"the risk view layout changed ({', '.join(moved)}): bump VIEW_SCHEMA_VERSION, then {REGENERATE}"
        )
    if same_view and same_index and moved:
        return (
            f"the risk listing layout changed ({', '.join(moved)}): bump VIEW_SCHEMA_VERSION or "
            f"RiskListingIndex.schema_version, then {REGENERATE}"
        )
    if current != pinned:
        return f"schema version bumped: pin the new layout with {REGENERATE}"
    return None
