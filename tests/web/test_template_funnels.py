"""Both templates' funnels answer through the API and draw on the funnel page."""

from __future__ import annotations

from typing import Any

import pytest

from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES

USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
         ("rep1", "sales_rep", "boss", "east"))


@pytest.mark.parametrize(("template", "pipeline", "first"), [
    ("b2b_solution_sales", "enterprise_sales", "discover"),
    ("health_checkup_sales", "group_checkup", "lead"),
])
def test_a_templates_funnel_answers_and_draws(make_tenant: Any, browser: Any, template: str, pipeline: str,
                                              first: str) -> None:
    """The funnel endpoint lists every stage of the template's pipeline, and the page draws a bar for each."""
    tenant = make_tenant(load_config(PROJECT_TEMPLATES / template).document, USERS)
    funnel = tenant.call("GET", f"/api/v1/analytics/funnel/{pipeline}", "boss").get_json()
    stages = [s["key"] for s in funnel["stages"]]
    assert stages[0] == first and stages[-1] == "lost"
    page = browser(tenant, "boss").get(f"/web/analytics/funnel/{pipeline}?lang=zh")
    assert page.status_code == 200
    assert all(f'data-stage="{key}"' in page.text for key in stages[:-1])
    assert "销售漏斗" in page.text
