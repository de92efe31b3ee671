"""The review page's HTML builders: escaping, empty categories, gaps in history, sort/paging links."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

from services.gateway.review.assets import asset, asset_url
from services.gateway.review.data import spark_of
from services.gateway.review.html import freshness_line, url
from services.gateway.review.pages import CategoryEntry, ModelView, index_page, model_page, proposal_page
from services.gateway.review.svg import line_chart, sparkline
from services.gateway.review.table import Spark, TablePage, TableQuery, risk_table
from shared.domain.categories import ModelCategory
from shared.domain.impact.models import ModelImpact
from shared.domain.proposal.models import (
    Candidate,
    CandidateEvidence,
    ProposalBasis,
    RemovalPolicy,
    RemovalProposal,
)
from shared.domain.risk.models import DeletionRiskFlags, ModelDeletionRiskInfo

NASTY = 'evil<script>alert("x")</script>&co/7b'


class _Collector(HTMLParser):
    """Parses a document, collecting text and element names (a malformed nesting would show)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


def row(name: str, **changes: object) -> dict[str, object]:
    info = ModelDeletionRiskInfo(
        name=name,
        category=ModelCategory.TEXT_GENERATION,
        deletion_risk_flags=DeletionRiskFlags(no_active_workers=True, low_usage=True),
        at_risk=True,
        risk_score=2,
        worker_count=0,
        usage_month=1234,
        impact=ModelImpact(sole_serving_workers=1, disk_reclaimed_gb=2.5),
    )
    return info.model_dump(mode="json") | changes


FRESH = freshness_line(
    {"horde_status_at": 1_765_000_000, "reference_version": "abcdef0123456789", "stale": False},
    confirmed_at=None,
    stale_after=600,
)


def test_model_names_with_markup_are_escaped_in_text_links_and_attributes() -> None:
    page = TablePage(
        "text_generation", TableQuery(), 1, [row(NASTY)], {NASTY: Spark([1, None, 3], [0, 0, 1], 3)}
    )
    html = risk_table(page)
    assert "<script>" not in html
    assert 'data-model="evil&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co/7b"' in html
    assert "/review/text_generation/model/evil%3Cscript%3Ealert%28%22x%22%29%3C/script%3E%26co/7b" in html
    parsed = parse(html)
    assert NASTY in "".join(parsed.text)
    assert "script" not in parsed.tags


def test_every_row_shows_flags_as_text_badges_days_and_impact() -> None:
    html = risk_table(
        TablePage("text_generation", TableQuery(), 1, [row("m", lifecycle={"days_at_risk": 9})])
    )
    text = " ".join(parse(html).text)
    for words in ("at risk", "no workers", "low usage", "1 sole worker", "2.5 GB", "1,234"):
        assert words in text
    assert '<td class="c-days num">9</td>' in html


def test_an_empty_category_renders_a_table_saying_so() -> None:
    html = risk_table(TablePage("image_generation", TableQuery(preset="critical"), 0, []))
    assert "No models match." in html
    assert "Rows 0–0 of" in html
    assert "<table" in html
    assert "</table>" in html


def test_sort_links_carry_the_api_parameters_and_aria_sort_marks_the_active_column() -> None:
    query = TableQuery(preset="zero_usage", search="llama", sort_by="usage_month", sort_desc=True, limit=50)
    html = risk_table(TablePage("text_generation", query, 120, [row("m")]))
    assert 'aria-sort="descending"' in html
    assert html.count("aria-sort=") == 1
    assert (
        "preset=zero_usage&amp;search=llama&amp;sort_by=usage_month&amp;sort_desc=false&amp;limit=50" in html
    )
    assert re.search(r'rel="next" href="[^"]*offset=50', html)
    assert 'rel="prev"' not in html
    assert '<th scope="col"' in html
    assert '<th scope="row"' in html


def test_sparklines_break_at_gaps_and_have_titles() -> None:
    svg = sparkline([1, 2, None, None, 4, 5], label="usage of <x>")
    assert svg.count("M") == 2  # two runs: the gap is not drawn as zero
    assert "<title>usage of &lt;x&gt;</title>" in svg
    assert "empty" in sparkline([None, None], label="nothing")
    lone = sparkline([None, 3, None], label="one day")
    assert "<circle" in lone


def test_model_page_with_gaps_in_history_draws_three_charts_and_counts_the_gaps() -> None:
    points = [
        {"day": "2026-12-01", "has_data": True, "usage": 10, "workers_mean": 2.0, "risk_level": "clear"},
        {"day": "2026-12-02", "has_data": False},
        {"day": "2026-12-03", "has_data": True, "usage": 0, "workers_mean": 0.0, "risk_level": "critical"},
    ]
    events = [{"at": "2026-12-01T00:00:00Z", "kind": "added", "version": "v1", "fields": [], "initial": True}]
    html = model_page(ModelView("text_generation", NASTY, row(NASTY), points, events), FRESH)
    assert html.count('<svg class="chart"') == 3
    assert "3 days, 1 without data" in html
    assert "(initial load)" in html
    assert "<script>alert" not in html
    assert NASTY in "".join(parse(html).text)


def test_model_page_without_history_says_so() -> None:
    html = model_page(ModelView("image_generation", "m", None, [], []), FRESH)
    assert "No history recorded" in html
    assert "not in the current reference" in html


def test_freshness_line_says_stale_in_words() -> None:
    stale = freshness_line({"horde_status_at": 5, "reference_version": "r", "stale": True}, confirmed_at=9,
                           stale_after=600)  # fmt: skip
    assert 'class="freshness stale"' in stale
    assert ">stale</strong>" in stale
    assert 'data-horde-at="9"' in stale
    assert ">fresh</span>" in FRESH


def test_index_lists_categories_with_counts_or_the_reason() -> None:
    html = index_page(
        [
            CategoryEntry("image_generation", FRESH, 200, 50, 3),
            CategoryEntry("text_generation", note="No views yet"),
        ]
    )
    assert "No views yet" in html
    assert "200" in html
    assert 'href="/review/image_generation/proposal"' in html


def test_proposal_page_links_the_api_downloads_and_escapes_names() -> None:
    candidate = Candidate(name=NASTY, reasons=("critical",), evidence=CandidateEvidence(flags=("low_usage",)),
                          impact=ModelImpact())  # fmt: skip
    proposal = RemovalProposal(
        category=ModelCategory.TEXT_GENERATION,
        basis=ProposalBasis(category=ModelCategory.TEXT_GENERATION, generation="g1", reference_version="r"),
        policy=RemovalPolicy(),
        candidates=(candidate,),
    )
    downloads = [("Markdown", "/api?x=1&format=markdown")]
    html = proposal_page("text_generation", proposal, "", downloads, FRESH)
    assert 'href="/api?x=1&amp;format=markdown" download' in html
    assert "<script>alert" not in html
    assert "Would break" in html
    assert "every removal is clean" in html


def test_urls_keep_slashes_in_model_names_and_drop_empty_parameters() -> None:
    assert url("text_generation", "model", "a/b c") == "/review/text_generation/model/a/b%20c"
    assert url("x", query=[("preset", ""), ("search", "a b")]) == "/review/x?search=a+b"


def test_assets_are_packaged_and_versioned_by_content() -> None:
    css = asset("review.css")
    assert css is not None
    assert css.media_type.startswith("text/css")
    assert asset_url("review.css").endswith("?v=" + css.etag.strip('"'))
    assert asset("../app.py") is None
    assert asset("review.py") is None


def test_line_chart_names_risk_levels_on_its_axis() -> None:
    svg = line_chart([0, 2, None], title="risk", first_label=str(date(2026, 1, 1)), last_label="x",
                     levels=("clear", "at_risk", "critical"))  # fmt: skip
    for level in ("clear", "at_risk", "critical"):
        assert f">{level}</text>" in svg


def test_spark_data_keeps_days_without_data_as_gaps() -> None:
    raws = ['{"has_data":true,"usage":5,"workers_mean":1.5}', None, '{"has_data":false}']
    spark = spark_of(raws, 3)
    assert list(spark.usage) == [5, None, None]
    assert list(spark.workers) == [1.5, None, None]
