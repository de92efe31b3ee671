"""Prometheus metrics shared by the services, each registered once per process.

Services import the metric objects they update; ``/metrics`` renders the default registry.
Label values are bounded (categories, endpoints, topics), never model names.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.utils import floatToGoString

POLL_REQUESTS = Counter(
    "hma_horde_requests_total", "Requests sent to the AI Horde API", ["endpoint", "outcome"]
)
POLL_LAST_SUCCESS = Gauge(
    "hma_horde_last_success_timestamp_seconds",
    "Last successful poll per endpoint",
    ["endpoint", "model_type"],
)
POLL_CONSECUTIVE_FAILURES = Gauge(
    "hma_horde_consecutive_failures", "Consecutive failed polls per endpoint", ["endpoint", "model_type"]
)
RATE_LIMIT_REMAINING = Gauge(
    "hma_horde_rate_limit_remaining", "X-RateLimit-Remaining of the latest AI Horde answer"
)
SNAPSHOTS_PUBLISHED = Counter(
    "hma_snapshots_published_total", "Snapshot events published (content changed)", ["endpoint", "model_type"]
)
REFERENCE_CHANGES_PUBLISHED = Counter(
    "hma_reference_changes_published_total", "Reference change events published", ["category"]
)
REFERENCE_REJECTED = Counter(
    "hma_reference_rejected_total", "Reference versions rejected or held", ["category", "reason"]
)
RECOMPUTE_SECONDS = Histogram(
    "hma_recompute_seconds",
    "Time to recompute and write all views of a category",
    ["category"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LAST_GENERATION = Gauge(
    "hma_last_generation_timestamp_seconds", "Time the latest generation was written", ["category"]
)
RISK_MODELS = Gauge(
    "hma_risk_models",
    "Models of a category per deletion-risk state (critical, warning, flagged, clear) in the "
    "latest generation this analytics replica wrote; a replica exports only the categories it owns",
    ["category", "state"],
)
#: Set every few seconds from the broker's end offsets for owned partitions, removed on revoke
#: (services/analytics/lag.py).
CONSUMER_LAG = Gauge("hma_consumer_lag_records", "Records behind the high watermark", ["topic", "partition"])
DEAD_LETTERS = Counter("hma_dead_letters_total", "Records moved to a dead-letter topic", ["topic"])
DEAD_LETTER_FAILURES = Counter(
    "hma_dead_letter_failures_total", "Poison records whose dead-letter publish failed", ["topic"]
)
EVENTS_PUBLISHED = Counter("hma_events_published_total", "Events published", ["topic"])


class _Observations:
    """One label set's bucket counts (not cumulative; the last is +Inf) and sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds, self.counts, self.total = bounds, [0] * (len(bounds) + 1), 0.0

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1  # the first bucket with amount <= le
        self.total += amount


class EventLoopHistogram:
    """A labelled Prometheus histogram for a value observed on every request of one event loop.

    ``prometheus_client``'s ``Histogram`` takes a lock for the sum and again for the bucket on
    every observation, about as much CPU as a replayed gateway answer's own work; observed from
    one thread, plain counters do. Exposed by a collector in the same series (``_bucket``,
    ``_count``, ``_sum``) and labels as ``Histogram``."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, list(labelnames)
        self.bounds = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], _Observations] = {}
        registry.register(self)

    def labels(self, *values: str) -> _Observations:
        found = self._series.get(values)
        if found is None:
            found = self._series[values] = _Observations(self.bounds)
        return found

    def describe(self) -> list[HistogramMetricFamily]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        edges = [*map(floatToGoString, self.bounds), "+Inf"]
        for values, series in list(self._series.items()):
            cumulative, buckets = 0, []
            for edge, count in zip(edges, list(series.counts), strict=True):
                cumulative += count
                buckets.append((edge, float(cumulative)))
            family.add_metric(list(values), buckets, series.total)
        yield family


HTTP_REQUESTS = EventLoopHistogram(
    "hma_gateway_request_seconds",
    "Gateway request time",
    ["route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)

LEADER = Gauge(
    "hma_leader",
    "1 while this replica holds the service's leader lease (it polls and publishes), 0 on standby",
    ["service"],
)


ANSWERS_CONFIRMED = Gauge(
    "hma_answers_confirmed_timestamp_seconds",
    "When the AI Horde status behind a category's current answers was last confirmed (its snapshot "
    "or a later successful status poll), as the analytics replica owning the category wrote it; the "
    "gateway marks answers stale HORDE_ANALYTICS__STALE_AFTER_SECONDS after it",
    ["category"],
)
CURRENT_GENERATION = Gauge(
    "hma_current_generation_present",
    "1 when a category this analytics replica owns and has inputs for has a current generation in "
    "Redis, 0 when the gateway has nothing to serve for it (checked every verify interval)",
    ["category"],
)
DEPENDENCY_UP = Gauge(
    "hma_dependency_up",
    "1 when the latest readiness check reached the dependency (kafka, redis), else 0",
    ["dependency"],
)
_confirmed: dict[str, float] = {}


def note_status_confirmed(category: str, at: float) -> None:
    """Move a category's confirmation time forward (never back: events may arrive out of order)."""
    if at > _confirmed.get(category, 0.0):
        _confirmed[category] = at
        ANSWERS_CONFIRMED.labels(category).set(at)


def forget_categories() -> None:
    """Drop the per-category gauges of an analytics replica (its partitions were revoked)."""
    _confirmed.clear()
    ANSWERS_CONFIRMED.clear()
    CURRENT_GENERATION.clear()


def series_names() -> set[str]:
    """Every series name the metrics of this module export (dashboards and alert rules are
    checked against it): ``_total`` for counters, ``_bucket``/``_sum``/``_count`` for histograms."""
    names: set[str] = set()
    for value in list(globals().values()):
        if isinstance(value, MetricWrapperBase):
            name, kind = value._name, value._type
            names |= {f"{name}_total"} if kind == "counter" else {name}
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif isinstance(value, EventLoopHistogram):
            names |= {f"{value.name}_bucket", f"{value.name}_sum", f"{value.name}_count"}
    return names


def render_metrics() -> tuple[bytes, str]:
    """The exposition body and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
