"""Pure parts of the gateway: negotiation, entity tags, freshness, page echo, listing bytes, LRU."""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest
from redis.asyncio import Redis

from bench.gateway_fill import category_inputs
from services.analytics.recompute import recompute
from services.gateway.answer import entity_tag, not_modified
from services.gateway.cache import LRU, Selection, ViewCache
from services.gateway.encoding import DYNAMIC_GZIP_MAX_BYTES, Body, accepts_gzip, encode, stored_body
from services.gateway.freshness import provenance
from services.gateway.routes.statistics import echo_page
from shared.domain.categories import ModelCategory
from shared.domain.risk.listing import VALID_SORT_FIELDS
from shared.domain.risk.presets import VALID_PRESETS
from shared.domain.risk.thresholds import RiskThresholds
from shared.materialized.index_codec import decode_index
from shared.materialized.layout import MaterializedView, gzip_key, splice_prefix
from shared.materialized.risk_listing import (
    RiskListingIndex,
    RiskQuery,
    render_risk_json,
    render_risk_page,
    run_risk_query,
)
from shared.materialized.selection import page
from shared.redis_keys import RedisKeys
from shared.store.generations import CurrentGeneration, GenerationStore

TEXT = ModelCategory.TEXT_GENERATION


@pytest.fixture(scope="module")
def text_views() -> dict[str, bytes]:
    generation = recompute(TEXT, category_inputs(TEXT), RiskThresholds(), computed_at=1_700_000_000)
    assert generation is not None
    return generation.views


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (None, False), ("", False), ("gzip", True), ("deflate, gzip;q=0.5", True), ("gzip;q=0", False),
        ("GZIP", True), ("*", True), ("br", False), ("identity", False), ("gzip;q=zero", False),
    ],
)  # fmt: skip
def test_accept_encoding(header: str | None, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_only_small_rendered_bodies_are_compressed_on_request() -> None:
    small, big = b"x" * 100, b"y" * DYNAMIC_GZIP_MAX_BYTES
    assert gzip.decompress(encode(Body(small, "a"), "gzip")[0]) == small
    assert encode(Body(big, "a"), "gzip") == (big, None)
    assert encode(Body(small, "a"), None) == (small, None)


def test_spliced_gzip_of_every_stored_view_equals_its_body_plus_tail(text_views: dict[str, bytes]) -> None:

    for name, body in text_views.items():
        if name.endswith((".gz", ".index")):
            continue
        prefix = splice_prefix(name, body)
        tail = (
            body[len(prefix) :].replace(b"}", b',"freshness":{"stale":false}}')
            if len(prefix) < len(body)
            else b""
        )
        made = stored_body(MaterializedView.read(name, body, text_views[gzip_key(name)]), tail, "x")
        assert made.spliced_gzip is not None
        assert made.identity == prefix + tail
        assert gzip.decompress(made.spliced_gzip()) == prefix + tail, name


def test_a_stored_view_keeps_the_answer_of_its_last_tail_only(text_views: dict[str, bytes]) -> None:
    """Repeated tails reuse the joined bytes and the gzip member; a new tail is answered afresh,
    also when a gzip of an older tail is asked for after it (no stale bytes)."""
    body = text_views["deletion-risk"]
    view = MaterializedView.read("deletion-risk", body, text_views[gzip_key("deletion-risk")])
    first, zipped_first = view.answer(b',"t":1}')
    again, zipped_again = view.answer(b',"t":1}')
    assert again is first
    assert zipped_first is not None
    assert zipped_again is not None
    assert zipped_again() is zipped_first()
    other, zipped_other = view.answer(b',"t":2}')
    assert other == body[:-1] + b',"t":2}'
    assert zipped_other is not None
    assert gzip.decompress(zipped_first()) == first == body[:-1] + b',"t":1}'
    assert gzip.decompress(zipped_other()) == other


def test_entity_tags_and_if_none_match() -> None:
    tag = entity_tag("g1", "deletion-risk", "a", stale=False)
    assert tag != entity_tag("g1", "deletion-risk", "b", stale=False)
    assert tag != entity_tag("g2", "deletion-risk", "a", stale=False)
    assert tag != entity_tag("g1", "deletion-risk.grouped", "a", stale=False)
    assert tag != entity_tag("g1", "deletion-risk", "a", stale=True)
    gz = tag[:-1] + '-gzip"'
    for header in (tag, gz, f"W/{tag}", f'"x", {gz}', "*"):
        assert not_modified(header, tag), header
    for header in (None, "", '"x"', tag[:-2] + '"'):
        assert not not_modified(header, tag), header


def test_freshness_stale_rules() -> None:
    basis = {
        "computed_at": "100",
        "reference_version": "r",
        "status_at_ms": "1000000",
        "stats_at_ms": "1000000",
    }
    current = CurrentGeneration("g", basis)
    fresh = provenance(current, "deletion-risk", stale_after_seconds=60, now=1030)
    assert not fresh.stale
    assert json.loads(fresh.json)["horde_workers_at"] is None
    assert provenance(current, "deletion-risk", stale_after_seconds=60, now=1100).stale
    assert not provenance(current, "statistics", stale_after_seconds=60, now=99_999).stale  # reference only
    lacking = provenance(current, "with-stats.workers", stale_after_seconds=60, now=1030)
    assert lacking.stale
    assert json.loads(lacking.json)["missing_sources"] == ["horde_workers"]
    assert lacking.headers["X-Missing-Sources"] == "horde_workers"
    assert fresh.headers["Last-Modified"] == "Thu, 01 Jan 1970 00:01:40 GMT"


def test_page_echo_changes_only_the_echo_fields(text_views: dict[str, bytes]) -> None:
    body = text_views["statistics"]
    echoed = json.loads(echo_page(body, 7, 3))
    assert (echoed.pop("offset"), echoed.pop("limit")) == (7, 3)
    original = json.loads(body)
    assert (original.pop("offset"), original.pop("limit")) == (0, None)
    assert echoed == original


def test_cached_selection_renders_the_same_bytes_as_render_risk_json(text_views: dict[str, bytes]) -> None:
    for view in ("deletion-risk", "deletion-risk.grouped", "deletion-risk.variations"):
        index = decode_index(RiskListingIndex, text_views[f"{view}.index"])
        cache = ViewCache(GenerationStore(Redis(), RedisKeys("unused"), superseded_ttl_seconds=1), 64)
        for preset in (None, *VALID_PRESETS[:3]):
            for sort_by in (None, *VALID_SORT_FIELDS[::3]):
                for offset, limit in ((0, None), (5, 10), (10_000, 1)):
                    query = RiskQuery(
                        preset=preset, sort_by=sort_by, descending=True, offset=offset, limit=limit
                    )
                    selection = cache.selection(TEXT, "g", view, index, query)
                    expected = render_risk_json(index, query, run_risk_query(index, query), ',"x":1')
                    returned, models = selection.joined.page(offset, limit)
                    assert returned == len(page(selection.rows, offset, limit))
                    total, summary = len(selection.rows), selection.summary_json
                    rendered = render_risk_page(index, query, total, returned, models, summary, b',"x":1}')
                    assert rendered == expected
        assert isinstance(cache.selections.peek((TEXT, "g", view, None, None, None, True, 0)), Selection)
    assert json.loads(render_risk_json(index, RiskQuery(), run_risk_query(index, RiskQuery()))) == json.loads(
        text_views["deletion-risk.variations"]
    )


def test_lru_with_a_weight_budget_evicts_by_weight_and_never_keeps_an_oversized_value() -> None:
    lru = LRU(100, max_weight=10, weigh=len)
    lru.put("a", b"1234")
    lru.put("b", b"1234")
    assert lru.weight == 8
    lru.put("a", b"12")  # replaced: its old weight is given back
    assert lru.weight == 6
    lru.put("c", b"123456")  # 12 > 10: the least recently used ("b") goes
    assert (lru.peek("b"), lru.weight, len(lru)) == (None, 8, 2)
    lru.put("huge", b"x" * 11)  # above the whole budget: not kept, nothing evicted for it
    assert (lru.peek("huge"), lru.peek("a"), lru.weight) == (None, b"12", 8)


async def test_lru_loads_once_for_concurrent_misses_and_evicts_oldest() -> None:
    lru = LRU(2)
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return "value"

    assert await asyncio.gather(*(lru.get("a", load) for _ in range(5))) == ["value"] * 5
    assert loads == 1

    async def nothing() -> None:
        return None

    assert await lru.get("missing", nothing) is None
    assert lru.peek("missing") is None
    lru.put("b", 1)
    lru.put("c", 2)
    assert lru.peek("a") is None
    assert len(lru) == 2
