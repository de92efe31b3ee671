"""The README's configuration table is the one generated from the settings model."""

from __future__ import annotations

from pathlib import Path

from devtools.devstack.config_table import markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_matches_settings() -> None:
    text = README.read_text()
    start = text.index("<!-- config-table:start -->\n") + len("<!-- config-table:start -->\n")
    end = text.index("<!-- config-table:end -->")
    assert text[start:end] == markdown(), "run: python -m devtools.devstack.config_table"
