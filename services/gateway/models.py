"""Documented response shapes: the domain models plus the live ``freshness`` field.

Object answers get ``freshness`` appended at request time; these subclasses only describe that in
OpenAPI (answers are spliced bytes, never built from these models on the request path).
"""

from __future__ import annotations

from services.gateway.freshness import Freshness
from shared.domain.horde.runtime import CombinedModelStatistics
from shared.domain.risk.models import CategoryDeletionRiskResponse, ModelDeletionRiskInfo
from shared.domain.statistics import CategoryStatistics


class CategoryStatisticsAnswer(CategoryStatistics):
    """``CategoryStatistics`` with the freshness of the generation it was read from."""

    freshness: Freshness


class CategoryDeletionRiskAnswer(CategoryDeletionRiskResponse):
    """``CategoryDeletionRiskResponse`` with the freshness of the generation it was read from."""

    freshness: Freshness


class ModelDeletionRiskAnswer(ModelDeletionRiskInfo):
    """One model's ``ModelDeletionRiskInfo`` with the freshness of the generation it was read from."""

    freshness: Freshness


#: The with-stats body: a map, so its freshness travels in headers only.
WithStatsAnswer = dict[str, CombinedModelStatistics]
