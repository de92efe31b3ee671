"""The stored form of the listing indexes: a small JSON head, the integer columns as one array of
64-bit integers, and each text column as one UTF-8 run.

Decoding an index stored as its pydantic JSON (layout 1) spends its time unescaping the text
columns (JSON fragments inside JSON strings) and parsing and validating tens of thousands of
integers (orders, presets, counters): 1.3–1.6 ms for a text-generation risk view, on the first
request after every generation change. Layout 2 stores every ``tuple[str, ...]`` field as its
strings joined by NUL, which JSON text never holds raw (the writer checks the others and falls
back to layout 1), and every integer sequence (``tuple[int, ...]``, a ``dict`` of them, rows of
them) as a slice of one little-endian ``int64`` array; the head keeps the other fields and where
each slice is. The writer builds it from a validated index, so the reader validates only the
head's small fields and constructs the model around the columns (about half the time). Readers
take both layouts: workers and gateway deploy together, and a generation written by the
previous workers stays readable.
"""

from __future__ import annotations

import sys
from array import array
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter
from pydantic_core import from_json, to_json

#: First bytes of a layout-2 index (a layout-1 index is JSON, starting with ``{``).
MAGIC = b"HMA-INDEX/2\n"
INDEX_LAYOUT_VERSION = 2
_SEPARATOR = "\x00"
_HEAD_LENGTH_BYTES = 4
_TEXTS, _INTS, _INT_MAP, _INT_ROWS = (
    tuple[str, ...], tuple[int, ...], dict[str, tuple[int, ...]], tuple[tuple[int, ...], ...],
)  # fmt: skip

Index = TypeVar("Index", bound=BaseModel)


def _little_endian(numbers: array[int]) -> array[int]:
    if sys.byteorder == "big":  # pragma: no cover - the deployed machines are little-endian
        numbers.byteswap()
    return numbers


@cache
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """The validator of one of the small fields kept in the head (an enum, a total)."""
    annotation: Any = model.model_fields[name].annotation
    return TypeAdapter(annotation)


def encode_index(index: BaseModel) -> bytes:
    """Layout 2 of ``index`` (layout 1, its JSON, if a text holds a NUL or a number exceeds 64 bits)."""
    ints: array[int] = array("q")

    def put(numbers: tuple[int, ...]) -> list[int]:
        at = len(ints)
        ints.extend(numbers)
        return [at, len(numbers)]

    head: dict[str, Any] = {"fields": {}, "text": {}, "ints": {}, "int_maps": {}, "int_rows": {}}
    runs: list[bytes] = []
    try:
        for name, info in type(index).model_fields.items():
            value, kind = getattr(index, name), info.annotation
            if kind == _TEXTS:
                if any(_SEPARATOR in text for text in value):
                    return index.model_dump_json().encode()
                runs.append(_SEPARATOR.join(value).encode())
                head["text"][name] = [len(runs[-1]), len(value)]
            elif kind == _INTS:
                head["ints"][name] = put(value)
            elif kind == _INT_MAP:
                head["int_maps"][name] = {key: put(numbers) for key, numbers in value.items()}
            elif kind == _INT_ROWS:
                head["int_rows"][name] = [put(row) for row in value]
            else:
                head["fields"][name] = index.model_dump(include={name}, mode="json")[name]
    except OverflowError:
        return index.model_dump_json().encode()
    encoded = to_json(head)
    numbers = _little_endian(ints).tobytes()
    return b"".join((
        MAGIC, len(encoded).to_bytes(_HEAD_LENGTH_BYTES, "little"), encoded,
        len(numbers).to_bytes(8, "little"), numbers, *runs,
    ))  # fmt: skip


def decode_index(model: type[Index], raw: bytes) -> Index:
    """The index stored as ``raw`` (either layout) as ``model``."""
    if not raw.startswith(MAGIC):
        return model.model_validate_json(raw)
    at = len(MAGIC) + _HEAD_LENGTH_BYTES
    end = at + int.from_bytes(raw[len(MAGIC) : at], "little")
    head: dict[str, Any] = from_json(raw[at:end])
    size = int.from_bytes(raw[end : end + 8], "little")
    numbers: array[int] = array("q")
    numbers.frombytes(raw[end + 8 : end + 8 + size])
    ints = _little_endian(numbers).tolist()
    at = end + 8 + size
    values = {name: _adapter(model, name).validate_python(value) for name, value in head["fields"].items()}
    for name, (length, count) in head["text"].items():
        values[name] = tuple(raw[at : at + length].decode().split(_SEPARATOR)) if count else ()
        at += length
    for name, (start, count) in head["ints"].items():
        values[name] = tuple(ints[start : start + count])
    for name, slices in head["int_maps"].items():
        values[name] = {key: tuple(ints[start : start + count]) for key, (start, count) in slices.items()}
    for name, rows in head["int_rows"].items():
        values[name] = tuple(tuple(ints[start : start + count]) for start, count in rows)
    return model.model_construct(**values)
