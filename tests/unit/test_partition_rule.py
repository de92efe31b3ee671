"""The partition rule the event contract documents is the one ``shared.topics`` applies.

A consumer that reads one category's events follows docs/reference-events.md and the AsyncAPI
document; a wrong rule there sends it to the wrong partition (issue 15).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.domain.categories import ModelCategory
from shared.topics import PARTITION_RULE, partition_for, partition_table

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_EVENTS = ROOT / "docs" / "reference-events.md"
ASYNCAPI = ROOT / "docs" / "asyncapi.json"


def _between(text: str, marker: str) -> str:
    start = text.index(f"<!-- {marker}:start -->\n") + len(f"<!-- {marker}:start -->\n")
    return text[start : text.index(f"<!-- {marker}:end -->")]


def documented_partition(category: ModelCategory, partitions: int) -> int:
    """The rule as written in the docs, implemented from the text alone."""
    if category.value == "image_generation":
        return 0
    if category.value == "text_generation":
        return partitions // 2
    others = [c for c in ModelCategory if c.value not in ("image_generation", "text_generation")]
    return (others.index(category) + 1) % partitions


def test_the_documented_rule_is_the_published_text() -> None:
    docs = REFERENCE_EVENTS.read_text()
    rule = _between(docs, "partition-rule").strip()
    assert rule == PARTITION_RULE[0].upper() + PARTITION_RULE[1:] + ".", "run: python -m shared.topics"
    description = json.loads(ASYNCAPI.read_text())["servers"]
    assert any(PARTITION_RULE in server.get("description", "") for server in description.values())
    # The rule names the two fixed categories and the first and last of the others.
    others = [c.value for c in ModelCategory if c.value not in ("image_generation", "text_generation")]
    assert f"{others[0]} is n = 0" in PARTITION_RULE
    assert f"{others[-1]} is n = {len(others) - 1}" in PARTITION_RULE
    assert "image_generation goes to partition 0" in PARTITION_RULE
    assert "text_generation to partitions // 2" in PARTITION_RULE


@pytest.mark.parametrize("partitions", range(1, 33))
def test_every_category_is_where_the_documented_rule_puts_it(partitions: int) -> None:
    for category in ModelCategory:
        assert partition_for(category, partitions) == documented_partition(category, partitions), category


def test_the_documented_table_is_the_code() -> None:
    table = _between(REFERENCE_EVENTS.read_text(), "partition-table")
    assert table == partition_table(), "paste: python -m shared.topics"
    rows = table.splitlines()[2:]
    counts = [int(n) for n in re.findall(r"partitions = (\d+)", table.splitlines()[0])]
    for row in rows:
        cells = [cell.strip(" `") for cell in row.strip("|").split("|")]
        category = ModelCategory(cells[0])
        assert [int(c) for c in cells[1:]] == [documented_partition(category, n) for n in counts]


def test_the_old_wrong_rule_is_gone() -> None:
    """The docs used to say 'category index % partitions', which misplaces 14 of 15 categories."""
    wrong = [c for c in ModelCategory if list(ModelCategory).index(c) % 4 != partition_for(c, 4)]
    assert len(wrong) == 14
    for text in (REFERENCE_EVENTS.read_text(), ASYNCAPI.read_text()):
        assert "index(category) % partitions" not in text
        assert "declaration order modulo the partition count" not in text
