"""Both templates convert a lead into a customer, a contact and (optionally) an opportunity."""

from __future__ import annotations

from typing import Any

import pytest

from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES

USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
         ("rep1", "sales_rep", "boss", "east"))

LEADS = {
    "b2b_solution_sales": {"name": "张伟", "company": "上海某某科技有限公司", "phone": "13812345678",
                           "industry": "manufacturing", "budget": {"amount": 800000, "currency": "CNY"},
                           "expected_purchase_date": "2027-03-31", "source": "exhibition"},
    "health_checkup_sales": {"name": "李娜", "company": "杭州某某制造有限公司", "phone": "13912345678",
                             "industry": "manufacturing", "employees": 1200},
}
OPPORTUNITY_OVERRIDES = {"b2b_solution_sales": {}, "health_checkup_sales": {"expected_close_date": "2027-05-31"}}


@pytest.mark.parametrize("template", sorted(LEADS))
def test_a_template_lead_converts(make_tenant: Any, template: str) -> None:
    """Preview, convert with the opportunity, then the lead is read-only and a second lead links the customer."""
    tenant = make_tenant(load_config(PROJECT_TEMPLATES / template).document, USERS)
    lead = tenant.create("lead", LEADS[template], "rep1")
    path = f"/api/v1/conversions/lead_to_customer/{lead['id']}"
    preview = tenant.call("GET", path, "rep1").get_json()
    assert preview["convertible"] is True
    assert preview["targets"]["customer"]["values"]["name"] == LEADS[template]["company"]
    response = tenant.call("POST", path, "rep1",
                           json={"targets": {"opportunity": OPPORTUNITY_OVERRIDES[template]}})
    assert response.status_code == 201, response.get_json()
    made = response.get_json()["targets"]
    assert {k: v["action"] for k, v in made.items()} == {"customer": "created", "contact": "created",
                                                         "opportunity": "created"}
    opportunity = tenant.call("GET", f"/api/v1/records/opportunity/{made['opportunity']['id']}").get_json()
    assert opportunity["data"]["customer"] == made["customer"]["id"]
    assert opportunity["pipeline"]["stage"] == tenant.call(
        "GET", f"/api/v1/records/opportunity/{made['opportunity']['id']}/stages").get_json()["items"][0]["to"]
    again = tenant.create("lead", {**LEADS[template], "name": "王磊", "phone": "13700000000"}, "rep1")
    second = tenant.call("POST", f"/api/v1/conversions/lead_to_customer/{again['id']}", "rep1",
                         json={"targets": {"opportunity": None}}).get_json()["targets"]
    assert second["customer"] == {"entity": "customer", "id": made["customer"]["id"], "action": "linked"}
