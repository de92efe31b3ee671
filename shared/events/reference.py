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

    #: 2: ``source_format`` and ``source_payload`` (issue 18); version 1 records stay readable.
    schema_version: Literal[1, 2] = 2
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
    #: Format the source file was read in (``legacy``, ``csv``, ``v2``).
    source_format: str | None = None
    #: The source file exactly as read, for the files a removal proposal patches (image generation's
    #: legacy ``stable_diffusion.json``, text's ``models.csv``); null for other categories/formats.
    #: A later byte-only edit that changes no record makes no new version, so this is the file as of
    #: the last published version.
    source_payload: str | None = None


class ReferenceSourceHealthReported(BaseModel):
    """Outcome of one poll of the reference source for one category, published by the watcher
    after every poll (the reference counterpart of the poller's ``SourceHealthReported``).

    ``source_version`` is the version the source shows: the content hash of its last payload that
    parsed (the version a ``ReferenceCategoryChanged`` event would carry). The gateway compares it
    with the served reference version; ``published_version`` differs from it while a change is
    held by the mass-removal guard.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    category: ModelCategory
    #: Source kind and where the category was read (``folder:image/stable_diffusion.json``).
    source: str
    #: False when the category could not be read or its payload was rejected as a whole.
    ok: bool
    checked_at: AwareDatetime
    last_success_at: AwareDatetime | None = None
    consecutive_failures: int = 0
    error: str | None = None
    #: Version of the last payload that parsed (null: none yet since the watcher started).
    source_version: str | None = None
    #: When the watcher first saw ``source_version`` (since it started).
    content_changed_at: AwareDatetime | None = None
    #: The version the watcher has published for the category (null: none yet).
    published_version: str | None = None
    #: When the watcher polls the source again.
    next_attempt_at: AwareDatetime | None = None
