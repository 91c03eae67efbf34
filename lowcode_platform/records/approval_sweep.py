"""The approval timeout sweep: open tasks past their step's `timeout_hours` are escalated to the approver's
manager (tenant admins when there is none), approved or rejected, as the step says.

Each due task is handled under the lock of its request's row, and only while it is still open, so the
sweep is idempotent and safe beside approvers deciding and other workers sweeping. Timeouts are few (one
row per overdue approver), so they are handled one by one: a decision moves a request through its steps
and may apply the change it waits for, which is no single SQL statement.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from lowcode_platform.records.approvals import OPEN, ApprovalService
from lowcode_platform.records.service import RecordService
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.tables import ApprovalInstance, ApprovalTask, User

BATCH = 500


def sweep_approvals(records: RecordService, now: datetime) -> dict[str, Any]:
    """Apply every timeout due at `now`; counts of what was done."""
    approvals = ApprovalService(records)
    tenant = records.actor.tenant_id
    due = list(records.session.execute(select(ApprovalTask.id, ApprovalTask.instance_id).where(
        ApprovalTask.tenant_id == tenant, ApprovalTask.status == OPEN, ApprovalTask.due_at <= now)
        .order_by(ApprovalTask.due_at, ApprovalTask.id).limit(BATCH)).all())
    done = {"escalated": 0, "approved": 0, "rejected": 0}
    for task_id, instance_id in due:
        outcome = records.transaction(lambda t=task_id, i=instance_id: _time_out(approvals, t, i, now))
        if outcome is not None:
            done[outcome] += 1
    return {**done, "at": now}


def _time_out(approvals: ApprovalService, task_id: str, instance_id: str, now: datetime) -> str | None:
    session = approvals.session
    instance = session.scalar(select(ApprovalInstance).where(
        ApprovalInstance.tenant_id == approvals.actor.tenant_id, ApprovalInstance.id == instance_id).with_for_update())
    task = session.scalar(select(ApprovalTask).where(ApprovalTask.tenant_id == approvals.actor.tenant_id,
                                                     ApprovalTask.id == task_id))
    if instance is None or task is None:
        return None
    session.refresh(task)
    if task.status != OPEN or instance.status != "pending" or task.step != instance.step:
        return None  # decided meanwhile, or swept by another worker
    flow = approvals.config.approvals.get(instance.flow)
    if flow is None:
        return None
    step = flow.steps[task.step]
    if step.on_timeout == "escalate":
        to = _escalation(approvals, task.approver_id, instance.submitter_id)
        task.status, task.decided_at, task.comment = "expired", now, "timed out"
        if to is not None:
            session.execute(insert(ApprovalTask), [{
                "tenant_id": task.tenant_id, "id": new_id(), "instance_id": instance.id, "step": task.step,
                "round": task.round, "approver_id": to, "status": OPEN, "delegated_from": task.approver_id,
                "comment": None,
                "created_at": now, "due_at": now + timedelta(hours=step.timeout_hours or 24), "decided_at": None}])
            approvals.notify([to], "approval.escalated", instance, flow, now)
        return "escalated"
    decision = "approved" if step.on_timeout == "approve" else "rejected"
    approvals.record_decision(task, instance, flow, decision, "timed out", None, now)
    return decision


def _escalation(approvals: ApprovalService, approver: str, submitter: str | None) -> str | None:
    """Who gets an overdue task: the approver's manager (the next one up when that is the submitter, who may
    not decide their own request), else the first tenant admin who did not submit it."""
    session, tenant = approvals.session, approvals.actor.tenant_id
    user: str | None = approver
    for _ in range(10):  # a manager chain is short; this bounds a cycle in bad data
        user = session.scalar(select(User.manager_id).where(User.tenant_id == tenant, User.id == user))
        if user is None:
            break
        active = session.scalar(select(User.id).where(User.tenant_id == tenant, User.id == user,
                                                      User.active.is_(True)))
        if active is not None and active != submitter:
            return active
    return next((admin for admin in approvals.admins() if admin != submitter), None)
