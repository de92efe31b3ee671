"""The category's reference file with the candidates removed, in the repository's own formatting.

Image generation: the legacy ``stable_diffusion.json`` is ``json.dumps(data, indent=4)`` (ASCII
escapes) plus a final newline; the file is checked to round-trip exactly before it is patched,
so a patch is never a reformatting. Text generation: ``models.csv`` rows are cut out as the raw
text they were (quoted multi-line cells included), every other byte is kept.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from shared.domain.categories import ModelCategory


class PatchUnavailableError(ValueError):
    """The source file cannot be patched byte-compatibly; the message says why."""


def render_legacy_json(data: dict[str, object]) -> str:
    """The legacy image reference's formatting."""
    return json.dumps(data, indent=4, ensure_ascii=True) + "\n"


def _patch_legacy_json(payload: str, remove: set[str]) -> str:
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise PatchUnavailableError(f"the reference file is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PatchUnavailableError("the reference file is not a JSON object keyed by model name")
    if render_legacy_json(data) != payload:
        raise PatchUnavailableError(
            "the reference file is not in the repository's formatting (4-space JSON with ASCII "
            "escapes and a final newline, no duplicate names); a patch would reformat it"
        )
    missing = sorted(remove - set(data))
    if missing:
        raise PatchUnavailableError(f"models not in the reference file: {', '.join(missing)}")
    return render_legacy_json({name: body for name, body in data.items() if name not in remove})


def csv_row_spans(payload: str) -> list[tuple[list[str], str]]:
    """Every CSV row with the exact text it was read from (line ends and multi-line cells kept)."""
    consumed: list[str] = []

    def lines() -> Iterable[str]:
        for line in io.StringIO(payload, newline=""):
            consumed.append(line)
            yield line

    spans: list[tuple[list[str], str]] = []
    for row in csv.reader(lines()):
        spans.append((row, "".join(consumed)))
        consumed.clear()
    if consumed:
        spans.append(([], "".join(consumed)))
    return spans


def _patch_models_csv(payload: str, remove: set[str]) -> str:
    try:
        spans = csv_row_spans(payload)
    except csv.Error as exc:
        raise PatchUnavailableError(f"models.csv is not valid CSV: {exc}") from None
    if not spans or "name" not in [c.lstrip("\ufeff") for c in spans[0][0]]:
        raise PatchUnavailableError("models.csv has no header with a 'name' column")
    column = [c.lstrip("\ufeff") for c in spans[0][0]].index("name")
    kept = [spans[0][1]]
    found: set[str] = set()
    for row, text in spans[1:]:
        name = row[column].strip() if len(row) > column else None
        if name is not None and name in remove:
            found.add(name)
            continue
        kept.append(text)
    missing = sorted(remove - found)
    if missing:
        raise PatchUnavailableError(f"models not in models.csv: {', '.join(missing)}")
    return "".join(kept)


def patch_reference(category: ModelCategory, source_format: str, payload: str, remove: Iterable[str]) -> str:
    """``payload`` (the file as published) without the models in ``remove`` (exact names)."""
    names = set(remove)
    if category is ModelCategory.IMAGE_GENERATION and source_format == "legacy":
        return _patch_legacy_json(payload, names)
    if category is ModelCategory.TEXT_GENERATION and source_format == "csv":
        return _patch_models_csv(payload, names)
    raise PatchUnavailableError(
        f"no patch for {category.value} read as {source_format!r}: patches are made from the legacy "
        "stable_diffusion.json (image) and models.csv (text)"
    )
