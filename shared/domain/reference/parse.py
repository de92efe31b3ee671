"""One entry point for every reference format, plus the content-hash version label.

Callers (the reference watcher) load bytes from wherever they come from and hand them here; this
module never performs I/O. A :class:`ReferenceFormatError` means "keep the previous version".
"""

from __future__ import annotations

import hashlib
from typing import Literal

from shared.domain.categories import ModelCategory
from shared.domain.reference.legacy_image import LEGACY_IMAGE_FILES, parse_legacy_image
from shared.domain.reference.legacy_text import parse_models_csv, parse_text_db
from shared.domain.reference.records import ReferenceSnapshot
from shared.domain.reference.v2 import parse_v2
from shared.domain.reference.validation import JsonPayload, ReferenceFormatError

ReferenceFormat = Literal["legacy", "v2", "csv"]

#: v2 file name of each category (upstream keeps the historical name for image generation).
V2_FILES: dict[ModelCategory, str] = {
    category: "stable_diffusion.json"
    if category is ModelCategory.IMAGE_GENERATION
    else f"{category.value}.json"
    for category in ModelCategory
}

#: Legacy text files: ``db.json`` is what the AI Horde reads, ``models.csv`` is its maintained source.
LEGACY_TEXT_FILES: dict[ReferenceFormat, str] = {"legacy": "db.json", "csv": "models.csv"}


def parse_reference(
    category: ModelCategory, payload: JsonPayload, *, format: ReferenceFormat, version: str
) -> ReferenceSnapshot:
    """Parse one category payload into a snapshot labelled ``version``.

    ``legacy`` means the GitHub legacy repositories (image category files, text ``db.json``),
    ``csv`` the text ``models.csv``, ``v2`` the horde-model-reference record format.
    Raises ReferenceFormatError when the payload as a whole is unusable or the format does not
    exist for the category.
    """
    if format == "v2":
        return parse_v2(category, payload, version=version)
    if format == "csv":
        if category is not ModelCategory.TEXT_GENERATION:
            raise ReferenceFormatError(
                f"the csv format exists only for text_generation, not {category.value}"
            )
        if not isinstance(payload, str | bytes):
            raise ReferenceFormatError(f"models.csv must be given as text, got {type(payload).__name__}")
        return parse_models_csv(payload, version=version)
    if category is ModelCategory.TEXT_GENERATION:
        return parse_text_db(payload, version=version)
    if category not in LEGACY_IMAGE_FILES:
        raise ReferenceFormatError(f"category {category.value} has no legacy format")
    return parse_legacy_image(category, payload, version=version)


def reference_version(payload: bytes) -> str:
    """Content-hash version label: identical bytes give the same label wherever they were fetched."""
    return "sha256:" + hashlib.sha256(payload).hexdigest()
