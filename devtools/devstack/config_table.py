"""Markdown table of every setting (env var, default, meaning), generated from the settings model.

``python -m devtools.devstack.config_table`` prints it (``--update-readme`` rewrites the README's
copy); a test keeps the README's copy in sync.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from shared.settings import Settings

PREFIX = "HORDE_"


def _default(field: FieldInfo) -> str:
    value: Any = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        return "(secret, empty)"
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"))
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return str(value)


def rows(model: type[BaseModel] = Settings, path: str = "") -> list[tuple[str, str, str]]:
    """(env var, default, description) for every leaf setting, nested groups flattened with ``__``."""
    found: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        env = f"{path}{name}".upper()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and path == "":
            found.extend(rows(annotation, f"{name}__"))
            continue
        found.append((PREFIX + env, _default(field), " ".join((field.description or "").split())))
    return found


def markdown() -> str:
    """The configuration table as Markdown."""
    lines = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for env, default, description in rows():
        lines.append(f"| `{env}` | `{default}` | {description.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


START, END = "<!-- config-table:start -->\n", "<!-- config-table:end -->"


def update_readme(path: Path) -> None:
    """Replace the table between the README's markers with the generated one."""
    text = path.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(head + START + markdown() + END + tail)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--update-readme"]:
        update_readme(Path(__file__).resolve().parents[2] / "README.md")
    else:
        print(markdown(), end="")
