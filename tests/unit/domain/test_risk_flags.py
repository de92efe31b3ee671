"""Deletion-risk flag rules (upstream §4.3, §4.6) with the D13, D14, D34, D35, D36 fixes."""

from __future__ import annotations

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.reference.records import DownloadEntry, ReferenceRecord
from shared.domain.risk.flags import (
    DownloadFlags,
    UsageFlags,
    data_flags,
    download_flags,
    download_hosts,
    has_warning,
    is_critical,
    is_preferred_host,
    url_host,
    usage_flags,
)
from shared.domain.risk.models import DeletionRiskFlags
from shared.domain.risk.thresholds import RiskThresholds

IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION
GENERIC = ModelCategory.LORA
DEFAULTS = RiskThresholds()
HF = "https://huggingface.co/org/model/resolve/main/model.safetensors"
CIVITAI = "https://civitai.com/api/download/models/1"


def _dl(*urls: str | None) -> tuple[DownloadEntry, ...]:
    return tuple(DownloadEntry(file_name="f", file_url=u) for u in urls)


def _usage(
    day: int, month: int, total: int, *, workers: int = 1, t: int = 10_000, threshold: float = 0.1
) -> UsageFlags:
    return usage_flags(
        usage_day=day,
        usage_month=month,
        usage_total=total,
        worker_count=workers,
        category_total_month_usage=t,
        low_usage_threshold=threshold,
    )


def test_thresholds_defaults_are_the_single_source() -> None:  # D33
    assert DEFAULTS.preferred_file_hosts == ("huggingface.co",)
    assert DEFAULTS.low_usage_threshold_for(IMAGE) == 0.0065
    assert DEFAULTS.low_usage_threshold_for(GENERIC) == 0.0065
    assert DEFAULTS.low_usage_threshold_for(TEXT) == 0.02
    assert DEFAULTS.text_gen_ignore_download_hosts is True
    assert DEFAULTS.text_gen_critical_usage_threshold == 10
    assert DEFAULTS.text_gen_critical_worker_threshold == 1


# --- §4.3.1 download flags -------------------------------------------------------------------


def test_no_downloads_sets_no_download_urls_only() -> None:
    assert download_flags((), IMAGE, DEFAULTS) == DownloadFlags(no_download_urls=True)


def test_civitai_url_is_non_preferred() -> None:
    assert download_flags(_dl(CIVITAI), IMAGE, DEFAULTS) == DownloadFlags(has_non_preferred_host=True)


def test_huggingface_url_is_clean() -> None:
    assert download_flags(_dl(HF), IMAGE, DEFAULTS) == DownloadFlags()


def test_hf_plus_civitai_is_multiple_hosts_but_not_non_preferred() -> None:
    flags = download_flags(_dl(HF, CIVITAI), IMAGE, DEFAULTS)
    assert flags == DownloadFlags(has_multiple_hosts=True)
    assert download_hosts(_dl(HF, CIVITAI)) == ("huggingface.co", "civitai.com")


def test_empty_preferred_list_makes_every_host_non_preferred() -> None:
    flags = download_flags(_dl(HF), IMAGE, RiskThresholds(preferred_file_hosts=()))
    assert flags.has_non_preferred_host


def test_entries_without_url_are_ignored() -> None:
    assert download_flags(_dl(None, ""), IMAGE, DEFAULTS) == DownloadFlags(no_download_urls=True)


def test_generic_category_gets_host_flags() -> None:
    assert download_flags(_dl(CIVITAI), GENERIC, DEFAULTS).has_non_preferred_host


def test_string_without_scheme_or_host_sets_unknown_host() -> None:  # D34
    flags = download_flags(_dl("not-a-valid-url"), IMAGE, DEFAULTS)
    assert flags.has_unknown_host
    assert flags.no_download_urls  # still no usable URL


@pytest.mark.parametrize(
    "url", ["http://[::1", "https:///path/only", "file:///tmp/x", "https://host:notaport/x"]
)
def test_unparseable_url_sets_unknown_host(url: str) -> None:  # D34
    assert download_flags(_dl(HF, url), IMAGE, DEFAULTS) == DownloadFlags(has_unknown_host=True)


@pytest.mark.parametrize(
    ("host", "preferred"),
    [
        ("huggingface.co", True),
        ("cdn-lfs.huggingface.co", True),
        ("HuggingFace.CO", True),
        ("nothuggingface.com", False),
        ("huggingface.co.evil.com", False),
        ("nothuggingface.co", False),
    ],
)
def test_preferred_host_is_exact_or_subdomain(host: str, preferred: bool) -> None:  # D35
    assert is_preferred_host(host, ("huggingface.co",)) is preferred


def test_substring_host_is_non_preferred() -> None:  # D35
    flags = download_flags(_dl("https://nothuggingface.com/x"), IMAGE, DEFAULTS)
    assert flags.has_non_preferred_host


def test_subdomain_of_preferred_host_is_preferred() -> None:  # D35
    assert not download_flags(_dl("https://cdn-lfs.huggingface.co/x"), IMAGE, DEFAULTS).has_non_preferred_host


def test_port_is_ignored_for_hosts() -> None:  # D35
    urls = _dl("https://huggingface.co:443/a", "https://huggingface.co/b")
    assert url_host("https://huggingface.co:443/a") == "huggingface.co"
    assert download_flags(urls, IMAGE, DEFAULTS) == DownloadFlags()
    assert download_hosts(urls) == ("huggingface.co",)


def test_text_host_checks_off_by_default() -> None:  # D36
    assert download_flags((), TEXT, DEFAULTS) == DownloadFlags()
    assert download_flags(_dl(CIVITAI, "junk"), TEXT, DEFAULTS) == DownloadFlags()


def test_text_host_checks_can_be_switched_on() -> None:  # D36
    on = RiskThresholds(text_gen_ignore_download_hosts=False)
    assert download_flags(_dl(CIVITAI), TEXT, on) == DownloadFlags(has_non_preferred_host=True)
    assert download_flags((), TEXT, on) == DownloadFlags(no_download_urls=True)


# --- §4.3.2 description / baseline -----------------------------------------------------------


@pytest.mark.parametrize(("description", "missing"), [(None, True), ("", True), ("   ", True), ("x", False)])
def test_missing_description_after_trim(description: str | None, missing: bool) -> None:
    record = ReferenceRecord(name="m", category=IMAGE, description=description, baseline="b")
    assert data_flags(record, IMAGE) == (missing, False)


def test_missing_baseline_image_and_text_but_never_generic() -> None:
    for category, expected in ((IMAGE, True), (TEXT, True), (GENERIC, False)):
        record = ReferenceRecord(name="m", category=category, description="d", baseline=None)
        assert data_flags(record, category) == (False, expected)


# --- §4.3.3 statistics flags -----------------------------------------------------------------


def test_low_usage_below_threshold() -> None:
    assert _usage(1, 9, 100).low_usage  # 0.09 % < 0.1 %


def test_no_low_usage_above_threshold() -> None:
    assert not _usage(1, 11, 100).low_usage  # 0.11 %


def test_no_low_usage_when_category_total_is_zero() -> None:
    assert not _usage(0, 0, 0, t=0).low_usage


def test_no_active_workers_from_worker_count() -> None:
    assert _usage(1, 1, 1, workers=0).no_active_workers
    assert not _usage(1, 1, 1, workers=1).no_active_workers


def test_never_used_model_is_flagged_zero_usage() -> None:  # D13
    flags = _usage(0, 0, 0, workers=0)
    assert flags.zero_usage_day
    assert flags.zero_usage_month
    assert flags.zero_usage_total
    assert flags.low_usage  # 0 % of a non-empty category


def test_zero_usage_total_is_reachable() -> None:  # D14
    assert _usage(0, 0, 0).zero_usage_total
    assert not _usage(0, 0, 5).zero_usage_total


def test_text_record_with_hf_worker_and_usage_is_clean() -> None:
    usage = _usage(10, 100, 1000, t=1000, threshold=DEFAULTS.low_usage_threshold_for(TEXT))
    assert not usage.no_active_workers
    assert not usage.zero_usage_month
    assert not download_flags(_dl(HF), TEXT, DEFAULTS).has_non_preferred_host


# --- §4.6 critical and warning ---------------------------------------------------------------


def _crit(category: ModelCategory, flags: DeletionRiskFlags, month: int, workers: int) -> bool:
    return is_critical(category, flags, usage_month=month, worker_count=workers, thresholds=DEFAULTS)


def test_image_zero_usage_with_a_worker_is_not_critical() -> None:
    assert not _crit(IMAGE, DeletionRiskFlags(zero_usage_month=True), 0, 1)


def test_image_usage_without_workers_is_not_critical() -> None:
    assert not _crit(IMAGE, DeletionRiskFlags(no_active_workers=True), 100, 0)


def test_image_zero_usage_and_no_workers_is_critical() -> None:
    assert _crit(IMAGE, DeletionRiskFlags(zero_usage_month=True, no_active_workers=True), 0, 0)


def test_text_critical_uses_thresholds() -> None:
    assert _crit(TEXT, DeletionRiskFlags(), 0, 0)
    assert _crit(TEXT, DeletionRiskFlags(), 9, 0)
    assert not _crit(TEXT, DeletionRiskFlags(), 10, 0)
    assert not _crit(TEXT, DeletionRiskFlags(), 100, 5)
    assert not _crit(TEXT, DeletionRiskFlags(), 0, 1)


def test_warning_is_any_host_flag() -> None:
    assert not has_warning(DeletionRiskFlags(zero_usage_day=True, missing_description=True))
    for flag in ("has_multiple_hosts", "has_non_preferred_host", "has_unknown_host", "no_download_urls"):
        assert has_warning(DeletionRiskFlags(**{flag: True}))


def test_flags_serialise_in_spec_order_and_count() -> None:
    order = [
        "zero_usage_day",
        "zero_usage_month",
        "zero_usage_total",
        "no_active_workers",
        "has_multiple_hosts",
        "has_non_preferred_host",
        "has_unknown_host",
        "no_download_urls",
        "missing_description",
        "missing_baseline",
        "low_usage",
    ]
    assert list(DeletionRiskFlags().model_dump()) == order
    all_set = DeletionRiskFlags(**dict.fromkeys(order, True))
    assert all_set.flag_count() == 11
    assert all_set.any_flags()
    assert DeletionRiskFlags().flag_count() == 0
    assert not DeletionRiskFlags().any_flags()
