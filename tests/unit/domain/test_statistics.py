"""Category statistics: upstream §4.1 oracles, §4.1.4 buckets, fixed defects (D1-D6) and real data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.domain.categories import ModelCategory
from shared.domain.reference.parse import V2_FILES, parse_reference
from shared.domain.reference.records import DownloadEntry, ReferenceRecord, ReferenceSnapshot
from shared.domain.statistics import (
    CategoryStatistics,
    compute_category_statistics,
    compute_snapshot_statistics,
    group_records_for_statistics,
)

DATA = Path(__file__).parents[2] / "fixtures" / "data" / "reference"
IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION
NOW = 1_750_000_000


def rec(name: str, category: ModelCategory = IMAGE, **fields: Any) -> ReferenceRecord:
    return ReferenceRecord(name=name, category=category, **fields)


def dl(*urls: str) -> tuple[DownloadEntry, ...]:
    return tuple(DownloadEntry(file_url=url) for url in urls)


def stats(records: list[ReferenceRecord], category: ModelCategory = IMAGE) -> CategoryStatistics:
    return compute_category_statistics(records, category, computed_at=NOW)


# --- §4.1.3 oracles ---------------------------------------------------------------------------


def test_empty_category() -> None:
    result = stats([])
    assert (result.total_models, result.nsfw_count, result.sfw_count) == (0, 0, 0)
    assert result.baseline_distribution == {}
    assert result.top_tags == []
    assert result.top_styles == []
    assert result.download_stats is not None
    assert result.download_stats.total_models_with_downloads == 0
    assert result.download_stats.average_size_bytes == 0.0
    assert result.download_stats.hosts == {}


def test_three_image_models() -> None:
    records = [
        rec("A", baseline="stable_diffusion_xl", size_on_disk_bytes=5_000_000_000, tags=("anime",), nsfw=True,
            trigger=("t",), downloads=dl("https://civitai.com/api/download/1")),
        rec("B", baseline="stable_diffusion_1", size_on_disk_bytes=3_000_000_000, tags=("anime", "realistic"),
            inpainting=True),
        rec("C", baseline="stable_diffusion_xl", tags=("realistic",), showcases=("https://x/s.png",)),
    ]  # fmt: skip
    result = stats(records)
    assert {k: (v.count, v.percentage) for k, v in result.baseline_distribution.items()} == {
        "stable_diffusion_xl": (2, 66.67),
        "stable_diffusion_1": (1, 33.33),
    }
    assert list(result.baseline_distribution) == ["stable_diffusion_xl", "stable_diffusion_1"]
    downloads = result.download_stats
    assert downloads is not None
    assert downloads.total_size_bytes == 8_000_000_000
    assert downloads.models_with_size_info == 2
    assert downloads.average_size_bytes == 4_000_000_000.0
    assert downloads.total_models_with_downloads == 1
    assert [(t.tag, t.count) for t in result.top_tags] == [("anime", 2), ("realistic", 2)]
    assert (
        result.models_with_trigger_words,
        result.models_with_inpainting,
        result.models_with_showcases,
    ) == (1, 1, 1)
    assert result.nsfw_count == 1


def test_record_with_only_a_name_is_counted() -> None:
    result = stats([rec("Only", category=ModelCategory.MISCELLANEOUS)], ModelCategory.MISCELLANEOUS)
    assert result.total_models == 1
    assert result.nsfw_count == 0
    assert result.baseline_distribution == {}
    assert result.download_stats is not None
    assert result.download_stats.total_models_with_downloads == 0


def test_hosts_count_download_entries() -> None:
    records = [
        rec("A", downloads=dl("https://huggingface.co/a", "https://civitai.com/b")),
        rec("B", downloads=dl("https://huggingface.co/c")),
    ]
    downloads = stats(records).download_stats
    assert downloads is not None
    assert (downloads.total_models_with_downloads, downloads.total_download_entries) == (2, 3)
    assert downloads.hosts == {"huggingface.co": 2, "civitai.com": 1}


def test_top_tags_cap_is_20() -> None:
    result = stats([rec(f"M{i}", tags=(f"tag{i}",), style=f"style{i}") for i in range(30)])
    assert len(result.top_tags) == 20
    assert len(result.top_styles) == 20
    assert result.top_tags[0].tag == "tag0"  # ties keep first-seen order


def test_hundred_models() -> None:
    records = [
        rec(f"M{i}", baseline="stable_diffusion_xl" if i % 2 == 0 else "stable_diffusion_1", nsfw=i % 3 == 0,
            tags=("test_tag",) if i % 5 == 0 else ())
        for i in range(100)
    ]  # fmt: skip
    result = stats(records)
    assert [v.percentage for v in result.baseline_distribution.values()] == [50.0, 50.0]
    assert (result.nsfw_count, result.sfw_count) == (34, 66)
    assert [(t.tag, t.count, t.percentage) for t in result.top_tags] == [("test_tag", 20, 20.0)]


# --- details of §4.1 -----------------------------------------------------------------------------


def test_hosts_are_netloc_with_port_and_userinfo_no_scheme_needed() -> None:
    records = [
        rec(
            "A",
            downloads=dl("https://user:pw@host.example:8443/f", "//cdn.example/f", "cdn.example/no-slashes"),
        ),
        rec("B", downloads=(DownloadEntry(file_url=None), DownloadEntry(file_url="http://[::1/broken"))),
    ]
    downloads = stats(records).download_stats
    assert downloads is not None
    assert downloads.hosts == {"user:pw@host.example:8443": 1, "cdn.example": 1}
    assert downloads.total_download_entries == 5


def test_hosts_sorted_by_count_ties_first_seen() -> None:
    records = [rec("A", downloads=dl("https://b.example/1", "https://a.example/1", "https://a.example/2"))]
    records.append(rec("B", downloads=dl("https://c.example/1", "https://b.example/2")))
    downloads = stats(records).download_stats
    assert downloads is not None
    assert list(downloads.hosts.items()) == [("b.example", 2), ("a.example", 2), ("c.example", 1)]


def test_percentages_use_python_round() -> None:
    records = [rec("A", baseline="flux_1")] + [rec(f"M{i}") for i in range(31)]
    assert stats(records).baseline_distribution["flux_1"].percentage == 3.12  # 3.125 rounds half to even


def test_average_size_two_decimals_and_non_positive_sizes_ignored() -> None:
    records = [rec("A", size_on_disk_bytes=1), rec("B", size_on_disk_bytes=2), rec("C", size_on_disk_bytes=2)]
    records.append(rec("D", size_on_disk_bytes=0))
    downloads = stats(records).download_stats
    assert downloads is not None
    assert (downloads.models_with_size_info, downloads.total_size_bytes, downloads.average_size_bytes) == (
        3,
        5,
        1.67,
    )


def test_duplicate_tags_in_one_model_count_twice_and_empty_tags_are_skipped() -> None:
    result = stats([rec("A", tags=("x", "x", ""))])
    assert [(t.tag, t.count, t.percentage) for t in result.top_tags] == [("x", 2, 200.0)]


def test_image_only_and_text_only_metrics() -> None:
    image_like: dict[str, Any] = {
        "trigger": ("t",),
        "inpainting": True,
        "has_requirements": True,
        "parameters_count": 7_000_000_000,
    }
    text_result = stats([rec("T", TEXT, style="chat", **image_like)], TEXT)
    assert (text_result.models_with_trigger_words, text_result.models_with_inpainting) == (0, 0)
    assert text_result.models_with_requirements == 0
    assert [t.tag for t in text_result.top_styles] == ["chat"]  # styles count in every category
    image_result = stats([rec("I", **image_like)])
    assert (image_result.models_with_trigger_words, image_result.models_with_requirements) == (1, 1)
    assert image_result.parameter_buckets == []
    assert image_result.models_without_param_info == 0


def test_echo_fields_and_computed_at() -> None:  # D1
    result = stats([rec("A"), rec("B")])
    assert (result.returned_models, result.offset, result.limit, result.computed_at) == (2, 0, None, NOW)
    with pytest.raises(ValidationError):
        result.offset = 5  # type: ignore[misc]
    assert result.model_copy(update={"offset": 5}).offset == 5
    assert result.offset == 0


# --- §4.1.4 parameter buckets and D3 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "label"),
    [
        (1, "< 3B"),
        (2_999_999_999, "< 3B"),
        (3_000_000_000, "3B-6B"),
        (5_999_999_999, "3B-6B"),
        (6_000_000_000, "6B-9B"),
        (9_000_000_000, "9B-13B"),
        (13_000_000_000, "13B-20B"),
        (20_000_000_000, "20B-35B"),
        (34_999_999_999, "20B-35B"),
        (35_000_000_000, "35B-70B"),
        (69_999_999_999, "35B-70B"),
        (70_000_000_000, "> 70B"),
        (1_000_000_000_000, "> 70B"),
    ],
)
def test_parameter_bucket_boundaries_are_half_open(count: int, label: str) -> None:
    (bucket,) = stats([rec("T", TEXT, parameters_count=count)], TEXT).parameter_buckets
    assert bucket.bucket_label == label
    assert bucket.min_params is not None
    assert bucket.min_params <= count
    assert bucket.max_params is None or count < bucket.max_params


def test_parameter_buckets_are_filled_in_table_order_with_all_models_as_denominator() -> None:  # D3
    records = [
        rec("big", TEXT, parameters_count=70_000_000_000),
        rec("small", TEXT, parameters_count=1_000_000_000),
        rec("small2", TEXT, parameters_count=2_000_000_000),
        rec("none", TEXT),
        rec("zero", TEXT, parameters_count=0),
    ]
    result = stats(records, TEXT)
    assert [
        (b.bucket_label, b.min_params, b.max_params, b.count, b.percentage) for b in result.parameter_buckets
    ] == [
        ("< 3B", 0, 3_000_000_000, 2, 40.0),
        ("> 70B", 70_000_000_000, None, 1, 20.0),
    ]
    assert result.models_without_param_info == 2


def test_parameter_buckets_from_v2_json_are_filled() -> None:  # D3
    payload = {"A": {"parameters": 8_000_000_000}, "B": {"parameters": 24_000_000_000}}
    snapshot = parse_reference(TEXT, payload, format="v2", version="v")
    result = compute_snapshot_statistics(snapshot, computed_at=NOW)
    assert [b.bucket_label for b in result.parameter_buckets] == ["6B-9B", "20B-35B"]
    assert result.models_without_param_info == 0


# --- D5, D6 --------------------------------------------------------------------------------------


def test_sfw_count_is_serialised() -> None:  # D5
    result = stats([rec("A", nsfw=True), rec("B"), rec("C")])
    dumped = json.loads(result.model_dump_json())
    assert dumped["sfw_count"] == 2
    assert dumped["nsfw_count"] == 1
    assert CategoryStatistics.model_validate(dumped) == result  # cache round trip


def test_rejected_records_are_reported_not_counted() -> None:  # D6, D46
    payload = {
        "Good": {"baseline": "flux_1", "nsfw": True},
        "Bad": "not a record",
        "Worse": {"baseline": "x", "nsfw": "yes"},
    }
    snapshot = parse_reference(IMAGE, payload, format="v2", version="v")
    result = compute_snapshot_statistics(snapshot, computed_at=NOW)
    assert (result.total_models, result.rejected_records) == (1, 2)
    assert result.baseline_distribution["flux_1"].percentage == 100.0
    assert (result.nsfw_count, result.sfw_count) == (1, 0)


# --- grouping (§4.12, D2) ------------------------------------------------------------------------


def _family(name: str) -> str:
    return name.split("/")[-1].split("-")[0]


def test_grouping_first_member_supplies_fields_later_members_only_downloads() -> None:
    records = [
        rec("org/Llama-8B", TEXT, baseline="llama", parameters_count=8_000_000_000, tags=("a",),
            downloads=dl("https://hf.co/1")),
        rec("org/Qwen-7B", TEXT, downloads=dl("https://hf.co/q")),
        rec("other/Llama-70B", TEXT, baseline="other", nsfw=True, parameters_count=70_000_000_000,
            downloads=dl("https://hf.co/2", "https://cdn/3")),
        rec("x/Llama-1B", TEXT),
    ]  # fmt: skip
    grouped = group_records_for_statistics(records, _family)
    assert [r.name for r in grouped] == ["Llama", "Qwen"]
    llama = grouped[0]
    assert (llama.baseline, llama.nsfw, llama.parameters_count, llama.tags) == (
        "llama",
        False,
        8_000_000_000,
        ("a",),
    )
    assert [d.file_url for d in llama.downloads] == ["https://hf.co/1", "https://hf.co/2", "https://cdn/3"]
    result = stats(grouped, TEXT)
    assert result.total_models == 2
    assert result.download_stats is not None
    assert result.download_stats.total_download_entries == 4


def test_grouping_never_mutates_its_input() -> None:  # D2
    records = [
        rec("org/Llama-8B", TEXT, downloads=dl("https://hf.co/1")),
        rec("org/Llama-70B", TEXT, downloads=dl("https://hf.co/2")),
    ]
    before = [r.model_dump() for r in records]
    for _ in range(3):
        group_records_for_statistics(records, _family)
    assert [r.model_dump() for r in records] == before
    assert stats(records, TEXT).download_stats == stats(list(records), TEXT).download_stats
    assert [d.file_url for d in group_records_for_statistics(records, _family)[0].downloads] == [
        "https://hf.co/1",
        "https://hf.co/2",
    ]


# --- real data -----------------------------------------------------------------------------------


def _snapshot(category: ModelCategory, path: str, fmt: str) -> ReferenceSnapshot:
    return parse_reference(category, (DATA / path).read_bytes(), format=fmt, version="v")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "fmt"), [("image/stable_diffusion.json", "legacy"), ("v2/stable_diffusion.json", "v2")]
)
def test_real_image_statistics(path: str, fmt: str) -> None:
    result = compute_snapshot_statistics(_snapshot(IMAGE, path, fmt), computed_at=NOW)
    assert (result.total_models, result.nsfw_count, result.sfw_count, result.rejected_records) == (
        161,
        82,
        79,
        0,
    )
    assert [(k, v.count, v.percentage) for k, v in result.baseline_distribution.items()] == [
        ("stable_diffusion_1", 106, 65.84),
        ("stable_diffusion_xl", 49, 30.43),
        ("stable_diffusion_2_768", 4, 2.48),
        ("stable_cascade", 1, 0.62),
        ("flux_1", 1, 0.62),
    ]
    downloads = result.download_stats
    assert downloads is not None
    assert (downloads.total_models_with_downloads, downloads.total_download_entries) == (161, 162)
    assert downloads.hosts == {"huggingface.co": 153, "civitai.com": 9}
    assert (downloads.models_with_size_info, downloads.total_size_bytes) == (160, 700_483_908_653)
    assert downloads.average_size_bytes == 4_378_024_429.08
    assert (result.models_with_trigger_words, result.models_with_inpainting) == (24, 8)
    assert (result.models_with_requirements, result.models_with_showcases) == (29, 73)
    assert [(t.tag, t.count) for t in result.top_styles][:2] == [("anime", 56), ("realistic", 34)]
    assert (result.top_tags[0].tag, result.top_tags[0].count, result.top_tags[0].percentage) == (
        "anime",
        27,
        16.77,
    )
    assert result.parameter_buckets == []
    assert result.models_without_param_info == 0


@pytest.mark.parametrize(
    ("path", "fmt"),
    [("v2/text_generation.json", "v2"), ("text/models.csv", "csv"), ("text/db.json", "legacy")],
)
def test_real_text_statistics(path: str, fmt: str) -> None:  # D3
    result = compute_snapshot_statistics(_snapshot(TEXT, path, fmt), computed_at=NOW)
    assert result.total_models == 719
    assert [(b.bucket_label, b.count) for b in result.parameter_buckets] == [
        ("< 3B", 89),
        ("3B-6B", 31),
        ("6B-9B", 142),
        ("9B-13B", 68),
        ("13B-20B", 114),
        ("20B-35B", 142),
        ("35B-70B", 19),
        ("> 70B", 114),
    ]
    assert result.models_without_param_info == 0
    assert result.nsfw_count == 0
    downloads = result.download_stats
    assert downloads is not None
    assert downloads.hosts == {"huggingface.co": 616}  # the model page url is the download location
    assert result.models_with_trigger_words == 0


def test_real_text_grouped_statistics() -> None:
    records = _snapshot(TEXT, "v2/text_generation.json", "v2").records
    by_group = {r.name: r.text_model_group or r.name for r in records}
    grouped = group_records_for_statistics(records, by_group.__getitem__)
    assert len(grouped) == 419  # v2 text_model_group values (README)
    result = stats(grouped, TEXT)
    assert result.total_models == 419
    assert result.download_stats is not None
    assert result.download_stats.total_download_entries == 616


def test_real_text_grouped_with_base_name_parser() -> None:
    text_names = pytest.importorskip("shared.domain.text_names")
    records = _snapshot(TEXT, "v2/text_generation.json", "v2").records
    grouped = group_records_for_statistics(records, text_names.get_base_model_name)
    keys = list(dict.fromkeys(text_names.get_base_model_name(r.name) for r in records))
    assert [r.name for r in grouped] == keys
    assert sum(len(r.downloads) for r in grouped) == sum(len(r.downloads) for r in records)


@pytest.mark.parametrize("category", list(ModelCategory))
def test_every_category_computes(category: ModelCategory) -> None:
    path = DATA / "v2" / V2_FILES[category]
    payload = path.read_bytes() if path.exists() else b"{}"
    snapshot = parse_reference(category, payload, format="v2", version="v")
    result = compute_snapshot_statistics(snapshot, computed_at=NOW)
    assert result.category is category
    assert result.total_models == len(snapshot.records)
    assert result.download_stats is not None
    if not path.exists():
        assert result.total_models == 0


def test_small_category_statistics() -> None:
    result = compute_snapshot_statistics(
        _snapshot(ModelCategory.GFPGAN, "v2/gfpgan.json", "v2"), computed_at=NOW
    )
    assert result.total_models == 1
    assert result.download_stats is not None
    assert result.download_stats.total_download_entries == len(
        json.loads((DATA / "v2/gfpgan.json").read_text())["GFPGAN"]["config"]["download"]
    )
    assert result.top_styles == []
    assert result.baseline_distribution == {}
