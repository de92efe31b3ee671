"""Reference change events: the diff of one category plus its full new state.

The topic is compacted and keyed by category, so its latest record per category is the whole
current reference: a consumer that starts late rebuilds everything from Kafka alone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.domain.categories import ModelCategory
from shared.domain.reference.records import ReferenceRecord


class ModifiedModel(BaseModel):
    """A model present before and after whose record changed, with the top-level fields that did."""

    model_config = ConfigDict(frozen=True)

    name: str
    fields: tuple[str, ...]


class ReferenceCategoryChanged(BaseModel):
    """One category's reference moved from ``previous_version`` to ``version``."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    category: ModelCategory
    version: str
    previous_version: str | None = None
    source: str
    detected_at: AwareDatetime
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[ModifiedModel, ...] = ()
    #: The complete new state of the category, in reference order.
    records: tuple[ReferenceRecord, ...]
