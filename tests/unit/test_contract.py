"""``docs/contract.md`` is the project's own contract: everything the code, tests and documents cite
must be in it, so a clone of this repository alone explains every D number and upstream section."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "contract.md"
#: Where citations live: code, tests (without the recorded data), benchmarks, documents, README.
SEARCHED = ("shared", "services", "tests", "bench", "docs", "examples")

# `D17` as a word, and `..._d17` in test names; never hex such as `4D41A2` (no word boundary).
_D_NUMBER = re.compile(r"(?<![A-Za-z0-9])D([0-9]{1,2})(?![A-Za-z0-9])|_d([0-9]{1,2})(?![0-9A-Za-z])")
_UPSTREAM_SECTION = re.compile(r"(?:upstream|spec)(?: behaviour)? (§[0-9]+(?:\.[0-9]+)*)")


def _cited_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for top in SEARCHED:
        for path in (ROOT / top).rglob("*"):
            if path.suffix in {".py", ".md"} and "fixtures" not in path.parts and path != CONTRACT:
                files.append(path)
    return files


def _citations(pattern: re.Pattern[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in _cited_files():
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            value = next(group for group in match.groups() if group)
            found.setdefault(value, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_d_number_cited_is_in_the_contract() -> None:
    contract = CONTRACT.read_text(encoding="utf-8")
    cited = _citations(_D_NUMBER)
    assert len(cited) > 30  # the scan itself works
    missing = {f"D{n}": sorted(paths) for n, paths in cited.items() if not re.search(rf"\bD{n}\b", contract)}
    assert not missing, f"D numbers cited but not in docs/contract.md: {missing}"


def test_the_contract_lists_every_defect_of_the_original_once_in_its_table() -> None:
    contract = CONTRACT.read_text(encoding="utf-8")
    table = contract.split("## 12.", 1)[1].split("## 13.", 1)[0]
    rows = re.findall(r"^\| (D[0-9]+) \|", table, flags=re.MULTILINE)
    assert rows == [f"D{n}" for n in range(1, 47)]


def test_every_upstream_section_cited_is_mapped_in_the_contract() -> None:
    contract = CONTRACT.read_text(encoding="utf-8")
    mapping = contract.split("## 13.", 1)[1]
    mapped = set(re.findall(r"§[0-9]+(?:\.[0-9]+)*", mapping.split("| Here |", 1)[1]))
    cited = _citations(_UPSTREAM_SECTION)
    assert cited
    missing = {
        section: sorted(paths) for section, paths in cited.items() if section.rstrip(".") not in mapped
    }
    assert not missing, f"upstream sections cited but not mapped in docs/contract.md §13: {missing}"


def test_the_readme_links_the_contract() -> None:
    assert "docs/contract.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_contract_flag_table_names_every_risk_flag() -> None:
    """§6.2 lists each flag of ``RISK_FLAGS`` and says how many there are: a 12th flag without its row
    in the contract fails here (the code's table is the source, the contract its description)."""
    from shared.domain.risk.flag_table import RISK_FLAGS

    contract = CONTRACT.read_text(encoding="utf-8")
    section = contract.split("### 6.2 The ", 1)[1].split("\n### ", 1)[0]
    heading_count = section.split(" flags", 1)[0]
    listed = set(re.findall(r"`([a-z_]+)`", section.split("| --- | --- |", 1)[1].split("\n\n", 1)[0]))
    flags = {flag.name for flag in RISK_FLAGS}
    assert heading_count == str(len(flags)), "the §6.2 heading counts the flags"
    assert f"the {len(flags)} flags below" in contract, "§6.1 says how many flags there are"
    assert flags <= listed, f"flags without a row in §6.2: {sorted(flags - listed)}"
