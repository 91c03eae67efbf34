"""Intake and push pools (both databases): where a new record goes, and which member a push pool gives
it to: round robin in id order (skipping inactive members and members at their cap, waiting in the pool
when all are), weighted, least loaded and rules; each placement is a pool event."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import text, update

from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from lowcode_platform.storage.tables import Tenant, TenantConfigVersion
from tests.configs import crm, label

EAST = {"province": "310000"}  # Shanghai
NORTH = {"province": "110000"}  # Beijing
USERS = (  # name, role, manager, team
    ("admin", "admin", None, None),
    ("boss", "manager", None, None),
    ("a1", "rep", None, "east"),
    ("a2", "rep", None, "east"),
    ("a3", "rep", None, "east"),
    ("w1", "rep", None, "west"),
)
MEMBERS = ("a1", "a2", "a3")


def config(allocation: dict[str, Any] | None = None, limits: dict[str, Any] | None = None,
           **pool: Any) -> dict[str, Any]:
    """The CRM config with a push pool `east` of Shanghai leads that takes in new ones: team east works
    it, managers administer it; `allocation` defaults to round robin."""
    document = crm()
    document["pools"] = {"east": {
        "entity": "lead", "label": label("East leads", "华东线索池"),
        "members": {"teams": ["east"]}, "admins": {"roles": ["manager"]},
        "scope": {"region.province": "310000"},
        "mode": "push", "intake": True,
        "allocation": allocation or {"strategy": "round_robin"},
        "limits": limits or {},
        **pool,
    }}
    return document


def names_by_id(tenant: Any) -> dict[str, str]:
    return {user_id: name for name, user_id in tenant.user_ids.items()}


def lead(tenant: Any, user: str = "admin", region: dict[str, str] | None = None, **data: Any) -> dict[str, Any]:
    return tenant.create("lead", {"name": "Lead", "region": region or EAST, **data}, user)


def owners(tenant: Any, count: int, **data: Any) -> list[str | None]:
    """The owners (by name) of `count` Shanghai leads the admin creates one after the other."""
    who = names_by_id(tenant)
    return [who.get(lead(tenant, **data)["owner_id"]) for _ in range(count)]


def in_id_order(tenant: Any, names: tuple[str, ...] = MEMBERS) -> list[str]:
    return sorted(names, key=lambda name: tenant.user_ids[name])


def pool_history(tenant: Any, record_id: str) -> list[tuple[str, str, str | None, str | None]]:
    items = tenant.call("GET", f"/api/v1/records/lead/{record_id}/pool-history", "admin").get_json()["items"]
    return [(e["pool"], e["kind"], e["from_owner_name"], e["to_owner_name"]) for e in items]


def sql(app: Any, statement: str, **params: Any) -> None:
    with app.extensions["lowcode"].open_session(write=True) as session:
        session.execute(text(statement), params)
        session.commit()


def reconfigure(app: Any, tenant: Any, document: dict[str, Any]) -> None:
    """Make `document` the tenant's active config as version 2 (for settings naming user ids, which exist
    only once the users do)."""
    with app.extensions["lowcode"].open_session(write=True) as session:
        row = session.query(Tenant).filter(Tenant.slug == tenant.slug).one()
        session.execute(update(TenantConfigVersion).where(TenantConfigVersion.tenant_id == row.id)
                        .values(status="retired"))
        session.add(TenantConfigVersion(tenant_id=row.id, version=2, document=document, status="active",
                                        author="tests", created_at=datetime.now(timezone.utc)))
        row.active_version = 2
        session.commit()


# -- intake ----------------------------------------------------------------------------------------------


def test_a_lead_created_by_a_non_member_is_pushed(make_tenant: Any) -> None:
    """A Shanghai lead the admin (no member of the pool) creates enters the east pool and is given to a
    member at once: it has an owner from team east and no pool, and a `push` pool event says so."""
    tenant = make_tenant(config(), USERS)
    made = lead(tenant)
    owner = names_by_id(tenant)[made["owner_id"]]
    assert owner in MEMBERS
    record = tenant.call("GET", f"/api/v1/records/lead/{made['id']}", "admin").get_json()
    assert record["owner_id"] == made["owner_id"]
    assert pool_history(tenant, made["id"]) == [("east", "push", None, owner)]


def test_a_lead_created_by_a_member_stays_with_them(make_tenant: Any) -> None:
    """A member creating a lead in the pool's scope keeps it: no push, no pool event."""
    tenant = make_tenant(config(), USERS)
    made = lead(tenant, "a2")
    assert made["owner_id"] == tenant.user_ids["a2"]
    assert pool_history(tenant, made["id"]) == []


def test_a_lead_outside_the_scope_stays_with_its_creator(make_tenant: Any) -> None:
    """A Beijing lead is outside the east pool's scope: whoever creates it keeps it."""
    tenant = make_tenant(config(), USERS)
    by_admin = lead(tenant, "admin", NORTH)
    by_west = lead(tenant, "w1", NORTH)
    assert by_admin["owner_id"] == tenant.user_ids["admin"] and by_west["owner_id"] == tenant.user_ids["w1"]
    assert pool_history(tenant, by_admin["id"]) == [] and pool_history(tenant, by_west["id"]) == []


def test_a_non_member_rep_creating_in_scope_loses_the_lead_to_the_pool(make_tenant: Any) -> None:
    """A rep of another team creating a Shanghai lead is no member: the lead goes to an east member."""
    tenant = make_tenant(config(), USERS)
    made = lead(tenant, "w1")
    assert names_by_id(tenant)[made["owner_id"]] in MEMBERS


def test_an_intake_pull_pool_keeps_the_lead_waiting(make_tenant: Any) -> None:
    """A pull pool with intake takes the admin's lead in without an owner (`enter` event); a member
    lists and claims it."""
    tenant = make_tenant(config(mode="pull"), USERS)
    made = lead(tenant)
    assert made["owner_id"] is None
    assert pool_history(tenant, made["id"]) == [("east", "enter", None, None)]
    listed = tenant.call("GET", "/api/v1/pools/east/records", "a1").get_json()["items"]
    assert [i["id"] for i in listed] == [made["id"]]
    response = tenant.call("POST", "/api/v1/pools/east/claim", "a1", json={"id": made["id"]})
    assert response.status_code == 200 and response.get_json()["owner_id"] == tenant.user_ids["a1"]


def test_the_first_intake_pool_in_config_order_takes_the_lead(make_tenant: Any) -> None:
    """With two intake pools whose scopes both hold, the first in the config takes the lead; a lead only
    the second holds goes there."""
    document = config()
    document["pools"]["all"] = {"entity": "lead", "label": label("All"), "members": {"teams": ["west"]},
                                "mode": "push", "intake": True, "allocation": {"strategy": "round_robin"}}
    tenant = make_tenant(document, USERS)
    east = lead(tenant, "admin", EAST)
    north = lead(tenant, "admin", NORTH)
    assert names_by_id(tenant)[east["owner_id"]] in MEMBERS
    assert north["owner_id"] == tenant.user_ids["w1"]
    assert pool_history(tenant, north["id"]) == [("all", "push", None, "w1")]


def test_no_intake_leaves_new_records_with_their_creator(make_tenant: Any) -> None:
    """A push pool without `intake` does not take new records in."""
    tenant = make_tenant(config(intake=False), USERS)
    made = lead(tenant)
    assert made["owner_id"] == tenant.user_ids["admin"] and pool_history(tenant, made["id"]) == []


# -- round robin -----------------------------------------------------------------------------------------


def test_round_robin_cycles_through_members_in_id_order(make_tenant: Any) -> None:
    """Nine leads go to the three members in id order, three rounds: three each."""
    tenant = make_tenant(config(), USERS)
    got = owners(tenant, 9)
    assert got == in_id_order(tenant) * 3
    assert Counter(got) == {"a1": 3, "a2": 3, "a3": 3}


def test_round_robin_skips_inactive_members(make_tenant: Any, app: Any) -> None:
    """A deactivated member gets no leads: the others alternate."""
    tenant = make_tenant(config(), USERS)
    sql(app, "UPDATE users SET active = false WHERE id = :id", id=tenant.user_ids["a2"])
    got = owners(tenant, 4)
    assert got == [n for n in in_id_order(tenant) if n != "a2"] * 2


def test_round_robin_skips_members_at_their_cap(make_tenant: Any) -> None:
    """A member owning as many leads as the cap is skipped; the others share the new ones."""
    tenant = make_tenant(config(limits={"owner_cap": 2}), USERS)
    lead(tenant, "a1")
    lead(tenant, "a1")  # a1 is at the cap of 2
    got = owners(tenant, 4)
    assert "a1" not in got and Counter(got) == {"a2": 2, "a3": 2}


def test_round_robin_continues_after_a_member_fills_up(make_tenant: Any) -> None:
    """The turn passes on in id order when the next member is full: with cap 1, three leads go to the
    three members, and each member gets exactly one."""
    tenant = make_tenant(config(limits={"owner_cap": 1}), USERS)
    assert owners(tenant, 3) == in_id_order(tenant)


def test_a_lead_waits_in_the_pool_when_every_member_is_at_cap(make_tenant: Any) -> None:
    """When every member is at the cap the lead enters the pool without an owner (`enter` event) and is
    listed there for the pool's admin."""
    tenant = make_tenant(config(limits={"owner_cap": 1}), USERS)
    owners(tenant, 3)
    waiting = lead(tenant, name="Waiting")
    assert waiting["owner_id"] is None
    assert pool_history(tenant, waiting["id"]) == [("east", "enter", None, None)]
    listed = tenant.call("GET", "/api/v1/pools/east/records", "boss").get_json()["items"]
    assert [i["id"] for i in listed] == [waiting["id"]]
    pools = tenant.call("GET", "/api/v1/pools", "boss").get_json()["items"]
    assert [(p["key"], p["records"]) for p in pools] == [("east", 1)]


def test_the_tenant_cap_also_stops_pushes(make_tenant: Any) -> None:
    """`tenant.owner_caps` lower than the pool's cap is the cap pushes respect."""
    document = config(limits={"owner_cap": 10})
    document["tenant"]["owner_caps"] = {"lead": 1}
    tenant = make_tenant(document, USERS)
    assert sorted(owners(tenant, 3)) == sorted(MEMBERS)
    assert lead(tenant)["owner_id"] is None


def test_an_admin_assigns_a_waiting_lead(make_tenant: Any) -> None:
    """A lead waiting in a push pool cannot be claimed (409 pool_push_only); once a member has room again
    (they deleted a lead), the pool's admin assigns it to them."""
    tenant = make_tenant(config(limits={"owner_cap": 1}), USERS)
    mine = lead(tenant, "a1")
    owners(tenant, 2)
    waiting = lead(tenant)
    assert waiting["owner_id"] is None
    refused = tenant.call("POST", "/api/v1/pools/east/claim", "a1", json={"id": waiting["id"]})
    assert refused.status_code == 409 and refused.get_json()["errors"][0]["code"] == "pool_push_only"
    deleted = tenant.call("DELETE", f"/api/v1/records/lead/{mine['id']}", "a1",
                          headers={"If-Match": f'"{mine["version"]}"'})
    assert deleted.status_code in (200, 204)
    given = tenant.call("POST", "/api/v1/pools/east/assign", "boss",
                        json={"id": waiting["id"], "to": tenant.user_ids["a1"]})
    assert given.status_code == 200 and given.get_json()["owner_id"] == tenant.user_ids["a1"]
    assert pool_history(tenant, waiting["id"]) == [("east", "enter", None, None), ("east", "assign", None, "a1")]


# -- weighted, least loaded, rules -----------------------------------------------------------------------


def test_weighted_distributes_by_weight(make_tenant: Any, app: Any) -> None:
    """Weights 2:1 (by user id) over nine leads give six and three, in a repeating pattern."""
    tenant = make_tenant(config(), USERS)
    weights = {tenant.user_ids["a1"]: 2, tenant.user_ids["a2"]: 1}
    reconfigure(app, tenant, config({"strategy": "weighted", "weights": weights}, members={"users": ["a1", "a2"]}))
    got = owners(tenant, 9)
    assert Counter(got) == {"a1": 6, "a2": 3}
    first = in_id_order(tenant, ("a1", "a2"))
    expected_round = ["a1", "a1", "a2"] if first[0] == "a1" else ["a2", "a1", "a1"]
    assert got == expected_round * 3


def test_weighted_default_weight_is_one_and_zero_excludes(make_tenant: Any, app: Any) -> None:
    """A member without a weight counts 1; a weight of 0 gives them nothing."""
    tenant = make_tenant(config(), USERS)
    reconfigure(app, tenant, config({"strategy": "weighted", "weights": {tenant.user_ids["a3"]: 0}}))
    got = owners(tenant, 6)
    assert Counter(got) == {"a1": 3, "a2": 3}


def test_least_loaded_picks_the_member_with_fewest_records(make_tenant: Any) -> None:
    """With a1 owning two leads, a2 one and a3 none, the next lead goes to a3; after three leads each
    member owns two."""
    tenant = make_tenant(config({"strategy": "least_loaded"}), USERS)
    for name in ("a1", "a1", "a2"):
        lead(tenant, name)
    got = owners(tenant, 3)
    assert got[0] == "a3" and got[1:] in (["a2", "a3"], ["a3", "a2"])
    assert sorted(got[1:]) == ["a2", "a3"]
    loads = Counter(names_by_id(tenant)[r["owner_id"]]
                    for r in tenant.call("GET", "/api/v1/records/lead?limit=100", "admin").get_json()["items"])
    assert loads == {"a1": 2, "a2": 2, "a3": 2}


def test_least_loaded_breaks_ties_by_id(make_tenant: Any) -> None:
    """Equal loads: the member with the lowest id gets the lead."""
    tenant = make_tenant(config({"strategy": "least_loaded"}), USERS)
    assert owners(tenant, 1) == in_id_order(tenant)[:1]


def rules_config() -> dict[str, Any]:
    """A push pool of every lead (no scope) whose VIP leads go to a2, whose leads scoring 50 or more go to
    team west, and whose other leads match no rule."""
    document = config({"strategy": "rules", "rules": [
        {"when": {"vip": True}, "to": {"user": "a2"}},
        {"when": {"$gte": {"score": 50}}, "to": {"team": "west"}},
    ]})
    del document["pools"]["east"]["scope"]
    return document


def test_rules_send_to_a_named_user(make_tenant: Any) -> None:
    """A VIP lead goes to the user its rule names (by name), however loaded they are."""
    tenant = make_tenant(rules_config(), USERS)
    lead(tenant, "a2")
    got = owners(tenant, 3, vip=True, score=90)  # the first rule wins over the second
    assert got == ["a2", "a2", "a2"]


def test_rules_send_to_a_team(make_tenant: Any) -> None:
    """A lead scoring 80 goes to team west (its one member)."""
    tenant = make_tenant(rules_config(), USERS)
    made = lead(tenant, score=80)
    assert made["owner_id"] == tenant.user_ids["w1"]
    assert pool_history(tenant, made["id"]) == [("east", "push", None, "w1")]


def test_a_lead_no_rule_matches_waits_in_the_pool(make_tenant: Any) -> None:
    """A lead no rule matches enters the pool without an owner."""
    tenant = make_tenant(rules_config(), USERS)
    made = lead(tenant, score=10)
    assert made["owner_id"] is None
    assert pool_history(tenant, made["id"]) == [("east", "enter", None, None)]


def test_a_rule_naming_an_inactive_user_leaves_the_lead_waiting(make_tenant: Any, app: Any) -> None:
    """A rule whose user is deactivated gives the lead to nobody: it waits in the pool."""
    tenant = make_tenant(rules_config(), USERS)
    sql(app, "UPDATE users SET active = false WHERE id = :id", id=tenant.user_ids["a2"])
    made = lead(tenant, vip=True)
    assert made["owner_id"] is None


def test_a_rules_target_at_cap_leaves_the_lead_waiting(make_tenant: Any) -> None:
    """A rule's user at the cap does not get the lead (nor does anyone else): it waits in the pool."""
    document = rules_config()
    document["pools"]["east"]["limits"] = {"owner_cap": 1}
    tenant = make_tenant(document, USERS)
    assert lead(tenant, vip=True)["owner_id"] == tenant.user_ids["a2"]
    assert lead(tenant, vip=True)["owner_id"] is None


# -- the b2b template ------------------------------------------------------------------------------------

TEMPLATE_USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
                  ("rep1", "sales_rep", "boss", "east"), ("rep2", "sales_rep", "boss", "east"),
                  ("nrep", "sales_rep", "boss", "north"))
TEMPLATE_LEAD = {"name": "张伟", "company": "上海某某科技有限公司", "phone": "13812345678"}


@pytest.mark.parametrize(("region", "pool", "takers"), [
    ({"province": "310000"}, "lead_east", {"boss", "rep1", "rep2"}),
    ({"province": "110000"}, "lead_north", {"nrep"}),
    (None, "lead_national", {"rep1", "rep2", "nrep"}),
])
def test_template_lead_pools_route_by_region(make_tenant: Any, region: dict[str, str] | None, pool: str,
                                             takers: set[str]) -> None:
    """In the b2b template a lead the admin creates goes to the pool of its region (east, north, or the
    national pool without a region) and is pushed to one of that pool's members."""
    tenant = make_tenant(load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document, TEMPLATE_USERS)
    data = {**TEMPLATE_LEAD, **({"region": region} if region else {})}
    made = tenant.create("lead", data, "admin")
    owner = names_by_id(tenant).get(made["owner_id"])
    assert owner in takers
    assert pool_history(tenant, made["id"]) == [(pool, "push", None, owner)]
