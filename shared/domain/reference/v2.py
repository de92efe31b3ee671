"""Parser for the v2 record format (one JSON object ``{name: record}`` per category).

v2 is what horde-model-reference serves and what upstream statistics read. The one deliberate
difference from upstream: the text parameter count is read from the key the files actually use,
``parameters`` (D3), so parameter buckets are filled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.categories import ModelCategory
from shared.domain.reference.records import ReferenceRecord, ReferenceSnapshot
from shared.domain.reference.validation import (
    InvalidField,
    JsonPayload,
    build_records,
    decode_json_object,
    downloads,
    has_entries,
    named_entries,
    non_negative_int,
    optional_str,
    str_tuple,
    strict_bool,
    url_download,
    version_str,
)

#: Legacy spellings of image baselines and their v2 names, as upstream's legacy converter maps them.
IMAGE_BASELINE_ALIASES: dict[str, str] = {
    "stable diffusion 1": "stable_diffusion_1",
    "stable diffusion 2": "stable_diffusion_2_768",
    "stable diffusion 2 512": "stable_diffusion_2_512",
}


def normalise_image_baseline(baseline: str) -> str:
    """Map a legacy baseline spelling to its v2 name; other (newer) baselines pass unchanged."""
    return IMAGE_BASELINE_ALIASES.get(baseline, baseline)


def parameter_count(data: Mapping[str, Any]) -> int | None:
    """Text parameter count: v2 key ``parameters`` (D3); ``parameters_count`` only as a fallback."""
    key = "parameters" if data.get("parameters") is not None else "parameters_count"
    return non_negative_int(data, key)


def record_from_fields(category: ModelCategory, name: str, data: Mapping[str, Any]) -> ReferenceRecord:
    """Build a record from v2-named fields; shared with the legacy parsers, whose keys mostly match.

    Image-generation records must have a non-empty ``baseline`` and a boolean ``nsfw`` (upstream's
    schema requires both). Unknown baselines are accepted: new model families appear upstream
    before any enum here could know them. Text records without ``config.download`` fall back to
    their ``url`` as the single download location.
    """
    is_image = category is ModelCategory.IMAGE_GENERATION
    baseline = optional_str(data, "baseline")
    if is_image:
        if baseline is None:
            raise InvalidField("baseline", "required for image_generation records")
        baseline = normalise_image_baseline(baseline)
    files = downloads(data)
    if category is ModelCategory.TEXT_GENERATION and not files:
        files = url_download(optional_str(data, "url"))
    return ReferenceRecord(
        name=name,
        category=category,
        description=optional_str(data, "description"),
        baseline=baseline,
        nsfw=strict_bool(data, "nsfw", required=is_image),
        style=optional_str(data, "style"),
        tags=str_tuple(data, "tags"),
        downloads=files,
        size_on_disk_bytes=non_negative_int(data, "size_on_disk_bytes"),
        parameters_count=parameter_count(data),
        trigger=str_tuple(data, "trigger"),
        inpainting=strict_bool(data, "inpainting"),
        has_requirements=has_entries(data, "requirements"),
        showcases=str_tuple(data, "showcases"),
        text_model_group=optional_str(data, "text_model_group"),
        version=version_str(data),
        raw=dict(data),
    )


def _v2_record(category: ModelCategory, name: str, data: Mapping[str, Any]) -> ReferenceRecord:
    """A record in a category file must not claim another category (``record_type`` is optional)."""
    record_type = data.get("record_type")
    if record_type is not None and record_type != category.value:
        raise InvalidField("record_type", f"{record_type!r} does not belong in category {category.value!r}")
    return record_from_fields(category, name, data)


def parse_v2(category: ModelCategory, payload: JsonPayload, *, version: str) -> ReferenceSnapshot:
    """Parse one v2 category file. Raises ReferenceFormatError unless the payload is a JSON object."""
    data = decode_json_object(payload)
    records, rejections = build_records(
        category, named_entries(data), lambda name, record: _v2_record(category, name, record)
    )
    return ReferenceSnapshot(
        category=category, version=version, records=tuple(records), rejections=tuple(rejections)
    )
