"""Approvals under concurrency, on PostgreSQL only (its writers interleave; SQLite runs one write transaction at
a time, so the races cannot happen there and these tests do not exist on a SQLite-only run). Each test starts
its requests together from threads, each with its own test client, and checks the end state: every decision
counted once, the stage moved once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.approvals.support import (
    USERS,
    approval,
    document,
    fixed_clock,
    flow,
    qualifiable,
    requested,
    stage,
    step,
    task_of,
)
from tests.conftest import POSTGRES_URL

ROUNDS = 3  # each race is run on this many leads
JOIN_SECONDS = 300  # a deadlock fails the test instead of hanging the run


def race(tenant: Any, calls: list[tuple[str, str, str, Any]]) -> list[Any]:
    """Send `calls` (method, path, user, json) at once, one thread each; the responses in order."""
    barrier = threading.Barrier(len(calls))
    responses: list[Any] = [None] * len(calls)

    def run(i: int, method: str, path: str, user: str, body: Any) -> None:
        client = tenant.client.application.test_client()
        barrier.wait(JOIN_SECONDS)
        responses[i] = client.open(path, method=method, headers=tenant.headers(user), json=body)

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert all(r is not None for r in responses), "a racing request did not finish"
    return responses


def approve_call(tenant: Any, user: str, approval_id: str) -> tuple[str, str, str, Any]:
    task = task_of(tenant, user, approval_id)
    assert task is not None
    return ("POST", f"/api/v1/approvals/tasks/{task}/approve", user, {})


def moves_to(tenant: Any, lead: dict[str, Any], to: str) -> int:
    items = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/stages", "admin").get_json()["items"]
    return sum(1 for i in items if i["to"] == to)


if POSTGRES_URL:
    postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True, scope="session")

    @postgresql_only
    def test_of_two_approvers_deciding_an_any_step_at_once_one_counts(make_tenant: Any) -> None:
        """vp and vp2 approve one `any` step at once: one 200, the other 409 `task_decided`; one approved task,
        one closed, and the lead entered `qualified` once."""
        tenant = make_tenant(document({"review": flow({"stage": "qualified"}, step("vps", {"role": "vp"}))}), USERS)
        for _ in range(ROUNDS):
            lead = qualifiable(tenant)
            request = requested(tenant, lead)
            responses = race(tenant, [approve_call(tenant, u, request["id"]) for u in ("vp", "vp2")])
            assert sorted(r.status_code for r in responses) == [200, 409], [r.get_json() for r in responses]
            late = next(r for r in responses if r.status_code == 409)
            assert late.get_json()["errors"][0]["code"] == "task_decided"
            shown = approval(tenant, request["id"])
            assert shown["status"] == "approved"
            assert sorted(t["status"] for t in shown["trail"]) == ["approved", "closed"]
            assert stage(tenant, lead) == "qualified" and moves_to(tenant, lead, "qualified") == 1

    @postgresql_only
    def test_two_approvers_approving_an_all_step_at_once_both_count(make_tenant: Any) -> None:
        """vp and vp2 approve one `all` step at once: both 200, both approvals count, and the request advances
        (here: is approved and the lead moves) exactly once."""
        tenant = make_tenant(document({"review": flow({"stage": "qualified"}, step("vps", {"role": "vp"}, mode="all"),
                                                      step("director", {"role": "director"}))}), USERS)
        for _ in range(ROUNDS):
            lead = qualifiable(tenant)
            request = requested(tenant, lead)
            responses = race(tenant, [approve_call(tenant, u, request["id"]) for u in ("vp", "vp2")])
            assert [r.status_code for r in responses] == [200, 200], [r.get_json() for r in responses]
            shown = approval(tenant, request["id"])
            assert (shown["status"], shown["step"]) == ("pending", "director")
            assert sorted((t["step"], t["status"]) for t in shown["trail"]) == [
                ("director", "open"), ("vps", "approved"), ("vps", "approved")]
            assert stage(tenant, lead) == "new"

    @postgresql_only
    def test_two_approvals_of_an_all_step_at_once_move_the_record_once(make_tenant: Any) -> None:
        """The last step is an `all` step approved by both at once: the lead enters `qualified` once."""
        tenant = make_tenant(document({"review": flow({"stage": "qualified"}, step("vps", {"role": "vp"}, mode="all"))}),
                             USERS)
        for _ in range(ROUNDS):
            lead = qualifiable(tenant)
            request = requested(tenant, lead)
            responses = race(tenant, [approve_call(tenant, u, request["id"]) for u in ("vp", "vp2")])
            assert [r.status_code for r in responses] == [200, 200], [r.get_json() for r in responses]
            assert approval(tenant, request["id"])["status"] == "approved"
            assert stage(tenant, lead) == "qualified" and moves_to(tenant, lead, "qualified") == 1

    @postgresql_only
    def test_of_two_users_asking_for_one_flow_at_once_one_request_is_made(make_tenant: Any) -> None:
        """rep1 and rep2 move one lead to `qualified` at once: one 202 with the request, the other 409
        `approval_pending` (not a server error); the lead has one request."""
        tenant = make_tenant(document({"review": flow({"stage": "qualified"}, step("vps", {"role": "vp"}))}), USERS)
        for _ in range(ROUNDS):
            lead = qualifiable(tenant)
            path = f"/api/v1/records/lead/{lead['id']}/stage"
            responses = race(tenant, [("POST", path, "rep1", {"to": "qualified"}),
                                      ("POST", path, "rep2", {"to": "qualified"})])
            assert sorted(r.status_code for r in responses) == [202, 409], [r.get_json() for r in responses]
            late = next(r for r in responses if r.status_code == 409)
            assert late.get_json()["errors"][0]["code"] == "approval_pending"
            listed = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/approvals", "admin").get_json()["items"]
            assert [i["status"] for i in listed] == ["pending"]

    @postgresql_only
    def test_an_approval_racing_the_timeout_sweep_is_decided_once(make_tenant: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        """boss approves as the sweep rejects his overdue task: exactly one of them decides the request, and the
        lead is where that decision puts it."""
        clock = fixed_clock(monkeypatch)
        tenant = make_tenant(document({"review": flow({"stage": "qualified"},
                                                      step("manager", timeout_hours=1, on_timeout="reject"))}), USERS)
        for _ in range(ROUNDS):
            lead = qualifiable(tenant)
            request = requested(tenant, lead)
            clock.tick(hours=1)  # only this round's task is overdue: the earlier ones are decided
            approve, sweep = race(tenant, [approve_call(tenant, "boss", request["id"]),
                                           ("POST", "/api/v1/approvals/sweep", "admin", {})])
            assert sweep.status_code == 200, sweep.get_json()
            status = approval(tenant, request["id"])["status"]
            if approve.status_code == 200:
                assert (status, sweep.get_json()["rejected"], stage(tenant, lead)) == ("approved", 0, "qualified")
            else:
                assert approve.status_code == 409, approve.get_json()
                assert (status, sweep.get_json()["rejected"], stage(tenant, lead)) == ("rejected", 1, "new")
