"""Pool configs: every option compiles to what the runtime reads; every mistake is refused with a pointer
and a code (the semantic checks of `compile_pools` and the meta-schema); the b2b template's pools compile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lowcode_platform.configuration import compile_config, iter_config_errors
from lowcode_platform.pools import TenantPools
from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.configs import crm, label

Mutation = Callable[[dict[str, Any]], None]


def minimal() -> dict[str, Any]:
    """The CRM config with one pull pool of leads that names only what is required."""
    document = crm()
    document["pools"] = {"leads": {"entity": "lead", "label": label("Leads", "线索池"),
                                   "members": {"roles": ["rep"]}}}
    return document


def full() -> dict[str, Any]:
    """The CRM config with a tenant cap per entity and three pools that between them use every option."""
    document = crm()
    document["tenant"]["owner_caps"] = {"lead": 50, "customer": 30}
    document["pools"] = {
        "east_leads": {
            "entity": "lead", "label": label("East leads", "华东线索池"),
            "members": {"roles": ["rep"], "teams": ["east"], "users": ["rep1"]},
            "admins": {"roles": ["manager"], "teams": ["hq"], "users": ["boss"]},
            "scope": {"region.province": "310000"},
            "mode": "both", "intake": True,
            "allocation": {"strategy": "weighted", "weights": {"u1": 2, "u2": 0}},
            "limits": {"owner_cap": 10, "count_won": False, "claims_per_day": 5, "cooldown_days": 3},
            "recycle": {
                "rules": [{"$gte": {"days_since_follow_up": 7}}, {"$gte": {"days_without_deal": 30}},
                          {"$gte": {"days_owned": 60}}],
                "protection": {"days": 14, "extend_days": 7, "max_days": 60},
                "warn_days": 2,
                "exempt": {"status": "won"},
            },
            "release": {"reasons": [{"value": "no_need", "label": label("No need", "暂无需求")},
                                    {"value": "invalid", "label": label("Invalid", "无效")}]},
            "on_return": {"clear": ["assignee", "tags"]},
            "hidden_fields": ["phone", "email", "budget"],
        },
        "routed": {
            "entity": "lead", "label": label("Routed"), "members": {"teams": ["east"]}, "mode": "push",
            "allocation": {"strategy": "rules", "rules": [
                {"when": {"vip": True}, "to": {"user": "boss"}},
                {"when": {"$gte": {"score": 50}}, "to": {"team": "east"}},
            ]},
        },
        "customers": {"entity": "customer", "label": label("Customers", "客户公海"), "members": {"roles": ["rep"]},
                      "mode": "push", "allocation": {"strategy": "least_loaded"}},
    }
    return document


def errors_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.pointer, e.code) for e in iter_config_errors(document)]


def pool_set(**values: Any) -> Mutation:
    """A mutation setting top-level keys of the `leads` pool of `minimal()`."""
    return lambda document: document["pools"]["leads"].update(values)


# -- what compiles ---------------------------------------------------------------------------------------


def test_minimal_pool_compiles_with_defaults() -> None:
    """A pool naming only entity, label and members is valid: pull mode, no intake, round robin, no caps,
    a cooldown of 0 days, won records counted, no recycling, no reasons, nothing hidden or cleared."""
    document = minimal()
    assert errors_of(document) == []
    pool = compile_config(document, 1).pools.pools["leads"]
    assert (pool.entity, pool.mode, pool.intake, pool.pulls, pool.pushes) == ("lead", "pull", False, True, False)
    assert pool.label.en == "Leads" and pool.label.get("zh") == "线索池"
    assert pool.members.roles == frozenset({"rep"}) and pool.admins.empty
    assert pool.scope is None and pool.allocation.strategy == "round_robin"
    assert (pool.limits.owner_cap, pool.limits.count_won, pool.limits.claims_per_day, pool.limits.cooldown_days) == \
        (None, True, None, 0)
    assert not pool.recycle.active and pool.recycle.exempt is None
    assert dict(pool.reasons) == {} and pool.clear_on_return == () and pool.hidden_fields == frozenset()


def test_every_option_compiles() -> None:
    """Every key of a pool and `tenant.owner_caps` is accepted and compiled to the value the runtime reads."""
    document = full()
    assert errors_of(document) == []
    pools = compile_config(document, 1).pools
    assert list(pools.pools) == ["east_leads", "routed", "customers"]
    assert [p.key for p in pools.of("lead")] == ["east_leads", "routed"]
    east = pools.pools["east_leads"]
    assert east.members.includes("viewer", "east", "x") and east.members.includes("viewer", None, "rep1")
    assert not east.members.includes("viewer", "west", "x")
    assert east.admins.users == frozenset({"boss"}) and east.admins.teams == frozenset({"hq"})
    assert east.scope is not None and east.intake and east.pulls and east.pushes
    assert east.allocation.strategy == "weighted" and dict(east.allocation.weights) == {"u1": 2, "u2": 0}
    assert (east.limits.owner_cap, east.limits.count_won, east.limits.claims_per_day, east.limits.cooldown_days) == \
        (10, False, 5, 3)
    assert len(east.recycle.rules) == 3 and east.recycle.warn_days == 2 and east.recycle.exempt is not None
    assert east.recycle.protection is not None
    assert (east.recycle.protection.days, east.recycle.protection.extend_days, east.recycle.protection.max_days) == \
        (14, 7, 60)
    assert list(east.reasons) == ["no_need", "invalid"] and east.reasons["invalid"].get("zh") == "无效"
    assert east.clear_on_return == ("assignee", "tags")
    assert east.hidden_fields == frozenset({"phone", "email", "budget"})
    routed = pools.pools["routed"]
    assert routed.mode == "push" and not routed.pulls
    assert [(r.user, r.team) for r in routed.allocation.rules] == [("boss", None), (None, "east")]
    assert pools.pools["customers"].allocation.strategy == "least_loaded"
    assert dict(pools.owner_caps) == {"lead": 50, "customer": 30}


def test_compiled_conditions_answer_for_records() -> None:
    """The compiled scope and allocation rules test a record's facts: the scope holds for a Shanghai lead
    only, the first rule for a VIP lead only."""
    from datetime import datetime, timezone

    from lowcode_platform.records.derive import RecordFacts

    pools = compile_config(full(), 1).pools
    now = datetime(2026, 3, 10, tzinfo=timezone.utc)
    system = {"owner": None, "stage": None, "pool": None, "created_at": now, "last_activity_at": None,
              "stage_entered_at": None, "won_at": None, "owned_at": None, "deal_at": None}

    def facts(data: dict[str, Any]) -> RecordFacts:
        return RecordFacts({"name": "x", **data}, system, lambda owner: None)

    scope = pools.pools["east_leads"].scope
    assert scope is not None
    assert scope.test(facts({"region": {"province": "310000"}}), now)
    assert not scope.test(facts({"region": {"province": "110000"}}), now)
    vip = pools.pools["routed"].allocation.rules[0].when
    assert vip.test(facts({"vip": True}), now) and not vip.test(facts({"vip": False}), now)


@pytest.mark.parametrize(("tenant_cap", "pool_caps", "expected"), [
    (None, [], (None, True)),
    (5, [], (5, True)),
    (5, [(3, False)], (3, False)),  # the pool's lower cap, and its count_won
    (2, [(3, False)], (2, True)),  # the tenant's lower cap counts won records
    (None, [(8, True), (4, False)], (4, False)),  # the lowest of two pools of the entity
])
def test_the_lowest_cap_applies(tenant_cap: int | None, pool_caps: list[tuple[int, bool]],
                                expected: tuple[int | None, bool]) -> None:
    """`TenantPools.cap(entity)` is the lowest of the tenant's cap and the entity's pools' caps, with the
    count_won of whichever setting gave it; another entity's caps do not apply."""
    document = crm()
    if tenant_cap is not None:
        document["tenant"]["owner_caps"] = {"lead": tenant_cap, "customer": 1}
    document["pools"] = {f"p{i}": {"entity": "lead", "label": label("P"), "members": {"roles": ["rep"]},
                                   "limits": {"owner_cap": cap, "count_won": won}}
                         for i, (cap, won) in enumerate(pool_caps)}
    document["pools"]["other"] = {"entity": "customer", "label": label("C"), "members": {"roles": ["rep"]},
                                  "limits": {"owner_cap": 1}}
    pools: TenantPools = compile_config(document, 1).pools
    assert pools.cap("lead") == expected


# -- semantic errors -------------------------------------------------------------------------------------


SEMANTIC: dict[str, tuple[Mutation, list[tuple[str, str]]]] = {
    "unknown entity": (pool_set(entity="deal"), [("/pools/leads/entity", "unknown_entity")]),
    "unknown member role": (pool_set(members={"roles": ["rep", "ghost"]}),
                            [("/pools/leads/members/roles/1", "unknown_role")]),
    "unknown admin role": (pool_set(admins={"roles": ["ghost"]}), [("/pools/leads/admins/roles/0", "unknown_role")]),
    "unknown hidden field": (pool_set(hidden_fields=["email", "nope"]),
                             [("/pools/leads/hidden_fields/1", "unknown_field")]),
    "unknown field to clear": (pool_set(on_return={"clear": ["nope"]}),
                               [("/pools/leads/on_return/clear/0", "unknown_field")]),
    "scope on an unknown field": (pool_set(scope={"nope": 1}), [("/pools/leads/scope/nope", "unknown_field")]),
    "scope with two keys": (pool_set(scope={"status": "new", "vip": True}),
                            [("/pools/leads/scope", "condition_one_key")]),
    "scope comparing text with a number": (pool_set(scope={"$gt": {"name": 3}}),
                                           [("/pools/leads/scope/$gt/name", "condition_mismatch")]),
    "recycle rule on an unknown field": (
        pool_set(recycle={"rules": [{"$gte": {"days_owned": 3}}, {"$gt": {"bogus": 1}}]}),
        [("/pools/leads/recycle/rules/1/$gt/bogus", "unknown_field")]),
    "recycle rule with a text day count": (
        pool_set(recycle={"rules": [{"$gte": {"days_since_follow_up": "x"}}]}),
        [("/pools/leads/recycle/rules/0/$gte/days_since_follow_up", "condition_days")]),
    "exempt with an unknown option": (pool_set(recycle={"rules": [{"$gte": {"days_owned": 3}}],
                                                        "exempt": {"status": "lost"}}),
                                      [("/pools/leads/recycle/exempt/status", "condition_option")]),
    "allocation rule on an unknown field": (
        pool_set(mode="push", allocation={"strategy": "least_loaded", "rules": [
            {"when": {"vip": True}, "to": {"user": "boss"}}, {"when": {"bogus": 1}, "to": {"team": "east"}}]}),
        [("/pools/leads/allocation/rules/1/when/bogus", "unknown_field")]),
    "protection max below days": (pool_set(recycle={"protection": {"days": 10, "max_days": 5}}),
                                  [("/pools/leads/recycle/protection/max_days", "protection_max")]),
    "push without allocation": (pool_set(mode="push"), [("/pools/leads/allocation", "required")]),
    "both without allocation": (pool_set(mode="both", intake=True), [("/pools/leads/allocation", "required")]),
    "rules strategy without rules": (pool_set(mode="push", allocation={"strategy": "rules"}),
                                     [("/pools/leads/allocation/rules", "required")]),
    "rules strategy with an empty list": (pool_set(mode="push", allocation={"strategy": "rules", "rules": []}),
                                          [("/pools/leads/allocation/rules", "required")]),
    "tenant cap of an unknown entity": (lambda d: d["tenant"].update(owner_caps={"lead": 3, "deal": 2}),
                                        [("/tenant/owner_caps/deal", "unknown_entity")]),
}


@pytest.mark.parametrize("case", list(SEMANTIC))
def test_semantic_errors_are_located(case: str) -> None:
    """Each mistake the meta-schema cannot see is reported alone, at the pointer of the offending value."""
    mutate, expected = SEMANTIC[case]
    document = minimal()
    mutate(document)
    assert errors_of(document) == expected


def test_errors_of_several_pools_are_all_reported() -> None:
    """Errors in two pools and in the tenant caps are reported together; a pool key with a `/` would be
    escaped, and a valid pool next to them adds none."""
    document = minimal()
    document["pools"]["bad_one"] = {"entity": "nope", "label": label("X"), "members": {}}
    document["pools"]["bad_two"] = {"entity": "lead", "label": label("Y"), "members": {"roles": ["ghost"]},
                                    "hidden_fields": ["nope"]}
    document["tenant"]["owner_caps"] = {"nope": 1}
    assert sorted(errors_of(document)) == sorted([
        ("/pools/bad_one/entity", "unknown_entity"), ("/pools/bad_two/members/roles/0", "unknown_role"),
        ("/pools/bad_two/hidden_fields/0", "unknown_field"), ("/tenant/owner_caps/nope", "unknown_entity")])


def test_compile_config_refuses_a_bad_pool() -> None:
    """`compile_config` raises with the pool's errors: an invalid pool never reaches the runtime."""
    from lowcode_platform.errors import ConfigInvalidError

    document = minimal()
    document["pools"]["leads"]["hidden_fields"] = ["nope"]
    with pytest.raises(ConfigInvalidError) as raised:
        compile_config(document, 1)
    assert [(d.pointer, d.code) for d in raised.value.details] == [("/pools/leads/hidden_fields/0", "unknown_field")]


def test_a_rules_pool_whose_only_rule_is_bad_reports_the_rule_only() -> None:
    """A rules strategy whose one rule has a bad condition is reported at that condition; the rules are
    there, so `/allocation/rules` is not also reported as `required` (a misleading second error)."""
    document = minimal()
    document["pools"]["leads"].update(mode="push", allocation={"strategy": "rules", "rules": [
        {"when": {"bogus": 1}, "to": {"user": "boss"}}]})
    assert errors_of(document) == [("/pools/leads/allocation/rules/0/when/bogus", "unknown_field")]


def test_clearing_a_required_field_on_return_is_refused() -> None:
    """`on_return.clear` naming a required field is a config error: clearing it would make every release
    (and every recycle) of the pool fail the record's own validation."""
    document = minimal()
    document["pools"]["leads"]["on_return"] = {"clear": ["assignee", "name"]}
    assert [pointer for pointer, _ in errors_of(document)] == ["/pools/leads/on_return/clear/1"]


# -- meta-schema refusals --------------------------------------------------------------------------------


STRUCTURE: dict[str, tuple[Mutation, list[tuple[str, str]]]] = {
    "bad mode": (pool_set(mode="random"), [("/pools/leads/mode", "invalid_option")]),
    "bad strategy": (pool_set(mode="push", allocation={"strategy": "fastest"}),
                     [("/pools/leads/allocation/strategy", "invalid_option")]),
    "negative pool cap": (pool_set(limits={"owner_cap": -1}), [("/pools/leads/limits/owner_cap", "minimum")]),
    "negative claims per day": (pool_set(limits={"claims_per_day": -2}),
                                [("/pools/leads/limits/claims_per_day", "minimum")]),
    "negative cooldown": (pool_set(limits={"cooldown_days": -1}), [("/pools/leads/limits/cooldown_days", "minimum")]),
    "text cap": (pool_set(limits={"owner_cap": "3"}), [("/pools/leads/limits/owner_cap", "type")]),
    "negative tenant cap": (lambda d: d["tenant"].update(owner_caps={"lead": -1}),
                            [("/tenant/owner_caps/lead", "minimum")]),
    "text tenant cap": (lambda d: d["tenant"].update(owner_caps={"lead": "3"}), [("/tenant/owner_caps/lead", "type")]),
    "negative weight": (pool_set(mode="push", allocation={"strategy": "weighted", "weights": {"u": -1}}),
                        [("/pools/leads/allocation/weights/u", "minimum")]),
    "protection of 0 days": (pool_set(recycle={"protection": {"days": 0}}),
                             [("/pools/leads/recycle/protection/days", "minimum")]),
    "protection without days": (pool_set(recycle={"protection": {"extend_days": 3}}),
                                [("/pools/leads/recycle/protection/days", "required")]),
    "intake not a boolean": (pool_set(intake="yes"), [("/pools/leads/intake", "type")]),
    "unknown pool key": (pool_set(colour="red"), [("/pools/leads/colour", "unknown_key")]),
    "unknown limits key": (pool_set(limits={"max": 3}), [("/pools/leads/limits/max", "unknown_key")]),
    "unknown recycle key": (pool_set(recycle={"after_days": 3}), [("/pools/leads/recycle/after_days", "unknown_key")]),
    "unknown allocation key": (pool_set(mode="push", allocation={"strategy": "round_robin", "order": "id"}),
                               [("/pools/leads/allocation/order", "unknown_key")]),
    "unknown audience key": (pool_set(members={"roles": ["rep"], "groups": ["x"]}),
                             [("/pools/leads/members/groups", "unknown_key")]),
    "unknown release key": (pool_set(release={"comment": "required"}),
                            [("/pools/leads/release/comment", "unknown_key")]),
    "unknown on_return key": (pool_set(on_return={"reset": ["name"]}),
                              [("/pools/leads/on_return/reset", "unknown_key")]),
    "missing entity": (lambda d: d["pools"]["leads"].pop("entity"), [("/pools/leads/entity", "required")]),
    "missing label": (lambda d: d["pools"]["leads"].pop("label"), [("/pools/leads/label", "required")]),
    "missing members": (lambda d: d["pools"]["leads"].pop("members"), [("/pools/leads/members", "required")]),
    "bad pool key": (lambda d: d["pools"].update({"Bad-Key": d["pools"].pop("leads")}),
                     [("/pools/Bad-Key", "bad_identifier")]),
    "bad tenant cap key": (lambda d: d["tenant"].update(owner_caps={"Lead!": 1}),
                           [("/tenant/owner_caps/Lead!", "bad_identifier")]),
    "duplicate hidden fields": (pool_set(hidden_fields=["email", "email"]),
                                [("/pools/leads/hidden_fields", "duplicate_items")]),
    "reason without a label": (pool_set(release={"reasons": [{"value": "x"}]}),
                               [("/pools/leads/release/reasons/0/label", "required")]),
    "allocation rule without a target": (
        pool_set(mode="push", allocation={"strategy": "rules", "rules": [{"when": {"vip": True}}]}),
        [("/pools/leads/allocation/rules/0/to", "required")]),
}


@pytest.mark.parametrize("case", list(STRUCTURE))
def test_meta_schema_refusals(case: str) -> None:
    """The meta-schema refuses each malformed pool or tenant cap at the pointer of the offending value."""
    mutate, expected = STRUCTURE[case]
    document = minimal()
    mutate(document)
    assert errors_of(document) == expected


def test_a_rule_target_naming_both_user_and_team_is_refused() -> None:
    """A rule's `to` names a user or a team, not both: refused at its pointer with a message that says
    what is allowed (it must not read "must be one of None, None")."""
    document = minimal()
    document["pools"]["leads"].update(mode="push", allocation={"strategy": "rules", "rules": [
        {"when": {"vip": True}, "to": {"user": "boss", "team": "east"}}]})
    errors = list(iter_config_errors(document))
    assert [e.pointer for e in errors] == ["/pools/leads/allocation/rules/0/to"]
    assert "None" not in errors[0].message


# -- the template ----------------------------------------------------------------------------------------


def test_the_b2b_template_compiles_with_four_pools() -> None:
    """The b2b template's pools compile: the customer public pool (pull, hidden tax id and address, a cap
    not counting won customers) and three lead pools that take in new leads by region and push them."""
    document = load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document
    assert list(iter_config_errors(document)) == []
    pools = compile_config(document, 1).pools
    assert sorted(pools.pools) == ["customer_public", "lead_east", "lead_national", "lead_north"]
    public = pools.pools["customer_public"]
    assert (public.entity, public.mode, public.intake) == ("customer", "pull", False)
    assert public.hidden_fields == frozenset({"tax_id", "address"})
    assert (public.limits.owner_cap, public.limits.count_won) == (20, False)
    assert [p.key for p in pools.of("lead")] == ["lead_east", "lead_north", "lead_national"]
    assert all(p.intake and p.pushes and p.pulls for p in pools.of("lead"))
    assert pools.pools["lead_national"].scope is None and pools.pools["lead_east"].scope is not None
    assert pools.cap("customer") == (20, False) and pools.cap("lead") == (200, True)
