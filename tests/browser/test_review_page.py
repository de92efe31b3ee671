"""The review page in a real headless Chromium against the running stack (issue 20).

Figures (first contentful paint of the full text table) are printed as ``REVIEW:`` lines and
written to ``${HORDE_ARTIFACTS_DIR:-.ci/work/artifacts}/review/figures.json``, never asserted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.browser.conftest import IMAGE, TEXT, ReviewStack, artifacts

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FIGURES: dict[str, float] = {}
ROWS = "tr[data-model]"


@pytest.fixture
def page(browser: Any, review_stack: ReviewStack) -> Iterator[Any]:
    context = browser.new_context(base_url=review_stack.gateway, viewport={"width": 1400, "height": 900},
                                  accept_downloads=True)  # fmt: skip
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    try:
        yield tab
    finally:
        context.close()


def _first_paint(tab: Any) -> dict[str, float]:
    """First contentful paint and, to tell server from browser time, the navigation's response times."""
    found: dict[str, float] = tab.evaluate(
        """() => {
          const nav = performance.getEntriesByType('navigation')[0];
          const paint = performance.getEntriesByName('first-contentful-paint')[0];
          return {first_contentful_paint: paint ? paint.startTime : -1, response_start: nav.responseStart,
                  response_end: nav.responseEnd, dom_interactive: nav.domInteractive};
        }"""
    )
    return {k: round(v) for k, v in found.items()}


def shot(tab: Any, name: str, *, full: bool = False) -> None:
    tab.screenshot(path=str(artifacts() / f"{name}.png"), full_page=full)


def test_the_table_loads_with_the_api_row_count_and_paints_fast(page: Any, review_stack: ReviewStack) -> None:
    total = review_stack.api(f"{TEXT}/deletion-risk").json()["total_count"]
    assert total > 500  # the full text category
    page.goto(f"/review/{TEXT}")
    assert page.locator(ROWS).count() == total
    assert page.locator("#total").inner_text() == str(total)
    paints = [_first_paint(page)]
    for _ in range(2):  # warm loads (same generation: the rendered page is reused)
        page.reload()
        paints.append(_first_paint(page))
    size = len(httpx.get(f"{review_stack.gateway}/review/{TEXT}", timeout=30).content)
    FIGURES.update({"text_rows": total, "text_page_bytes": size, "text_loads_ms": paints})
    fcp = ", ".join(str(p["first_contentful_paint"]) for p in paints)
    print(f"\nREVIEW: full text table ({total} rows, {size} bytes): first contentful paint {fcp} ms "
          f"(first load, reloads); timings {paints}")  # fmt: skip
    (artifacts() / "figures.json").write_text(json.dumps(FIGURES, indent=2))
    assert page.locator("svg.spark path").count() > 0  # sparklines drawn from the backfilled history
    freshness = page.locator("#freshness")
    assert re.match(r"Horde data from \d+ (s|min) ago; reference version \S+; fresh$", freshness.inner_text())
    shot(page, "table-text")
    page.goto("/review/")
    assert page.locator("table.categories tbody tr").count() == 2
    shot(page, "index", full=True)
    # The lines tick client-side: data older than the stale limit turns red and says "stale"
    # (on the category list, which follows no event stream that could move the time on).
    line = page.locator(".freshness").first
    assert line.inner_text().endswith("; fresh")
    line.evaluate("(p) => { p.dataset.hordeAt = String(Math.round(Date.now() / 1000) - 3600); }")
    page.wait_for_selector(".freshness.stale")
    assert line.inner_text().endswith("; stale")
    assert line.locator("strong.state").inner_text() == "stale"


def test_a_preset_and_a_search_change_the_rows(page: Any, review_stack: ReviewStack) -> None:
    page.goto(f"/review/{IMAGE}")
    everything = page.locator(ROWS).count()
    page.select_option("select[name=preset]", "no_workers")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**preset=no_workers**")
    expected = review_stack.api(f"{IMAGE}/deletion-risk", preset="no_workers").json()["total_count"]
    assert page.locator(ROWS).count() == expected < everything
    page.fill("input[name=search]", "anything")
    page.press("input[name=search]", "Enter")  # the keyboard submits the form
    page.wait_for_url("**search=anything**")
    expected = review_stack.api(f"{IMAGE}/deletion-risk", preset="no_workers", search="anything").json()
    assert page.locator(ROWS).count() == expected["total_count"]
    # Sorting by a header link: aria-sort marks the column, the order is the API's.
    page.goto(f"/review/{IMAGE}")
    page.click("thead th >> text=Workers")
    page.wait_for_url("**sort_by=worker_count**")
    assert page.locator("th[aria-sort=descending]").inner_text().startswith("Workers")
    api = review_stack.api(f"{IMAGE}/deletion-risk", sort_by="worker_count", limit=5).json()["models"]
    shown = page.locator(f"{ROWS} th").all_inner_texts()[:5]
    assert shown == [m["name"] for m in api]
    shot(page, "table-image-sorted")


def test_the_model_page_draws_its_charts_from_the_history(page: Any, review_stack: ReviewStack) -> None:
    model = review_stack.moved_model
    history = review_stack.api(f"{TEXT}/deletion-risk/{model}/history", days=90).json()["series"]
    with_data = sum(1 for p in history if p["has_data"])
    assert with_data >= 10  # backfilled days plus today
    page.goto(f"/review/{TEXT}/model/{quote(model)}")
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    for i in range(3):
        drawn = charts.nth(i).locator("path").get_attribute("d") or ""
        dots = charts.nth(i).locator("circle").count()
        assert drawn.count("L") + dots + drawn.count("M") >= 2
    assert page.get_by_text(f"{len(history)} days").count() == 1
    shot(page, "model-text", full=True)


def test_the_proposal_downloads_byte_identical_to_the_api(page: Any, review_stack: ReviewStack) -> None:
    page.goto(f"/review/{IMAGE}/proposal?preset=zero_usage&preset=no_workers")
    assert page.locator("h2", has_text="Would break").count() == 1
    for label in ("Markdown", "Patch"):
        link = page.locator("p.downloads a", has_text=label)
        href = link.get_attribute("href")
        with page.expect_download() as download:
            link.click()
        saved = Path(download.value.path()).read_bytes()
        assert saved == httpx.get(review_stack.gateway + href, timeout=30).content
        assert "preset=no_workers" in href
        assert "preset=zero_usage" in href
    shot(page, "proposal-image", full=True)


def test_without_javascript_tables_and_links_are_readable(browser: Any, review_stack: ReviewStack) -> None:
    context = browser.new_context(base_url=review_stack.gateway, java_script_enabled=False,
                                  viewport={"width": 1400, "height": 900})  # fmt: skip
    try:
        tab = context.new_page()
        tab.goto(f"/review/{IMAGE}?preset=critical&limit=50")
        total = review_stack.api(f"{IMAGE}/deletion-risk", preset="critical").json()["total_count"]
        assert tab.locator(ROWS).count() == min(50, total)
        freshness = tab.locator("#freshness").inner_text()
        assert freshness.startswith("Horde data from 20")
        assert "reference version" in freshness
        first = tab.locator(f"{ROWS} th a").first
        name = first.inner_text()
        first.click()
        tab.wait_for_url("**/model/**")
        assert tab.locator("h1").inner_text() == name
        assert tab.locator("svg.chart").count() == 3
        tab.goto(f"/review/{IMAGE}/proposal")
        assert tab.locator("p.downloads a").count() == 4
        tab.screenshot(path=str(artifacts() / "proposal-image-nojs.png"))
    finally:
        context.close()


def test_a_risk_change_updates_its_row_without_reload(page: Any, review_stack: ReviewStack) -> None:
    """Runs last: it moves the stand-in to the frame where one text model lost its workers."""
    model = review_stack.moved_model
    page.goto(f"/review/{TEXT}")
    page.wait_for_function("document.body.dataset.live === 'open'")
    page.evaluate("window.notReloaded = true")
    row = page.locator(f'{ROWS}[data-model="{model}"]')
    row.scroll_into_view_if_needed()
    before = row.bounding_box()
    following = page.locator(ROWS).nth(page.locator(ROWS).evaluate_all(
        f"(rows) => rows.findIndex((r) => r.dataset.model === {json.dumps(model)}) + 1"
    )).bounding_box()  # fmt: skip
    assert "no workers" not in row.locator(".c-flags").inner_text()
    httpx.post(f"{review_stack.standin}/_control/frame/1", timeout=10).raise_for_status()
    page.wait_for_function(
        "(name) => [...document.querySelectorAll('tr[data-model]')].some((r) => r.dataset.model === name"
        " && r.querySelector('.c-flags').textContent.includes('no workers'))",
        arg=model,
        timeout=60_000,
    )
    assert page.evaluate("window.notReloaded") is True
    assert "updated" in (row.get_attribute("class") or "")
    assert row.locator(".c-workers .v").inner_text() == "0"
    assert page.locator("#live").inner_text()  # the polite live region announced the updates
    after = row.bounding_box()
    assert after is not None
    assert before is not None
    assert following is not None
    assert (after["y"], after["height"]) == (before["y"], before["height"])  # no layout jump
    shot(page, "table-text-live-update")
