"""Helpers of the approval tests: a config with flows on the lead pipeline, users with managers, a fixed clock
for the API, and short ways to submit and decide requests through the API."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lowcode_platform.api import approvals as approvals_api
from lowcode_platform.api import records as records_api
from lowcode_platform.api import stages as stages_api
from lowcode_platform.records.service import RecordService
from tests.configs import label
from tests.web.test_stage_pages import pipeline_config

T0 = datetime(2026, 3, 10, 1, 0, tzinfo=timezone.utc)

# name, role, manager, team: chief -> boss -> rep1/rep2; outsider has no manager
USERS = (
    ("admin", "admin", None, None),
    ("chief", "manager", None, "east"),
    ("boss", "manager", "chief", "east"),
    ("rep1", "rep", "boss", "east"),
    ("rep2", "rep", "boss", "east"),
    ("outsider", "rep", None, "west"),
    ("viewer", "viewer", None, None),
    ("director", "director", None, None),
    ("vp", "vp", None, None),
    ("vp2", "vp", None, None),
)

READER = {"lead": {"read": True, "scope": "all"}}


def step(key: str, *approvers: dict[str, Any], **options: Any) -> dict[str, Any]:
    """A step of a flow: its key, label and approvers (default: the owner's manager)."""
    return {"key": key, "label": label(key.replace("_", " ").title(), f"步骤{key}"),
            "approvers": list(approvers) or [{"manager": 1}], **options}


def flow(trigger: dict[str, Any], *steps: dict[str, Any], **options: Any) -> dict[str, Any]:
    """A flow on leads: its trigger and steps (default: one step of the owner's manager)."""
    return {"entity": "lead", "label": label("Review", "评审"), "trigger": trigger,
            "steps": list(steps) or [step("manager")], **options}


def document(approvals: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lead pipeline of tests/web/test_stage_pages.py (new -> qualified -> won), a `discount` field, the
    roles director and vp, and the `approvals` given."""
    doc = pipeline_config()
    doc["entities"]["lead"]["fields"]["discount"] = {"type": "decimal", "label": label("Discount", "折扣"),
                                                     "min": 0, "max": 100}
    doc["roles"]["director"] = {"label": label("Director", "总监"), "permissions": copy.deepcopy(READER)}
    doc["roles"]["vp"] = {"label": label("Vice president", "副总裁"), "permissions": copy.deepcopy(READER)}
    doc["approvals"] = approvals or {}
    return doc


# -- the issue's flow: a deal review on entering `qualified` --------------------------------------------------

def issue_flow() -> dict[str, Any]:
    """Entering `qualified`: the sales director when the discount is over 20 %; then a vice president when
    the budget is 1,000,000 or more. With neither, nobody needs to approve."""
    return flow({"stage": "qualified"},
                step("director", {"role": "director"}, when={"$gt": {"discount": 20}}),
                step("vice_president", {"role": "vp"}, when={"$gte": {"budget.amount": 1000000}}),
                lock=["budget", "discount"])


# -- the API ------------------------------------------------------------------------------------------------

def qualifiable(tenant: Any, user: str = "rep1", **data: Any) -> dict[str, Any]:
    """A lead of `user` that meets the gate of `qualified` (employees and a visit logged)."""
    lead = tenant.create("lead", {"name": "Acme", "employees": 30, **data}, user)
    tenant.create("call", {"subject": "Visit", "kind": "visit", "lead": lead["id"]}, user)
    return lead


def move(tenant: Any, lead: dict[str, Any], to: str, user: str = "rep1", **body: Any) -> Any:
    return tenant.call("POST", f"/api/v1/records/lead/{lead['id']}/stage", user, json={"to": to, **body})


def requested(tenant: Any, lead: dict[str, Any], to: str = "qualified", user: str = "rep1", **body: Any) -> dict[str, Any]:
    """Move the lead and expect a request (202); the request."""
    response = move(tenant, lead, to, user, **body)
    assert response.status_code == 202, response.get_json()
    approval: dict[str, Any] = response.get_json()["approval"]
    return approval


def patch(tenant: Any, lead: dict[str, Any], user: str = "rep1", **data: Any) -> Any:
    """PATCH the lead at its current version."""
    version = record(tenant, lead)["version"]
    return tenant.call("PATCH", f"/api/v1/records/lead/{lead['id']}", user, json={"version": version, **data})


def record(tenant: Any, lead: dict[str, Any], user: str = "admin") -> dict[str, Any]:
    response = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}", user)
    assert response.status_code == 200, response.get_json()
    shown: dict[str, Any] = response.get_json()
    return shown


def stage(tenant: Any, lead: dict[str, Any]) -> str:
    return str(record(tenant, lead)["pipeline"]["stage"])


def inbox(tenant: Any, user: str) -> list[dict[str, Any]]:
    response = tenant.call("GET", "/api/v1/approvals/inbox", user)
    assert response.status_code == 200, response.get_json()
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def task_of(tenant: Any, user: str, approval_id: str) -> str | None:
    """The open task of `user` for the request, if any."""
    return next((i["task"] for i in inbox(tenant, user) if i["id"] == approval_id), None)


def decide(tenant: Any, user: str, approval_id: str, decision: str = "approve", **body: Any) -> Any:
    """`user` approves or rejects their open task of the request; the response."""
    task = task_of(tenant, user, approval_id)
    assert task is not None, f"{user} has no open task of {approval_id}"
    return tenant.call("POST", f"/api/v1/approvals/tasks/{task}/{decision}", user, json=body)


def approval(tenant: Any, approval_id: str, user: str = "admin") -> dict[str, Any]:
    response = tenant.call("GET", f"/api/v1/approvals/{approval_id}", user)
    assert response.status_code == 200, response.get_json()
    shown: dict[str, Any] = response.get_json()
    return shown


def codes(response: Any) -> list[str]:
    return [e["code"] for e in response.get_json()["errors"]]


def approve_through(tenant: Any, approval_id: str, users: tuple[str, ...]) -> dict[str, Any]:
    """Approve the request as each user in turn who holds an open task of it; the request at the end."""
    for user in users:
        task = task_of(tenant, user, approval_id)
        if task is not None:
            response = tenant.call("POST", f"/api/v1/approvals/tasks/{task}/approve", user, json={})
            assert response.status_code == 200, response.get_json()
    return tenant.call("GET", f"/api/v1/approvals/{approval_id}", users[0]).get_json()


# -- a fixed clock ------------------------------------------------------------------------------------------

class Clock:
    """The time the API's services see; it moves only when a test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def fixed_clock(monkeypatch: pytest.MonkeyPatch, now: datetime = T0) -> Clock:
    """Records written, moved and decided through the API (the sweep endpoint too) see `clock.now`."""
    fake = Clock(now)

    class Fixed(RecordService):
        def __init__(self, session: Any, config: Any, actor: Any, clock: Any = None) -> None:
            super().__init__(session, config, actor, clock=fake)

    for module in (records_api, stages_api, approvals_api):
        monkeypatch.setattr(module, "RecordService", Fixed)
    return fake


# -- what requests leave behind -----------------------------------------------------------------------------

def notifications(tenant: Any, approval_id: str) -> list[tuple[str, list[str]]]:
    """(event, recipient names) of the request's outbox notifications, oldest first."""
    names = {v: k for k, v in tenant.user_ids.items()}
    response = tenant.call("GET", "/api/v1/automations/outbox?limit=200", "admin")
    assert response.status_code == 200, response.get_json()
    items = [m for m in response.get_json()["items"] if m["payload"].get("approval") == approval_id]
    return [(m["payload"]["event"], sorted(names[u] for u in m["recipients"])) for m in reversed(items)]


def stored_audit(app: Any, tenant: Any, record_id: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(action, actor name, changes) of the record's audit rows as stored, by time (rows of one moment in no
    particular order)."""
    from sqlalchemy import select

    from lowcode_platform.storage.tables import AuditEntry

    with app.extensions["lowcode"].open_session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.record_id == record_id)
                               .order_by(AuditEntry.at, AuditEntry.record_version, AuditEntry.id))
        names = {v: k for k, v in tenant.user_ids.items()}
        return [(r.action, names.get(r.actor_id or ""), dict(r.changes)) for r in rows]
