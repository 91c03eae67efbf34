"""The b2b_solution_sales template's pools end to end: leads routed by region and pushed round robin, the
customer public pool's claim, cap and recycling (no follow-up for 15 days, warned 3 days before)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from lowcode_platform.accounts.service import active_config, find_tenant
from lowcode_platform.records.pool_sweep import sweep_tenant
from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES

USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
         ("rep1", "sales_rep", "boss", "east"), ("rep2", "sales_rep", "boss", "east"),
         ("rep3", "sales_rep", None, "north"))
SHANGHAI = {"province": "310000"}
BEIJING = {"province": "110000"}


def template_tenant(make_tenant: Any) -> Any:
    return make_tenant(load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document, USERS)


def sweep(app: Any, tenant: Any, now: datetime) -> dict[str, Any]:
    platform = app.extensions["lowcode"]
    with platform.open_session(write=True) as session:
        found = find_tenant(session, tenant.slug)
        config = active_config(session, platform.config_cache, found.id, found.active_version)
        result = sweep_tenant(session, config, found.id, now)
    assert result is not None
    return result["pools"]


def owner_of(tenant: Any, entity: str, record_id: str) -> str | None:
    return tenant.call("GET", f"/api/v1/records/{entity}/{record_id}").get_json()["owner_id"]


def test_an_admins_leads_go_to_their_regions_pool_and_are_pushed_round_robin(make_tenant: Any) -> None:
    """Leads an admin enters from Shanghai alternate between the east team's members (boss, rep1, rep2 in
    id order); a Beijing lead goes to the north team's only member; each push is a pool event."""
    tenant = template_tenant(make_tenant)
    east = sorted(tenant.user_ids[name] for name in ("boss", "rep1", "rep2"))
    owners = [owner_of(tenant, "lead", tenant.create("lead", {"name": f"L{i}", "company": "Co", "region": SHANGHAI},
                                                     "admin")["id"]) for i in range(6)]
    assert owners == east + east
    north = tenant.create("lead", {"name": "N", "company": "Co", "region": BEIJING}, "admin")
    assert owner_of(tenant, "lead", north["id"]) == tenant.user_ids["rep3"]
    history = tenant.call("GET", f"/api/v1/records/lead/{north['id']}/pool-history").get_json()["items"]
    assert [(e["pool"], e["kind"], e["to_owner_name"]) for e in history] == [("lead_north", "push", "rep3")]


def test_a_reps_own_lead_stays_with_them(make_tenant: Any) -> None:
    """rep1 (team east) enters a Shanghai lead: a member of the pool the lead belongs to keeps it."""
    tenant = template_tenant(make_tenant)
    lead = tenant.create("lead", {"name": "Mine", "company": "Co", "region": SHANGHAI}, "rep1")
    assert owner_of(tenant, "lead", lead["id"]) == tenant.user_ids["rep1"]
    assert tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/pool-history").get_json()["items"] == []


def test_an_idle_customer_is_warned_then_recycled_and_claimed_by_another_rep(make_tenant: Any, app: Any) -> None:
    """rep1's prospect with no follow-up: warned on day 12, recycled on day 15 (rule 1), then rep2 claims it
    from the public pool and sees rep1 as its former owner."""
    tenant = template_tenant(make_tenant)
    customer = tenant.create("customer", {"name": "Idle Co", "status": "prospect"}, "rep1")
    active = tenant.create("customer", {"name": "Busy Co", "status": "active"}, "rep1")  # exempt
    start = datetime.now(timezone.utc)
    assert sweep(app, tenant, start + timedelta(days=12, hours=1))["customer_public"] == {"recycled": 0, "warned": 1}
    assert sweep(app, tenant, start + timedelta(days=15, hours=1))["customer_public"] == {"recycled": 1, "warned": 0}
    assert owner_of(tenant, "customer", customer["id"]) is None
    assert owner_of(tenant, "customer", active["id"]) == tenant.user_ids["rep1"]
    listed = tenant.call("GET", "/api/v1/pools/customer_public/records", "rep2").get_json()["items"]
    assert [r["id"] for r in listed] == [customer["id"]]
    claimed = tenant.call("POST", "/api/v1/pools/customer_public/claim", "rep2", json={"id": customer["id"]})
    assert claimed.status_code == 200, claimed.get_json()
    history = tenant.call("GET", f"/api/v1/records/customer/{customer['id']}/pool-history", "rep2").get_json()
    # the sweeps ran at moments ahead of the clock the claim used, so compare without the order
    assert sorted((e["kind"], e["from_owner_name"] or "", e["to_owner_name"] or "", e["reason"] or "")
                  for e in history["items"]) == [("claim", "", "rep2", ""), ("recycle", "rep1", "", "rule_1"),
                                                 ("warn", "rep1", "", "")]


def test_the_customer_cap_of_20_holds_on_create(make_tenant: Any) -> None:
    """A rep may own 20 customers without a won deal; the 21st is refused with owner_cap."""
    tenant = template_tenant(make_tenant)
    for i in range(20):
        tenant.create("customer", {"name": f"C{i}"}, "rep1")
    response = tenant.call("POST", "/api/v1/records/customer", "rep1", json={"name": "C20"})
    assert response.status_code == 409
    assert [e["code"] for e in response.get_json()["errors"]] == ["owner_cap"]
