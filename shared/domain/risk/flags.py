"""Rules that set the eleven deletion-risk flags, plus the critical and warning rules (§4.3, §4.6).

Fixed against upstream: preferred hosts match by hostname or subdomain, never by substring, and
ports are ignored (D35); a URL without a usable host sets ``has_unknown_host`` (D34); usage flags
are computed from the numbers, so a never-used model (0/0/0) is flagged (D13, D14).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from operator import itemgetter
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from shared.domain.categories import ModelCategory
from shared.domain.reference.records import DownloadEntry, ReferenceRecord
from shared.domain.risk.flag_table import FLAG_NAMES, WARNING_FLAGS
from shared.domain.risk.models import DELETION_RISK_FLAG_NAMES, DeletionRiskFlags
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


_NO_DOWNLOAD_FLAGS = DownloadFlags()


class UsageFlags(NamedTuple):
    """The usage and worker flags; recomputed from aggregated numbers for groups (D26)."""

    zero_usage_day: bool = False
    zero_usage_month: bool = False
    zero_usage_total: bool = False
    no_active_workers: bool = False
    low_usage: bool = False


#: Distinct download URLs remembered by :func:`url_host` (the references have under a thousand).
URL_CACHE_SIZE = 1 << 14


@lru_cache(maxsize=URL_CACHE_SIZE)
def url_host(url: str) -> str | None:
    """Lower-case hostname of ``url`` without port, or None when it has no scheme or host (D34, D35).

    Memoised: every recompute asks for the same URLs several times, and ``urlsplit`` is costly.
    """
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
        return _NO_DOWNLOAD_FLAGS
    urls = [entry.file_url for entry in downloads if entry.file_url]
    hosts = download_hosts(downloads)
    unknown = any(url_host(url) is None for url in urls)
    # Positional, in field order: keyword construction of a NamedTuple is ~3x slower.
    return DownloadFlags(
        not hosts,  # no_download_urls
        len(hosts) > 1,  # has_multiple_hosts
        bool(hosts)  # has_non_preferred_host
        and not any(is_preferred_host(host, thresholds.preferred_file_hosts) for host in hosts),
        unknown,  # has_unknown_host
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
    return UsageFlags(  # positional, in field order (see download_flags)
        usage_day == 0,  # zero_usage_day
        usage_month == 0,  # zero_usage_month
        usage_total == 0,  # zero_usage_total
        worker_count == 0,  # no_active_workers
        low,  # low_usage
    )


@cache  # at most 2**11 distinct flag sets
def _flag_set(*values: bool) -> DeletionRiskFlags:
    """The one (frozen, shared) flags object of each combination, values in field order."""
    return DeletionRiskFlags(**dict(zip(DELETION_RISK_FLAG_NAMES, values, strict=True)))


#: Picks the flags, in table order, out of ``usage + downloads + (missing_description, missing_baseline)``.
_IN_TABLE_ORDER = itemgetter(
    *(
        (*UsageFlags._fields, *DownloadFlags._fields, "missing_description", "missing_baseline").index(name)
        for name in FLAG_NAMES
    )
)


def combine_flags(
    usage: UsageFlags, downloads: DownloadFlags, *, missing_description: bool, missing_baseline: bool
) -> DeletionRiskFlags:
    """Assemble the eleven flags from their three sources (an interned, immutable object); each
    flag of the table comes from the source field of the same name."""
    return _flag_set(*_IN_TABLE_ORDER((*usage, *downloads, missing_description, missing_baseline)))


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
    """Any download-host problem (the table's ``download`` flags)."""
    values = flags.__dict__
    return any(values[name] for name in WARNING_FLAGS)


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
    count = flags.flag_count()
    return RiskVerdict(  # positional, in field order (see download_flags)
        count > 0,  # at_risk
        count,  # risk_score
        is_critical(
            category, flags, usage_month=usage_month, worker_count=worker_count, thresholds=thresholds
        ),
        has_warning(flags),
    )
