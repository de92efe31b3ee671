"""Typed field readers shared by the reference parsers.

Each reader either returns a normalised value or raises :class:`InvalidField`, which the parsers turn
into a :class:`~shared.domain.reference.records.RecordRejection`: one bad record is reported and
skipped, never counted (D6, D46). Whole-payload problems raise :class:`ReferenceFormatError` so the
caller keeps the previous reference version instead of publishing an empty or partial one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shared.domain.categories import ModelCategory
from shared.domain.reference.records import DownloadEntry, RecordRejection, ReferenceRecord

#: What the parsers accept: raw JSON text/bytes, or an already decoded JSON value.
JsonPayload = str | bytes | bytearray | Mapping[str, Any] | list[Any]


class ReferenceFormatError(ValueError):
    """The payload as a whole is unusable (not JSON, truncated, empty, wrong top-level shape)."""


class InvalidField(ValueError):
    """One field of one record is missing or has the wrong type or value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def decode_json(payload: JsonPayload, *, allow_list: bool) -> Mapping[str, Any] | list[Any]:
    """Decode text if needed and check the top-level shape (an object, or a list where allowed)."""
    value: object = payload
    if isinstance(payload, str | bytes | bytearray):
        if not payload.strip():
            raise ReferenceFormatError("empty payload")
        try:
            value = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ReferenceFormatError(f"payload is not valid JSON: {exc}") from exc
    if isinstance(value, Mapping):
        return value
    if isinstance(value, list) and allow_list:
        return value
    expected = "a JSON object or list" if allow_list else "a JSON object"
    raise ReferenceFormatError(f"expected {expected} at top level, got {type(value).__name__}")


def decode_json_object(payload: JsonPayload) -> Mapping[str, Any]:
    """Like :func:`decode_json` for formats whose top level must be an object."""
    data = decode_json(payload, allow_list=False)
    if not isinstance(data, Mapping):  # pragma: no cover - decode_json already refused lists
        raise ReferenceFormatError("expected a JSON object at top level")
    return data


def optional_str(record: Mapping[str, Any], key: str) -> str | None:
    """A string field; absent, null and ``""`` all mean "not set" (CSV cells cannot tell them apart)."""
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidField(key, f"expected a string, got {type(value).__name__}")
    return value


def required_str(record: Mapping[str, Any], key: str) -> str:
    """A string field that must be present and non-empty."""
    value = optional_str(record, key)
    if value is None:
        raise InvalidField(key, "required field is missing or empty")
    return value


def version_str(record: Mapping[str, Any], key: str = "version") -> str | None:
    """Versions are opaque labels; numbers are tolerated because analytics never reads them."""
    value = record.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return optional_str(record, key)


def strict_bool(record: Mapping[str, Any], key: str, *, required: bool = False) -> bool:
    """A JSON boolean; ``"yes"`` or ``1`` are rejected rather than guessed at."""
    value = record.get(key)
    if value is None:
        if required:
            raise InvalidField(key, "required field is missing")
        return False
    if not isinstance(value, bool):
        raise InvalidField(key, f"expected true/false, got {value!r}")
    return value


def non_negative_int(record: Mapping[str, Any], key: str) -> int | None:
    """A count (bytes, parameters): an integer >= 0, or null. Integral floats are accepted."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidField(key, f"expected a number, got {type(value).__name__}")
    if isinstance(value, float) and not value.is_integer():
        raise InvalidField(key, f"expected a whole number, got {value!r}")
    if value < 0:
        raise InvalidField(key, f"must not be negative, got {value!r}")
    return int(value)


def str_tuple(record: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A list of strings; null or absent is the empty tuple."""
    value = record.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidField(key, f"expected a list of strings, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, str):
            raise InvalidField(key, f"expected a list of strings, found {type(item).__name__} {item!r}")
    return tuple(value)


def has_entries(record: Mapping[str, Any], key: str) -> bool:
    """True for a non-empty object (image ``requirements``); null/absent is False."""
    value = record.get(key)
    if value is None:
        return False
    if not isinstance(value, Mapping):
        raise InvalidField(key, f"expected an object, got {type(value).__name__}")
    return bool(value)


def downloads(record: Mapping[str, Any]) -> tuple[DownloadEntry, ...]:
    """``config.download[]`` entries (same shape in legacy and v2); other config keys are ignored."""
    config = record.get("config")
    if config is None:
        return ()
    if not isinstance(config, Mapping):
        raise InvalidField("config", f"expected an object, got {type(config).__name__}")
    entries = config.get("download")
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise InvalidField("config.download", f"expected a list, got {type(entries).__name__}")
    result: list[DownloadEntry] = []
    for index, entry in enumerate(entries):
        where = f"config.download[{index}]"
        if not isinstance(entry, Mapping):
            raise InvalidField(where, f"expected an object, got {type(entry).__name__}")
        try:
            result.append(
                DownloadEntry(
                    file_name=optional_str(entry, "file_name"),
                    file_url=optional_str(entry, "file_url"),
                    size_bytes=non_negative_int(entry, "size_bytes"),
                )
            )
        except InvalidField as exc:
            raise InvalidField(f"{where}.{exc.field}", exc.reason) from exc
    return tuple(result)


def url_download(url: str | None) -> tuple[DownloadEntry, ...]:
    """Text models carry a home-page ``url`` instead of files; it is their one download location."""
    return (DownloadEntry(file_url=url),) if url else ()


#: Builds one record from its name and JSON object; raises :class:`InvalidField` when it cannot.
RecordBuilder = Callable[[str, Mapping[str, Any]], ReferenceRecord]


def named_entries(data: Mapping[str, Any] | list[Any]) -> list[tuple[str, object]]:
    """``(name, record)`` pairs in file order: dict keys are names; list items name themselves."""
    if isinstance(data, Mapping):
        return [(str(key), value) for key, value in data.items()]
    pairs: list[tuple[str, object]] = []
    for item in data:
        name = item.get("name") if isinstance(item, Mapping) else None
        pairs.append((name if isinstance(name, str) else "", item))
    return pairs


def build_records(
    category: ModelCategory, entries: Iterable[tuple[str, object]], build: RecordBuilder
) -> tuple[list[ReferenceRecord], list[RecordRejection]]:
    """Apply ``build`` to every entry, turning each failure into a rejection that names the field."""
    records: list[ReferenceRecord] = []
    rejections: list[RecordRejection] = []
    for index, (name, value) in enumerate(entries):
        if not name.strip():
            label = f"<unnamed record #{index}>"
            reason = "model name is missing or blank"
            rejections.append(RecordRejection(category=category, model=label, field="name", reason=reason))
        elif not isinstance(value, Mapping):
            reason = f"record is not an object but {type(value).__name__}"
            rejections.append(RecordRejection(category=category, model=name, field="(record)", reason=reason))
        else:
            try:
                records.append(build(name, value))
            except InvalidField as exc:
                rejections.append(
                    RecordRejection(category=category, model=name, field=exc.field, reason=exc.reason)
                )
    return records, rejections
