"""Pools through the API (both databases): the pull flow (release, list, claim), every refusal of a claim,
cooldowns, claims per day in the tenant's time zone, owner caps on every path, admin-only endpoints,
transfer, pool history and audit rows, and the b2b template's customer public pool."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from lowcode_platform.accounts.service import active_config, find_tenant
from lowcode_platform.api import pools as pools_api
from lowcode_platform.api import records as records_api
from lowcode_platform.api.context import caller
from lowcode_platform.records.pool_sweep import sweep_tenant
from lowcode_platform.records.pools import PoolService
from lowcode_platform.records.service import RecordService
from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.configs import crm, label

T0 = datetime(2026, 3, 10, 4, 0, tzinfo=timezone.utc)  # 12:00 in Shanghai
REASONS = [{"value": "no_need", "label": label("No need", "暂无需求")},
           {"value": "invalid", "label": label("Invalid", "无效")}]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Record and pool endpoints see `clock.now` instead of the real time."""
    fake = Clock(T0)

    def records() -> RecordService:
        who = caller()
        return RecordService(who.session, who.config, who.actor, clock=fake)

    monkeypatch.setattr(records_api, "_service", records)
    monkeypatch.setattr(pools_api, "_pools", lambda: PoolService(records()))
    return fake


def config(limits: dict[str, Any] | None = None, **pool: Any) -> dict[str, Any]:
    """The CRM config with a pull pool `leads` of every lead that is not won: reps and managers work it,
    managers administer it, releasing needs one of two reasons and clears `assignee` and `tags`, and
    `employees` and `notes` are hidden until claimed. `limits` and the other keys replace the pool's."""
    document = crm()
    document["pools"] = {"leads": {
        "entity": "lead", "label": label("Leads", "线索池"),
        "members": {"roles": ["rep", "manager"]}, "admins": {"roles": ["manager"]},
        "scope": {"$neq": {"status": "won"}},
        "limits": limits or {},
        "release": {"reasons": REASONS},
        "on_return": {"clear": ["assignee", "tags"]},
        "hidden_fields": ["employees", "notes"],
        **pool,
    }}
    return document


def errors(response: Any) -> list[tuple[str, str]]:
    return [(e.get("pointer", e.get("parameter")), e["code"]) for e in response.get_json()["errors"]]


def release(tenant: Any, record_id: str, user: str, reason: str | None = "no_need", **body: Any) -> Any:
    return tenant.call("POST", "/api/v1/pools/leads/release", user, json={"id": record_id, "reason": reason, **body})


def released(tenant: Any, record_id: str, user: str, **body: Any) -> dict[str, Any]:
    response = release(tenant, record_id, user, **body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def claim(tenant: Any, record_id: str, user: str, pool: str = "leads") -> Any:
    return tenant.call("POST", f"/api/v1/pools/{pool}/claim", user, json={"id": record_id})


def claimed(tenant: Any, record_id: str, user: str, pool: str = "leads") -> dict[str, Any]:
    response = claim(tenant, record_id, user, pool)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assign(tenant: Any, record_id: str, to: str, user: str = "boss") -> Any:
    """`user` assigns the record to the user named `to`."""
    return tenant.call("POST", "/api/v1/pools/leads/assign", user, json={"id": record_id, "to": tenant.user_ids[to]})


def in_pool(tenant: Any, user: str, record_id: str | None = None, query: str = "") -> dict[str, Any]:
    """The pool's records as `user` lists them, or the one with `record_id`."""
    response = tenant.call("GET", f"/api/v1/pools/leads/records{query}", user)
    assert response.status_code == 200, response.get_json()
    items = response.get_json()["items"]
    if record_id is None:
        return {"ids": [i["id"] for i in items]}
    return next(i for i in items if i["id"] == record_id)


def pooled_lead(tenant: Any, name: str = "Ann", owner: str = "rep1", **data: Any) -> dict[str, Any]:
    """A lead created by `owner` and released into the pool."""
    lead = tenant.create("lead", {"name": name, **data}, owner)
    released(tenant, lead["id"], owner)
    return lead


def sql(app: Any, statement: str, **params: Any) -> None:
    with app.extensions["lowcode"].open_session(write=True) as session:
        session.execute(text(statement), params)
        session.commit()


def owner_of(tenant: Any, record_id: str) -> str | None:
    return tenant.call("GET", f"/api/v1/records/lead/{record_id}", "admin").get_json()["owner_id"]


# -- the pull flow ---------------------------------------------------------------------------------------


def test_release_list_claim(make_tenant: Any) -> None:
    """A rep releases a lead with a reason: it leaves them (on_return fields cleared) and another member
    lists it with pii masked and the hidden fields left out; once claimed, the claimer sees every field."""
    tenant = make_tenant(config())
    lead = tenant.create("lead", {"name": "Ann", "email": "ann@example.com", "employees": 42, "notes": "budget 1M",
                                  "assignee": tenant.user_ids["rep1"], "tags": ["hot"], "status": "new"}, "rep1")
    assert in_pool(tenant, "rep2") == {"ids": []}
    back = released(tenant, lead["id"], "rep1", comment="no budget this year")
    assert back["owner_id"] is None
    assert "assignee" not in back["data"] and "tags" not in back["data"]
    assert back["data"]["employees"] == 42  # only on_return fields are cleared

    pools = tenant.call("GET", "/api/v1/pools", "rep2").get_json()["items"]
    assert [(p["key"], p["records"], p["admin"]) for p in pools] == [("leads", 1, False)]
    assert [r["value"] for r in pools[0]["release_reasons"]] == ["no_need", "invalid"]

    shown = in_pool(tenant, "rep2", lead["id"])
    assert shown["owner_id"] is None
    assert "employees" not in shown["data"] and "notes" not in shown["data"]
    assert shown["data"]["email"] != "ann@example.com" and "email" in shown["masked"]
    assert shown["data"]["name"] == "Ann"

    mine = claimed(tenant, lead["id"], "rep2")
    assert mine["owner_id"] == tenant.user_ids["rep2"]
    assert mine["data"]["employees"] == 42 and mine["data"]["notes"] == "budget 1M"
    assert mine["data"]["email"] == "ann@example.com" and mine["masked"] == []
    assert in_pool(tenant, "rep2") == {"ids": []}
    assert tenant.call("GET", "/api/v1/pools", "rep2").get_json()["items"][0]["records"] == 0


def test_a_manager_lists_pii_unmasked_but_hidden_fields_still_hidden(make_tenant: Any) -> None:
    """Pii masking in a pool follows the role (a manager sees all pii), while the pool's hidden fields
    are hidden from every member until they own the record."""
    tenant = make_tenant(config())
    lead = pooled_lead(tenant, email="ann@example.com", employees=9)
    shown = in_pool(tenant, "boss", lead["id"])
    assert shown["data"]["email"] == "ann@example.com" and shown["masked"] == []
    assert "employees" not in shown["data"]


def test_release_needs_one_of_the_pools_reasons(make_tenant: Any) -> None:
    """A pool with reasons refuses a release without one (422 required) or with another (422
    invalid_option); the record stays with its owner."""
    tenant = make_tenant(config())
    lead = tenant.create("lead", {"name": "Ann"}, "rep1")
    missing = release(tenant, lead["id"], "rep1", reason=None)
    assert missing.status_code == 422 and errors(missing) == [("/reason", "required")]
    other = release(tenant, lead["id"], "rep1", reason="bored")
    assert other.status_code == 422 and errors(other) == [("/reason", "invalid_option")]
    assert owner_of(tenant, lead["id"]) == tenant.user_ids["rep1"]


def test_a_pool_without_reasons_releases_without_one(make_tenant: Any) -> None:
    """A pool that defines no reasons asks for none."""
    tenant = make_tenant(config(release={}))
    lead = tenant.create("lead", {"name": "Ann"}, "rep1")
    assert release(tenant, lead["id"], "rep1", reason=None).status_code == 200
    assert owner_of(tenant, lead["id"]) is None


def test_release_outside_the_pools_scope_is_refused(make_tenant: Any) -> None:
    """A record the pool's scope does not hold (a won lead) cannot be released into it: 409 pool_scope."""
    tenant = make_tenant(config())
    lead = tenant.create("lead", {"name": "Ann", "status": "won"}, "rep1")
    response = release(tenant, lead["id"], "rep1")
    assert response.status_code == 409 and errors(response) == [("", "pool_scope")]
    assert owner_of(tenant, lead["id"]) == tenant.user_ids["rep1"]


def test_only_the_owner_or_an_admin_releases(make_tenant: Any) -> None:
    """Another rep cannot release a record they do not own (404, as a record not theirs); the pool's
    admin can release anyone's."""
    tenant = make_tenant(config())
    lead = tenant.create("lead", {"name": "Ann"}, "rep1")
    assert release(tenant, lead["id"], "rep2").status_code == 404
    assert owner_of(tenant, lead["id"]) == tenant.user_ids["rep1"]
    assert release(tenant, lead["id"], "boss").status_code == 200
    assert owner_of(tenant, lead["id"]) is None


def test_pool_records_filter_sort_and_page(make_tenant: Any) -> None:
    """The pool's record list takes `where`, `sort`, `limit` and `cursor` as record lists do."""
    tenant = make_tenant(config())
    for name, score in (("A", 10), ("B", 50), ("C", 90)):
        pooled_lead(tenant, name, score=score)
    high = tenant.call("GET", '/api/v1/pools/leads/records?where={"$gte": {"score": 50}}&sort=name', "rep2")
    assert [i["data"]["name"] for i in high.get_json()["items"]] == ["B", "C"]
    first = tenant.call("GET", "/api/v1/pools/leads/records?sort=-score&limit=2", "rep2").get_json()
    assert [i["data"]["name"] for i in first["items"]] == ["C", "B"] and first["next_cursor"]
    rest = tenant.call("GET", f"/api/v1/pools/leads/records?sort=-score&limit=2&cursor={first['next_cursor']}",
                       "rep2").get_json()
    assert [i["data"]["name"] for i in rest["items"]] == ["A"] and rest["next_cursor"] is None


@pytest.mark.parametrize("query", ['?where={"$gt": {"employees": 10}}', "?sort=-employees",
                                   '?where={"notes": "budget 1M"}'])
def test_a_hidden_field_cannot_filter_or_sort_the_pool(make_tenant: Any, query: str) -> None:
    """Filtering or sorting a pool on a hidden field is refused (400 pool_hidden_field, as for pii): the
    order or the matches would reveal the value."""
    tenant = make_tenant(config())
    pooled_lead(tenant, employees=42, notes="budget 1M")
    response = tenant.call("GET", f"/api/v1/pools/leads/records{query}", "rep2")
    assert response.status_code == 400 and [c for _, c in errors(response)] == ["pool_hidden_field"]


def test_a_hidden_field_cannot_filter_the_pool_as_a_query_parameter(make_tenant: Any) -> None:
    """`?employees=42` (a field-equality query parameter, as record lists take) on a hidden field is
    refused like `where`: otherwise a member learns the hidden value by trying values."""
    tenant = make_tenant(config())
    pooled_lead(tenant, employees=42)
    response = tenant.call("GET", "/api/v1/pools/leads/records?employees=42", "rep2")
    assert response.status_code == 400, response.get_json()
    assert [c for _, c in errors(response)] == ["pool_hidden_field"]


def test_a_hidden_field_cannot_filter_the_pool_through_an_escaped_name(make_tenant: Any) -> None:
    """A `where` naming the hidden field with a JSON escape (`"\\u0065mployees"` is `employees`) is
    refused too: the check is on the condition, not on the text of the parameter."""
    tenant = make_tenant(config())
    pooled_lead(tenant, employees=42)
    response = tenant.call("GET", '/api/v1/pools/leads/records?where={"\\u0065mployees": 42}', "rep2")
    assert response.status_code == 400, response.get_json()
    assert [c for _, c in errors(response)] == ["pool_hidden_field"]


def test_a_value_that_spells_a_hidden_fields_name_filters_normally(make_tenant: Any) -> None:
    """A `where` on a visible field whose value happens to be a hidden field's name (`{"name": "notes"}`)
    is an ordinary filter, not a filter on the hidden field."""
    tenant = make_tenant(config())
    lead = pooled_lead(tenant, "notes")
    pooled_lead(tenant, "other")
    response = tenant.call("GET", '/api/v1/pools/leads/records?where={"name": "notes"}', "rep2")
    assert response.status_code == 200, response.get_json()
    assert [i["id"] for i in response.get_json()["items"]] == [lead["id"]]


# -- claims refused --------------------------------------------------------------------------------------


def test_a_record_claimed_first_by_another_is_taken(make_tenant: Any) -> None:
    """The second claim of a record gets 409 pool_taken, and the first claimer keeps it."""
    tenant = make_tenant(config())
    lead = pooled_lead(tenant)
    claimed(tenant, lead["id"], "rep2")
    response = claim(tenant, lead["id"], "boss")
    assert response.status_code == 409 and errors(response) == [("", "pool_taken")]
    assert owner_of(tenant, lead["id"]) == tenant.user_ids["rep2"]


def test_a_record_not_in_the_pool_is_not_found(make_tenant: Any) -> None:
    """Claiming an id that is no record of the pool is 404; the body must name the record (422)."""
    tenant = make_tenant(config())
    assert claim(tenant, "nope", "rep2").status_code == 404
    missing = tenant.call("POST", "/api/v1/pools/leads/claim", "rep2", json={})
    assert missing.status_code == 422 and errors(missing) == [("/id", "required")]


def test_claims_per_day(make_tenant: Any) -> None:
    """With `claims_per_day: 2` a third claim the same day is 409 claims_per_day; the record stays in
    the pool."""
    tenant = make_tenant(config({"claims_per_day": 2}))
    leads = [pooled_lead(tenant, f"L{i}") for i in range(3)]
    claimed(tenant, leads[0]["id"], "rep2")
    claimed(tenant, leads[1]["id"], "rep2")
    response = claim(tenant, leads[2]["id"], "rep2")
    assert response.status_code == 409 and errors(response) == [("", "claims_per_day")]
    assert in_pool(tenant, "rep2") == {"ids": [leads[2]["id"]]}
    claimed(tenant, leads[2]["id"], "boss")  # the limit is per user


def test_claim_at_the_owner_cap(make_tenant: Any) -> None:
    """A member owning as many records as the pool's cap cannot claim (409 owner_cap); another can."""
    tenant = make_tenant(config({"owner_cap": 2}))
    lead = pooled_lead(tenant)
    tenant.create("lead", {"name": "Mine 1"}, "rep2")
    tenant.create("lead", {"name": "Mine 2"}, "rep2")
    response = claim(tenant, lead["id"], "rep2")
    assert response.status_code == 409 and errors(response) == [("", "owner_cap")]
    assert response.get_json()["errors"][0]["message"].startswith("the owner may hold at most 2")
    claimed(tenant, lead["id"], "boss")


def test_a_push_only_pool_refuses_claims(make_tenant: Any) -> None:
    """Records of a push pool are assigned, not claimed: 409 pool_push_only."""
    tenant = make_tenant(config(mode="push", allocation={"strategy": "round_robin"}))
    lead = pooled_lead(tenant)
    response = claim(tenant, lead["id"], "rep2")
    assert response.status_code == 409 and errors(response) == [("", "pool_push_only")]
    assert owner_of(tenant, lead["id"]) is None


# -- cooldowns -------------------------------------------------------------------------------------------


def test_cooldown_after_release(make_tenant: Any, clock: Clock) -> None:
    """A rep cannot claim back a record they released less than `cooldown_days` ago (409 pool_cooldown);
    after that they can."""
    tenant = make_tenant(config({"cooldown_days": 7}))
    lead = pooled_lead(tenant)
    clock.set(T0 + timedelta(days=6, hours=23))
    response = claim(tenant, lead["id"], "rep1")
    assert response.status_code == 409 and errors(response) == [("", "pool_cooldown")]
    clock.set(T0 + timedelta(days=7, minutes=1))
    assert claimed(tenant, lead["id"], "rep1")["owner_id"] == tenant.user_ids["rep1"]


def test_no_cooldown_for_others_or_without_cooldown_days(make_tenant: Any) -> None:
    """The cooldown binds only the former owner; a pool without cooldown_days has none."""
    tenant = make_tenant(config({"cooldown_days": 7}))
    lead = pooled_lead(tenant)
    assert claim(tenant, lead["id"], "rep2").status_code == 200
    plain = make_tenant(config())
    again = pooled_lead(plain)
    assert claim(plain, again["id"], "rep1").status_code == 200


def test_cooldown_after_recycle(make_tenant: Any, app: Any, clock: Clock) -> None:
    """A record the sweep recycled from its owner cannot go back to them within the cooldown; others
    may claim it at once."""
    tenant = make_tenant(config({"cooldown_days": 7}, recycle={"rules": [{"$gte": {"days_since_follow_up": 15}}]}))
    lead = tenant.create("lead", {"name": "Ann"}, "rep1")
    swept_at = T0 + timedelta(days=16)
    platform = app.extensions["lowcode"]
    with platform.open_session(write=True) as session:
        row = find_tenant(session, tenant.slug)
        config_now = active_config(session, platform.config_cache, row.id, row.active_version)
        result = sweep_tenant(session, config_now, row.id, swept_at)
    assert result is not None and result["pools"]["leads"]["recycled"] == 1
    assert owner_of(tenant, lead["id"]) is None
    clock.set(swept_at + timedelta(days=1))
    response = claim(tenant, lead["id"], "rep1")
    assert response.status_code == 409 and errors(response) == [("", "pool_cooldown")]
    assert claimed(tenant, lead["id"], "rep2")["owner_id"] == tenant.user_ids["rep2"]


def test_cooldown_after_being_assigned_away(make_tenant: Any, clock: Clock) -> None:
    """A record an admin assigned from rep1 to rep2 and rep2 then released cannot be claimed by rep1
    within the cooldown (counted from the assignment), but can afterwards."""
    tenant = make_tenant(config({"cooldown_days": 7}))
    lead = tenant.create("lead", {"name": "Ann"}, "rep1")
    moved = assign(tenant, lead["id"], "rep2", "boss")
    assert moved.status_code == 200 and moved.get_json()["owner_id"] == tenant.user_ids["rep2"]
    clock.set(T0 + timedelta(days=1))
    released(tenant, lead["id"], "rep2")
    clock.set(T0 + timedelta(days=6))
    response = claim(tenant, lead["id"], "rep1")
    assert response.status_code == 409 and errors(response) == [("", "pool_cooldown")]
    clock.set(T0 + timedelta(days=7, minutes=1))
    assert claim(tenant, lead["id"], "rep1").status_code == 200


def test_cooldown_by_inserted_past_event(make_tenant: Any, app: Any) -> None:
    """The cooldown reads the record's pool events: a release by rep1 dated 8 days ago (written through
    SQL) no longer blocks a 7-day cooldown, one dated 6 days ago does."""
    tenant = make_tenant(config({"cooldown_days": 7}))
    lead = pooled_lead(tenant)
    eight_days_ago = (datetime.now(timezone.utc) - timedelta(days=8)).replace(tzinfo=None)
    sql(app, "UPDATE pool_events SET at = :at WHERE record_id = :id", at=eight_days_ago, id=lead["id"])
    assert claim(tenant, lead["id"], "rep1").status_code == 200
    released(tenant, lead["id"], "rep1")
    six_days_ago = (datetime.now(timezone.utc) - timedelta(days=6)).replace(tzinfo=None)
    sql(app, "UPDATE pool_events SET at = :at WHERE record_id = :id", at=six_days_ago, id=lead["id"])
    assert errors(claim(tenant, lead["id"], "rep1")) == [("", "pool_cooldown")]


# -- claims per day in the tenant's time zone ------------------------------------------------------------


@pytest.mark.parametrize(("zone", "next_claim"), [("Asia/Shanghai", 200), ("UTC", 409)])
def test_claims_per_day_count_in_the_tenants_time_zone(make_tenant: Any, clock: Clock, zone: str,
                                                       next_claim: int) -> None:
    """A day of claims runs midnight to midnight in `tenant.timezone`: with one claim a day, a claim at
    23:30 Shanghai time and another at 00:30 the next Shanghai day (both 10 March in UTC) are both
    allowed in Shanghai, while a UTC tenant refuses the second."""
    document = config({"claims_per_day": 1})
    document["tenant"]["timezone"] = zone
    tenant = make_tenant(document)
    first, second = pooled_lead(tenant, "A"), pooled_lead(tenant, "B")
    clock.set(datetime(2026, 3, 10, 15, 30, tzinfo=timezone.utc))
    claimed(tenant, first["id"], "rep2")
    clock.set(datetime(2026, 3, 10, 15, 59, tzinfo=timezone.utc))
    assert errors(claim(tenant, second["id"], "rep2")) == [("", "claims_per_day")]
    clock.set(datetime(2026, 3, 10, 16, 30, tzinfo=timezone.utc))
    assert claim(tenant, second["id"], "rep2").status_code == next_claim


# -- owner caps ------------------------------------------------------------------------------------------


def test_cap_on_plain_create(make_tenant: Any) -> None:
    """Creating a record beyond the cap is 409 owner_cap and stores nothing; another user may still create."""
    tenant = make_tenant(config({"owner_cap": 2}))
    tenant.create("lead", {"name": "A"}, "rep1")
    tenant.create("lead", {"name": "B"}, "rep1")
    response = tenant.call("POST", "/api/v1/records/lead", "rep1", json={"name": "C"})
    assert response.status_code == 409 and errors(response) == [("", "owner_cap")]
    names = [r["data"]["name"] for r in tenant.call("GET", "/api/v1/records/lead", "admin").get_json()["items"]]
    assert sorted(names) == ["A", "B"]
    tenant.create("lead", {"name": "C"}, "rep2")


def test_deleted_records_do_not_count_against_the_cap(make_tenant: Any) -> None:
    """The cap counts live records: after deleting one of two, a rep at cap 2 may create again."""
    tenant = make_tenant(config({"owner_cap": 2}))
    first = tenant.create("lead", {"name": "A"}, "rep1")
    tenant.create("lead", {"name": "B"}, "rep1")
    deleted = tenant.call("DELETE", f"/api/v1/records/lead/{first['id']}", "rep1",
                          headers={"If-Match": f'"{first["version"]}"'})
    assert deleted.status_code in (200, 204), deleted.get_json()
    tenant.create("lead", {"name": "C"}, "rep1")


@pytest.mark.parametrize(("tenant_cap", "pool_cap", "allowed"), [(1, 5, 1), (5, 2, 2), (3, None, 3)])
def test_the_lower_of_tenant_and_pool_cap_wins(make_tenant: Any, tenant_cap: int, pool_cap: int | None,
                                               allowed: int) -> None:
    """`tenant.owner_caps` and the pool's `owner_cap` both bind: the lower decides how many a rep may
    create, and `GET /pools` reports it."""
    document = config({"owner_cap": pool_cap} if pool_cap is not None else {})
    document["tenant"]["owner_caps"] = {"lead": tenant_cap}
    tenant = make_tenant(document)
    for i in range(allowed):
        tenant.create("lead", {"name": f"L{i}"}, "rep1")
    response = tenant.call("POST", "/api/v1/records/lead", "rep1", json={"name": "over"})
    assert response.status_code == 409 and errors(response) == [("", "owner_cap")]
    limits = tenant.call("GET", "/api/v1/pools", "rep1").get_json()["items"][0]["limits"]
    assert limits["owner_cap"] == allowed


def test_a_tenant_cap_binds_an_entity_without_pools(make_tenant: Any) -> None:
    """`tenant.owner_caps` caps an entity no pool holds (customers here)."""
    document = config()
    document["tenant"]["owner_caps"] = {"customer": 1}
    tenant = make_tenant(document)
    tenant.create("customer", {"name": "Acme"}, "rep1")
    response = tenant.call("POST", "/api/v1/records/customer", "rep1", json={"name": "Beta"})
    assert response.status_code == 409 and errors(response) == [("", "owner_cap")]


def deal_config(count_won: bool) -> dict[str, Any]:
    """The CRM config with deals of customers in a `sales` pipeline (open -> won) and a customer pool
    capping reps at one customer, counting won customers or not."""
    document = crm()
    document["roles"]["rep"]["permissions"]["deal"] = {"create": True, "read": True, "update": True, "scope": "own"}
    document["entities"]["deal"] = {"label": label("Deal"), "title_field": "name", "fields": {
        "name": {"type": "text", "label": label("Name"), "required": True},
        "customer": {"type": "reference", "label": label("Customer"), "entity": "customer"}}}
    document["pipelines"] = {"sales": {
        "entity": "deal", "label": label("Sales"),
        "stages": [{"key": "open", "label": label("Open"), "probability": 10},
                   {"key": "won", "label": label("Won"), "probability": 100, "terminal": True}],
        "won": ["won"], "lost": {"reasons": [{"value": "price", "label": label("Price")}]}}}
    document["pools"] = {"accounts": {"entity": "customer", "label": label("Accounts"),
                                      "members": {"roles": ["rep", "manager"]}, "admins": {"roles": ["manager"]},
                                      "limits": {"owner_cap": 1, "count_won": count_won}}}
    return document


def win_a_deal_of(tenant: Any, customer: dict[str, Any], user: str) -> None:
    deal = tenant.create("deal", {"name": "Deal", "customer": customer["id"]}, user)
    moved = tenant.call("POST", f"/api/v1/records/deal/{deal['id']}/stage", user, json={"to": "won"})
    assert moved.status_code == 200, moved.get_json()


@pytest.mark.parametrize(("count_won", "status"), [(False, 201), (True, 409)])
def test_count_won_false_ignores_customers_with_a_won_deal(make_tenant: Any, count_won: bool, status: int) -> None:
    """A customer whose deal was won (its deal_at set) does not count against a `count_won: false` cap:
    the rep may take another; with `count_won: true` it counts."""
    tenant = make_tenant(deal_config(count_won))
    acme = tenant.create("customer", {"name": "Acme"}, "rep1")
    win_a_deal_of(tenant, acme, "rep1")
    response = tenant.call("POST", "/api/v1/records/customer", "rep1", json={"name": "Beta"})
    assert response.status_code == status, response.get_json()
    if count_won is False:  # Beta has no deal: now the cap is reached
        third = tenant.call("POST", "/api/v1/records/customer", "rep1", json={"name": "Gamma"})
        assert third.status_code == 409 and errors(third) == [("", "owner_cap")]


def test_cap_on_transfer_is_checked_on_the_total(make_tenant: Any) -> None:
    """A transfer that would take the receiver past the cap moves nothing (409 owner_cap, all or none);
    one that fits moves every record."""
    tenant = make_tenant(config({"owner_cap": 3}))
    mine = [tenant.create("lead", {"name": f"R1-{i}"}, "rep1")["id"] for i in range(2)]
    for i in range(2):
        tenant.create("lead", {"name": f"R2-{i}"}, "rep2")
    body = {"from": tenant.user_ids["rep1"], "to": tenant.user_ids["rep2"], "reason": "rep1 left"}
    refused = tenant.call("POST", "/api/v1/pools/leads/transfer", "boss", json=body)
    assert refused.status_code == 409 and errors(refused) == [("", "owner_cap")]
    assert [owner_of(tenant, i) for i in mine] == [tenant.user_ids["rep1"]] * 2
    body["to"] = tenant.user_ids["outsider"]
    moved = tenant.call("POST", "/api/v1/pools/leads/transfer", "boss", json=body)
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["moved"] == 2 and sorted(moved.get_json()["ids"]) == sorted(mine)
    assert [owner_of(tenant, i) for i in mine] == [tenant.user_ids["outsider"]] * 2


def test_transfer_counts_only_records_the_cap_counts(make_tenant: Any) -> None:
    """With `count_won: false`, a transfer's total leaves out the won customers it moves: a rep owning one
    open customer (cap 2) may take over another rep's won customer and one open customer."""
    document = deal_config(False)
    document["pools"]["accounts"]["limits"]["owner_cap"] = 2
    tenant = make_tenant(document)
    won = tenant.create("customer", {"name": "Won"}, "rep1")
    win_a_deal_of(tenant, won, "rep1")
    tenant.create("customer", {"name": "Open1"}, "rep1")
    tenant.create("customer", {"name": "Open2"}, "rep2")
    response = tenant.call("POST", "/api/v1/pools/accounts/transfer", "boss",
                           json={"from": tenant.user_ids["rep1"], "to": tenant.user_ids["rep2"]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["moved"] == 2


def automation_config(cap: int | None = None, cooldown_days: int = 0) -> dict[str, Any]:
    """`config()` with an automation giving each new lead with an `assignee` to that user."""
    document = config({k: v for k, v in (("owner_cap", cap), ("cooldown_days", cooldown_days)) if v is not None})
    document["automations"] = [{"key": "to_assignee", "on": "record.created", "entity": "lead",
                                "when": {"$ex": {"assignee": 1}}, "then": [{"assign_owner": {"field": "assignee"}}]}]
    return document


def test_cap_on_automation_assign_owner(make_tenant: Any) -> None:
    """An automation's `assign_owner` obeys the cap: giving a new lead to a rep at cap fails the write
    (422 automation_failed, owner_cap among the details, nothing stored); to a rep below it, it works."""
    tenant = make_tenant(automation_config(cap=1))
    tenant.create("lead", {"name": "Full"}, "rep2")
    refused = tenant.call("POST", "/api/v1/records/lead", "rep1",
                          json={"name": "To rep2", "assignee": tenant.user_ids["rep2"]})
    assert refused.status_code == 422, refused.get_json()
    assert ("", "automation_failed") in errors(refused) and ("", "owner_cap") in errors(refused)
    names = [r["data"]["name"] for r in tenant.call("GET", "/api/v1/records/lead", "admin").get_json()["items"]]
    assert names == ["Full"]
    made = tenant.create("lead", {"name": "To boss", "assignee": tenant.user_ids["boss"]}, "rep1")
    assert made["owner_id"] == tenant.user_ids["boss"]


def test_automation_assign_owner_records_the_former_owner(make_tenant: Any) -> None:
    """An automation's reassignment is an `assign` pool event whose former owner is the creator the
    record left (rep1) and whose new owner is the assignee (boss)."""
    tenant = make_tenant(automation_config())
    made = tenant.create("lead", {"name": "To boss", "assignee": tenant.user_ids["boss"]}, "rep1")
    assert made["owner_id"] == tenant.user_ids["boss"]
    history = tenant.call("GET", f"/api/v1/records/lead/{made['id']}/pool-history", "boss").get_json()["items"]
    assert [(e["kind"], e["from_owner_name"], e["to_owner_name"]) for e in history] == [("assign", "rep1", "boss")]


def test_cooldown_after_an_automation_assigned_the_record_away(make_tenant: Any) -> None:
    """A lead an automation took from its creator (rep1) and gave to boss, who then released it, is in
    rep1's cooldown like any record assigned away from them."""
    tenant = make_tenant(automation_config(cooldown_days=7))
    made = tenant.create("lead", {"name": "To boss", "assignee": tenant.user_ids["boss"]}, "rep1")
    released(tenant, made["id"], "boss")
    response = claim(tenant, made["id"], "rep1")
    assert response.status_code == 409 and errors(response) == [("", "pool_cooldown")]


# -- who may do what -------------------------------------------------------------------------------------


def test_non_members_do_not_see_the_pool(make_tenant: Any) -> None:
    """A user who neither works nor administers the pool gets it in no list and 404 on every endpoint."""
    tenant = make_tenant(config())
    lead = pooled_lead(tenant)
    assert tenant.call("GET", "/api/v1/pools", "viewer").get_json()["items"] == []
    assert tenant.call("GET", "/api/v1/pools/leads/records", "viewer").status_code == 404
    assert claim(tenant, lead["id"], "viewer").status_code == 404
    assert tenant.call("POST", "/api/v1/pools/leads/assign", "viewer",
                       json={"id": lead["id"], "to": tenant.user_ids["rep1"]}).status_code == 404
    assert tenant.call("GET", "/api/v1/pools/nope/records", "rep1").status_code == 404


def test_member_by_team_or_user_name(make_tenant: Any) -> None:
    """Members may be named by team name or by user name: both see the pool, a rep in neither does not."""
    tenant = make_tenant(config(members={"teams": ["west"], "users": ["rep2"]}, admins={}))
    pooled_lead(tenant, owner="outsider")
    assert [p["key"] for p in tenant.call("GET", "/api/v1/pools", "outsider").get_json()["items"]] == ["leads"]
    assert tenant.call("GET", "/api/v1/pools/leads/records", "rep2").status_code == 200
    assert tenant.call("GET", "/api/v1/pools/leads/records", "rep1").status_code == 404
    assert tenant.call("GET", "/api/v1/pools/leads/records", "admin").status_code == 200  # tenant admin


def test_admin_endpoints_refuse_reps(make_tenant: Any) -> None:
    """Assign and transfer are for the pool's admins and tenant admins: a member rep gets 403
    pool_admin_only and nothing moves."""
    tenant = make_tenant(config())
    lead = pooled_lead(tenant)
    assigned = assign(tenant, lead["id"], "rep2", "rep2")
    assert assigned.status_code == 403 and errors(assigned) == [("", "pool_admin_only")]
    transfer = tenant.call("POST", "/api/v1/pools/leads/transfer", "rep2",
                           json={"from": tenant.user_ids["rep1"], "to": tenant.user_ids["rep2"]})
    assert transfer.status_code == 403 and errors(transfer) == [("", "pool_admin_only")]
    assert owner_of(tenant, lead["id"]) is None
    by_admin = assign(tenant, lead["id"], "rep2", "admin")
    assert by_admin.status_code == 200 and by_admin.get_json()["owner_id"] == tenant.user_ids["rep2"]


@pytest.mark.parametrize("who", ["inactive", "unknown"])
def test_assign_to_an_inactive_or_unknown_user(make_tenant: Any, app: Any, who: str) -> None:
    """Assigning to a deactivated user or to an id that is nobody is 422 unknown_user at /to; the record
    stays in the pool."""
    tenant = make_tenant(config())
    lead = pooled_lead(tenant)
    target = tenant.user_ids["rep2"] if who == "inactive" else "06h0nobody0000000000000000"
    if who == "inactive":
        sql(app, "UPDATE users SET active = false WHERE id = :id", id=target)
    response = tenant.call("POST", "/api/v1/pools/leads/assign", "boss", json={"id": lead["id"], "to": target})
    assert response.status_code == 422 and errors(response) == [("/to", "unknown_user")]
    assert owner_of(tenant, lead["id"]) is None


def test_assign_gives_a_pool_record_and_checks_the_cap(make_tenant: Any) -> None:
    """An admin's assignment gives a pool record to a member (pool event `assign`), and is 409 owner_cap
    for a member at cap."""
    tenant = make_tenant(config({"owner_cap": 1}))
    lead, other = pooled_lead(tenant, "A"), pooled_lead(tenant, "B")
    done = assign(tenant, lead["id"], "rep2", "boss")
    assert done.status_code == 200 and done.get_json()["owner_id"] == tenant.user_ids["rep2"]
    over = assign(tenant, other["id"], "rep2", "boss")
    assert over.status_code == 409 and errors(over) == [("", "owner_cap")]
    history = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/pool-history", "boss").get_json()["items"]
    assert [(e["kind"], e["to_owner_name"], e["actor_id"]) for e in history][-1] == \
        ("assign", "rep2", tenant.user_ids["boss"])


def test_assign_to_a_non_member_is_refused(make_tenant: Any) -> None:
    """An admin assigns a pool's records to its members: a user who does not work the pool (the viewer,
    who may not even own leads) is refused with 422 and the record stays in the pool."""
    tenant = make_tenant(config())
    lead = pooled_lead(tenant)
    response = tenant.call("POST", "/api/v1/pools/leads/assign", "boss",
                           json={"id": lead["id"], "to": tenant.user_ids["viewer"]})
    assert response.status_code == 422, response.get_json()
    assert owner_of(tenant, lead["id"]) is None


def test_transfer_to_null_puts_every_record_back(make_tenant: Any) -> None:
    """`to: null` returns every lead the user owns to the pool, each with a `transfer` pool event carrying
    the reason; on_return fields are cleared; other users' records stay."""
    tenant = make_tenant(config())
    mine = [tenant.create("lead", {"name": f"L{i}", "tags": ["hot"]}, "rep1")["id"] for i in range(3)]
    theirs = tenant.create("lead", {"name": "Kept"}, "rep2")
    response = tenant.call("POST", "/api/v1/pools/leads/transfer", "boss",
                           json={"from": tenant.user_ids["rep1"], "to": None, "reason": "left the company"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["moved"] == 3 and response.get_json()["to"] is None
    assert sorted(in_pool(tenant, "rep2")["ids"]) == sorted(mine)
    assert owner_of(tenant, theirs["id"]) == tenant.user_ids["rep2"]
    record = tenant.call("GET", f"/api/v1/records/lead/{mine[0]}", "admin").get_json()
    assert "tags" not in record["data"]
    history = tenant.call("GET", f"/api/v1/records/lead/{mine[0]}/pool-history", "boss").get_json()["items"]
    assert [(e["kind"], e["from_owner_name"], e["to_owner"], e["reason"]) for e in history] == \
        [("transfer", "rep1", None, "left the company")]


# -- history and audit -----------------------------------------------------------------------------------


def test_pool_history_lists_former_owners_and_reasons(make_tenant: Any, clock: Clock) -> None:
    """The pool history lists each movement oldest first: the release with its owner, reason and
    comment, then the claim with the new owner, each with its time and actor."""
    tenant = make_tenant(config())
    lead = tenant.create("lead", {"name": "Ann"}, "rep1")
    clock.set(T0 + timedelta(hours=1))
    released(tenant, lead["id"], "rep1", reason="invalid", comment="wrong number")
    clock.set(T0 + timedelta(hours=2))
    claimed(tenant, lead["id"], "rep2")
    response = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/pool-history", "rep2")
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [(e["pool"], e["kind"], e["from_owner_name"], e["to_owner_name"], e["reason"], e["comment"], e["at"])
            for e in items] == [
        ("leads", "release", "rep1", None, "invalid", "wrong number", "2026-03-10T05:00:00.000Z"),
        ("leads", "claim", None, "rep2", None, None, "2026-03-10T06:00:00.000Z")]
    assert [e["actor_id"] for e in items] == [tenant.user_ids["rep1"], tenant.user_ids["rep2"]]
    assert items[0]["from_owner"] == tenant.user_ids["rep1"]


def test_pool_history_is_for_readers_and_pool_members(make_tenant: Any) -> None:
    """A pool member sees the history of a record in the pool; a user who may not read the record and
    does not work its pool is refused."""
    tenant = make_tenant(config(members={"roles": ["rep"]}, admins={}))
    lead = pooled_lead(tenant)
    assert tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/pool-history", "outsider").status_code == 200
    owned = tenant.create("lead", {"name": "Owned"}, "rep1")
    refused = tenant.call("GET", f"/api/v1/records/lead/{owned['id']}/pool-history", "outsider")
    assert refused.status_code in (403, 404)


def test_audit_rows_of_release_and_claim(make_tenant: Any) -> None:
    """The record's audit history has a `release` row (owner to none, into the pool) and a `claim` row
    (none to the claimer), after the update that cleared the on_return fields."""
    tenant = make_tenant(config())
    lead = tenant.create("lead", {"name": "Ann", "tags": ["hot"]}, "rep1")
    released(tenant, lead["id"], "rep1")
    claimed(tenant, lead["id"], "rep2")
    rows = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/history", "admin").get_json()["items"]
    assert [r["action"] for r in rows] == ["create", "update", "release", "claim"]
    rep1, rep2 = tenant.user_ids["rep1"], tenant.user_ids["rep2"]
    assert "tags" in rows[1]["changes"]
    assert rows[2]["changes"] == {"owner_id": [rep1, None], "pool": [None, "leads"]}
    assert rows[3]["changes"]["owner_id"] == [None, rep2]
    assert [r["actor_id"] for r in rows[2:]] == [rep1, rep2]
    assert [r["record_version"] for r in rows] == sorted(r["record_version"] for r in rows)


def test_audit_rows_of_assign_and_transfer(make_tenant: Any) -> None:
    """Assign and transfer write audit rows named after them, with the owner change."""
    tenant = make_tenant(config())
    lead = tenant.create("lead", {"name": "Ann"}, "rep1")
    rep1, rep2, boss = tenant.user_ids["rep1"], tenant.user_ids["rep2"], tenant.user_ids["boss"]
    assert assign(tenant, lead["id"], "rep2").status_code == 200
    assert tenant.call("POST", "/api/v1/pools/leads/transfer", "boss",
                       json={"from": rep2, "to": rep1, "reason": "back"}).status_code == 200
    rows = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/history", "admin").get_json()["items"]
    assert [(r["action"], r["changes"]["owner_id"], r["actor_id"]) for r in rows[1:]] == [
        ("assign", [rep1, rep2], boss), ("transfer", [rep2, rep1], boss)]


# -- the b2b template ------------------------------------------------------------------------------------

TEMPLATE_USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
                  ("rep1", "sales_rep", "boss", "east"), ("rep2", "sales_rep", "boss", "east"))


def test_template_customer_public_pool(make_tenant: Any) -> None:
    """In the b2b template a rep releases a customer to the public pool with one of its reasons; another
    rep lists it without its tax id and address, claims it and then sees them; the former owner is in
    the cooldown; the manager administers all four pools."""
    tenant = make_tenant(load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document, TEMPLATE_USERS)
    customer = tenant.create("customer", {"name": "上海某某科技有限公司", "tax_id": "91310000MA1FL1234X",
                                          "address": "上海市浦东新区", "industry": "manufacturing"}, "rep1")
    path = "/api/v1/pools/customer_public"
    no_reason = tenant.call("POST", f"{path}/release", "rep1", json={"id": customer["id"]})
    assert no_reason.status_code == 422 and errors(no_reason) == [("/reason", "required")]
    back = tenant.call("POST", f"{path}/release", "rep1", json={"id": customer["id"], "reason": "unreachable"})
    assert back.status_code == 200 and back.get_json()["owner_id"] is None

    pools = {p["key"]: p for p in tenant.call("GET", "/api/v1/pools", "rep2").get_json()["items"]}
    assert sorted(pools) == ["customer_public", "lead_east", "lead_national"]
    assert pools["customer_public"]["records"] == 1
    assert pools["customer_public"]["limits"] == {"owner_cap": 20, "claims_per_day": 10, "cooldown_days": 7}
    manager_pools = tenant.call("GET", "/api/v1/pools", "boss").get_json()["items"]
    assert len(manager_pools) == 4 and all(p["admin"] for p in manager_pools)

    listed = tenant.call("GET", f"{path}/records", "rep2").get_json()["items"]
    assert [i["id"] for i in listed] == [customer["id"]]
    assert "tax_id" not in listed[0]["data"] and "address" not in listed[0]["data"]
    assert listed[0]["data"]["industry"] == "manufacturing"

    assert errors(tenant.call("POST", f"{path}/claim", "rep1", json={"id": customer["id"]})) == [("", "pool_cooldown")]
    mine = tenant.call("POST", f"{path}/claim", "rep2", json={"id": customer["id"]})
    assert mine.status_code == 200, mine.get_json()
    assert mine.get_json()["data"]["tax_id"] == "91310000MA1FL1234X"
    assert mine.get_json()["data"]["address"] == "上海市浦东新区"
    history = tenant.call("GET", f"/api/v1/records/customer/{customer['id']}/pool-history", "rep2").get_json()["items"]
    assert [(e["kind"], e["from_owner_name"], e["to_owner_name"], e["reason"]) for e in history] == [
        ("release", "rep1", None, "unreachable"), ("claim", None, "rep2", None)]
