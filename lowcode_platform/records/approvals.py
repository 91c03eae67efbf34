"""Approvals at runtime: a triggering action becomes a request that waits for its approvers, and takes
effect (the stage move, the field change) only when the last step approves.

Every decision is one transaction under a lock on the request's row: of two approvers deciding an `any`
step at once, the first counts and the second gets 409. A request's trail is its tasks, oldest first;
each decision also writes an audit row on the record and outbox notifications.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from lowcode_platform.accounts.actor import Actor
from lowcode_platform.approvals.definition import Flow, Step
from lowcode_platform.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PlatformError,
    RecordInvalidError,
    detail,
)
from lowcode_platform.pipelines.gates import Move
from lowcode_platform.records.derive import system_values
from lowcode_platform.records.service import RecordService
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.tables import ApprovalInstance, ApprovalTask, OutboxMessage, Record, User

OPEN = "open"
DECIDED = ("approved", "rejected")


class ApprovalService:
    """Approval requests of one tenant, as one actor submits and decides them."""

    def __init__(self, records: RecordService) -> None:
        self.records = records
        self.config = records.config
        self.actor = records.actor
        self.session = records.session

    # -- triggers ------------------------------------------------------------------------------

    def flow_for(self, flows: list[Flow], entity_key: str, data: Mapping[str, Any], row: Any,
                 now: datetime) -> Flow | None:
        """The first of `flows` whose `when` holds for the record with `data`."""
        entity = self.config.entities[entity_key]
        facts = self.records.facts(entity, data, system_values(row))
        return next((f for f in flows if f.when is None or f.when(facts, now)), None)

    def pending(self, entity_key: str, record_id: str) -> list[ApprovalInstance]:
        return list(self.session.scalars(select(ApprovalInstance).where(
            ApprovalInstance.tenant_id == self.actor.tenant_id, ApprovalInstance.record_id == record_id,
            ApprovalInstance.status == "pending").order_by(ApprovalInstance.created_at)))

    def refuse_locked(self, entity_key: str, record_id: str, changed: frozenset[str]) -> None:
        """409 `approval_locked` when a pending request locks any of the `changed` fields."""
        for instance in self.pending(entity_key, record_id):
            flow = self.config.approvals.get(instance.flow)
            locked = sorted(flow.lock & changed) if flow is not None else []
            if locked:
                raise ConflictError("a pending approval locks this field", [
                    detail(f"/{locked[0]}", "approval_locked", flow=flow.label.get("en") if flow else instance.flow)])

    def start(self, flow: Flow, row: Record, request: dict[str, Any], now: datetime) -> ApprovalInstance:
        """A new request of `flow` on the record, its first step's tasks made (or approved at once when no
        step applies). 409 when the record has one of this flow pending already."""
        self.session.execute(select(Record.id).where(Record.tenant_id == row.tenant_id, Record.id == row.id)
                             .with_for_update())  # requests on one record are made one at a time
        if self.session.scalar(select(ApprovalInstance.id).where(
                ApprovalInstance.tenant_id == row.tenant_id,
                ApprovalInstance.pending_key == f"{row.id}:{flow.key}")) is not None:
            raise ConflictError("an approval of this kind is pending for the record", [
                detail("", "approval_pending", flow=flow.key)])
        instance = ApprovalInstance(
            tenant_id=row.tenant_id, id=new_id(), flow=flow.key, entity=flow.entity, record_id=row.id,
            status="pending", step=0, round=0, request=request, submitter_id=self.actor.user_id,
            pending_key=f"{row.id}:{flow.key}", created_at=now, decided_at=None, version=1)
        self.session.add(instance)
        self.session.flush()
        self._audit(row, flow, "submitted", now)
        self._advance(instance, flow, row, 0, now)
        return instance

    def submit(self, key: str, body: Any) -> dict[str, Any]:
        """A manual request: `POST /approvals/{flow}/submit {"id"}` by a user who may update the record."""
        flow = self.config.approvals.get(key)
        if flow is None or not flow.trigger.manual:
            raise NotFoundError(f"no manual approval {key!r}")
        body = self.records.as_object(body)
        record_id = body.get("id")
        if not isinstance(record_id, str):
            raise RecordInvalidError("name the record", [detail("/id", "required")])
        entity, permission = self.records.allowed(flow.entity, "update")

        def work() -> dict[str, Any]:
            now = self.records.clock()
            row = self.records.load(entity, permission, record_id)
            if flow.when is not None and not flow.when(self.records.facts(entity, row.data, system_values(row)), now):
                raise RecordInvalidError("this record does not need this approval", [detail("", "approval_not_needed")])
            instance = self.start(flow, row, {"kind": "manual"}, now)
            return self.shown(instance)
        return self.records.transaction(work)

    # -- steps ---------------------------------------------------------------------------------

    def _advance(self, instance: ApprovalInstance, flow: Flow, row: Record, start: int, now: datetime) -> None:
        """Open the first step from `start` whose `when` holds; approve the request when none is left."""
        entity = self.config.entities[flow.entity]
        facts = self.records.facts(entity, requested_data(instance.request, row.data), system_values(row))
        for index in range(start, len(flow.steps)):
            step = flow.steps[index]
            if step.when is not None and not step.when(facts, now):
                continue
            approvers = self._approvers(step, row, instance.submitter_id)
            if not approvers:
                raise ConflictError("nobody can approve this step", [detail("", "no_approvers", step=step.key)])
            instance.step, instance.round = index, instance.round + 1
            due = now + timedelta(hours=step.timeout_hours) if step.timeout_hours else None
            self.session.execute(insert(ApprovalTask), [
                {"tenant_id": instance.tenant_id, "id": new_id(), "instance_id": instance.id, "step": index,
                 "round": instance.round, "approver_id": user, "status": OPEN, "delegated_from": None,
                 "comment": None, "created_at": now, "due_at": due, "decided_at": None} for user in approvers])
            self.notify(approvers, "approval.requested", instance, flow, now)
            return
        instance.step = len(flow.steps)  # no step (left) applies
        self._finish(instance, flow, row, "approved", now)

    def _approvers(self, step: Step, row: Record, submitter: str | None) -> list[str]:
        """The active users who decide `step` on the record (the submitter only when the step allows it);
        tenant admins when the step names nobody."""
        tenant = self.actor.tenant_id
        found: list[str] = []
        for approvers in step.approvers:
            if approvers.role is not None:
                found += self.session.scalars(select(User.id).where(User.tenant_id == tenant, User.active.is_(True),
                                                                    User.role == approvers.role).order_by(User.id))
            if approvers.users:
                found += self.session.scalars(select(User.id).where(
                    User.tenant_id == tenant, User.active.is_(True),
                    User.id.in_(approvers.users) | User.name.in_(approvers.users)).order_by(User.id))
            if approvers.manager is not None:
                user = row.owner_id or submitter
                for _ in range(approvers.manager):
                    user = self.session.scalar(select(User.manager_id).where(User.tenant_id == tenant,
                                                                             User.id == user)) if user else None
                if user:
                    found += self.session.scalars(select(User.id).where(User.tenant_id == tenant, User.id == user,
                                                                        User.active.is_(True)))
            if approvers.field is not None and isinstance(row.data.get(approvers.field), str):
                found += self.session.scalars(select(User.id).where(
                    User.tenant_id == tenant, User.id == row.data[approvers.field], User.active.is_(True)))
        chosen = [u for u in dict.fromkeys(found) if step.allow_self or u != submitter]
        if not chosen:  # the step names nobody (else than the submitter): the tenant admins decide
            chosen = [u for u in self.admins() if u != submitter]
        return chosen

    def admins(self) -> list[str]:
        """The tenant's active admins, in id order."""
        roles = [key for key, role in self.config.roles.items() if role.admin]
        return list(self.session.scalars(select(User.id).where(User.tenant_id == self.actor.tenant_id,
                                                               User.active.is_(True), User.role.in_(roles))
                                         .order_by(User.id)))

    # -- decisions -----------------------------------------------------------------------------

    def approve(self, task_id: str, body: Any) -> dict[str, Any]:
        body = self.records.as_object(body or {})
        return self.records.transaction(lambda: self._decide(task_id, "approved", _comment(body, False), None))

    def reject(self, task_id: str, body: Any) -> dict[str, Any]:
        """Reject with a comment; `back_to` (an earlier step's key) sends the request back instead of ending it."""
        body = self.records.as_object(body)
        back_to = body.get("back_to")
        if back_to is not None and not isinstance(back_to, str):
            raise RecordInvalidError("back_to names a step", [detail("/back_to", "type", expected="a step key")])
        return self.records.transaction(lambda: self._decide(task_id, "rejected", _comment(body, True), back_to))

    def approve_many(self, body: Any) -> dict[str, Any]:
        """Approve several tasks, each in its own transaction; what happened to each."""
        body = self.records.as_object(body)
        ids = body.get("ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids) or len(ids) > 100:
            raise RecordInvalidError("ids is a list of 1 to 100 task ids", [detail("/ids", "type",
                                                                                 expected="a list of task ids")])
        results = []
        for task_id in ids:
            try:
                results.append({"task": task_id, "status": 200,
                                "approval": self.records.transaction(
                                    lambda t=task_id: self._decide(t, "approved", _comment(body, False), None))})
            except PlatformError as exc:
                results.append({"task": task_id, "status": exc.status,
                                "errors": [{"code": e.code, "message": e.message} for e in exc.details]
                                or [{"code": "error", "message": exc.message}]})
        return {"items": results}

    def delegate(self, task_id: str, body: Any) -> dict[str, Any]:
        """Hand an open task to another active user, who then decides in the approver's place."""
        body = self.records.as_object(body)
        to = body.get("to")
        if not isinstance(to, str) or not to:
            raise RecordInvalidError("name the user to delegate to", [detail("/to", "required")])

        def work() -> dict[str, Any]:
            now = self.records.clock()
            task, instance, flow = self._open_task(task_id)
            user = self.session.scalar(select(User.id).where(User.tenant_id == self.actor.tenant_id, User.id == to,
                                                             User.active.is_(True)))
            if user is None:
                raise RecordInvalidError("no active user with that id", [detail("/to", "unknown_user", id=to)])
            if user == instance.submitter_id and not flow.steps[task.step].allow_self:
                raise RecordInvalidError("the submitter cannot approve their own request", [
                    detail("/to", "self_approval")])
            task.status, task.decided_at = "delegated", now
            self.session.execute(insert(ApprovalTask), [{
                "tenant_id": task.tenant_id, "id": new_id(), "instance_id": instance.id, "step": task.step,
                "round": task.round, "approver_id": user, "status": OPEN, "delegated_from": task.approver_id,
                "comment": None,
                "created_at": now, "due_at": task.due_at, "decided_at": None}])
            self.notify([user], "approval.requested", instance, flow, now)
            return self.shown(instance)
        return self.records.transaction(work)

    def recall(self, instance_id: str) -> dict[str, Any]:
        """The submitter withdraws a pending request; the record stays as it was."""
        def work() -> dict[str, Any]:
            now = self.records.clock()
            instance = self._locked_instance(instance_id)
            if instance.submitter_id != self.actor.user_id:
                raise PermissionDeniedError("only the submitter may recall a request", [detail("", "not_submitter")])
            if instance.status != "pending":
                raise ConflictError("the request is decided already", [detail("", "approval_decided",
                                                                              status=instance.status)])
            flow = self._flow(instance)
            row = self.records.load_any(self.config.entities[instance.entity], instance.record_id)
            self._finish(instance, flow, row, "recalled", now)
            return self.shown(instance)
        return self.records.transaction(work)

    def _decide(self, task_id: str, decision: str, comment: str | None, back_to: str | None) -> dict[str, Any]:
        now = self.records.clock()
        task, instance, flow = self._open_task(task_id)
        step = flow.steps[task.step]
        if self.actor.user_id == instance.submitter_id and not step.allow_self:
            raise PermissionDeniedError("the submitter cannot approve their own request", [detail("", "self_approval")])
        self.record_decision(task, instance, flow, decision, comment, back_to, now)
        return self.shown(instance)

    def record_decision(self, task: ApprovalTask, instance: ApprovalInstance, flow: Flow, decision: str,
                         comment: str | None, back_to: str | None, now: datetime) -> None:
        step = flow.steps[task.step]
        back = None
        if back_to is not None:
            back = next((i for i, s in enumerate(flow.steps) if s.key == back_to), None)
            if back is None or back > task.step:
                raise RecordInvalidError("send the request back to this or an earlier step", [
                    detail("/back_to", "unknown_step", step=back_to)])
        task.status, task.comment, task.decided_at = decision, comment, now
        self.session.flush()
        row = self.records.load_any(self.config.entities[instance.entity], instance.record_id)
        # the seats of this opening of the step: a delegated or escalated task's seat is its successor's
        tasks = list(self.session.scalars(select(ApprovalTask).where(
            ApprovalTask.tenant_id == instance.tenant_id, ApprovalTask.instance_id == instance.id,
            ApprovalTask.step == task.step, ApprovalTask.round == task.round,
            ApprovalTask.status.in_((OPEN, "approved", "rejected")))))
        approved = sum(1 for t in tasks if t.status == "approved")
        waiting = sum(1 for t in tasks if t.status == OPEN)
        needed = step.needed(len(tasks))
        self._audit(row, flow, f"{decision}:{step.key}", now)
        if decision == "approved" and approved >= needed:
            self._close_open(instance, task.step, now)
            self._advance(instance, flow, row, task.step + 1, now)
        elif decision == "rejected" and back is not None:
            self._close_open(instance, task.step, now)
            self._advance(instance, flow, row, back, now)
        elif decision == "rejected" and (step.mode != "ratio" or approved + waiting < needed):
            self._close_open(instance, task.step, now)
            self._finish(instance, flow, row, "rejected", now)
        instance.version += 1

    def _close_open(self, instance: ApprovalInstance, step: int, now: datetime) -> None:
        self.session.execute(update(ApprovalTask).where(
            ApprovalTask.tenant_id == instance.tenant_id, ApprovalTask.instance_id == instance.id,
            ApprovalTask.step == step, ApprovalTask.status == OPEN).values(status="closed", decided_at=now)
            .execution_options(synchronize_session=False))

    def _finish(self, instance: ApprovalInstance, flow: Flow, row: Record, status: str, now: datetime) -> None:
        """End the request; an approved one's action takes effect now (a rejected or recalled one changes
        nothing: the record is as it was before the request)."""
        instance.status, instance.pending_key, instance.decided_at = status, None, now
        self._close_open(instance, instance.step, now)
        self.session.flush()
        if status == "approved":
            self._apply(instance, row, now)
        self._audit(row, flow, status, now)
        self.notify([u for u in {instance.submitter_id, row.owner_id} if u], f"approval.{status}", instance, flow, now)

    def _apply(self, instance: ApprovalInstance, row: Record, now: datetime) -> None:
        from lowcode_platform.records.stages import StageService  # stages starts approvals: a cycle at import

        entity = self.config.entities[instance.entity]
        request = instance.request
        # the change is the submitter's: their permissions check it, and it is theirs in the audit log
        records = RecordService(self.session, self.config, self._actor(instance.submitter_id), clock=self.records.clock)
        if request["kind"] == "stage":
            move = Move(request["to"], request.get("reason"), request.get("comment"))
            records.automations.run(StageService(records).apply(entity, row, move, dict(request.get("data") or {}),
                                                                None, now))
        elif request["kind"] == "fields":
            records.automations.run(records.change(entity, row, dict(request["patch"]), now))
        elif request["kind"] == "conversion":
            from lowcode_platform.records.conversions import ConversionService

            ConversionService(records).run_approved(request["conversion"], row.id, dict(request.get("targets") or {}))

    def _actor(self, user_id: str | None) -> Actor:
        """The user who submitted a request, as an actor (their role in the tenant's config)."""
        user = self.session.scalar(select(User).where(User.tenant_id == self.actor.tenant_id, User.id == user_id))
        role = self.config.roles.get(user.role) if user is not None else None
        if user is None or role is None or not user.active:
            raise ConflictError("the submitter can no longer act", [detail("", "submitter_inactive")])
        return Actor(user.tenant_id, user.id, user.name, role, user.team_id)

    def cancel_for(self, row: Record, now: datetime) -> None:
        """End the record's pending requests without effect (the record was deleted)."""
        for instance in self.pending(row.entity, row.id):
            flow = self.config.approvals.get(instance.flow)
            instance.status, instance.pending_key, instance.decided_at = "cancelled", None, now
            self._close_open(instance, instance.step, now)
            if flow is not None:
                self.notify([u for u in {instance.submitter_id} if u], "approval.cancelled", instance, flow, now)
        self.session.flush()

    # -- reads ---------------------------------------------------------------------------------

    def inbox(self) -> list[dict[str, Any]]:
        """The caller's open tasks, oldest first, with what each request asks."""
        rows = self.session.execute(select(ApprovalTask, ApprovalInstance).join(
            ApprovalInstance, (ApprovalInstance.tenant_id == ApprovalTask.tenant_id)
            & (ApprovalInstance.id == ApprovalTask.instance_id)).where(
            ApprovalTask.tenant_id == self.actor.tenant_id, ApprovalTask.approver_id == self.actor.user_id,
            ApprovalTask.status == OPEN, ApprovalInstance.status == "pending").order_by(ApprovalTask.created_at))
        items = []
        for task, instance in rows:
            flow = self._flow(instance)
            items.append({"task": task.id, "due_at": task.due_at, "step": flow.steps[task.step].key,
                          "step_label": flow.steps[task.step].label.to_json(), "delegated_from": task.delegated_from,
                          **self.shown(instance, trail=False)})
        return items

    def get(self, instance_id: str) -> dict[str, Any]:
        """A request with its full trail, for its submitter, its approvers and whoever may read the record."""
        instance = self.session.scalar(select(ApprovalInstance).where(
            ApprovalInstance.tenant_id == self.actor.tenant_id, ApprovalInstance.id == instance_id))
        if instance is None:
            raise NotFoundError(f"no approval {instance_id!r}")
        involved = instance.submitter_id == self.actor.user_id or self.session.scalar(select(ApprovalTask.id).where(
            ApprovalTask.tenant_id == instance.tenant_id, ApprovalTask.instance_id == instance.id,
            ApprovalTask.approver_id == self.actor.user_id).limit(1)) is not None
        if not involved:
            self.records.get(instance.entity, instance.record_id)  # 404/403 unless the record is theirs to read
        return self.shown(instance)

    def of_record(self, entity_key: str, record_id: str) -> list[dict[str, Any]]:
        """The record's requests, newest first (for anyone who may read it)."""
        self.records.get(entity_key, record_id)
        rows = self.session.scalars(select(ApprovalInstance).where(
            ApprovalInstance.tenant_id == self.actor.tenant_id, ApprovalInstance.record_id == record_id)
            .order_by(ApprovalInstance.created_at.desc()))
        return [self.shown(instance) for instance in rows]

    def shown(self, instance: ApprovalInstance, trail: bool = True) -> dict[str, Any]:
        flow = self._flow(instance)
        shown: dict[str, Any] = {
            "id": instance.id, "flow": instance.flow, "label": flow.label.to_json(), "entity": instance.entity,
            "record_id": instance.record_id, "status": instance.status, "request": instance.request,
            "step": flow.steps[instance.step].key if instance.step < len(flow.steps) else None,
            "submitter_id": instance.submitter_id, "created_at": instance.created_at,
            "decided_at": instance.decided_at}
        if trail:
            names = dict(self.session.execute(select(User.id, User.name).where(
                User.tenant_id == instance.tenant_id)).all())
            tasks = self.session.scalars(select(ApprovalTask).where(
                ApprovalTask.tenant_id == instance.tenant_id, ApprovalTask.instance_id == instance.id)
                .order_by(ApprovalTask.created_at, ApprovalTask.id))
            shown["trail"] = [{"task": t.id, "step": flow.steps[t.step].key, "approver_id": t.approver_id,
                               "approver": names.get(t.approver_id), "status": t.status, "comment": t.comment,
                               "delegated_from": t.delegated_from, "created_at": t.created_at,
                               "due_at": t.due_at, "decided_at": t.decided_at} for t in tasks]
        return shown

    # -- helpers -------------------------------------------------------------------------------

    def _flow(self, instance: ApprovalInstance) -> Flow:
        flow = self.config.approvals.get(instance.flow)
        if flow is None:
            raise ConflictError("the approval flow was removed from the config", [detail("", "unknown_flow",
                                                                                        flow=instance.flow)])
        return flow

    def _locked_instance(self, instance_id: str) -> ApprovalInstance:
        instance = self.session.scalar(select(ApprovalInstance).where(
            ApprovalInstance.tenant_id == self.actor.tenant_id, ApprovalInstance.id == instance_id)
            .with_for_update())
        if instance is None:
            raise NotFoundError(f"no approval {instance_id!r}")
        return instance

    def _open_task(self, task_id: str) -> tuple[ApprovalTask, ApprovalInstance, Flow]:
        """The caller's task, its request locked: 404 for a task not theirs, 409 when decided meanwhile."""
        found = self.session.scalar(select(ApprovalTask.instance_id).where(
            ApprovalTask.tenant_id == self.actor.tenant_id, ApprovalTask.id == task_id,
            ApprovalTask.approver_id == self.actor.user_id))
        if found is None:
            raise NotFoundError(f"no task {task_id!r} of yours")
        instance = self._locked_instance(found)  # decisions on one request wait for each other here
        task = self.session.scalar(select(ApprovalTask).where(ApprovalTask.tenant_id == self.actor.tenant_id,
                                                              ApprovalTask.id == task_id))
        assert task is not None
        self.session.refresh(task)
        if task.status != OPEN or instance.status != "pending" or task.step != instance.step:
            raise ConflictError("the task was decided already", [detail("", "task_decided",
                                                                        status=instance.status)])
        return task, instance, self._flow(instance)

    def _audit(self, row: Record, flow: Flow, what: str, now: datetime) -> None:
        self.records.audit(row, "approval", {"approval": [flow.key, what]}, now)

    def notify(self, users: list[str], event: str, instance: ApprovalInstance, flow: Flow, now: datetime) -> None:
        if users:
            self.session.execute(insert(OutboxMessage), [{
                "tenant_id": instance.tenant_id, "id": new_id(), "kind": "notification",
                "recipients": {"users": sorted(set(users))}, "created_at": now, "sent_at": None,
                "payload": {"event": event, "approval": instance.id, "flow": flow.key, "label": flow.label.to_json(),
                            "entity": instance.entity, "record_id": instance.record_id}}])


def requested_data(request: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The record's data as the request would leave it (a field change's patch, a move's data laid over)."""
    changes = request.get("patch") if request.get("kind") == "fields" else request.get("data")
    merged = {**data, **(changes or {})}
    return {k: v for k, v in merged.items() if v is not None}


def _comment(body: Mapping[str, Any], required: bool) -> str | None:
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        raise RecordInvalidError("comment is text", [detail("/comment", "max_length", limit=2000)])
    comment = comment.strip() if isinstance(comment, str) else None
    if required and not comment:
        raise RecordInvalidError("a rejection needs a comment", [detail("/comment", "required")])
    return comment or None
