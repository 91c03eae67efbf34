"""The web pages in a real browser: sign in, fill a generated form, see errors next to fields, watch a
conditional field appear as its condition becomes true, and find the record in the list; XSS payloads in
labels and values stay text."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.configs import crm

USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
         ("rep1", "sales_rep", "boss", "east"))
XSS = "<img src=x onerror=\"window.__xss=1;alert(1)\">"


@pytest.fixture
def template_tenant(make_tenant: Any) -> Any:
    return make_tenant(load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document, USERS)


def sign_in(page: Any, base: str, token: str, lang: str = "en") -> None:
    page.goto(f"{base}/web/sign-in?lang={lang}")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/web/$"))
    page.set_default_timeout(5000)


def submit(page: Any) -> None:
    page.click("form[data-lowcode-form] button[type=submit]")


def field(page: Any, key: str) -> Any:
    return page.locator(f'[data-field="{key}"]')


def test_fill_a_generated_form_fix_errors_and_find_the_record(page, live_server, template_tenant):
    """A rep signs in, submits a lead with errors, sees each next to its field, fixes them and finds the lead."""
    sign_in(page, live_server, template_tenant.tokens["rep1"])
    page.goto(f"{live_server}/web/lead/new")
    page.fill('input[name="f.name"]', "Wang Wei")
    page.fill('input[name="f.phone"]', "12345")
    submit(page)
    assert page.locator("#err-company").inner_text() == "is required"
    assert page.locator("#err-phone").inner_text() == "is not in the expected format"
    assert page.input_value('input[name="f.name"]') == "Wang Wei"  # what was typed is kept
    page.fill('input[name="f.company"]', "Acme Robotics")
    page.fill('input[name="f.phone"]', "13812345678")
    submit(page)
    page.wait_for_url(re.compile(r".*/web/lead$"))
    row = page.locator("table.records tbody tr", has_text="Wang Wei")
    assert row.count() == 1 and "Acme Robotics" in row.inner_text()


def test_a_field_appears_when_its_condition_becomes_true(page, live_server, template_tenant):
    """expected_purchase_date shows only for near-term timing, and is required within three months."""
    sign_in(page, live_server, template_tenant.tokens["rep1"])
    page.goto(f"{live_server}/web/lead/new")
    date = field(page, "expected_purchase_date")
    assert date.is_hidden()
    page.select_option('select[name="f.timing"]', "later")
    assert date.is_hidden()
    page.select_option('select[name="f.timing"]', "within_6_months")
    assert date.is_visible()
    assert date.locator(".required-mark").is_hidden()
    page.select_option('select[name="f.timing"]', "within_3_months")
    assert date.locator(".required-mark").is_visible()
    page.fill('input[name="f.name"]', "Li Na")
    page.fill('input[name="f.company"]', "Acme")
    page.fill('input[name="f.email"]', "li@example.com")
    submit(page)
    assert page.locator("#err-expected_purchase_date").inner_text() == "is required"
    assert field(page, "expected_purchase_date").is_visible()  # the server rendered it shown, too
    page.fill('input[name="f.expected_purchase_date"]', "2027-01-15")
    submit(page)
    page.wait_for_url(re.compile(r".*/web/lead$"))
    assert page.locator("table.records", has_text="Li Na").count() == 1


def test_errors_are_in_the_users_language(page, live_server, template_tenant):
    """Signed in with Chinese chosen, the same error reads in Chinese."""
    sign_in(page, live_server, template_tenant.tokens["rep1"], lang="zh")
    page.goto(f"{live_server}/web/lead/new")
    page.fill('input[name="f.name"]', "王伟")
    submit(page)
    assert page.locator("#err-company").inner_text() == "为必填项"
    assert "公司名称" in field(page, "company").locator("label").inner_text()


def test_xss_payloads_in_labels_and_values_stay_text(page, live_server, make_tenant):
    """A label and a value holding an <img onerror> payload are shown as text on list and form pages."""
    document = crm()
    lead = document["entities"]["lead"]
    lead["label"] = {"en": XSS, "zh": XSS}
    lead["fields"]["name"]["label"] = {"en": XSS, "zh": XSS}
    tenant = make_tenant(document)
    tenant.create("lead", {"name": XSS})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live_server, tenant.tokens["admin"])
    page.goto(f"{live_server}/web/lead")
    assert page.locator("table.records td", has_text=XSS).count() == 1
    assert page.locator("th", has_text=XSS).count() == 1
    record_id = page.locator("table.records tbody tr").first.get_attribute("data-id")
    page.goto(f"{live_server}/web/lead/{record_id}/edit")
    assert page.input_value('input[name="f.name"]') == XSS
    assert field(page, "name").locator("label").inner_text().startswith(XSS)
    assert page.locator("img").count() == 0
    assert page.evaluate("window.__xss") is None and dialogs == []


def test_region_cascade_offers_the_chosen_provinces_cities_and_saves_both(page, live_server, template_tenant):
    """Choosing a province narrows the city list to its cities; the lead is saved with both codes."""
    sign_in(page, live_server, template_tenant.tokens["rep1"])
    page.goto(f"{live_server}/web/lead/new")
    page.select_option('select[name="f.region.province"]', "440000")
    cities = page.locator('select[name="f.region.city"] optgroup:not([hidden]) option')
    assert cities.count() == 21
    page.select_option('select[name="f.region.city"]', "440100")
    page.fill('input[name="f.name"]', "Zhao Min")
    page.fill('input[name="f.company"]', "Pearl River Co")
    page.fill('input[name="f.phone"]', "13900000000")
    submit(page)
    page.wait_for_url(re.compile(r".*/web/lead$"))
    lead = template_tenant.call("GET", "/api/v1/records/lead?name=Zhao%20Min").get_json()["items"][0]
    assert lead["data"]["region"] == {"province": "440000", "city": "440100"}


def test_a_date_time_condition_reads_the_input_in_the_tenants_time_zone(page, live_server, make_tenant):
    """A datetime-local input is read in the tenant's zone before it meets a UTC constant, as the server reads it."""
    document = crm()
    document["tenant"]["timezone"] = "Asia/Shanghai"
    document["forms"] = {"lead": {"create": {"sections": [{"fields": [
        "name", "met_at", {"field": "notes", "visible_if": {"$gt": {"met_at": "2026-03-10T15:00:00Z"}}}]}]}}}
    tenant = make_tenant(document)
    sign_in(page, live_server, tenant.tokens["admin"])
    page.goto(f"{live_server}/web/lead/new")
    notes = field(page, "notes")
    page.fill('input[name="f.met_at"]', "2026-03-10T20:00")  # 12:00 UTC: not after 15:00 UTC
    assert notes.is_hidden()
    page.fill('input[name="f.met_at"]', "2026-03-11T00:00")  # 16:00 UTC
    assert notes.is_visible()
    page.fill('input[name="f.name"]', "Timed")
    page.fill('textarea[name="f.notes"]', "kept")
    submit(page)
    page.wait_for_url(re.compile(r".*/web/lead$"))
    lead = tenant.call("GET", "/api/v1/records/lead?name=Timed").get_json()["items"][0]
    assert lead["data"]["met_at"] == "2026-03-10T16:00:00.000Z" and lead["data"]["notes"] == "kept"
