"""Parameters and validation shared by the routes (all checks happen before any I/O)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import Path, Query

from services.gateway.errors import echo, failure
from shared.domain.categories import RUNTIME_CATEGORIES, ModelCategory

PREFIX = "/model_references/statistics"
JSON = "application/json"
CSV = "text/csv; charset=utf-8"
VALID_CATEGORIES = [c.value for c in ModelCategory]
#: Largest ``limit`` and ``offset`` (more is 422: a 26-digit number is neither echoed nor used).
MAX_PAGE_INDEX = 1_000_000_000
RUNTIME = sorted(c.value for c in RUNTIME_CATEGORIES)


class Format(StrEnum):
    """Body format of the listing routes."""

    JSON = "json"
    CSV = "csv"


CategoryPath = Annotated[
    str,
    Path(
        description=f"Model-reference category, one of: {', '.join(VALID_CATEGORIES)} (unknown: 404).",
        examples=["image_generation", "text_generation"],
    ),
]
FormatQuery = Annotated[
    Format, Query(description="`csv` for a spreadsheet of the same rows (freshness in headers only).")
]
SearchQuery = Annotated[
    str | None,
    Query(
        description="Free text: rows whose name, author, backends or variations contain every "
        "whitespace-separated term (case-insensitive).",
        examples=["llama"],
        max_length=512,
    ),
]


def csv_response_doc(example: str) -> dict[str, object]:
    """OpenAPI ``content`` entry of a CSV alternative."""
    return {"text/csv": {"schema": {"type": "string"}, "example": example}}


def parse_category(name: str, *, runtime: bool) -> ModelCategory:
    """The category, or 404 listing the valid ones; 400 if runtime data is needed and it has none."""
    try:
        category = ModelCategory(name)
    except ValueError:
        raise failure(404, f"Unknown category {echo(name)}.", VALID_CATEGORIES) from None
    if runtime and category not in RUNTIME_CATEGORIES:
        detail = f"Category {name!r} has no AI Horde runtime data; only {', '.join(RUNTIME)} do."
        raise failure(400, detail, RUNTIME)
    return category


def normalise_search(search: str | None) -> str:
    """The search as matched (casefolded terms), so equivalent queries share an ETag."""
    return " ".join(search.casefold().split()) if search else ""
