"""``EventLoopHistogram`` exposes what ``prometheus_client``'s ``Histogram`` would for the same
observations (same series, labels, buckets, count and sum), without its locks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from shared.metrics import EventLoopHistogram

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


def _samples(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())), round(sample.value, 9))
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["/a", "/b/{category}"]),
            st.sampled_from(["200", "404"]),
            st.one_of(st.sampled_from(BUCKETS), st.floats(min_value=0, max_value=2, allow_nan=False)),
        ),
        max_size=40,
    )
)
def test_the_same_exposition_as_prometheus_clients_histogram(
    observations: list[tuple[str, str, float]],
) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = EventLoopHistogram("x_seconds", "doc", ["route", "status"], BUCKETS, registry=ours)
    reference = Histogram("x_seconds", "doc", ["route", "status"], buckets=BUCKETS, registry=theirs)
    for route, status, seconds in observations:
        fast.labels(route, status).observe(seconds)
        reference.labels(route, status).observe(seconds)
    assert _samples(ours) == _samples(theirs)
