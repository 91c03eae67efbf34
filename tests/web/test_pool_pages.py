"""Pools on the web, with the b2b template's customer public pool: the home page's pool list, a pool's page
with claim (and assignment for its admins), the release form and pool history on a record's page, and
errors (cap, cooldown, missing reason) shown on the page. Pages are posted as a browser posts them
without JavaScript.
"""

from __future__ import annotations

import re
from typing import Any

from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.web.test_pages import csrf_of

USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
         ("rep1", "sales_rep", "boss", "east"), ("rep2", "sales_rep", "boss", "east"))
POOL = "customer_public"
TAX_ID = "91310000MA1K4XYN8Q"  # hidden in the pool until claimed


def b2b_tenant(make_tenant: Any, cap: int | None = None) -> Any:
    document = load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document
    if cap is not None:
        document["pools"][POOL]["limits"]["owner_cap"] = cap
    return make_tenant(document, USERS)


def released(tenant: Any, client: Any, name: str = "Acme Robotics", **data: Any) -> dict[str, Any]:
    """A customer rep1 made and gave back to the public pool through the record's page."""
    customer = tenant.create("customer", {"name": name, "tax_id": data.pop("tax_id", TAX_ID), **data}, "rep1")
    page = client.get(f"/web/customer/{customer['id']}/edit")
    response = client.post(f"/web/pools/{POOL}/release", data={
        "csrf_token": csrf_of(page.text), "id": customer["id"], "reason": "no_need", "comment": "call in Q3"})
    assert response.status_code == 303, response.text
    return customer


def pool_errors(html: str) -> list[str]:
    block = re.search(r'id="pool-errors">(.*?)</div>', html, re.S)
    return re.findall(r'<p class="error">([^<]*)</p>', block.group(1)) if block else []


def test_the_home_page_lists_the_pools_a_user_works_in(make_tenant: Any, browser: Any) -> None:
    """A rep sees the customer pool and the national lead pool, with how many records each holds."""
    tenant = b2b_tenant(make_tenant)
    released(tenant, browser(tenant, "rep1"))
    home = browser(tenant, "rep2").get("/web/?lang=en").text
    pools = re.search(r'<ul class="entities pools">(.*?)</ul>', home, re.S)
    assert pools is not None
    assert re.search(r'href="/web/pools/customer_public">Customer public pool</a> <span class="muted">\(1\)</span>',
                     pools.group(1))
    assert 'href="/web/pools/lead_national"' in pools.group(1)
    assert 'href="/web/pools/lead_north"' not in pools.group(1)  # team north only


def test_a_released_customer_shows_in_the_pool_without_its_hidden_fields_and_can_be_claimed(
        make_tenant: Any, browser: Any) -> None:
    """rep1 releases with a reason; rep2 sees the customer in the pool without the hidden tax id, claims it,
    lands on its page (now showing the tax id) and reads who had it and why."""
    tenant = b2b_tenant(make_tenant)
    customer = released(tenant, browser(tenant, "rep1"))
    rep2 = browser(tenant, "rep2")
    page = rep2.get(f"/web/pools/{POOL}?lang=en")
    assert page.status_code == 200
    assert f'data-id="{customer["id"]}"' in page.text and "Acme Robotics" in page.text
    assert TAX_ID not in page.text
    claim = rep2.post(f"/web/pools/{POOL}/claim", data={"csrf_token": csrf_of(page.text), "id": customer["id"]})
    assert claim.status_code == 303
    assert claim.headers["Location"].endswith(f"/web/customer/{customer['id']}/edit")
    record = rep2.get(claim.headers["Location"] + "?lang=en").text
    assert TAX_ID in record
    history = re.search(r'<table class="pool-history">(.*?)</table>', record, re.S)
    assert history is not None
    rows = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>\s*<td>([^<]*)</td>",
                      history.group(1))
    assert rows == [("released", "rep1", "", "No need for now · call in Q3"), ("claimed", "", "rep2", "")]
    assert tenant.call("GET", f"/api/v1/records/customer/{customer['id']}", "rep2").get_json()["owner_id"] \
        == tenant.user_ids["rep2"]


def test_a_release_without_a_reason_shows_the_error_and_keeps_the_owner(make_tenant: Any, browser: Any) -> None:
    """The pool asks for a reason: posting none answers 422 with the message in the pool section."""
    tenant = b2b_tenant(make_tenant)
    customer = tenant.create("customer", {"name": "Acme"}, "rep1")
    client = browser(tenant, "rep1")
    page = client.get(f"/web/customer/{customer['id']}/edit?lang=en")
    response = client.post(f"/web/pools/{POOL}/release", data={"csrf_token": csrf_of(page.text), "id": customer["id"]})
    assert response.status_code == 422
    assert pool_errors(response.text) == ["Reason: is required"]
    assert tenant.call("GET", f"/api/v1/records/customer/{customer['id']}", "rep1").get_json()["owner_id"] \
        == tenant.user_ids["rep1"]


def test_claiming_back_within_the_cooldown_shows_why_on_the_pool_page(make_tenant: Any, browser: Any) -> None:
    """rep1 released the customer moments ago: claiming it back answers 409 with the cooldown message."""
    tenant = b2b_tenant(make_tenant)
    rep1 = browser(tenant, "rep1")
    customer = released(tenant, rep1)
    page = rep1.get(f"/web/pools/{POOL}?lang=en")
    response = rep1.post(f"/web/pools/{POOL}/claim", data={"csrf_token": csrf_of(page.text), "id": customer["id"]})
    assert response.status_code == 409
    assert pool_errors(response.text) == [
        "this record left you less than 7 days ago; it cannot come back to you yet"]
    assert f'data-id="{customer["id"]}"' in response.text  # still listed: nothing changed


def test_a_claim_beyond_the_cap_is_refused_on_the_page(make_tenant: Any, browser: Any) -> None:
    """With a cap of 1, rep2, who owns a customer already, cannot claim another."""
    tenant = b2b_tenant(make_tenant, cap=1)
    customer = released(tenant, browser(tenant, "rep1"))
    tenant.create("customer", {"name": "Own Co"}, "rep2")
    rep2 = browser(tenant, "rep2")
    page = rep2.get(f"/web/pools/{POOL}?lang=en")
    response = rep2.post(f"/web/pools/{POOL}/claim", data={"csrf_token": csrf_of(page.text), "id": customer["id"]})
    assert response.status_code == 409
    assert pool_errors(response.text) == ["the owner may hold at most 1 of these records (holds 1, adding 1)"]


def test_a_pool_admin_assigns_from_the_pool_page(make_tenant: Any, browser: Any) -> None:
    """The sales manager (a pool admin) sees an assignment picker and gives the customer to rep2; reps see
    only the claim button."""
    tenant = b2b_tenant(make_tenant)
    customer = released(tenant, browser(tenant, "rep1"))
    assert 'class="inline assign"' not in browser(tenant, "rep2").get(f"/web/pools/{POOL}").text
    boss = browser(tenant, "boss")
    page = boss.get(f"/web/pools/{POOL}")
    assert 'class="inline assign"' in page.text
    response = boss.post(f"/web/pools/{POOL}/assign", data={
        "csrf_token": csrf_of(page.text), "id": customer["id"], "to": tenant.user_ids["rep2"]})
    assert response.status_code == 303
    assert tenant.call("GET", f"/api/v1/records/customer/{customer['id']}", "boss").get_json()["owner_id"] \
        == tenant.user_ids["rep2"]


def test_pool_posts_need_the_csrf_token(make_tenant: Any, browser: Any) -> None:
    """A claim without the session's CSRF token is refused (400) and claims nothing."""
    tenant = b2b_tenant(make_tenant)
    customer = released(tenant, browser(tenant, "rep1"))
    response = browser(tenant, "rep2").post(f"/web/pools/{POOL}/claim", data={"id": customer["id"]})
    assert response.status_code == 400
    assert tenant.call("GET", f"/api/v1/pools/{POOL}/records", "rep2").get_json()["items"][0]["id"] == customer["id"]


def test_a_non_member_gets_no_pool_page(make_tenant: Any, browser: Any) -> None:
    """The north lead pool is for team north: an east rep's request is a 404 page."""
    tenant = b2b_tenant(make_tenant)
    assert browser(tenant, "rep1").get("/web/pools/lead_north").status_code == 404


def test_pool_texts_in_chinese_and_values_escaped(make_tenant: Any, browser: Any) -> None:
    """`?lang=zh` shows the pool in Chinese; a customer name with markup is shown as text."""
    tenant = b2b_tenant(make_tenant)
    released(tenant, browser(tenant, "rep1"), name="<b>Bold</b> Co")
    page = browser(tenant, "rep2").get(f"/web/pools/{POOL}?lang=zh").text
    assert "<h1>客户公海</h1>" in page and ">领取</button>" in page
    assert "&lt;b&gt;Bold&lt;/b&gt; Co" in page and "<b>Bold</b>" not in page
