"""Static statistics of one reference category (upstream §4.1), computed from parsed records.

Formulas, rounding (Python ``round``, 2 dp), the cap of 20 tags/styles, the parameter buckets and
first-seen tie order are upstream's. Deliberate differences: parameter counts are read (D3),
``sfw_count`` is serialised (D5), only accepted records are counted while rejected ones are reported
beside them (D6, D46), and grouping builds new records instead of mutating its input (D2).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, computed_field

from shared.domain.categories import ModelCategory
from shared.domain.reference.records import ReferenceRecord, ReferenceSnapshot
from shared.domain.trusted import copy_trusted

#: Tags and styles reported per category (upstream hard-codes 20; its larger constants are unused, D4).
TOP_TAGS_LIMIT = 20
TOP_STYLES_LIMIT = 20

_B = 1_000_000_000
#: Half-open ``[min, max)`` parameter-count buckets of upstream §4.1.4; ``None`` means unbounded.
PARAMETER_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("< 3B", 0, 3 * _B),
    ("3B-6B", 3 * _B, 6 * _B),
    ("6B-9B", 6 * _B, 9 * _B),
    ("9B-13B", 9 * _B, 13 * _B),
    ("13B-20B", 13 * _B, 20 * _B),
    ("20B-35B", 20 * _B, 35 * _B),
    ("35B-70B", 35 * _B, 70 * _B),
    ("> 70B", 70 * _B, None),
)
#: Lower bounds of the buckets, for bisection (the buckets are contiguous and ascending).
_BUCKET_LOWS: tuple[int, ...] = tuple(low for _, low, _ in PARAMETER_BUCKETS)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class BaselineStats(_Frozen):
    """Models sharing one baseline."""

    baseline: str
    count: int
    percentage: float


class DownloadStats(_Frozen):
    """Download entries and on-disk sizes; ``hosts`` counts entries (not models) per network location."""

    total_models_with_downloads: int = 0
    total_download_entries: int = 0
    total_size_bytes: int = 0
    models_with_size_info: int = 0
    average_size_bytes: float = 0.0
    hosts: dict[str, int] = {}


class TagStats(_Frozen):
    """One tag or style value; ``percentage`` is of all models in the category."""

    tag: str
    count: int
    percentage: float


class ParameterBucketStats(_Frozen):
    """Text models whose parameter count lies in ``[min_params, max_params)``."""

    bucket_label: str
    min_params: int | None
    max_params: int | None
    count: int
    percentage: float


class CategoryStatistics(_Frozen):
    """Statistics of one category, wire-compatible with upstream plus ``sfw_count`` and rejections.

    ``returned_models``/``offset``/``limit`` are echo fields kept for clients; they are filled at
    computation time and any per-request values are set on a copy by the gateway (D1).
    """

    category: ModelCategory
    total_models: int
    returned_models: int = 0
    offset: int = 0
    limit: int | None = None
    nsfw_count: int = 0
    baseline_distribution: dict[str, BaselineStats] = {}
    download_stats: DownloadStats | None = None
    top_tags: list[TagStats] = []
    top_styles: list[TagStats] = []
    parameter_buckets: list[ParameterBucketStats] = []
    models_without_param_info: int = 0
    models_with_trigger_words: int = 0
    models_with_inpainting: int = 0
    models_with_requirements: int = 0
    models_with_showcases: int = 0
    #: Records the parser refused (D6, D46): reported here, never part of ``total_models``.
    rejected_records: int = 0
    computed_at: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sfw_count(self) -> int:
        """Serialised, unlike upstream's plain property (D5)."""
        return self.total_models - self.nsfw_count


def _percent(count: int, total: int) -> float:
    return round(count / total * 100, 2)


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    """Count descending; ``sorted`` is stable and Counter keeps insertion order, so ties stay first-seen."""
    return sorted(counts.items(), key=lambda item: -item[1])


@lru_cache(maxsize=1 << 14)
def _download_host(url: str) -> str | None:
    """Network location as written (``user@host:port``); unparseable URLs have none (memoised)."""
    try:
        return urlsplit(url).netloc or None
    except ValueError:
        return None


def _download_stats(records: Sequence[ReferenceRecord]) -> DownloadStats:
    hosts: Counter[str] = Counter()
    with_downloads = entries = with_size = total_size = 0
    for record in records:
        if record.downloads:
            with_downloads += 1
            entries += len(record.downloads)
        for entry in record.downloads:
            host = _download_host(entry.file_url) if entry.file_url else None
            if host:
                hosts[host] += 1
        if record.size_on_disk_bytes and record.size_on_disk_bytes > 0:
            with_size += 1
            total_size += record.size_on_disk_bytes
    return DownloadStats(
        total_models_with_downloads=with_downloads,
        total_download_entries=entries,
        total_size_bytes=total_size,
        models_with_size_info=with_size,
        average_size_bytes=round(total_size / with_size, 2) if with_size else 0.0,
        hosts=dict(_ranked(hosts)),
    )


def _top(counts: Counter[str], total: int, limit: int) -> list[TagStats]:
    return [
        TagStats(tag=value, count=count, percentage=_percent(count, total))
        for value, count in _ranked(counts)[:limit]
    ]


def parameter_buckets(parameter_counts: Iterable[int], total_models: int) -> list[ParameterBucketStats]:
    """Non-empty buckets in table order; the denominator is every model, with or without a count."""
    counts = [0] * len(PARAMETER_BUCKETS)
    for value in parameter_counts:
        index = bisect_right(_BUCKET_LOWS, value) - 1
        if index >= 0:
            counts[index] += 1
    return [
        ParameterBucketStats(
            bucket_label=label,
            min_params=low,
            max_params=high,
            count=count,
            percentage=_percent(count, total_models),
        )
        for (label, low, high), count in zip(PARAMETER_BUCKETS, counts, strict=True)
        if count
    ]


def compute_category_statistics(
    records: Sequence[ReferenceRecord],
    category: ModelCategory,
    *,
    computed_at: int,
    rejected_records: int = 0,
) -> CategoryStatistics:
    """Upstream §4.1 over accepted records; ``computed_at`` is passed in because the domain has no clock."""
    total = len(records)
    is_text = category is ModelCategory.TEXT_GENERATION
    is_image = category is ModelCategory.IMAGE_GENERATION
    baselines: Counter[str] = Counter()
    all_tags: list[str] = []
    styles: Counter[str] = Counter()
    parameters: list[int] = []
    for record in records:
        if record.baseline:
            baselines[record.baseline] += 1
        all_tags.extend(record.tags)
        if record.style:
            styles[record.style] += 1
        if is_text and record.parameters_count and record.parameters_count > 0:
            parameters.append(record.parameters_count)
    tags = Counter(tag for tag in all_tags if tag)  # first-seen order, as counting record by record
    return CategoryStatistics(
        category=category,
        total_models=total,
        returned_models=total,
        nsfw_count=sum(1 for r in records if r.nsfw),
        baseline_distribution={
            name: BaselineStats(baseline=name, count=count, percentage=_percent(count, total))
            for name, count in _ranked(baselines)
        },
        download_stats=_download_stats(records),
        top_tags=_top(tags, total, TOP_TAGS_LIMIT),
        top_styles=_top(styles, total, TOP_STYLES_LIMIT),
        parameter_buckets=parameter_buckets(parameters, total) if is_text else [],
        models_without_param_info=total - len(parameters) if is_text else 0,
        models_with_trigger_words=sum(1 for r in records if r.trigger) if is_image else 0,
        models_with_inpainting=sum(1 for r in records if r.inpainting) if is_image else 0,
        models_with_requirements=sum(1 for r in records if r.has_requirements) if is_image else 0,
        models_with_showcases=sum(1 for r in records if r.showcases),
        rejected_records=rejected_records,
        computed_at=computed_at,
    )


def compute_snapshot_statistics(snapshot: ReferenceSnapshot, *, computed_at: int) -> CategoryStatistics:
    """Statistics of a parsed snapshot, with its rejections reported beside the counts (D6)."""
    return compute_category_statistics(
        snapshot.records,
        snapshot.category,
        computed_at=computed_at,
        rejected_records=len(snapshot.rejections),
    )


def group_records_for_statistics(
    records: Iterable[ReferenceRecord], key_fn: Callable[[str], str]
) -> list[ReferenceRecord]:
    """Upstream §4.12 grouping: one record per ``key_fn(name)``, in first-seen order.

    The first member supplies every field, renamed to the group key; later members add only their
    downloads. New records are built, so the caller's records are never changed (D2).
    """
    groups: dict[str, ReferenceRecord] = {}
    for record in records:
        key = key_fn(record.name)
        first = groups.get(key)
        if first is None:
            groups[key] = copy_trusted(record, {"name": key})
        elif record.downloads:
            groups[key] = copy_trusted(first, {"downloads": first.downloads + record.downloads})
    return list(groups.values())
