"""Building a deletion-risk response: grouping, preset, sort, summary, page (§4.8 as amended).

Every field has one meaning whatever the path (D9, D10): ``total_count`` and ``summary`` describe the
list after grouping and preset filtering and before pagination; ``category_total_month_usage`` is the
category-wide total; ``returned_count`` is the page length. Nothing passed in is mutated (D1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

from shared.domain.categories import ModelCategory
from shared.domain.risk.grouping import NameFn, group_risk_models
from shared.domain.risk.models import CategoryDeletionRiskResponse, ModelDeletionRiskInfo
from shared.domain.risk.presets import DeletionRiskFilterPreset, apply_preset
from shared.domain.risk.summary import summarize
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.trusted import copy_trusted


class RiskSortField(StrEnum):
    """Columns the audit view sorts on; ``risk_score`` is the "Flags" column."""

    NAME = "name"
    BASELINE = "baseline"
    WORKER_COUNT = "worker_count"
    USAGE_DAY = "usage_day"
    USAGE_MONTH = "usage_month"
    USAGE_TOTAL = "usage_total"
    USAGE_PERCENTAGE_OF_CATEGORY = "usage_percentage_of_category"
    SIZE_GB = "size_gb"
    RISK_SCORE = "risk_score"


VALID_SORT_FIELDS: tuple[str, ...] = tuple(f.value for f in RiskSortField)


class UnknownSortFieldError(ValueError):
    """An unknown sort column; the message lists the valid ones."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.valid = VALID_SORT_FIELDS
        super().__init__(f"Unknown sort field: '{field}'. Valid sort fields: {', '.join(VALID_SORT_FIELDS)}")


def parse_sort_field(name: str | RiskSortField) -> RiskSortField:
    """The sort column called ``name`` exactly, else :class:`UnknownSortFieldError`."""
    try:
        return RiskSortField(name)
    except ValueError:
        raise UnknownSortFieldError(str(name)) from None


_TEXT_FIELDS = (RiskSortField.NAME, RiskSortField.BASELINE)
_SortKey = tuple[float, str, str]


def _sort_key(field: RiskSortField) -> Callable[[ModelDeletionRiskInfo], _SortKey | None]:
    """Key of one column: text case-insensitively (then exact), numbers as floats; None for null."""

    def key(model: ModelDeletionRiskInfo) -> _SortKey | None:
        raw: str | float | None = getattr(model, field.value)
        if raw is None:
            return None
        if isinstance(raw, str):
            return (0.0, raw.casefold(), raw)
        return (float(raw), "", "")

    return key


def risk_sort_keys(
    models: Sequence[ModelDeletionRiskInfo], sort_by: str | RiskSortField
) -> list[_SortKey | None]:
    """The sort key of every model on one column (``None``: a null, sorted last either way), so one
    set of keys serves both directions; ``sort_risk_models`` orders by exactly these keys."""
    key = _sort_key(parse_sort_field(sort_by))
    return [key(m) for m in models]


def sort_risk_models(
    models: Sequence[ModelDeletionRiskInfo], sort_by: str | RiskSortField, *, descending: bool = False
) -> list[ModelDeletionRiskInfo]:
    """Stable sort on one column; text compares case-insensitively; nulls always go last."""
    key = _sort_key(parse_sort_field(sort_by))
    keyed = [(key(m), m) for m in models]
    present = [(k, m) for k, m in keyed if k is not None]
    present.sort(key=lambda pair: pair[0], reverse=descending)
    return [m for _, m in present] + [m for k, m in keyed if k is None]


def validate_page(offset: int, limit: int | None) -> None:
    """Reject a negative offset or a limit below 1 before any work is done."""
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")


def build_risk_response(
    models: Sequence[ModelDeletionRiskInfo],
    *,
    category: ModelCategory,
    category_total_month_usage: int,
    thresholds: RiskThresholds,
    grouped: bool = False,
    preset: str | DeletionRiskFilterPreset | None = None,
    offset: int = 0,
    limit: int | None = None,
    sort_by: str | RiskSortField | None = None,
    descending: bool = False,
    key: NameFn | None = None,
    display: NameFn | None = None,
) -> CategoryDeletionRiskResponse:
    """Response for one request over the ungrouped analysis of ``category``.

    Grouping applies to text only (image answers are the same grouped or not). Without ``sort_by``
    the order is the analysis order (or the grouped order, D24). An empty ``preset`` means none.
    """
    validate_page(offset, limit)
    chosen = models
    if grouped and category is ModelCategory.TEXT_GENERATION:
        chosen = group_risk_models(
            chosen,
            category_total_month_usage=category_total_month_usage,
            thresholds=thresholds,
            key=key,
            display=display,
        )
    if preset:
        chosen = apply_preset(chosen, preset, thresholds)
    if sort_by is not None:
        chosen = sort_risk_models(chosen, sort_by, descending=descending)
    page = chosen[offset : offset + limit] if limit is not None else chosen[offset:]
    # The envelope is validated; the entries are models already (validating them again would rerun
    # the score check of every entry), so they are attached afterwards.
    response = CategoryDeletionRiskResponse(
        category=category,
        category_total_month_usage=category_total_month_usage,
        total_count=len(chosen),
        returned_count=len(page),
        offset=offset,
        limit=limit,
        summary=summarize(chosen, category_total_month_usage),
    )
    return copy_trusted(response, {"models": tuple(page)})
