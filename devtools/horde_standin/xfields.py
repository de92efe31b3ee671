"""The flask-restx ``X-Fields`` field mask: ``id,name,team{name}`` keeps only those fields.

Supported: comma-separated names, optional outer braces (``{id,name}``), nested masks on
sub-objects or lists of objects (``team{name}``) and ``*`` meaning "every field at this level".
Masked fields absent from an object are left out (the server skips nulls the same way).
A malformed mask gives 400 like flask-restx's ``Mask parse error``.
"""

from __future__ import annotations

import re
from typing import Any

Mask = dict[str, "Mask | None"]
"""Field name → nested mask (``None``: keep the whole value)."""

_TOKEN = re.compile(r"\s*([{},]|[^{},]+)")


class MaskError(ValueError):
    """The header could not be parsed."""


def parse_mask(text: str) -> Mask:
    """Parse a mask header; raises :class:`MaskError` on unbalanced braces or an empty field list."""
    tokens = [t.strip() for t in _TOKEN.findall(text) if t.strip()]
    if tokens and tokens[0] == "{" and _closing(tokens, 0) == len(tokens) - 1:
        tokens = tokens[1:-1]
    mask, end = _parse(tokens, 0)
    if end != len(tokens):
        raise MaskError(f"Mask parse error: unexpected {tokens[end]!r}")
    if not mask:
        raise MaskError("Mask parse error: empty mask")
    return mask


def _closing(tokens: list[str], start: int) -> int:
    depth = 0
    for index in range(start, len(tokens)):
        depth += {"{": 1, "}": -1}.get(tokens[index], 0)
        if depth == 0:
            return index
    return -1


def _parse(tokens: list[str], pos: int) -> tuple[Mask, int]:
    mask: Mask = {}
    previous: str | None = None
    while pos < len(tokens):
        token = tokens[pos]
        if token == "}":
            return mask, pos
        if token == ",":
            previous = None
        elif token == "{":
            if previous is None:
                raise MaskError("Mask parse error: '{' without a field name")
            nested, pos = _parse(tokens, pos + 1)
            if pos >= len(tokens) or not nested:
                raise MaskError("Mask parse error: unclosed or empty '{'")
            mask[previous] = nested
            previous = None
        else:
            mask[token] = None
            previous = token
        pos += 1
    return mask, pos


def apply_mask(data: Any, mask: Mask) -> Any:
    """Apply the mask to an object or to each object of a list; other values pass unchanged."""
    if isinstance(data, list):
        return [apply_mask(item, mask) for item in data]
    if not isinstance(data, dict):
        return data
    if "*" in mask:
        return {k: _masked(v, mask.get(k)) for k, v in data.items()}
    out: dict[str, Any] = {}
    for name, nested in mask.items():
        if name in data:
            out[name] = _masked(data[name], nested)
    return out


def _masked(value: Any, nested: Mask | None) -> Any:
    return value if nested is None else apply_mask(value, nested)
