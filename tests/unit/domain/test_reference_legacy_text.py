"""Legacy text reference parsing: ``db.json`` folding and ``models.csv``, on the real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.reference.legacy_text import (
    backend_prefix,
    parameters_from_billions,
    parse_models_csv,
    parse_text_db,
)
from shared.domain.reference.validation import InvalidField, ReferenceFormatError
from shared.domain.risk.analysis import analyze_category
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.statistics import compute_category_statistics

DATA = Path(__file__).parents[2] / "fixtures" / "data" / "reference"
TEXT = ModelCategory.TEXT_GENERATION
CSV_HEADER = "name,parameters_bn,display_name,url,baseline,description,style,tags,instruct_format,settings\n"
DUPLICATED = {
    "Casual-Autopsy/Maginum-Cydoms-24B",
    "lightblue/Karasu-Mixtral-8x22B-v0.1",
    "mistralai/Ministral-3-14B-Instruct-2512",
    "Sao10K/Llama-3.1-8B-Stheno-v3.4",
}


def _db(path: str = "text/db.json") -> bytes:
    return (DATA / path).read_bytes()


def _csv(path: str = "text/models.csv") -> str:
    return (DATA / path).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("path", "count"),
    [("text/db.json", 719), ("previous/text/db.json", 711), ("at_capture/2025-06/text/db.json", 517)],
)
def test_db_json_folds_backend_copies(path: str, count: int) -> None:
    snapshot = parse_text_db(_db(path), version="v")
    assert len(snapshot.records) == count
    assert snapshot.rejections == ()
    assert all(backend_prefix(name) is None for name in snapshot.names())


def test_db_json_2157_entries_become_719_in_file_order() -> None:
    raw = json.loads(_db())
    assert len(raw) == 2157
    expected = [name for name in raw if not name.startswith(("aphrodite/", "koboldcpp/"))]
    assert parse_text_db(raw, version="v").names() == expected


def test_db_json_before_backend_prefixes_existed() -> None:
    snapshot = parse_text_db(_db("at_capture/2023-07/text/db.json"), version="v")
    assert len(snapshot.records) == 134


def test_db_json_fields_of_a_real_model() -> None:
    records = {r.name: r for r in parse_text_db(_db(), version="v").records}
    marx = records["acrastt/Marx-3B-V3"]
    assert marx.parameters_count == 3_000_000_000
    assert marx.baseline == "StableLM-3B-4E1T"
    assert marx.style == "generalist"
    assert marx.tags == ("3B",)
    assert [d.file_url for d in marx.downloads] == ["https://huggingface.co/acrastt/Marx-3B-V3"]
    assert records["Aeala/Enterredaas-33b"].baseline is None  # "" means not set


def test_prefixed_copy_is_folded_even_when_its_content_differs() -> None:
    payload = {
        "Org/Model-7B": {"parameters": 7_000_000_000, "nsfw": False},
        "aphrodite/Org/Model-7B": {"parameters": 1, "nsfw": "garbage"},
        "koboldcpp/Model-7B": {"parameters": 2},
        "Plain-3B": {"parameters": 3_000_000_000},
        "koboldcpp/Plain-3B": {},
        "aphrodite/Plain-3B": {},
    }
    snapshot = parse_text_db(payload, version="v")
    assert snapshot.names() == ["Org/Model-7B", "Plain-3B"]
    assert snapshot.records[0].parameters_count == 7_000_000_000
    assert snapshot.rejections == ()


def test_prefixed_entry_without_canonical_is_reported_not_counted() -> None:  # D6, D46
    payload: dict[str, object] = {
        "Org/Model-7B": {},
        "aphrodite/Other/Lonely-13B": {},
        "koboldcpp/Lonely-13B": {},
        "aphrodite/Model-7B": {},  # aphrodite keeps the author: this is not a copy of Org/Model-7B
    }
    snapshot = parse_text_db(payload, version="v")
    assert snapshot.names() == ["Org/Model-7B"]
    assert [r.model for r in snapshot.rejections] == [
        "aphrodite/Other/Lonely-13B",
        "koboldcpp/Lonely-13B",
        "aphrodite/Model-7B",
    ]
    assert all(r.field == "name" and "without a canonical" in r.reason for r in snapshot.rejections)


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"parameters": -7}, "parameters"),
        ({"parameters": "7B"}, "parameters"),
        ({"nsfw": "yes"}, "nsfw"),
        ({"tags": "a,b"}, "tags"),
        ({"baseline": 7}, "baseline"),
    ],
)
def test_invalid_db_record_is_rejected(record: dict[str, object], field: str) -> None:  # D6
    snapshot = parse_text_db({"Good": {}, "Bad": record, "aphrodite/Bad": {}}, version="v")
    assert snapshot.names() == ["Good"]
    assert [(r.model, r.field) for r in snapshot.rejections] == [("Bad", field)]


@pytest.mark.parametrize("payload", [b"", b"[]", b'{"a": ', "[1, 2]"])
def test_unusable_db_payload_raises(payload: bytes | str) -> None:
    with pytest.raises(ReferenceFormatError):
        parse_text_db(payload, version="v")


def test_models_csv_has_719_distinct_names_and_reports_4_duplicates() -> None:
    snapshot = parse_models_csv(_csv(), version="v")
    assert len(snapshot.records) == 719
    assert len(set(snapshot.names())) == 719
    assert len(snapshot.rejections) == 4
    assert {r.model for r in snapshot.rejections} == DUPLICATED
    assert all(r.field == "name" and "more than once" in r.reason for r in snapshot.rejections)


def test_models_csv_matches_db_json_names_and_parameters() -> None:
    csv_records = parse_models_csv(_csv(), version="v").records
    db_records = parse_text_db(_db(), version="v").records
    assert [r.name for r in csv_records] == [r.name for r in db_records]
    assert [r.parameters_count for r in csv_records] == [r.parameters_count for r in db_records]
    assert [r.description for r in csv_records] == [r.description for r in db_records]


def test_duplicate_keeps_later_row_at_first_position() -> None:
    """What upstream's converters do: db.json and v2 hold the later row's content."""
    records = {r.name: r for r in parse_models_csv(_csv(), version="v").records}
    cydoms = records["Casual-Autopsy/Maginum-Cydoms-24B"]
    assert cydoms.style == "chat"
    assert cydoms.tags == ("roleplay",)
    assert [d.file_url for d in cydoms.downloads] == [
        "https://huggingface.co/Casual-Autopsy/Maginum-Cydoms-24B"
    ]
    assert parse_models_csv(_csv(), version="v").names().index("Casual-Autopsy/Maginum-Cydoms-24B") == 49


def test_csv_row_fields() -> None:
    text = (
        CSV_HEADER + 'Org/M-1B,1.7,M,https://hf.co/Org/M,base,desc,chat,"roleplay, popular ,",,"{""a"": 1}"\n'
    )
    record = parse_models_csv(text, version="v").records[0]
    assert record.parameters_count == 1_700_000_000
    assert record.tags == ("roleplay", "popular")
    assert (record.baseline, record.description, record.style) == ("base", "desc", "chat")
    assert [d.file_url for d in record.downloads] == ["https://hf.co/Org/M"]
    assert record.raw["settings"] == '{"a": 1}'


def test_csv_empty_cells_mean_not_set() -> None:
    record = parse_models_csv(CSV_HEADER + "Org/M,,,,,,,,,\n", version="v").records[0]
    assert record.parameters_count is None
    assert record.downloads == ()
    assert (record.baseline, record.style, record.description) == (None, None, None)


@pytest.mark.parametrize(
    ("cell", "count"),
    [
        ("3", 3_000_000_000),
        (" 12", 12_000_000_000),
        ("12.2", 12_200_000_000),
        ("0.125", 125_000_000),
        ("", None),
    ],
)
def test_parameters_from_billions_is_exact(cell: str, count: int | None) -> None:
    assert parameters_from_billions(cell) == count


@pytest.mark.parametrize("cell", ["-3", "seven", "nan", "inf"])
def test_parameters_from_billions_rejects(cell: str) -> None:
    with pytest.raises(InvalidField):
        parameters_from_billions(cell)


def test_invalid_csv_row_is_rejected_and_valid_rows_kept() -> None:  # D6
    text = CSV_HEADER + "Good,7,,,,,,,,\nBad,seven,,,,,,,,\n,3,,,,,,,,\n"
    snapshot = parse_models_csv(text, version="v")
    assert snapshot.names() == ["Good"]
    assert [(r.model, r.field) for r in snapshot.rejections] == [
        ("Bad", "parameters_bn"),
        ("<unnamed record #2>", "name"),
    ]


def test_invalid_later_duplicate_does_not_replace_valid_row() -> None:
    text = CSV_HEADER + "M,7,,,,,,,,\nM,-1,,,,,,,,\n"
    snapshot = parse_models_csv(text, version="v")
    assert [r.parameters_count for r in snapshot.records] == [7_000_000_000]
    assert [r.field for r in snapshot.rejections] == ["parameters_bn"]


def test_2023_headerless_csv_layout() -> None:
    snapshot = parse_models_csv(_csv("at_capture/2023-07/text/models.csv"), version="v")
    assert len(snapshot.records) == 134
    assert snapshot.records[0].name == "bigscience/bloom"
    assert snapshot.records[0].parameters_count == 176_000_000_000


def test_2025_csv_capture() -> None:
    snapshot = parse_models_csv(_csv("at_capture/2025-06/text/models.csv"), version="v")
    assert len(snapshot.records) == 517
    assert len(snapshot.rejections) == 3  # 520 rows, 3 names twice


@pytest.mark.parametrize(
    "text", ["", "  \n", "model,size,other\nx,1,2\n", "only_one_column\n", b"\xff\xfe\x00"]
)
def test_unusable_csv_raises(text: str | bytes) -> None:
    with pytest.raises(ReferenceFormatError):
        parse_models_csv(text, version="v")


def test_csv_accepts_bytes_with_bom() -> None:
    snapshot = parse_models_csv(("\ufeff" + CSV_HEADER + "M,7,,,,,,,,\n").encode(), version="v")
    assert snapshot.names() == ["M"]


def test_text_url_is_the_download_location_contract_decision() -> None:
    """Contract, "text download location": the original reports no text downloads; a text record's
    ``url`` counts as its one download here, in statistics and in deletion risk (host flags stay off, D36)."""
    text = ModelCategory.TEXT_GENERATION
    snapshot = parse_models_csv(
        CSV_HEADER + "Org/M-7B,7,,https://huggingface.co/Org/M-7B,,,,,,\n", version="v"
    )
    statistics = compute_category_statistics(snapshot.records, text, computed_at=0)
    assert statistics.download_stats.total_models_with_downloads == 1
    assert statistics.download_stats.hosts == {"huggingface.co": 1}
    (entry,) = analyze_category(snapshot.records, {}, text, RiskThresholds())
    assert (entry.download_count, entry.download_hosts) == (1, ("huggingface.co",))
    assert not entry.deletion_risk_flags.no_download_urls
