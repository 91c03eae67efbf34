"""The lead conversion dialog in a real browser: from the lead's page to the dialog, adjust a target and
skip the optional one, land back on the lead with its lineage and follow it to the result and back; and
the live conditions of each target's form work inside its own section of the one page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.browser.test_web_forms import USERS, sign_in

LEAD = {"name": "Wang Wei", "company": "Acme Robotics Ltd", "phone": "13812345678", "industry": "manufacturing",
        "budget": {"amount": 800000, "currency": "CNY"}, "expected_purchase_date": "2027-03-31",
        "source": "exhibition"}


@pytest.fixture
def template_tenant(make_tenant: Any) -> Any:
    return make_tenant(load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document, USERS)


def in_section(page: Any, target: str, key: str) -> Any:
    """A field's box inside one target's section of the dialog."""
    return page.locator(f'#target-{target} [data-field="{key}"]')


def test_convert_a_lead_from_its_page_and_follow_the_lineage(page, live_server, template_tenant):
    """A rep opens the lead, clicks Convert, renames the customer, unticks the opportunity and converts;
    the lead's page lists the customer and contact, the customer link opens the customer with the new
    name, and the customer's page links back to the lead."""
    lead = template_tenant.create("lead", LEAD, "rep1")
    sign_in(page, live_server, template_tenant.tokens["rep1"])
    page.goto(f"{live_server}/web/lead/{lead['id']}/edit")
    page.click("a.button.convert")
    page.wait_for_url(re.compile(rf".*/web/lead/{lead['id']}/convert/lead_to_customer$"))
    name = page.locator('input[name="t.customer.f.name"]')
    assert name.input_value() == "Acme Robotics Ltd"  # prefilled from the lead's company
    name.fill("Acme Robotics Group")
    include = page.locator('input[name="include.opportunity"]')
    assert include.is_checked()
    include.uncheck()
    page.click("form.convert-form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/web/lead/{lead['id']}/edit$"))
    into = page.locator("section.lineage p.converted_into")
    assert into.locator("a").all_inner_texts() == ["Acme Robotics Group", "Wang Wei"]
    assert page.locator("#converted-locked").is_visible()
    assert page.locator("a.button.convert").count() == 0
    assert template_tenant.call("GET", "/api/v1/records/opportunity").get_json()["items"] == []
    into.locator("a", has_text="Acme Robotics Group").click()
    page.wait_for_url(re.compile(r".*/web/customer/[0-9a-z]+/edit$"))
    assert page.input_value('input[name="f.name"]') == "Acme Robotics Group"
    back = page.locator("section.lineage p.converted_from a")
    assert back.all_inner_texts() == ["Wang Wei"]
    assert back.get_attribute("href") == f"/web/lead/{lead['id']}/edit"
    back.click()
    page.wait_for_url(re.compile(rf".*/web/lead/{lead['id']}/edit$"))


def test_live_conditions_work_inside_each_target_section(page, live_server, template_tenant):
    """Ticking the contact as decision maker shows the contact's notes and marks its department required,
    while the customer's own notes field stays as it was; a customer revenue shows the customer's tax id;
    a province narrows only the customer section's cities."""
    lead = template_tenant.create("lead", LEAD, "rep1")
    sign_in(page, live_server, template_tenant.tokens["rep1"])
    page.goto(f"{live_server}/web/lead/{lead['id']}/convert/lead_to_customer")
    contact_notes = in_section(page, "contact", "notes")
    department_mark = in_section(page, "contact", "department").locator(".required-mark")
    customer_notes = in_section(page, "customer", "notes")
    tax_id = in_section(page, "customer", "tax_id")
    assert contact_notes.is_hidden() and department_mark.is_hidden()
    assert customer_notes.is_visible() and tax_id.is_hidden()
    page.check('input[type=checkbox][name="t.contact.f.is_decision_maker"]')
    assert contact_notes.is_visible() and department_mark.is_visible()
    assert customer_notes.is_visible() and tax_id.is_hidden()  # the other section is untouched
    page.fill('input[name="t.customer.f.annual_revenue.amount"]', "20000000")
    assert tax_id.is_visible()
    assert contact_notes.is_visible()
    page.uncheck('input[type=checkbox][name="t.contact.f.is_decision_maker"]')
    assert contact_notes.is_hidden() and department_mark.is_hidden()
    assert tax_id.is_visible()
    page.select_option('select[name="t.customer.f.region.province"]', "440000")
    cities = page.locator('select[name="t.customer.f.region.city"] optgroup:not([hidden]) option')
    assert cities.count() == 21
