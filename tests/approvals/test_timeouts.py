"""Approval timeouts (both databases, fixed clocks): the sweep escalates an overdue task to the approver's
manager (a tenant admin when there is none), or approves or rejects it as the step says; it is idempotent.
Through the admin-only API (whose services see the test's clock) and through `lowcode approvals sweep`."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.approvals.support import (
    T0,
    USERS,
    Clock,
    approval,
    decide,
    document,
    fixed_clock,
    flow,
    inbox,
    notifications,
    qualifiable,
    requested,
    stage,
    step,
    task_of,
)
from tests.test_cli import lowcode  # noqa: F401 - a fixture: `lowcode(*args)` runs the command on the test database

HOURS = 4
ZEROS = {"escalated": 0, "approved": 0, "rejected": 0}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return fixed_clock(monkeypatch)


@pytest.fixture
def make(make_tenant: Any, clock: Clock) -> Any:
    """`make(*steps)`: a tenant whose flow `review` on entering `qualified` has these steps."""
    return lambda *steps: make_tenant(document({"review": flow({"stage": "qualified"}, *steps)}), USERS)


def at(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sweep(tenant: Any, user: str = "admin") -> dict[str, Any]:
    response = tenant.call("POST", "/api/v1/approvals/sweep", user)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def tasks(tenant: Any, approval_id: str) -> list[tuple[str | None, str, str | None, str | None]]:
    """(approver, status, delegated_from name, comment) of each task of the request, oldest first."""
    names = {v: k for k, v in tenant.user_ids.items()}
    return [(t["approver"], t["status"], names.get(t["delegated_from"] or ""), t["comment"])
            for t in approval(tenant, approval_id)["trail"]]


# -- escalation ---------------------------------------------------------------------------------------------

def test_an_overdue_task_escalates_to_the_approvers_manager(make: Any, clock: Clock) -> None:
    """rep2's task is due 4 hours after the request: a second before, the sweep does nothing; at the moment,
    rep2's task expires and boss (rep2's manager) gets one, due 4 hours later, and is told."""
    tenant = make(step("peer", {"users": ["rep2"]}, timeout_hours=HOURS))
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    assert inbox(tenant, "rep2")[0]["due_at"] == at(T0 + timedelta(hours=HOURS))
    clock.tick(hours=HOURS, seconds=-1)
    assert sweep(tenant) == {**ZEROS, "at": at(clock.now)}
    clock.tick(seconds=1)
    assert sweep(tenant) == {**ZEROS, "escalated": 1, "at": at(clock.now)}
    assert tasks(tenant, request["id"]) == [("rep2", "expired", None, "timed out"), ("boss", "open", "rep2", None)]
    assert inbox(tenant, "rep2") == []
    assert [i["due_at"] for i in inbox(tenant, "boss")] == [at(T0 + timedelta(hours=2 * HOURS))]
    assert notifications(tenant, request["id"])[-1] == ("approval.escalated", ["boss"])
    assert decide(tenant, "boss", request["id"]).get_json()["status"] == "approved"
    assert stage(tenant, lead) == "qualified"


def test_an_approver_without_a_manager_escalates_to_a_tenant_admin(make: Any, clock: Clock) -> None:
    """outsider has no manager: the overdue task goes to the admin."""
    tenant = make(step("outside", {"users": ["outsider"]}, timeout_hours=HOURS))
    request = requested(tenant, qualifiable(tenant))
    clock.tick(hours=HOURS)
    assert sweep(tenant)["escalated"] == 1
    assert tasks(tenant, request["id"]) == [("outsider", "expired", None, "timed out"),
                                            ("admin", "open", "outsider", None)]


def test_an_escalated_task_escalates_again_after_its_own_timeout(make: Any, clock: Clock) -> None:
    """Nobody decides: rep2 → boss after 4 hours, boss → chief after 4 more."""
    tenant = make(step("peer", {"users": ["rep2"]}, timeout_hours=HOURS))
    request = requested(tenant, qualifiable(tenant))
    clock.tick(hours=HOURS)
    sweep(tenant)
    clock.tick(hours=HOURS)
    assert sweep(tenant)["escalated"] == 1
    assert [(a, s, f) for a, s, f, _ in tasks(tenant, request["id"])] == [
        ("rep2", "expired", None), ("boss", "expired", "rep2"), ("chief", "open", "boss")]


def test_an_all_step_completes_when_the_escalated_approver_approves(make: Any, clock: Clock) -> None:
    """`all` of rep2 and outsider: outsider approves, rep2's task escalates to boss, boss approves in rep2's
    place; every approver of the step has now approved, so the request is approved."""
    tenant = make(step("both", {"users": ["rep2", "outsider"]}, mode="all", timeout_hours=HOURS))
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    decide(tenant, "outsider", request["id"])
    clock.tick(hours=HOURS)
    assert sweep(tenant)["escalated"] == 1
    assert decide(tenant, "boss", request["id"]).get_json()["status"] == "approved"
    assert stage(tenant, lead) == "qualified"


def test_an_escalation_passes_over_the_submitter(make: Any, clock: Clock) -> None:
    """boss asks for rep1's lead; rep2's overdue task would escalate to rep2's manager, boss, the submitter,
    who may not decide their own request: it goes one level up, to chief, who approves; boss never gets it."""
    tenant = make(step("peer", {"users": ["rep2"]}, timeout_hours=HOURS))
    lead = qualifiable(tenant)
    request = requested(tenant, lead, user="boss")
    clock.tick(hours=HOURS)
    sweep(tenant)
    assert inbox(tenant, "boss") == []
    assert decide(tenant, "chief", request["id"]).status_code == 200
    assert approval(tenant, request["id"])["status"] == "approved" and stage(tenant, lead) == "qualified"


# -- approve and reject on timeout --------------------------------------------------------------------------

def test_an_overdue_task_can_approve_itself(make: Any, clock: Clock) -> None:
    """`on_timeout: approve`: at the timeout the request is approved and the lead moves, at the sweep's time."""
    tenant = make(step("vps", {"role": "vp"}, timeout_hours=HOURS, on_timeout="approve"))
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    clock.tick(hours=HOURS)
    assert sweep(tenant) == {**ZEROS, "approved": 1, "at": at(clock.now)}
    shown = approval(tenant, request["id"])
    assert shown["status"] == "approved" and shown["decided_at"] == at(clock.now)
    assert sorted((t["status"], t["comment"]) for t in shown["trail"]) == [("approved", "timed out"), ("closed", None)]
    moved = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}", "rep1").get_json()["pipeline"]
    assert (moved["stage"], moved["stage_entered_at"]) == ("qualified", at(clock.now))


def test_an_approval_on_timeout_opens_the_next_step(make: Any, clock: Clock) -> None:
    """The first step approves itself on timeout; the request goes on to the director, not to the end."""
    tenant = make(step("manager", timeout_hours=HOURS, on_timeout="approve"), step("director", {"role": "director"}))
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    clock.tick(hours=HOURS)
    assert sweep(tenant)["approved"] == 1
    shown = approval(tenant, request["id"])
    assert (shown["status"], shown["step"]) == ("pending", "director") and stage(tenant, lead) == "new"
    assert task_of(tenant, "director", request["id"]) is not None


def test_an_overdue_task_can_reject_itself(make: Any, clock: Clock) -> None:
    """`on_timeout: reject`: the request is rejected with "timed out" and the lead stays in `new`."""
    tenant = make(step("manager", timeout_hours=HOURS, on_timeout="reject"))
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    clock.tick(hours=HOURS)
    assert sweep(tenant) == {**ZEROS, "rejected": 1, "at": at(clock.now)}
    assert tasks(tenant, request["id"]) == [("boss", "rejected", None, "timed out")]
    assert approval(tenant, request["id"])["status"] == "rejected" and stage(tenant, lead) == "new"
    assert notifications(tenant, request["id"])[-1] == ("approval.rejected", ["rep1"])


def test_a_step_without_a_timeout_never_times_out(make: Any, clock: Clock) -> None:
    """No `timeout_hours`: a year later the task is still open."""
    tenant = make(step("manager"))
    request = requested(tenant, qualifiable(tenant))
    clock.tick(days=365)
    assert sweep(tenant) == {**ZEROS, "at": at(clock.now)}
    assert tasks(tenant, request["id"]) == [("boss", "open", None, None)]


def test_a_task_decided_in_time_is_left_alone(make: Any, clock: Clock) -> None:
    """Approved an hour before its timeout: later sweeps find nothing to do."""
    tenant = make(step("manager", timeout_hours=HOURS, on_timeout="reject"))
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    clock.tick(hours=HOURS - 1)
    decide(tenant, "boss", request["id"])
    clock.tick(hours=2)
    assert sweep(tenant) == {**ZEROS, "at": at(clock.now)}
    assert approval(tenant, request["id"])["status"] == "approved" and stage(tenant, lead) == "qualified"


# -- idempotence --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("on_timeout", ["escalate", "approve", "reject"])
def test_a_second_sweep_at_the_same_moment_does_nothing(make: Any, clock: Clock, on_timeout: str) -> None:
    """Swept twice at one moment: the second sweep counts nothing and the trail is as the first left it."""
    tenant = make(step("peer", {"users": ["rep2"]}, timeout_hours=HOURS, on_timeout=on_timeout))
    request = requested(tenant, qualifiable(tenant))
    clock.tick(hours=HOURS)
    first = sweep(tenant)
    assert sum(first[k] for k in ZEROS) == 1
    trail = tasks(tenant, request["id"])
    messages = notifications(tenant, request["id"])
    assert sweep(tenant) == {**ZEROS, "at": at(clock.now)}
    assert tasks(tenant, request["id"]) == trail and notifications(tenant, request["id"]) == messages


@pytest.mark.parametrize("user", ["rep1", "boss", "viewer"])
def test_only_tenant_admins_may_sweep_through_the_api(make: Any, clock: Clock, user: str) -> None:
    """A rep, a manager, a viewer: 403, and the overdue task stays open."""
    tenant = make(step("manager", timeout_hours=HOURS, on_timeout="reject"))
    request = requested(tenant, qualifiable(tenant))
    clock.tick(hours=HOURS)
    assert tenant.call("POST", "/api/v1/approvals/sweep", user).status_code == 403
    assert approval(tenant, request["id"])["status"] == "pending"


def test_a_sweep_only_touches_its_own_tenant(make: Any, clock: Clock) -> None:
    """An admin's sweep of one tenant leaves another tenant's overdue task open."""
    first, second = (make(step("manager", timeout_hours=HOURS, on_timeout="reject")) for _ in range(2))
    other = requested(second, qualifiable(second))
    requested(first, qualifiable(first))
    clock.tick(hours=HOURS)
    assert sweep(first)["rejected"] == 1
    assert approval(second, other["id"])["status"] == "pending"


# -- the command --------------------------------------------------------------------------------------------

def lines(result: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_the_command_sweeps_a_tenant_at_a_moment(make: Any, lowcode: Any) -> None:  # noqa: F811
    """`lowcode approvals sweep --tenant S --now` (with an offset): nothing a second early; at the moment the
    overdue task approves itself and the lead moves; each run prints one JSON line and exits 0."""
    tenant = make(step("vps", {"role": "vp"}, timeout_hours=HOURS, on_timeout="approve"))
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    early = lowcode("approvals", "sweep", "--tenant", tenant.slug, "--now", "2026-03-10T12:59:59+08:00")
    assert early.exit_code == 0, early.output
    assert lines(early) == [{"tenant": tenant.slug, **ZEROS, "at": "2026-03-10T04:59:59.000Z"}]
    assert approval(tenant, request["id"])["status"] == "pending"
    result = lowcode("approvals", "sweep", "--tenant", tenant.slug, "--now", "2026-03-10T13:00:00+08:00")
    assert result.exit_code == 0, result.output
    assert lines(result) == [{"tenant": tenant.slug, **ZEROS, "approved": 1, "at": "2026-03-10T05:00:00.000Z"}]
    assert approval(tenant, request["id"])["status"] == "approved" and stage(tenant, lead) == "qualified"
    again = lowcode("approvals", "sweep", "--tenant", tenant.slug, "--now", "2026-03-10T13:00:00+08:00")
    assert again.exit_code == 0
    assert lines(again) == [{"tenant": tenant.slug, **ZEROS, "at": "2026-03-10T05:00:00.000Z"}]


def test_the_command_escalates_like_the_api(make: Any, lowcode: Any) -> None:  # noqa: F811
    """Through the command, an overdue task escalates to the approver's manager."""
    tenant = make(step("peer", {"users": ["rep2"]}, timeout_hours=HOURS))
    request = requested(tenant, qualifiable(tenant))
    result = lowcode("approvals", "sweep", "--tenant", tenant.slug, "--now", at(T0 + timedelta(hours=HOURS)))
    assert result.exit_code == 0, result.output
    assert lines(result)[0]["escalated"] == 1
    assert [(a, s) for a, s, _, _ in tasks(tenant, request["id"])] == [("rep2", "expired"), ("boss", "open")]


def test_the_command_for_a_tenant_without_flows_prints_zeros(make_tenant: Any, lowcode: Any) -> None:  # noqa: F811
    """A tenant with no approval flows: one line of zeros, exit 0."""
    tenant = make_tenant(document({}), USERS)
    result = lowcode("approvals", "sweep", "--tenant", tenant.slug, "--now", "2026-03-10T13:00:00+08:00")
    assert result.exit_code == 0, result.output
    assert lines(result) == [{"tenant": tenant.slug, **ZEROS, "at": "2026-03-10T05:00:00.000Z"}]


@pytest.mark.parametrize("now", ["2026-03-10T13:00:00", "yesterday", ""])
def test_the_command_refuses_a_moment_without_an_offset(make: Any, lowcode: Any, now: str) -> None:  # noqa: F811
    """`--now` without an offset, or not a moment at all: exit 2 with a message, nothing swept."""
    tenant = make(step("manager", timeout_hours=HOURS, on_timeout="reject"))
    request = requested(tenant, qualifiable(tenant))
    result = lowcode("approvals", "sweep", "--tenant", tenant.slug, "--now", now)
    assert result.exit_code == 2
    assert "--now must be an ISO 8601 moment with an offset" in result.stderr and result.stdout == ""
    assert approval(tenant, request["id"])["status"] == "pending"


def test_the_command_refuses_an_unknown_tenant(lowcode: Any) -> None:  # noqa: F811
    """An unknown slug: exit 1 with an error."""
    result = lowcode("approvals", "sweep", "--tenant", "no-such-tenant", "--now", "2026-03-10T13:00:00+08:00")
    assert result.exit_code == 1 and "no-such-tenant" in result.stderr and result.stdout == ""
