"""The normalised reference record that statistics, merge and deletion risk consume.

Every input format (legacy image JSON, legacy text ``db.json``/``models.csv``, v2 records) is
parsed into :class:`ReferenceRecord`; invalid input never becomes a record but a
:class:`RecordRejection` naming the model and the field, so nothing is silently counted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.categories import ModelCategory


class DownloadEntry(BaseModel):
    """One downloadable file of a model; analytics only inspects ``file_url``."""

    model_config = ConfigDict(frozen=True)

    file_name: str | None = None
    file_url: str | None = None
    size_bytes: int | None = None


class ReferenceRecord(BaseModel):
    """A model of the reference, normalised across formats. Field names follow the v2 format."""

    model_config = ConfigDict(frozen=True)

    name: str
    category: ModelCategory
    description: str | None = None
    baseline: str | None = None
    nsfw: bool = False
    style: str | None = None
    tags: tuple[str, ...] = ()
    downloads: tuple[DownloadEntry, ...] = ()
    size_on_disk_bytes: int | None = None
    #: Text models: parameter count (v2 key ``parameters``, legacy ``parameters_bn`` × 1e9).
    parameters_count: int | None = None
    trigger: tuple[str, ...] = ()
    inpainting: bool = False
    has_requirements: bool = False
    showcases: tuple[str, ...] = ()
    text_model_group: str | None = None
    version: str | None = None
    #: The source record as read (JSON object), kept for diffs and for the ``record`` views.
    raw: dict[str, Any] = Field(default_factory=dict, repr=False, exclude=True)


class RecordRejection(BaseModel):
    """Why one input record was not accepted; reported, never counted."""

    model_config = ConfigDict(frozen=True)

    category: ModelCategory
    model: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.category}/{self.model}: field {self.field!r}: {self.reason}"


class ReferenceSnapshot(BaseModel):
    """The whole reference of one category at one version, records in reference order."""

    model_config = ConfigDict(frozen=True)

    category: ModelCategory
    #: Opaque version label (content hash, commit, ETag or ``last_updated``) of this state.
    version: str
    records: tuple[ReferenceRecord, ...] = ()
    rejections: tuple[RecordRejection, ...] = ()

    def names(self) -> list[str]:
        """Model names in reference order."""
        return [r.name for r in self.records]
