"""Parsers for the legacy text reference (AI-Horde-text-model-reference on GitHub).

``db.json`` holds every model three times: canonical ``C``, ``aphrodite/C`` and
``koboldcpp/<C without author>``. Only canonical entries become records; a prefixed copy is folded
into its canonical entry so nothing is counted twice. A prefixed entry whose canonical entry is
missing is rejected with a reason rather than promoted: its author (for ``koboldcpp/``) is lost, and
v2 references never contain such names, so promoting it would make the two formats disagree.

``models.csv`` is the maintained source ``db.json`` is generated from. Names that appear twice keep
the later row's content at the first row's position (what upstream's converters produce) and the
earlier row is reported as a rejection naming the model.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.domain.categories import TEXT_BACKENDS, ModelCategory
from shared.domain.reference.records import RecordRejection, ReferenceRecord, ReferenceSnapshot
from shared.domain.reference.v2 import record_from_fields
from shared.domain.reference.validation import (
    InvalidField,
    JsonPayload,
    ReferenceFormatError,
    build_records,
    decode_json_object,
)

_TEXT = ModelCategory.TEXT_GENERATION
_PREFIXES = tuple(f"{backend}/" for backend in TEXT_BACKENDS)

#: Columns ``models.csv`` must have; others are tolerated.
CSV_REQUIRED_COLUMNS = ("name", "parameters_bn")


def backend_prefix(name: str) -> str | None:
    """The backend of a legacy prefixed name (``aphrodite``/``koboldcpp``), or None if canonical."""
    for backend, prefix in zip(TEXT_BACKENDS, _PREFIXES, strict=True):
        if name.startswith(prefix):
            return backend
    return None


def _without_author(name: str) -> str:
    """``Author/Model`` → ``Model``: the spelling koboldcpp uses."""
    return name.split("/", 1)[1] if "/" in name else name


def _fold_target(name: str, canonical: set[str], kobold_names: set[str]) -> bool:
    """True when the prefixed ``name`` is a backend copy of an existing canonical entry."""
    rest = name.split("/", 1)[1]
    if backend_prefix(name) == "aphrodite":
        return rest in canonical
    return rest in kobold_names


def parse_text_db(payload: JsonPayload, *, version: str) -> ReferenceSnapshot:
    """Parse legacy ``db.json``: canonical records in file order, backend copies folded away."""
    data = decode_json_object(payload)
    canonical = {str(name) for name in data if backend_prefix(str(name)) is None}
    kobold_names = {_without_author(name) for name in canonical}
    entries: list[tuple[str, object]] = []
    orphans: list[RecordRejection] = []
    for key, value in data.items():
        name = str(key)
        if backend_prefix(name) is None:
            entries.append((name, value))
        elif not _fold_target(name, canonical, kobold_names):
            reason = "backend-prefixed entry without a canonical entry; not counted"
            orphans.append(RecordRejection(category=_TEXT, model=name, field="name", reason=reason))
    records, rejections = build_records(
        _TEXT, entries, lambda name, record: record_from_fields(_TEXT, name, record)
    )
    return ReferenceSnapshot(
        category=_TEXT, version=version, records=tuple(records), rejections=(*rejections, *orphans)
    )


def parameters_from_billions(cell: str) -> int | None:
    """``"1.7"`` → 1 700 000 000, exactly (Decimal: float ``12.2e9`` would truncate to ...999)."""
    text = cell.strip()
    if not text:
        return None
    try:
        billions = Decimal(text)
    except InvalidOperation:
        raise InvalidField("parameters_bn", f"not a number: {cell!r}") from None
    if not billions.is_finite() or billions < 0:
        raise InvalidField("parameters_bn", f"must be a non-negative number, got {cell!r}")
    return int(billions * 1_000_000_000)


def _parameters(cells: Mapping[str, str]) -> int | None:
    """``parameters_bn`` (billions) in the current layout, ``parameters`` (a count) in the 2023 one."""
    if "parameters" in cells:
        count = cells["parameters"]
        if not count.isdigit():
            raise InvalidField("parameters", f"expected a whole non-negative number, got {count!r}")
        return int(count)
    return parameters_from_billions(cells.get("parameters_bn", ""))


def _csv_record(name: str, row: Mapping[str, Any]) -> ReferenceRecord:
    """A CSV row in v2 terms: ``parameters_bn`` × 1e9, comma-separated ``tags``, ``url`` as download."""
    cells = {key: value.strip() for key, value in row.items() if isinstance(value, str)}
    fields: dict[str, Any] = {
        "baseline": cells.get("baseline"),
        "description": cells.get("description"),
        "style": cells.get("style"),
        "parameters": _parameters(cells),
        "tags": [tag.strip() for tag in cells.get("tags", "").split(",") if tag.strip()],
        "url": cells.get("url"),
    }
    return record_from_fields(_TEXT, name, fields).model_copy(update={"raw": cells})


def _read_rows(text: str | bytes) -> list[dict[str, str]]:
    """Rows as dicts. Besides the current headed layout, the 2023 headerless ``name,parameters``
    layout (absolute counts) is understood, so old captures can be replayed."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReferenceFormatError(f"models.csv is not UTF-8: {exc}") from exc
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ReferenceFormatError("empty payload")
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ReferenceFormatError(f"models.csv is not valid CSV: {exc}") from exc
    header, body = table[0], table[1:]
    if "name" in header:
        missing = [column for column in CSV_REQUIRED_COLUMNS if column not in header]
        if missing:
            raise ReferenceFormatError(f"models.csv lacks required columns {missing}; header is {header}")
        return [dict(zip(header, row, strict=False)) for row in body if row]
    if len(header) == 2 and header[1].strip().isdigit():
        return [{"name": row[0], "parameters": row[1]} for row in table if len(row) >= 2]
    raise ReferenceFormatError(f"models.csv has no header with the columns {list(CSV_REQUIRED_COLUMNS)}")


def parse_models_csv(text: str | bytes, *, version: str) -> ReferenceSnapshot:
    """Parse ``models.csv``; a duplicated name keeps one record and reports the dropped row."""
    rows = _read_rows(text)
    entries = [(str(row.get("name") or "").strip(), row) for row in rows]
    records, rejections = build_records(_TEXT, entries, _csv_record)
    position: dict[str, int] = {}
    kept: list[ReferenceRecord] = []
    for record in records:
        if record.name in position:
            kept[position[record.name]] = record
            reason = "name appears more than once in models.csv; the later row replaces this one"
            rejections.append(RecordRejection(category=_TEXT, model=record.name, field="name", reason=reason))
        else:
            position[record.name] = len(kept)
            kept.append(record)
    return ReferenceSnapshot(
        category=_TEXT, version=version, records=tuple(kept), rejections=tuple(rejections)
    )
