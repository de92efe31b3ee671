"""The AI Horde styles (Haidra-Org/AI-Horde-Styles): which style runs on which image model.

``styles.json`` maps a style name to its template, whose ``model`` names an image reference model
(matched case-insensitively); ``categories.json`` maps a category name to style names or other
category names. Only what impact needs is kept: style → model, category → members. A file that is
not the expected shape is rejected as a whole (:class:`StylesFormatError`) so the previous styles
stay in force; nothing is half-read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict


class StylesFormatError(ValueError):
    """A styles or categories file that cannot be used; the message names the file and the place."""


class Style(BaseModel):
    """One style and the model it runs on."""

    model_config = ConfigDict(frozen=True)

    name: str
    model: str


class StyleCategory(BaseModel):
    """A named group of styles; a member is a style name or another category name."""

    model_config = ConfigDict(frozen=True)

    name: str
    members: tuple[str, ...]


class StyleCatalog(BaseModel):
    """Styles and categories in file order."""

    model_config = ConfigDict(frozen=True)

    styles: tuple[Style, ...] = ()
    categories: tuple[StyleCategory, ...] = ()

    def styles_of_model(self, model: str) -> tuple[Style, ...]:
        """Styles naming ``model`` (case-insensitive), in file order."""
        folded = model.casefold()
        return tuple(s for s in self.styles if s.model.casefold() == folded)

    def by_model(self) -> dict[str, tuple[Style, ...]]:
        """Styles per case-folded model name, in file order (one pass for a whole reference)."""
        found: dict[str, list[Style]] = {}
        for style in self.styles:
            found.setdefault(style.model.casefold(), []).append(style)
        return {model: tuple(styles) for model, styles in found.items()}

    def categories_of_style(self) -> dict[str, tuple[str, ...]]:
        """Per style name, every category that includes it directly or through other categories,
        sorted; cycles between categories are tolerated (each category is visited once)."""
        by_name = {c.name: c for c in self.categories}
        found: dict[str, set[str]] = {}
        for category in self.categories:
            seen: set[str] = set()
            stack = [category.name]
            while stack:
                current = stack.pop()
                if current in seen:
                    continue
                seen.add(current)
                for member in by_name[current].members:
                    if member in by_name:
                        stack.append(member)
                    else:
                        found.setdefault(member, set()).add(category.name)
        return {style: tuple(sorted(names)) for style, names in found.items()}


def _object(payload: bytes | str, file: str) -> Mapping[str, object]:
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StylesFormatError(f"{file} is not UTF-8: {exc}") from None
    if not payload.strip():
        raise StylesFormatError(f"{file} is empty")
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise StylesFormatError(f"{file} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise StylesFormatError(f"{file} must be a JSON object, got {type(data).__name__}")
    return data


def parse_styles(styles: bytes | str, categories: bytes | str) -> StyleCatalog:
    """Both files, validated; raises :class:`StylesFormatError` naming the first problem."""
    parsed: list[Style] = []
    for name, body in _object(styles, "styles.json").items():
        if not isinstance(body, dict):
            raise StylesFormatError(f"styles.json: style {name!r} must be an object")
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise StylesFormatError(f"styles.json: style {name!r} has no 'model' string")
        parsed.append(Style(name=name, model=model))
    groups: list[StyleCategory] = []
    for name, members in _object(categories, "categories.json").items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise StylesFormatError(f"categories.json: category {name!r} must be a list of names")
        groups.append(StyleCategory(name=name, members=tuple(members)))
    return StyleCatalog(styles=tuple(parsed), categories=tuple(groups))
