"""The b2b_solution_sales template's approval flows end to end through the API (both databases), with the
template's roles: `big_deal` (an opportunity of 1,000,000 or more entering `close`: the owner's manager, then
a vice president) and `discount` (a discount above 10 %: the owner's manager; above 20 % also a sales
director)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from lowcode_platform.configuration import compile_config
from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.approvals.support import T0, Clock, approval, codes, decide, fixed_clock, inbox, task_of

USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
         ("rep", "sales_rep", "boss", "east"), ("director", "sales_director", None, None),
         ("vp", "vice_president", None, None), ("vp2", "vice_president", None, None))
CNY = "CNY"


def template() -> dict[str, Any]:
    return copy.deepcopy(load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return fixed_clock(monkeypatch)


@pytest.fixture
def b2b(make_tenant: Any, clock: Clock) -> Any:
    return make_tenant(template(), USERS)


def deal(tenant: Any, amount: float = 1250000, **data: Any) -> dict[str, Any]:
    """The rep's opportunity."""
    customer = tenant.create("customer", {"name": f"Acme {amount} {len(data)}"}, "rep")
    return tenant.create("opportunity", {"name": "Acme line 2", "customer": customer["id"],
                                         "amount": {"amount": amount, "currency": CNY},
                                         "expected_close_date": "2026-09-30", **data}, "rep")


def at_proof(tenant: Any, opportunity: dict[str, Any]) -> None:
    """An admin sets the deal in `proof` (an audited override of the earlier gates)."""
    response = tenant.call("POST", f"/api/v1/records/opportunity/{opportunity['id']}/stage", "admin",
                           json={"to": "proof", "override": {"reason": "imported from the old CRM"}})
    assert response.status_code == 200, response.get_json()


def to_close(tenant: Any, opportunity: dict[str, Any]) -> Any:
    return tenant.call("POST", f"/api/v1/records/opportunity/{opportunity['id']}/stage", "rep",
                       json={"to": "close", "data": {"verbal_approval": True, "verbal_approval_on": "2026-03-09"}})


def shown(tenant: Any, opportunity: dict[str, Any]) -> dict[str, Any]:
    response = tenant.call("GET", f"/api/v1/records/opportunity/{opportunity['id']}", "rep")
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def change(tenant: Any, opportunity: dict[str, Any], **data: Any) -> Any:
    version = shown(tenant, opportunity)["version"]
    return tenant.call("PATCH", f"/api/v1/records/opportunity/{opportunity['id']}", "rep",
                       json={"version": version, **data})


def test_the_template_flows_compile_as_documented() -> None:
    """big_deal: close, >= 1,000,000, manager then vice presidents, locking amount and discount; discount:
    its field, > 10, manager then a director step of its own condition, locking the amount."""
    flows = compile_config(template(), 1).approvals
    big, discount = flows.get("big_deal"), flows.get("discount")
    assert (big.entity, big.trigger.stage, big.lock) == ("opportunity", "close",
                                                         frozenset({"amount", "discount_percent"}))
    assert [(s.key, s.approvers[0].manager, s.approvers[0].role) for s in big.steps] == [
        ("manager", 1, None), ("vice_president", None, "vice_president")]
    assert (discount.trigger.fields, discount.lock) == (frozenset({"discount_percent"}), frozenset({"amount"}))
    assert [(s.key, s.when is not None, s.on_timeout) for s in discount.steps] == [
        ("manager", False, "escalate"), ("director", True, "reject")]


# -- big_deal -----------------------------------------------------------------------------------------------

def test_a_big_deal_enters_close_after_the_manager_and_a_vice_president(b2b: Any) -> None:
    """1,250,000 into close: 202, still in proof; boss approves, then the vice presidents are asked and one
    approves; the deal is in close with the move's data, recorded as the rep's move."""
    opportunity = deal(b2b)
    at_proof(b2b, opportunity)
    response = to_close(b2b, opportunity)
    assert response.status_code == 202, response.get_json()
    request = response.get_json()["approval"]
    assert (request["flow"], request["step"], response.get_json()["pipeline"]["stage"]) == (
        "big_deal", "manager", "proof")
    assert [i["id"] for i in inbox(b2b, "boss")] == [request["id"]]
    after_boss = decide(b2b, "boss", request["id"]).get_json()
    assert (after_boss["status"], after_boss["step"]) == ("pending", "vice_president")
    assert task_of(b2b, "vp", request["id"]) and task_of(b2b, "vp2", request["id"])
    assert inbox(b2b, "director") == [] and shown(b2b, opportunity)["pipeline"]["stage"] == "proof"
    assert decide(b2b, "vp", request["id"], comment="go").get_json()["status"] == "approved"
    final = shown(b2b, opportunity)
    assert final["pipeline"]["stage"] == "close" and final["data"]["verbal_approval"] is True
    history = b2b.call("GET", f"/api/v1/records/opportunity/{opportunity['id']}/stages", "rep").get_json()["items"]
    assert (history[-1]["from"], history[-1]["to"], history[-1]["actor_id"]) == ("proof", "close", b2b.user_ids["rep"])


def test_a_deal_under_a_million_enters_close_at_once(b2b: Any) -> None:
    """999,999: no approval, 200, in close."""
    opportunity = deal(b2b, 999999)
    at_proof(b2b, opportunity)
    response = to_close(b2b, opportunity)
    assert response.status_code == 200 and "approval" not in response.get_json()
    assert response.get_json()["pipeline"]["stage"] == "close"


def test_a_rejected_big_deal_stays_in_proof(b2b: Any) -> None:
    """A vice president rejects: the deal stays in proof and may be asked for again."""
    opportunity = deal(b2b)
    at_proof(b2b, opportunity)
    request = to_close(b2b, opportunity).get_json()["approval"]
    decide(b2b, "boss", request["id"])
    assert decide(b2b, "vp2", request["id"], "reject", comment="margin too thin").get_json()["status"] == "rejected"
    assert shown(b2b, opportunity)["pipeline"]["stage"] == "proof"
    assert to_close(b2b, opportunity).status_code == 202


def test_a_pending_big_deal_locks_its_amount_and_discount(b2b: Any) -> None:
    """While big_deal waits, the amount and the discount cannot change (409 `approval_locked`); the next step
    may; after the approval the amount may change again."""
    opportunity = deal(b2b)
    at_proof(b2b, opportunity)
    request = to_close(b2b, opportunity).get_json()["approval"]
    for data in ({"amount": {"amount": 900000, "currency": CNY}}, {"discount_percent": 5}):
        response = change(b2b, opportunity, **data)
        assert response.status_code == 409 and codes(response) == ["approval_locked"], data
    assert change(b2b, opportunity, next_step="Send the contract").status_code == 200
    decide(b2b, "boss", request["id"])
    decide(b2b, "vp", request["id"])
    assert change(b2b, opportunity, amount={"amount": 900000, "currency": CNY}).status_code == 200


def test_the_managers_big_deal_step_escalates_to_an_admin_after_48_hours(b2b: Any, clock: Clock) -> None:
    """boss has no manager: 48 hours after the request his task goes to the admin."""
    opportunity = deal(b2b)
    at_proof(b2b, opportunity)
    request = to_close(b2b, opportunity).get_json()["approval"]
    clock.tick(hours=48)
    response = b2b.call("POST", "/api/v1/approvals/sweep", "admin")
    assert response.status_code == 200 and response.get_json()["escalated"] == 1
    assert [(t["approver"], t["status"]) for t in approval(b2b, request["id"])["trail"]] == [
        ("boss", "expired"), ("admin", "open")]
    assert inbox(b2b, "admin")[0]["due_at"] == (T0 + timedelta(hours=96)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# -- discount -----------------------------------------------------------------------------------------------

def test_a_discount_of_15_percent_needs_the_manager_only(b2b: Any) -> None:
    """Raising the discount to 15 %: 202 and unchanged; boss approves and the discount is stored."""
    opportunity = deal(b2b, 100000)
    response = change(b2b, opportunity, discount_percent=15)
    assert response.status_code == 202, response.get_json()
    request = response.get_json()["approval"]
    assert (request["flow"], request["step"]) == ("discount", "manager")
    assert "discount_percent" not in response.get_json()["data"]
    assert decide(b2b, "boss", request["id"]).get_json()["status"] == "approved"
    assert shown(b2b, opportunity)["data"]["discount_percent"] == 15
    assert inbox(b2b, "director") == []


def test_a_discount_of_10_percent_needs_no_approval(b2b: Any) -> None:
    """10 % is not above 10: the change is written at once."""
    opportunity = deal(b2b, 100000)
    response = change(b2b, opportunity, discount_percent=10)
    assert response.status_code == 200 and response.get_json()["data"]["discount_percent"] == 10


def test_a_discount_of_25_percent_also_needs_a_sales_director(b2b: Any) -> None:
    """Raising the discount to 25 % (with the reason the template's rule asks for): boss approves, then the
    sales director is asked (the step's `> 20` holds for the discount being asked for); the director's
    approval stores it."""
    opportunity = deal(b2b, 100000)
    response = change(b2b, opportunity, discount_percent=25, discount_reason="strategic account")
    assert response.status_code == 202, response.get_json()
    request = response.get_json()["approval"]
    after_boss = decide(b2b, "boss", request["id"]).get_json()
    assert (after_boss["status"], after_boss["step"]) == ("pending", "director")
    assert shown(b2b, opportunity)["data"].get("discount_percent") is None
    assert decide(b2b, "director", request["id"]).get_json()["status"] == "approved"
    assert shown(b2b, opportunity)["data"]["discount_percent"] == 25


def test_a_discount_without_its_reason_is_refused_before_any_request(b2b: Any) -> None:
    """25 % without `discount_reason` breaks the template's rule: 422 at once, nobody is asked."""
    opportunity = deal(b2b, 100000)
    response = change(b2b, opportunity, discount_percent=25)
    assert response.status_code == 422
    assert [(e["pointer"], e["code"]) for e in response.get_json()["errors"]] == [("/discount_reason", "rule_failed")]
    assert inbox(b2b, "boss") == []


def test_a_pending_discount_locks_the_amount(b2b: Any) -> None:
    """While a discount waits, the amount cannot change; a rejection frees it and keeps the old discount."""
    opportunity = deal(b2b, 100000)
    request = change(b2b, opportunity, discount_percent=15).get_json()["approval"]
    locked = change(b2b, opportunity, amount={"amount": 1, "currency": CNY})
    assert locked.status_code == 409 and codes(locked) == ["approval_locked"]
    decide(b2b, "boss", request["id"], "reject", comment="no")
    assert change(b2b, opportunity, amount={"amount": 1, "currency": CNY}).status_code == 200
    assert "discount_percent" not in shown(b2b, opportunity)["data"]


def test_the_directors_discount_step_rejects_after_48_hours(b2b: Any, clock: Clock) -> None:
    """The director does not answer within 48 hours: the sweep rejects the discount."""
    opportunity = deal(b2b, 100000)
    request = change(b2b, opportunity, discount_percent=30, discount_reason="strategic").get_json()["approval"]
    decide(b2b, "boss", request["id"])
    clock.tick(hours=48)
    response = b2b.call("POST", "/api/v1/approvals/sweep", "admin")
    assert response.status_code == 200 and response.get_json()["rejected"] == 1
    assert approval(b2b, request["id"])["status"] == "rejected"
    assert "discount_percent" not in shown(b2b, opportunity)["data"]
