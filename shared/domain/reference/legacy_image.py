"""Parser for the legacy image reference files (AI-Horde-image-model-reference on GitHub).

A legacy file yields the same records as its v2 conversion, so statistics do not depend on which
format was read: baselines are renamed as upstream's converter renames them, and categories other
than image generation keep only the fields their v2 records have (the converter drops their
``style``, ``nsfw`` and ``baseline``; ControlNet's ``style`` becomes ``controlnet_style``, which
analytics never reads). The full legacy object stays available in ``raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.categories import ModelCategory
from shared.domain.reference.records import ReferenceRecord, ReferenceSnapshot
from shared.domain.reference.v2 import record_from_fields
from shared.domain.reference.validation import (
    JsonPayload,
    build_records,
    decode_json,
    downloads,
    named_entries,
    non_negative_int,
    optional_str,
    strict_bool,
    version_str,
)

#: Legacy file of each category that has one (repository root of the legacy image reference).
LEGACY_IMAGE_FILES: dict[ModelCategory, str] = {
    ModelCategory.BLIP: "blip.json",
    ModelCategory.CLIP: "clip.json",
    ModelCategory.CODEFORMER: "codeformer.json",
    ModelCategory.CONTROLNET: "controlnet.json",
    ModelCategory.ESRGAN: "esrgan.json",
    ModelCategory.GFPGAN: "gfpgan.json",
    ModelCategory.SAFETY_CHECKER: "safety_checker.json",
    ModelCategory.IMAGE_GENERATION: "stable_diffusion.json",
    ModelCategory.MISCELLANEOUS: "miscellaneous.json",
    ModelCategory.LORA: "lora.json",
    ModelCategory.TI: "ti.json",
}

#: Categories whose v2 records carry an ``nsfw`` flag besides image generation.
_NSFW_CATEGORIES = frozenset({ModelCategory.LORA, ModelCategory.TI})


def _auxiliary_record(category: ModelCategory, name: str, data: Mapping[str, Any]) -> ReferenceRecord:
    """Post-processors, ControlNets and the like: only what their v2 records keep."""
    return ReferenceRecord(
        name=name,
        category=category,
        description=optional_str(data, "description"),
        nsfw=strict_bool(data, "nsfw") if category in _NSFW_CATEGORIES else False,
        downloads=downloads(data),
        size_on_disk_bytes=non_negative_int(data, "size_on_disk_bytes"),
        version=version_str(data),
        raw=dict(data),
    )


def _build(category: ModelCategory, name: str, data: Mapping[str, Any]) -> ReferenceRecord:
    if category is ModelCategory.IMAGE_GENERATION:
        return record_from_fields(category, name, data)
    return _auxiliary_record(category, name, data)


def parse_legacy_image(category: ModelCategory, payload: JsonPayload, *, version: str) -> ReferenceSnapshot:
    """Parse one legacy image category file: an object keyed by name, or a list (``lora.json``).

    Raises ReferenceFormatError for a payload that is not JSON or has the wrong top-level type, and
    ValueError for a category that has no legacy image file.
    """
    if category not in LEGACY_IMAGE_FILES:
        raise ValueError(f"category {category.value!r} has no legacy image format")
    data = decode_json(payload, allow_list=True)
    records, rejections = build_records(
        category, named_entries(data), lambda name, record: _build(category, name, record)
    )
    return ReferenceSnapshot(
        category=category, version=version, records=tuple(records), rejections=tuple(rejections)
    )
