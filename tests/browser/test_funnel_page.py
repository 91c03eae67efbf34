"""The funnel page in a real browser: the chart is an SVG with the numbers on it, beside the stage table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.browser.test_web_forms import sign_in
from tests.web.test_stage_pages import pipeline_config

SCREENSHOT_DIR = Path("/tmp/lowcode-screenshots")


def test_funnel_page_draws_the_funnel_with_its_numbers(page: Any, live_server: str, make_tenant: Any) -> None:  # noqa: F811
    """Five leads, three qualified, one lost: the chart and the table say so; a screenshot is taken."""
    tenant = make_tenant(pipeline_config())
    leads = [tenant.create("lead", {"name": f"Lead {i}", "employees": 20 + i}, "rep1") for i in range(5)]
    for lead in leads[:3]:
        tenant.create("call", {"subject": "Visit", "kind": "visit", "lead": lead["id"]}, "rep1")
        moved = tenant.call("POST", f"/api/v1/records/lead/{lead['id']}/stage", "rep1", json={"to": "qualified"})
        assert moved.status_code == 200, moved.get_json()
    lost = tenant.call("POST", f"/api/v1/records/lead/{leads[4]['id']}/stage", "rep1",
                       json={"to": "lost", "reason": "price"})
    assert lost.status_code == 200, lost.get_json()
    page.set_viewport_size({"width": 1900, "height": 1000})
    sign_in(page, live_server, tenant.tokens["rep1"])
    page.goto(f"{live_server}/web/analytics/funnel/sales")
    chart = page.locator("svg.funnel-chart")
    assert chart.is_visible()
    chart_box, table_box = chart.bounding_box(), page.locator("table.stage-table").bounding_box()
    assert table_box["x"] >= chart_box["x"] + chart_box["width"], "the table stands beside the chart"
    assert chart.locator('g[data-stage="new"] text.figure').first.text_content() == "entered 5 · open 1"
    assert chart.locator('g[data-stage="qualified"] text.figure').first.text_content() == "entered 3 · open 3"
    assert chart.locator('g[data-stage="new"] text.conversion').text_content() == "↓ 60%"
    row = page.locator('table.stage-table tr[data-stage="qualified"]')
    assert re.sub(r"\s+", " ", row.inner_text()).startswith("Qualified 30% 3")
    assert page.locator('table.stage-table tr[data-stage="lost"] td').nth(1).inner_text() == "1"
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shot = SCREENSHOT_DIR / "funnel.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
