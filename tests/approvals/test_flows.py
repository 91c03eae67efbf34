"""Approval flows through the API (both databases): stage moves and field changes that become requests, the
issue's conditional flow (a discount over 20 % goes to the sales director, a budget of a million or more to a
vice president), any / all / ratio steps, rejection and sending back, recall, delegation, self-approval, who
the approvers are, locks, one pending request per flow, audit rows, notifications, batch approval, reads and
manual submits.

Users (tests/approvals/support.py USERS): chief manages boss, who manages rep1 and rep2; outsider has no
manager and another team; director and vp / vp2 hold the roles the flows name. Leads are rep1's unless said.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.approvals.support import (
    USERS,
    approval,
    codes,
    decide,
    document,
    flow,
    inbox,
    issue_flow,
    move,
    notifications,
    patch,
    qualifiable,
    record,
    requested,
    stage,
    step,
    stored_audit,
    task_of,
)

MILLION = {"amount": 1000000, "currency": "CNY"}
VPS = {"role": "vp"}


@pytest.fixture
def make(make_tenant: Any) -> Any:
    """`make(flows)`: a tenant of the approval test config with these flows and the USERS."""
    return lambda flows: make_tenant(document(flows), USERS)


def trail(shown: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(step, approver name, status) of each task of a request, sorted (tasks made together have no order)."""
    return sorted((t["step"], t["approver"], t["status"]) for t in shown["trail"])


def stage_moves(tenant: Any, lead: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    items = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/stages", "admin").get_json()["items"]
    names = {v: k for k, v in tenant.user_ids.items()}
    return [(i["from"], i["to"], names.get(i["actor_id"])) for i in items]


# -- the issue's flow: conditional steps --------------------------------------------------------------------

def test_a_discount_over_20_percent_goes_to_the_sales_director(make: Any) -> None:
    """25 % off a small deal: the director alone decides; on approval the lead enters `qualified`."""
    tenant = make({"review": issue_flow()})
    lead = qualifiable(tenant, discount=25, budget={"amount": 5000, "currency": "CNY"})
    request = requested(tenant, lead)
    assert request["status"] == "pending" and request["step"] == "director"
    assert [i["id"] for i in inbox(tenant, "director")] == [request["id"]]
    assert inbox(tenant, "vp") == [] and inbox(tenant, "boss") == []
    assert stage(tenant, lead) == "new"
    done = decide(tenant, "director", request["id"])
    assert done.status_code == 200 and done.get_json()["status"] == "approved"
    assert trail(done.get_json()) == [("director", "director", "approved")]
    assert stage(tenant, lead) == "qualified"


def test_a_budget_of_a_million_also_goes_to_a_vice_president(make: Any) -> None:
    """25 % off a deal of exactly 1,000,000: the director, then one of the vice presidents."""
    tenant = make({"review": issue_flow()})
    lead = qualifiable(tenant, discount=25, budget=MILLION)
    request = requested(tenant, lead)
    after_director = decide(tenant, "director", request["id"]).get_json()
    assert (after_director["status"], after_director["step"]) == ("pending", "vice_president")
    assert stage(tenant, lead) == "new"
    assert task_of(tenant, "vp", request["id"]) and task_of(tenant, "vp2", request["id"])
    done = decide(tenant, "vp2", request["id"]).get_json()
    assert done["status"] == "approved"
    assert trail(done) == [("director", "director", "approved"), ("vice_president", "vp", "closed"),
                           ("vice_president", "vp2", "approved")]
    assert stage(tenant, lead) == "qualified"


def test_a_big_deal_without_a_big_discount_skips_the_director(make: Any) -> None:
    """20 % exactly is not over 20: the director's step is skipped and the vice presidents decide."""
    tenant = make({"review": issue_flow()})
    lead = qualifiable(tenant, discount=20, budget={"amount": 3000000, "currency": "CNY"})
    request = requested(tenant, lead)
    assert request["step"] == "vice_president"
    assert inbox(tenant, "director") == []
    assert decide(tenant, "vp", request["id"]).get_json()["status"] == "approved"
    assert stage(tenant, lead) == "qualified"


def test_a_budget_just_under_a_million_skips_the_vice_president(make: Any) -> None:
    """999,999.99 with 21 % off: the director only."""
    tenant = make({"review": issue_flow()})
    lead = qualifiable(tenant, discount=21, budget={"amount": 999999.99, "currency": "CNY"})
    request = requested(tenant, lead)
    assert decide(tenant, "director", request["id"]).get_json()["status"] == "approved"
    assert inbox(tenant, "vp") == [] and stage(tenant, lead) == "qualified"


def test_a_request_with_no_applicable_step_takes_effect_at_once(make: Any) -> None:
    """Neither condition holds: the request is approved as it is made, with no task, and the move answers
    as a plain move (200, no `approval`); the record's requests list it as approved."""
    tenant = make({"review": issue_flow()})
    lead = qualifiable(tenant, discount=10, budget={"amount": 5000, "currency": "CNY"})
    response = move(tenant, lead, "qualified")
    shown = response.get_json()
    assert response.status_code == 200 and "approval" not in shown
    assert shown["pipeline"]["stage"] == "qualified"
    requests = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/approvals", "rep1").get_json()["items"]
    assert [(r["status"], r["step"], r["trail"]) for r in requests] == [("approved", None, [])]
    assert stage(tenant, lead) == "qualified" and inbox(tenant, "director") == [] and inbox(tenant, "vp") == []


def test_the_data_sent_with_a_move_decides_the_steps(make: Any) -> None:
    """A discount of 30 % sent with the move counts for the director's step, as it does for the flow's `when`
    (docs/approvals.md): the move waits for the director, and the discount is not stored before approval."""
    tenant = make({"review": issue_flow()})
    lead = qualifiable(tenant)
    request = requested(tenant, lead, data={"discount": 30})
    assert (request["status"], request["step"]) == ("pending", "director")
    assert stage(tenant, lead) == "new" and "discount" not in record(tenant, lead)["data"]


def test_the_changed_values_decide_the_steps_of_a_field_change(make: Any) -> None:
    """Raising a discount from 5 % to 30 %: the director's step (`> 20`) holds for the record as it would be
    after the change, so the director decides after the manager."""
    tenant = make({"discount": flow({"fields": ["discount"]}, step("manager"),
                                    step("director", {"role": "director"}, when={"$gt": {"discount": 20}}),
                                    when={"$gt": {"discount": 10}})})
    lead = qualifiable(tenant, discount=5)
    response = patch(tenant, lead, discount=30)
    assert response.status_code == 202, response.get_json()
    request = response.get_json()["approval"]
    after_manager = decide(tenant, "boss", request["id"]).get_json()
    assert (after_manager["status"], after_manager["step"]) == ("pending", "director")
    assert record(tenant, lead)["data"]["discount"] == 5


# -- any, all, ratio ----------------------------------------------------------------------------------------

def test_any_the_first_approval_decides(make: Any) -> None:
    """Both vice presidents get a task; the first approval approves, the other's task is closed and 409."""
    tenant = make({"review": flow({"stage": "qualified"}, step("vps", VPS))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    late_task = task_of(tenant, "vp2", request["id"])
    assert decide(tenant, "vp", request["id"]).get_json()["status"] == "approved"
    late = tenant.call("POST", f"/api/v1/approvals/tasks/{late_task}/approve", "vp2", json={})
    assert late.status_code == 409 and codes(late) == ["task_decided"]
    assert trail(approval(tenant, request["id"])) == [("vps", "vp", "approved"), ("vps", "vp2", "closed")]
    assert stage_moves(tenant, lead) == [(None, "new", "rep1"), ("new", "qualified", "rep1")]


def test_any_one_rejection_rejects(make: Any) -> None:
    """In an `any` step a rejection is the first decision: the request is rejected."""
    tenant = make({"review": flow({"stage": "qualified"}, step("vps", VPS))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    assert decide(tenant, "vp", request["id"], "reject", comment="no").get_json()["status"] == "rejected"
    assert inbox(tenant, "vp2") == [] and stage(tenant, lead) == "new"


def test_all_needs_every_approver(make: Any) -> None:
    """`all`: after one approval the step waits for the other; the second approves the request."""
    tenant = make({"review": flow({"stage": "qualified"}, step("vps", VPS, mode="all"))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    first = decide(tenant, "vp2", request["id"]).get_json()
    assert (first["status"], first["step"]) == ("pending", "vps") and stage(tenant, lead) == "new"
    assert task_of(tenant, "vp2", request["id"]) is None
    assert decide(tenant, "vp", request["id"]).get_json()["status"] == "approved"
    assert stage(tenant, lead) == "qualified"


def test_all_one_rejection_rejects(make: Any) -> None:
    """`all`: a single rejection ends the request, even after another approved."""
    tenant = make({"review": flow({"stage": "qualified"}, step("vps", VPS, mode="all"))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    decide(tenant, "vp", request["id"])
    assert decide(tenant, "vp2", request["id"], "reject", comment="too risky").get_json()["status"] == "rejected"
    assert stage(tenant, lead) == "new"


def test_ratio_half_of_three_needs_two(make: Any) -> None:
    """`ratio` 0.5 of three approvers: one approval waits, the second approves and closes the third task."""
    tenant = make({"review": flow({"stage": "qualified"},
                                  step("panel", {"users": ["director", "vp", "vp2"]}, mode="ratio", ratio=0.5))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    assert decide(tenant, "vp", request["id"]).get_json()["status"] == "pending"
    assert decide(tenant, "director", request["id"]).get_json()["status"] == "approved"
    assert trail(approval(tenant, request["id"])) == [
        ("panel", "director", "approved"), ("panel", "vp", "approved"), ("panel", "vp2", "closed")]
    assert stage(tenant, lead) == "qualified"


def test_ratio_is_rejected_once_the_share_cannot_be_reached(make: Any) -> None:
    """0.5 of three: one rejection leaves two who could still approve; a second rejection rejects."""
    tenant = make({"review": flow({"stage": "qualified"},
                                  step("panel", {"users": ["director", "vp", "vp2"]}, mode="ratio", ratio=0.5))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    assert decide(tenant, "vp", request["id"], "reject", comment="no").get_json()["status"] == "pending"
    assert task_of(tenant, "director", request["id"]) is not None
    assert decide(tenant, "vp2", request["id"], "reject", comment="no").get_json()["status"] == "rejected"
    assert inbox(tenant, "director") == [] and stage(tenant, lead) == "new"


# -- rejection and sending back -----------------------------------------------------------------------------

def test_a_rejected_move_leaves_the_record_where_it_was(make: Any) -> None:
    """The lead never left `new`: after the rejection its stage, version and stage history are unchanged, and
    the comment is in the trail."""
    tenant = make({"review": flow({"stage": "qualified"})})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    done = decide(tenant, "boss", request["id"], "reject", comment="  visit them again  ").get_json()
    assert done["status"] == "rejected" and done["decided_at"] is not None
    assert [(t["approver"], t["status"], t["comment"]) for t in done["trail"]] == [
        ("boss", "rejected", "visit them again")]
    shown = record(tenant, lead)
    assert shown["pipeline"]["stage"] == "new" and shown["version"] == lead["version"]
    assert stage_moves(tenant, lead) == [(None, "new", "rep1")]


@pytest.mark.parametrize("body", [{}, {"comment": ""}, {"comment": "   "}, {"comment": None}])
def test_a_rejection_needs_a_comment(make: Any, body: dict[str, Any]) -> None:
    """Without a comment (or a blank one) the rejection is refused with 422; the task stays open."""
    tenant = make({"review": flow({"stage": "qualified"})})
    request = requested(tenant, qualifiable(tenant))
    response = decide(tenant, "boss", request["id"], "reject", **body)
    assert response.status_code == 422 and response.get_json()["errors"][0]["pointer"] == "/comment"
    assert codes(response) == ["required"]
    assert approval(tenant, request["id"])["status"] == "pending" and task_of(tenant, "boss", request["id"])


def test_sending_back_reopens_an_earlier_step(make: Any) -> None:
    """The director sends the request back to the manager's step: the manager decides again, then the
    director, and the request is approved."""
    tenant = make({"review": flow({"stage": "qualified"}, step("manager"), step("director", {"role": "director"}))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    decide(tenant, "boss", request["id"])
    back = decide(tenant, "director", request["id"], "reject", comment="check the budget", back_to="manager")
    assert back.status_code == 200
    assert (back.get_json()["status"], back.get_json()["step"]) == ("pending", "manager")
    assert task_of(tenant, "boss", request["id"]) is not None and stage(tenant, lead) == "new"
    assert decide(tenant, "boss", request["id"]).get_json()["step"] == "director"
    assert decide(tenant, "director", request["id"]).get_json()["status"] == "approved"
    assert Counter((s, a, st) for s, a, st in trail(approval(tenant, request["id"]))) == Counter([
        ("manager", "boss", "approved"), ("manager", "boss", "approved"),
        ("director", "director", "rejected"), ("director", "director", "approved")])
    assert stage(tenant, lead) == "qualified"


@pytest.mark.parametrize("back_to", ["director", "ghost"])
def test_sending_back_to_a_later_or_unknown_step_is_refused(make: Any, back_to: str) -> None:
    """`back_to` must name this or an earlier step: 422, and the task stays open."""
    tenant = make({"review": flow({"stage": "qualified"}, step("manager"), step("director", {"role": "director"}))})
    request = requested(tenant, qualifiable(tenant))
    response = decide(tenant, "boss", request["id"], "reject", comment="no", back_to=back_to)
    assert response.status_code == 422 and codes(response) == ["unknown_step"]
    assert approval(tenant, request["id"])["step"] == "manager" and task_of(tenant, "boss", request["id"])


def test_a_step_sent_back_to_itself_counts_only_the_new_round(make: Any) -> None:
    """An `all` step sent back to itself: both approvers decide again, and their two new approvals approve the
    request (the rejected round does not count)."""
    tenant = make({"review": flow({"stage": "qualified"}, step("vps", VPS, mode="all"))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    decide(tenant, "vp", request["id"])
    decide(tenant, "vp2", request["id"], "reject", comment="add the figures", back_to="vps")
    decide(tenant, "vp", request["id"])
    assert decide(tenant, "vp2", request["id"]).get_json()["status"] == "approved"
    assert stage(tenant, lead) == "qualified"


def test_a_ratio_step_reopened_by_a_later_step_counts_only_the_new_round(make: Any) -> None:
    """Two of three approve the panel, the director sends the request back to it: the panel needs two new
    approvals again (the first round's approvals do not count for the second)."""
    panel = step("panel", {"users": ["chief", "vp", "vp2"]}, mode="ratio", ratio=0.5)
    tenant = make({"review": flow({"stage": "qualified"}, panel, step("director", {"role": "director"}))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    decide(tenant, "vp", request["id"])
    decide(tenant, "vp2", request["id"])
    decide(tenant, "director", request["id"], "reject", comment="again", back_to="panel")
    after_one = decide(tenant, "vp", request["id"]).get_json()
    assert (after_one["status"], after_one["step"]) == ("pending", "panel")
    assert decide(tenant, "chief", request["id"]).get_json()["step"] == "director"


# -- recall -------------------------------------------------------------------------------------------------

def test_the_submitter_recalls_a_pending_request(make: Any) -> None:
    """Recalled: the lead stays, the approvers' tasks go, and the same move may be asked again."""
    tenant = make({"review": flow({"stage": "qualified"}, step("vps", VPS))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    response = tenant.call("POST", f"/api/v1/approvals/{request['id']}/recall", "rep1")
    assert response.status_code == 200 and response.get_json()["status"] == "recalled"
    assert trail(response.get_json()) == [("vps", "vp", "closed"), ("vps", "vp2", "closed")]
    assert inbox(tenant, "vp") == [] and stage(tenant, lead) == "new"
    assert requested(tenant, lead)["id"] != request["id"]


@pytest.mark.parametrize("user", ["vp", "rep2", "admin"])
def test_only_the_submitter_may_recall(make: Any, user: str) -> None:
    """An approver, a colleague who may edit the lead, an admin: 403 `not_submitter`; still pending."""
    tenant = make({"review": flow({"stage": "qualified"}, step("vps", VPS))})
    request = requested(tenant, qualifiable(tenant))
    response = tenant.call("POST", f"/api/v1/approvals/{request['id']}/recall", user)
    assert response.status_code == 403 and codes(response) == ["not_submitter"]
    assert approval(tenant, request["id"])["status"] == "pending"


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decided_request_cannot_be_recalled(make: Any, decision: str) -> None:
    """After the decision, recall answers 409 `approval_decided`; the decision stands."""
    tenant = make({"review": flow({"stage": "qualified"})})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    status = decide(tenant, "boss", request["id"], decision, comment="done").get_json()["status"]
    response = tenant.call("POST", f"/api/v1/approvals/{request['id']}/recall", "rep1")
    assert response.status_code == 409 and codes(response) == ["approval_decided"]
    assert approval(tenant, request["id"])["status"] == status
    assert stage(tenant, lead) == ("qualified" if decision == "approve" else "new")


# -- delegation ---------------------------------------------------------------------------------------------

def test_the_delegate_decides_in_the_approvers_place(make: Any) -> None:
    """boss hands his task to chief: boss's task shows `delegated`, chief's inbox names boss, boss's old task
    is 409, and chief's approval approves."""
    tenant = make({"review": flow({"stage": "qualified"})})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    task = task_of(tenant, "boss", request["id"])
    response = tenant.call("POST", f"/api/v1/approvals/tasks/{task}/delegate", "boss",
                           json={"to": tenant.user_ids["chief"]})
    assert response.status_code == 200
    assert sorted((t["approver"], t["status"], t["delegated_from"]) for t in response.get_json()["trail"]) == [
        ("boss", "delegated", None), ("chief", "open", tenant.user_ids["boss"])]
    assert inbox(tenant, "boss") == []
    assert [i["delegated_from"] for i in inbox(tenant, "chief")] == [tenant.user_ids["boss"]]
    old = tenant.call("POST", f"/api/v1/approvals/tasks/{task}/approve", "boss", json={})
    assert old.status_code == 409 and codes(old) == ["task_decided"]
    assert decide(tenant, "chief", request["id"], comment="fine").get_json()["status"] == "approved"
    assert stage(tenant, lead) == "qualified"
    assert ("approval.requested", ["chief"]) in notifications(tenant, request["id"])


@pytest.mark.parametrize(("to", "code"), [("rep1", "self_approval"), ("ghost", "unknown_user"), (None, "required")])
def test_delegation_to_the_submitter_or_nobody_is_refused(make: Any, to: str | None, code: str) -> None:
    """Delegating to the submitter (rep1), to an unknown user or to no one: 422; the task stays boss's."""
    tenant = make({"review": flow({"stage": "qualified"})})
    request = requested(tenant, qualifiable(tenant))
    task = task_of(tenant, "boss", request["id"])
    body = {} if to is None else {"to": tenant.user_ids.get(to, to)}
    response = tenant.call("POST", f"/api/v1/approvals/tasks/{task}/delegate", "boss", json=body)
    assert response.status_code == 422 and codes(response) == [code]
    assert task_of(tenant, "boss", request["id"]) == task


def test_only_the_holder_may_delegate_or_decide_a_task(make: Any) -> None:
    """Another user's task is not found, for delegation and decisions alike."""
    tenant = make({"review": flow({"stage": "qualified"})})
    request = requested(tenant, qualifiable(tenant))
    task = task_of(tenant, "boss", request["id"])
    for action, body in (("delegate", {"to": tenant.user_ids["chief"]}), ("approve", {}), ("reject", {"comment": "x"})):
        response = tenant.call("POST", f"/api/v1/approvals/tasks/{task}/{action}", "chief", json=body)
        assert response.status_code == 404, action
    assert approval(tenant, request["id"])["status"] == "pending"


# -- self-approval ------------------------------------------------------------------------------------------

def test_the_submitter_is_left_out_of_the_approvers(make: Any) -> None:
    """A step naming rep1 and rep2: rep1 asked, so only rep2 gets a task."""
    tenant = make({"review": flow({"stage": "qualified"}, step("peers", {"users": ["rep1", "rep2"]}))})
    request = requested(tenant, qualifiable(tenant))
    assert trail(request) == [("peers", "rep2", "open")]
    assert inbox(tenant, "rep1") == []


def test_allow_self_lets_the_submitter_approve(make: Any) -> None:
    """With `allow_self`, rep1 is an approver of rep1's own request and may approve it."""
    tenant = make({"review": flow({"stage": "qualified"}, step("peers", {"users": ["rep1", "rep2"]}, mode="all",
                                                               allow_self=True))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    assert trail(request) == [("peers", "rep1", "open"), ("peers", "rep2", "open")]
    assert decide(tenant, "rep1", request["id"]).status_code == 200
    assert decide(tenant, "rep2", request["id"]).get_json()["status"] == "approved"
    assert stage(tenant, lead) == "qualified"


# -- who approves -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("levels", "approver"), [(1, "boss"), (2, "chief"), (3, "admin")])
def test_the_owners_manager_n_levels_up(make: Any, levels: int, approver: str) -> None:
    """rep2 asks for rep1's lead: the step goes to rep1's manager (boss), his manager (chief), and past the
    top to the tenant admins."""
    tenant = make({"review": flow({"stage": "qualified"}, step("up", {"manager": levels}))})
    request = requested(tenant, qualifiable(tenant), user="rep2")
    assert trail(request) == [("up", approver, "open")]


def test_approvers_from_a_user_field(make: Any) -> None:
    """`{"field": "assignee"}`: the user the lead names decides."""
    tenant = make({"review": flow({"stage": "qualified"}, step("assigned", {"field": "assignee"}))})
    lead = qualifiable(tenant, assignee=tenant.user_ids["vp2"])
    request = requested(tenant, lead)
    assert trail(request) == [("assigned", "vp2", "open")]
    assert decide(tenant, "vp2", request["id"]).get_json()["status"] == "approved"


@pytest.mark.parametrize("approvers", [{"users": ["nobody"]}, {"field": "assignee"}])
def test_the_tenant_admins_decide_when_a_step_names_nobody(make: Any, approvers: dict[str, Any]) -> None:
    """A step naming no existing user (an unknown name, an empty user field) goes to the tenant admins."""
    tenant = make({"review": flow({"stage": "qualified"}, step("nobody", approvers))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    assert trail(request) == [("nobody", "admin", "open")]
    assert decide(tenant, "admin", request["id"]).get_json()["status"] == "approved"
    assert stage(tenant, lead) == "qualified"


def test_a_manager_asking_for_his_reports_record_goes_to_the_admins(make: Any) -> None:
    """boss moves rep1's lead; the step names rep1's manager, boss himself, who is left out: nobody is left,
    so the tenant admins decide (as when a step names nobody) instead of the move being refused."""
    tenant = make({"review": flow({"stage": "qualified"})})
    lead = qualifiable(tenant)
    response = move(tenant, lead, "qualified", "boss")
    assert response.status_code == 202, response.get_json()
    assert trail(response.get_json()["approval"]) == [("manager", "admin", "open")]


# -- locks --------------------------------------------------------------------------------------------------

def test_a_pending_request_locks_its_fields_until_approved(make: Any) -> None:
    """While the review is pending, changing the budget is 409 `approval_locked` (other fields change);
    after the approval the budget may change again."""
    tenant = make({"review": issue_flow()})
    lead = qualifiable(tenant, discount=25)
    request = requested(tenant, lead)
    locked = patch(tenant, lead, budget={"amount": 1, "currency": "CNY"})
    assert locked.status_code == 409 and codes(locked) == ["approval_locked"]
    assert locked.get_json()["errors"][0]["pointer"] == "/budget"
    assert patch(tenant, lead, name="Acme Ltd").status_code == 200
    assert "budget" not in record(tenant, lead)["data"]
    decide(tenant, "director", request["id"])
    assert patch(tenant, lead, budget={"amount": 1, "currency": "CNY"}).status_code == 200


@pytest.mark.parametrize("end", ["reject", "recall"])
def test_a_lock_is_released_when_the_request_ends_otherwise(make: Any, end: str) -> None:
    """A rejected or recalled request no longer locks its fields."""
    tenant = make({"review": issue_flow()})
    lead = qualifiable(tenant, discount=25)
    request = requested(tenant, lead)
    if end == "reject":
        decide(tenant, "director", request["id"], "reject", comment="no")
    else:
        tenant.call("POST", f"/api/v1/approvals/{request['id']}/recall", "rep1")
    assert patch(tenant, lead, discount=5).status_code == 200


def test_a_locked_field_cannot_change_through_a_moves_data(make: Any) -> None:
    """The lock holds for every write of the field: marking the lead lost with a new budget in the move's
    data is 409 `approval_locked` too, and the budget stays."""
    tenant = make({"disc": flow({"fields": ["discount"]}, when={"$gt": {"discount": 10}}, lock=["budget"])})
    lead = qualifiable(tenant, budget={"amount": 100, "currency": "CNY"})
    assert patch(tenant, lead, discount=15).status_code == 202
    response = move(tenant, lead, "lost", reason="price", data={"budget": {"amount": 1, "currency": "CNY"}})
    assert response.status_code == 409, response.get_json()
    assert codes(response) == ["approval_locked"]
    assert record(tenant, lead)["data"]["budget"]["amount"] == 100


# -- one pending request per flow ---------------------------------------------------------------------------

def test_a_stage_flow_cannot_be_asked_twice_while_pending(make: Any) -> None:
    """A second move to `qualified` (by anyone) while the first waits: 409 `approval_pending`."""
    tenant = make({"review": flow({"stage": "qualified"})})
    lead = qualifiable(tenant)
    requested(tenant, lead)
    again = move(tenant, lead, "qualified", "rep2")
    assert again.status_code == 409 and codes(again) == ["approval_pending"]
    listed = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/approvals", "rep1").get_json()["items"]
    assert [i["status"] for i in listed] == ["pending"]


def test_a_field_flow_cannot_be_asked_twice_while_pending(make: Any) -> None:
    """A second discount change above 10 % while the first waits: 409 `approval_pending`."""
    tenant = make({"disc": flow({"fields": ["discount"]}, when={"$gt": {"discount": 10}})})
    lead = qualifiable(tenant)
    assert patch(tenant, lead, discount=15).status_code == 202
    again = patch(tenant, lead, discount=18)
    assert again.status_code == 409 and codes(again) == ["approval_pending"]


# -- field changes ------------------------------------------------------------------------------------------

def test_a_field_change_takes_effect_on_approval(make: Any) -> None:
    """A PATCH raising the discount answers 202 and changes nothing; the approval applies the whole patch."""
    tenant = make({"disc": flow({"fields": ["discount"]}, when={"$gt": {"discount": 10}})})
    lead = qualifiable(tenant, discount=5)
    response = patch(tenant, lead, discount=15, name="Acme Ltd")
    assert response.status_code == 202
    shown = response.get_json()
    assert shown["data"]["discount"] == 5 and shown["data"]["name"] == "Acme" and shown["version"] == 1
    assert shown["approval"]["request"] == {"kind": "fields", "patch": {"discount": 15, "name": "Acme Ltd"}}
    assert record(tenant, lead)["version"] == 1
    decide(tenant, "boss", shown["approval"]["id"])
    after = record(tenant, lead)
    assert (after["data"]["discount"], after["data"]["name"], after["version"]) == (15, "Acme Ltd", 2)


def test_a_field_change_is_applied_as_the_submitters(make: Any) -> None:
    """rep1 links his own customer while raising the discount; the vice president who approves may not read
    customers at all. The change was checked as rep1's when asked for, and it takes effect as rep1's: the
    approval succeeds and stores the link."""
    tenant = make({"disc": flow({"fields": ["discount"]}, step("vps", VPS), when={"$gt": {"discount": 10}})})
    customer = tenant.create("customer", {"name": "Acme Group"}, "rep1")
    lead = qualifiable(tenant)
    response = patch(tenant, lead, discount=15, customer=customer["id"])
    assert response.status_code == 202, response.get_json()
    done = decide(tenant, "vp", response.get_json()["approval"]["id"])
    assert done.status_code == 200, done.get_json()
    assert record(tenant, lead)["data"]["customer"] == customer["id"]


def test_a_rejected_field_change_changes_nothing(make: Any) -> None:
    """On rejection the record keeps its values and version."""
    tenant = make({"disc": flow({"fields": ["discount"]}, when={"$gt": {"discount": 10}})})
    lead = qualifiable(tenant, discount=5)
    request = patch(tenant, lead, discount=15, name="Acme Ltd").get_json()["approval"]
    decide(tenant, "boss", request["id"], "reject", comment="too much")
    after = record(tenant, lead)
    assert (after["data"]["discount"], after["data"]["name"], after["version"]) == (5, "Acme", 1)


def test_a_change_the_flow_does_not_need_goes_through(make: Any) -> None:
    """A discount of 10 % (the flow wants more than 10) is written at once: 200, no request."""
    tenant = make({"disc": flow({"fields": ["discount"]}, when={"$gt": {"discount": 10}})})
    lead = qualifiable(tenant)
    response = patch(tenant, lead, discount=10)
    assert response.status_code == 200 and "approval" not in response.get_json()
    assert tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/approvals", "rep1").get_json()["items"] == []


@pytest.mark.parametrize("body", [{"discount": 150}, {"discount": 15, "employees": -1}, {"discount": 15, "ghost": 1}])
def test_an_invalid_change_is_refused_before_any_request(make: Any, body: dict[str, Any]) -> None:
    """An invalid value, even beside the trigger field, is 422 at once: no request, no task, no message."""
    tenant = make({"disc": flow({"fields": ["discount"]}, when={"$gt": {"discount": 10}})})
    lead = qualifiable(tenant)
    response = patch(tenant, lead, **body)
    assert response.status_code == 422, response.get_json()
    assert tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/approvals", "rep1").get_json()["items"] == []
    assert inbox(tenant, "boss") == []


def test_a_trigger_field_cannot_change_through_a_moves_data(make: Any) -> None:
    """A discount of 50 % sent with a stage move (to a stage with no flow) does not slip past the discount
    approval: the move waits for it or is refused, but the discount is not stored unapproved."""
    tenant = make({"disc": flow({"fields": ["discount"]}, when={"$gt": {"discount": 10}})})
    lead = qualifiable(tenant)
    move(tenant, lead, "qualified", data={"discount": 50})
    assert record(tenant, lead)["data"].get("discount") is None


# -- the gate again on approval -----------------------------------------------------------------------------

def test_an_approved_move_goes_through_the_gate_again(make: Any) -> None:
    """The employees were removed while the move waited: approving is 422 with the gate's error, the request
    stays pending with the task open, and the lead stays in `new`."""
    tenant = make({"review": flow({"stage": "qualified"})})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    assert patch(tenant, lead, employees=None).status_code == 200
    response = decide(tenant, "boss", request["id"])
    assert response.status_code == 422 and codes(response) == ["gate_required"]
    assert approval(tenant, request["id"])["status"] == "pending" and task_of(tenant, "boss", request["id"])
    assert stage(tenant, lead) == "new"


def test_an_approved_move_is_the_submitters(make: Any) -> None:
    """The stage history records the approved move as rep1's, who asked for it, not the approver's."""
    tenant = make({"review": flow({"stage": "qualified"})})
    lead = qualifiable(tenant)
    decide(tenant, "boss", requested(tenant, lead, comment="ready")["id"])
    assert stage_moves(tenant, lead) == [(None, "new", "rep1"), ("new", "qualified", "rep1")]
    items = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/stages", "admin").get_json()["items"]
    assert items[-1]["comment"] == "ready"


# -- audit and notifications --------------------------------------------------------------------------------

def test_each_request_and_decision_writes_an_approval_audit_row(make: Any, app: Any) -> None:
    """Submitted (by rep1), the director's step approved, the vice president's step approved and the request
    approved (by vp), beside the stage move, which is rep1's: it is their change, made when approved."""
    tenant = make({"review": issue_flow()})
    lead = qualifiable(tenant, discount=25, budget=MILLION)
    request = requested(tenant, lead)
    decide(tenant, "director", request["id"])
    decide(tenant, "vp", request["id"])
    rows = [(action, actor, changes) for action, actor, changes in stored_audit(app, tenant, lead["id"])
            if action in ("approval", "stage")]
    assert Counter((a, who, str(c)) for a, who, c in rows) == Counter([
        ("approval", "rep1", str({"approval": ["review", "submitted"]})),
        ("approval", "director", str({"approval": ["review", "approved:director"]})),
        ("approval", "vp", str({"approval": ["review", "approved:vice_president"]})),
        ("approval", "vp", str({"approval": ["review", "approved"]})),
        ("stage", "rep1", str({"stage": ["new", "qualified"]}))])


def test_the_record_history_shows_what_each_approval_row_records(make: Any) -> None:
    """The record's history (GET .../history) shows the approval rows with their flow and event, as it shows
    a stage row's change, so that the history says who submitted, approved or rejected what."""
    tenant = make({"review": flow({"stage": "qualified"})})
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    decide(tenant, "boss", request["id"], "reject", comment="no")
    history = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/history", "rep1").get_json()["items"]
    shown = sorted(str(h["changes"]) for h in history if h["action"] == "approval")
    assert shown == sorted(str({"approval": ["review", what]}) for what in ("submitted", "rejected:manager", "rejected"))


def test_notifications_go_to_approvers_then_to_submitter_and_owner(make: Any) -> None:
    """boss asks for rep1's lead: each step's approvers are told when it opens; boss (submitter) and rep1
    (owner) when the request is approved."""
    tenant = make({"review": flow({"stage": "qualified"}, step("director", {"role": "director"}), step("vps", VPS))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead, user="boss")
    decide(tenant, "director", request["id"])
    decide(tenant, "vp", request["id"])
    assert notifications(tenant, request["id"]) == [
        ("approval.requested", ["director"]), ("approval.requested", ["vp", "vp2"]),
        ("approval.approved", ["boss", "rep1"])]


@pytest.mark.parametrize(("end", "event"), [("reject", "approval.rejected"), ("recall", "approval.recalled")])
def test_the_end_of_a_request_is_told_to_submitter_and_owner(make: Any, end: str, event: str) -> None:
    """A rejection or a recall is told to the submitter and the owner, once each."""
    tenant = make({"review": flow({"stage": "qualified"}, step("director", {"role": "director"}))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead, user="boss")
    if end == "reject":
        decide(tenant, "director", request["id"], "reject", comment="no")
    else:
        tenant.call("POST", f"/api/v1/approvals/{request['id']}/recall", "boss")
    assert notifications(tenant, request["id"]) == [("approval.requested", ["director"]), (event, ["boss", "rep1"])]


# -- batch approval -----------------------------------------------------------------------------------------

def test_batch_approval_reports_each_tasks_outcome(make: Any) -> None:
    """boss approves his two tasks, one already decided and a task that is not his: 200, 200, 409, 404."""
    tenant = make({"review": flow({"stage": "qualified"}, step("bosses", {"users": ["boss", "chief"]}))})
    first, second, third = (qualifiable(tenant) for _ in range(3))
    requests = [requested(tenant, lead) for lead in (first, second, third)]
    decided = task_of(tenant, "boss", requests[2]["id"])
    decide(tenant, "chief", requests[2]["id"])
    foreign = task_of(tenant, "chief", requests[0]["id"])
    ids = [task_of(tenant, "boss", requests[0]["id"]), task_of(tenant, "boss", requests[1]["id"]), decided, foreign]
    response = tenant.call("POST", "/api/v1/approvals/tasks/approve", "boss", json={"ids": ids, "comment": "ok"})
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [(i["task"], i["status"]) for i in items] == list(zip(ids, [200, 200, 409, 404], strict=True))
    assert items[0]["approval"]["status"] == "approved" and items[2]["errors"][0]["code"] == "task_decided"
    assert [stage(tenant, lead) for lead in (first, second)] == ["qualified", "qualified"]
    assert [t["comment"] for t in approval(tenant, requests[0]["id"])["trail"] if t["approver"] == "boss"] == ["ok"]


def test_batch_approval_reports_a_change_that_became_invalid(make: Any) -> None:
    """One of two moves no longer meets its gate: the batch still answers 200, that task with 422 and the
    gate's error, the other approved."""
    tenant = make({"review": flow({"stage": "qualified"})})
    good, bad = qualifiable(tenant), qualifiable(tenant)
    requests = [requested(tenant, good), requested(tenant, bad)]
    patch(tenant, bad, employees=None)
    ids = [task_of(tenant, "boss", r["id"]) for r in requests]
    response = tenant.call("POST", "/api/v1/approvals/tasks/approve", "boss", json={"ids": ids})
    assert response.status_code == 200, response.get_json()
    assert [i["status"] for i in response.get_json()["items"]] == [200, 422]
    assert (stage(tenant, good), stage(tenant, bad)) == ("qualified", "new")


@pytest.mark.parametrize("body", [{}, {"ids": []}, {"ids": "x"}, {"ids": [1]}, {"ids": ["t"] * 101}])
def test_batch_approval_needs_a_list_of_task_ids(make: Any, body: dict[str, Any]) -> None:
    """`ids` is a list of 1 to 100 task ids, else 422."""
    tenant = make({"review": flow({"stage": "qualified"})})
    response = tenant.call("POST", "/api/v1/approvals/tasks/approve", "boss", json=body)
    assert response.status_code == 422 and response.get_json()["errors"][0]["pointer"] == "/ids"


# -- reading requests ---------------------------------------------------------------------------------------

def test_a_request_with_its_trail(make: Any) -> None:
    """GET shows the flow, the request, the step and every task with approver, status, comment and dates."""
    tenant = make({"review": flow({"stage": "qualified"}, step("manager"), step("director", {"role": "director"}))})
    lead = qualifiable(tenant)
    request = requested(tenant, lead, comment="please")
    decide(tenant, "boss", request["id"], comment="fine by me")
    shown = approval(tenant, request["id"], "rep1")
    assert (shown["flow"], shown["entity"], shown["record_id"], shown["status"], shown["step"]) == (
        "review", "lead", lead["id"], "pending", "director")
    assert shown["label"] == {"en": "Review", "zh": "评审"} and shown["submitter_id"] == tenant.user_ids["rep1"]
    assert shown["request"] == {"kind": "stage", "to": "qualified", "data": {}, "reason": None, "comment": "please"}
    by_step = {t["step"]: t for t in shown["trail"]}
    assert sorted(by_step) == ["director", "manager"] and len(shown["trail"]) == 2
    assert [(t["approver"], t["status"], t["comment"]) for t in (by_step["manager"], by_step["director"])] == [
        ("boss", "approved", "fine by me"), ("director", "open", None)]
    assert by_step["manager"]["decided_at"] is not None and by_step["director"]["decided_at"] is None
    assert by_step["director"]["approver_id"] == tenant.user_ids["director"]


@pytest.mark.parametrize(("user", "status"), [("rep1", 200), ("boss", 200), ("viewer", 200), ("rep2", 200),
                                              ("outsider", 404)])
def test_who_may_read_a_request(make: Any, user: str, status: int) -> None:
    """The submitter, the approver and whoever may read the lead see the request; an outsider does not."""
    tenant = make({"review": flow({"stage": "qualified"})})
    request = requested(tenant, qualifiable(tenant))
    assert tenant.call("GET", f"/api/v1/approvals/{request['id']}", user).status_code == status


def test_an_unknown_request_is_404(make: Any) -> None:
    """GET and recall of a request id that does not exist: 404."""
    tenant = make({"review": flow({"stage": "qualified"})})
    assert tenant.call("GET", "/api/v1/approvals/ghost", "admin").status_code == 404
    assert tenant.call("POST", "/api/v1/approvals/ghost/recall", "rep1").status_code == 404


def test_a_records_requests_newest_first(make: Any) -> None:
    """The record's requests, newest first, for readers of the record; 404 for an outsider."""
    tenant = make({"review": flow({"stage": "qualified"}), "disc": flow({"fields": ["discount"]})})
    lead = qualifiable(tenant)
    first = requested(tenant, lead)
    tenant.call("POST", f"/api/v1/approvals/{first['id']}/recall", "rep1")
    second = patch(tenant, lead, discount=3).get_json()["approval"]
    listed = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/approvals", "viewer")
    assert [(i["id"], i["status"]) for i in listed.get_json()["items"]] == [
        (second["id"], "pending"), (first["id"], "recalled")]
    assert listed.get_json()["items"][0]["trail"][0]["approver"] == "boss"
    assert tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/approvals", "outsider").status_code == 404


# -- manual submits -----------------------------------------------------------------------------------------

def test_a_manual_submit_waits_for_approval_and_changes_nothing(make: Any) -> None:
    """POST .../flows/{key}/submit: 201 with the request; approved, the lead itself is unchanged."""
    tenant = make({"check": flow({"manual": True}, step("vps", VPS), when={"$gt": {"employees": 5}})})
    lead = qualifiable(tenant)
    response = tenant.call("POST", "/api/v1/approvals/flows/check/submit", "rep1", json={"id": lead["id"]})
    assert response.status_code == 201
    shown = response.get_json()
    assert (shown["status"], shown["request"], shown["step"]) == ("pending", {"kind": "manual"}, "vps")
    again = tenant.call("POST", "/api/v1/approvals/flows/check/submit", "rep1", json={"id": lead["id"]})
    assert again.status_code == 409 and codes(again) == ["approval_pending"]
    assert decide(tenant, "vp", shown["id"]).get_json()["status"] == "approved"
    after = record(tenant, lead)
    assert after["version"] == lead["version"] and after["pipeline"]["stage"] == "new"


@pytest.mark.parametrize(("key", "user", "body", "status", "code"), [
    ("review", "rep1", "lead", 404, None),           # not a manual flow
    ("ghost", "rep1", "lead", 404, None),
    ("check", "viewer", "lead", 403, None),          # may read but not update the lead
    ("check", "outsider", "lead", 404, None),        # may not see the lead
    ("check", "rep1", None, 422, "required"),
    ("check", "rep1", "small", 422, "approval_not_needed"),
])
def test_manual_submits_that_are_refused(make: Any, key: str, user: str, body: str | None, status: int,
                                         code: str | None) -> None:
    """Only manual flows, by users who may update the record, naming it, when the flow's `when` holds."""
    tenant = make({"check": flow({"manual": True}, step("vps", VPS), when={"$gt": {"employees": 5}}),
                   "review": flow({"stage": "qualified"})})
    records = {"lead": qualifiable(tenant), "small": qualifiable(tenant, employees=2)}
    payload = {} if body is None else {"id": records[body]["id"]}
    response = tenant.call("POST", f"/api/v1/approvals/flows/{key}/submit", user, json=payload)
    assert response.status_code == status
    if code is not None:
        assert codes(response) == [code]
    assert inbox(tenant, "vp") == []
