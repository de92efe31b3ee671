"""Rules that set the eleven deletion-risk flags, plus the critical and warning rules (§4.3, §4.6).

Fixed against upstream: preferred hosts match by hostname or subdomain, never by substring, and
ports are ignored (D35); a URL without a usable host sets ``has_unknown_host`` (D34); usage flags
are computed from the numbers, so a never-used model (0/0/0) is flagged (D13, D14).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from shared.domain.categories import ModelCategory
from shared.domain.reference.records import DownloadEntry, ReferenceRecord
from shared.domain.risk.models import DeletionRiskFlags
from shared.domain.risk.thresholds import RiskThresholds

HandlerKind = Literal["image", "text", "generic"]


def handler_kind(category: ModelCategory) -> HandlerKind:
    """Which upstream handler's rules apply: image, text, or generic for every other category."""
    if category is ModelCategory.IMAGE_GENERATION:
        return "image"
    if category is ModelCategory.TEXT_GENERATION:
        return "text"
    return "generic"


class DownloadFlags(NamedTuple):
    """The four download-related flags."""

    no_download_urls: bool = False
    has_multiple_hosts: bool = False
    has_non_preferred_host: bool = False
    has_unknown_host: bool = False


class UsageFlags(NamedTuple):
    """The usage and worker flags; recomputed from aggregated numbers for groups (D26)."""

    zero_usage_day: bool = False
    zero_usage_month: bool = False
    zero_usage_total: bool = False
    no_active_workers: bool = False
    low_usage: bool = False


def url_host(url: str) -> str | None:
    """Lower-case hostname of ``url`` without port, or None when it has no scheme or host (D34, D35)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return None
    if not parts.scheme or not host:
        return None
    return host


def is_preferred_host(host: str, preferred_hosts: Iterable[str]) -> bool:
    """Exact hostname or a subdomain of a preferred host; ``nothuggingface.com`` is not ``huggingface.co``."""
    host = host.lower().rstrip(".")
    for preferred in preferred_hosts:
        wanted = preferred.strip().lower().strip(".")
        if wanted and (host == wanted or host.endswith("." + wanted)):
            return True
    return False


def download_hosts(downloads: Sequence[DownloadEntry]) -> tuple[str, ...]:
    """Distinct hosts of the valid download URLs, first-seen order (D23); the hosts the flags see."""
    hosts: dict[str, None] = {}
    for entry in downloads:
        if entry.file_url:
            host = url_host(entry.file_url)
            if host is not None:
                hosts.setdefault(host, None)
    return tuple(hosts)


def download_flags(
    downloads: Sequence[DownloadEntry], category: ModelCategory, thresholds: RiskThresholds
) -> DownloadFlags:
    """Download flags of one record; text skips them while ``text_gen_ignore_download_hosts`` (D36)."""
    if handler_kind(category) == "text" and thresholds.text_gen_ignore_download_hosts:
        return DownloadFlags()
    urls = [entry.file_url for entry in downloads if entry.file_url]
    hosts = download_hosts(downloads)
    unknown = any(url_host(url) is None for url in urls)
    return DownloadFlags(
        no_download_urls=not hosts,
        has_multiple_hosts=len(hosts) > 1,
        has_non_preferred_host=bool(hosts)
        and not any(is_preferred_host(host, thresholds.preferred_file_hosts) for host in hosts),
        has_unknown_host=unknown,
    )


def has_description(description: str | None) -> bool:
    """A description counts only when it has non-whitespace text."""
    return bool(description and description.strip())


def data_flags(record: ReferenceRecord, category: ModelCategory) -> tuple[bool, bool]:
    """``(missing_description, missing_baseline)``; the generic handler never sets the latter (§4.3.2)."""
    missing_baseline = handler_kind(category) != "generic" and not record.baseline
    return not has_description(record.description), missing_baseline


def usage_flags(
    *,
    usage_day: int,
    usage_month: int,
    usage_total: int,
    worker_count: int,
    category_total_month_usage: int,
    low_usage_threshold: float,
) -> UsageFlags:
    """Usage and worker flags from the numbers themselves, so 0/0/0 means zero usage (D13, D14)."""
    low = (
        category_total_month_usage > 0
        and usage_month / category_total_month_usage * 100 < low_usage_threshold
    )
    return UsageFlags(
        zero_usage_day=usage_day == 0,
        zero_usage_month=usage_month == 0,
        zero_usage_total=usage_total == 0,
        no_active_workers=worker_count == 0,
        low_usage=low,
    )


def combine_flags(
    usage: UsageFlags, downloads: DownloadFlags, *, missing_description: bool, missing_baseline: bool
) -> DeletionRiskFlags:
    """Assemble the eleven flags from their three sources."""
    return DeletionRiskFlags(
        **usage._asdict(),
        **downloads._asdict(),
        missing_description=missing_description,
        missing_baseline=missing_baseline,
    )


def is_critical(
    category: ModelCategory,
    flags: DeletionRiskFlags,
    *,
    usage_month: int,
    worker_count: int,
    thresholds: RiskThresholds,
) -> bool:
    """§4.6: text by thresholds on month and workers; others zero month usage and no workers (D13)."""
    if handler_kind(category) == "text":
        return (
            usage_month < thresholds.text_gen_critical_usage_threshold
            and worker_count < thresholds.text_gen_critical_worker_threshold
        )
    return flags.zero_usage_month and flags.no_active_workers


def has_warning(flags: DeletionRiskFlags) -> bool:
    """Any download-host problem."""
    return (
        flags.has_multiple_hosts
        or flags.has_non_preferred_host
        or flags.has_unknown_host
        or flags.no_download_urls
    )


class RiskVerdict(NamedTuple):
    """The fields derived from the flags and numbers, computed once when an entry is built."""

    at_risk: bool
    risk_score: int
    is_critical: bool
    has_warning: bool


def risk_verdict(
    category: ModelCategory,
    flags: DeletionRiskFlags,
    *,
    usage_month: int,
    worker_count: int,
    thresholds: RiskThresholds,
) -> RiskVerdict:
    """``at_risk``, ``risk_score``, ``is_critical`` and ``has_warning`` of one entry."""
    return RiskVerdict(
        at_risk=flags.any_flags(),
        risk_score=flags.flag_count(),
        is_critical=is_critical(
            category, flags, usage_month=usage_month, worker_count=worker_count, thresholds=thresholds
        ),
        has_warning=has_warning(flags),
    )
