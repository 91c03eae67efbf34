"""Carry out automations inside the transaction of the write that triggered them, leaving a trace of each run.

Every automation whose event and condition match fires, in config order. Actions that write (`set`,
`assign_owner`, `create_task`) cause events of their own, which run the automations again one level
deeper; past `MAX_DEPTH` levels the chain stops and the run is traced as `depth_limit`. An action that
cannot complete raises `AutomationFailedError`: the whole write rolls back, and the failed run's trace
is written afterwards in a transaction of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from lowcode_platform.errors import PlatformError, RecordInvalidError, detail
from lowcode_platform.messages import Localized
from lowcode_platform.pipelines.gates import Move
from lowcode_platform.records.derive import system_values
from lowcode_platform.rules.automations import (
    MAX_DEPTH,
    AssignOwner,
    Automation,
    CreateTask,
    MoveStage,
    Notify,
    Recipient,
    SetFields,
)
from lowcode_platform.rules.python import MISSING
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.tables import AutomationRun, OutboxMessage, User

if TYPE_CHECKING:
    from lowcode_platform.records.service import RecordService


@dataclass(frozen=True)
class Event:
    name: str  # record.created | record.updated | field.changed | stage.changed | activity.logged
    entity: str
    record_id: str
    changed: frozenset[str]
    depth: int


class AutomationFailedError(RecordInvalidError):
    """An automation's action could not complete; the write that triggered it is rolled back."""

    code = "automation_failed"

    def __init__(self, automation: Automation, event: Event, cause: PlatformError, trace: dict[str, Any]) -> None:
        first = cause.details[0] if cause.details else None
        error = Localized(first.message_in("en"), first.message_in("zh")) if first else Localized(cause.message,
                                                                                                    cause.message)
        super().__init__(f"automation {automation.key!r} could not complete: {cause.message}",
                         [detail("", "automation_failed", automation=automation.key, error=error), *cause.details])
        self.trace = trace


class AutomationRunner:
    """Runs the automations of one record service's writes."""

    def __init__(self, service: RecordService) -> None:
        self.service = service
        self.acting = False  # while actions run: writes are the tenant's, not bound by the user's role
        self.changed: set[str] = set()  # records the actions wrote

    def run(self, events: list[Event]) -> bool:
        """Run the automations `events` trigger (and those their actions trigger); whether any ran."""
        ran = False
        for event in events:
            automations = self.service.config.rules.automations_on(event.entity, event.name)
            if automations:
                ran |= self._run_event(event, automations)
        return ran

    def _run_event(self, event: Event, automations: tuple[Automation, ...]) -> bool:
        service = self.service
        ran = False
        entity = service.config.entities[event.entity]
        now = service.clock()
        for automation in automations:
            row = service.load_any(entity, event.record_id)
            facts = service.facts(entity, row.data, system_values(row))
            if not automation.matches(event.name, event.changed, facts, now):
                continue
            if event.depth >= MAX_DEPTH:
                self._trace(automation, event, "depth_limit", {"limit": MAX_DEPTH}, now)
                continue
            ran = True
            done: list[dict[str, Any]] = []
            caused: list[Event] = []
            for action in automation.actions:
                self.acting = True
                try:
                    done.append(self._act(action, entity, row, facts, now, event.depth + 1, caused))
                except PlatformError as exc:
                    trace = self._trace_values(automation, event, "failed",
                                               {"done": done, "error": exc.message}, now)
                    raise AutomationFailedError(automation, event, exc, trace) from None
                finally:
                    self.acting = False
            self.changed.update(e.record_id for e in caused)
            self._trace(automation, event, "done", {"actions": done}, now)
            self.run(caused)
        return ran

    def _act(self, action: Any, entity: Any, row: Any, facts: Any, now: datetime, depth: int,
             caused: list[Event]) -> dict[str, Any]:
        service = self.service
        if isinstance(action, SetFields):
            patch = {key: None if (v := value(facts, now)) is MISSING else v for key, value in action.values}
            caused += service.change(entity, row, patch, now, depth)
            return {"set": patch}
        if isinstance(action, AssignOwner):
            owner = self._one_user(action.to, row)
            caused += service.reassign(entity, row, owner, now, depth)
            return {"assign_owner": owner}
        if isinstance(action, MoveStage):
            from lowcode_platform.records.stages import StageService  # a cycle at import time: stages uses the service

            move = Move(action.to, action.reason, action.comment)
            caused += StageService(service).apply(entity, row, move, {}, None, now, depth)
            return {"move_stage": action.to}
        if isinstance(action, Notify):
            users = sorted({u for r in action.to for u in self._users(r, row)})
            service.session.execute(insert(OutboxMessage), [{
                "tenant_id": service.actor.tenant_id, "id": new_id(), "kind": "notification",
                "recipients": {"users": users}, "created_at": now, "sent_at": None,
                "payload": {"message": action.message.to_json(), "entity": entity.key, "record_id": row.id}}])
            return {"notify": users}
        assert isinstance(action, CreateTask)
        target = service.config.entities[action.entity]
        values = {key: v for key, value in action.values if (v := value(facts, now)) is not MISSING}
        if action.link_field:
            values[action.link_field] = row.id
        if action.due_field:
            due = now + timedelta(days=action.due_in_days)
            if target.fields[action.due_field].type == "date":
                values[action.due_field] = due.astimezone(ZoneInfo(service.config.timezone)).date().isoformat()
            else:
                values[action.due_field] = due.isoformat()
        owner = self._one_user(action.assign_to, row)
        task, events = service.insert(target, values, owner, now, depth)
        caused += events
        return {"create_task": {"entity": target.key, "id": task.id}}

    def _users(self, recipient: Recipient, row: Any) -> list[str]:
        """The active users a recipient names for `row` (none when it names nobody)."""
        service = self.service
        tenant = service.actor.tenant_id
        if recipient == "owner":
            candidates = [row.owner_id]
        elif recipient == "creator":
            candidates = [row.created_by]
        elif recipient == "actor":
            candidates = [service.actor.user_id]
        elif recipient == "owner_manager":
            candidates = [service.session.scalar(select(User.manager_id).where(
                User.tenant_id == tenant, User.id == row.owner_id))]
        elif recipient[0] == "field":
            candidates = [row.data.get(recipient[1])]
        else:
            return list(service.session.scalars(select(User.id).where(
                User.tenant_id == tenant, User.role == recipient[1], User.active.is_(True)).order_by(User.id)))
        wanted = [c for c in candidates if c]
        if not wanted:
            return []
        return list(service.session.scalars(select(User.id).where(
            User.tenant_id == tenant, User.id.in_(wanted), User.active.is_(True))))

    def _one_user(self, recipient: Recipient, row: Any) -> str:
        users = self._users(recipient, row)
        if not users:
            name = recipient if isinstance(recipient, str) else f"{recipient[0]} {recipient[1]}"
            raise RecordInvalidError(f"no active user is the {name} of record {row.id}")
        return users[0]

    def _trace_values(self, automation: Automation, event: Event, outcome: str, info: dict[str, Any],
                      now: datetime) -> dict[str, Any]:
        service = self.service
        return {"tenant_id": service.actor.tenant_id, "id": new_id(), "automation": automation.key,
                "entity": event.entity, "record_id": event.record_id, "event": event.name, "depth": event.depth,
                "outcome": outcome, "detail": info, "actor_id": service.actor.user_id, "at": now}

    def _trace(self, automation: Automation, event: Event, outcome: str, info: dict[str, Any], now: datetime) -> None:
        self.service.session.execute(insert(AutomationRun), [self._trace_values(automation, event, outcome, info, now)])


def record_failure(session: Session, error: AutomationFailedError) -> None:
    """Write the trace of a failed run after its write was rolled back."""
    session.execute(insert(AutomationRun), [error.trace])
    session.commit()


def list_runs(session: Session, tenant_id: str, *, record_id: str | None = None, automation: str | None = None,
              before: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Automation runs, newest first, optionally of one record or one automation."""
    statement = select(AutomationRun).where(AutomationRun.tenant_id == tenant_id)
    if record_id:
        statement = statement.where(AutomationRun.record_id == record_id)
    if automation:
        statement = statement.where(AutomationRun.automation == automation)
    if before:
        statement = statement.where(AutomationRun.id < before)
    runs = session.scalars(statement.order_by(AutomationRun.id.desc()).limit(limit))
    return [{"id": r.id, "automation": r.automation, "entity": r.entity, "record_id": r.record_id, "event": r.event,
             "depth": r.depth, "outcome": r.outcome, "detail": r.detail, "actor_id": r.actor_id, "at": r.at}
            for r in runs]


def list_outbox(session: Session, tenant_id: str, *, before: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Outbox messages, newest first."""
    statement = select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id)
    if before:
        statement = statement.where(OutboxMessage.id < before)
    messages = session.scalars(statement.order_by(OutboxMessage.id.desc()).limit(limit))
    return [{"id": m.id, "kind": m.kind, "recipients": m.recipients["users"], "payload": m.payload,
             "created_at": m.created_at, "sent_at": m.sent_at} for m in messages]
