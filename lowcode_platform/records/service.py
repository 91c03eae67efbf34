"""The record service: every read and write of tenant records, each write one transaction with its audit row.

Validates with the entity's JSON Schema, then what a schema cannot express: unique values (claimed
inside the transaction, so two concurrent writers cannot both win), references and users that must exist.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from lowcode_platform.accounts.actor import Actor
from lowcode_platform.accounts.service import owner_scope, team_owner_ids
from lowcode_platform.configuration import TenantConfig
from lowcode_platform.errors import (
    ConflictError,
    ErrorDetail,
    MalformedRequestError,
    NotFoundError,
    PermissionDeniedError,
    RecordInvalidError,
    detail,
    escape_pointer_token,
    parameter_error,
)
from lowcode_platform.messages import NOWHERE, Localized
from lowcode_platform.records.allocation import placement
from lowcode_platform.records.automations import AutomationFailedError, AutomationRunner, Event, record_failure
from lowcode_platform.records.derive import (
    RecordFacts,
    broken_rules,
    compute,
    normalized,
    refused_inputs,
    system_values,
)
from lowcode_platform.records.listing import encode_cursor, order_and_seek, parse_list_query
from lowcode_platform.records.ownership import check_gain, extend_protection, pool_event, record_pool_event
from lowcode_platform.records.stage_history import forecast_category, is_stalled, record_stage_change
from lowcode_platform.records.views import mask_changes, sees_pii, unmask_patch, visible_data
from lowcode_platform.schema import EntityDef, Permission
from lowcode_platform.schema.config import FULL_PERMISSION
from lowcode_platform.schema.fields import unique_key
from lowcode_platform.storage.audit import diff, write_audit
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.json_fields import json_field
from lowcode_platform.storage.tables import AuditEntry, Record, RecordLink, RecordUniqueValue, User

T = TypeVar("T")
_INSERT_RECORD = insert(Record.__table__)
_NO_STAGE = {"pipeline": None, "stage": None, "stage_entered_at": None, "probability": None, "forecast_category": None,
             "pool": None}


def _localized(label: Any) -> Localized:
    return Localized(label.en, label.get("zh"))


def utcnow() -> datetime:
    """The time now, to the millisecond: what the API shows is then exactly what lists sort and page by."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class StoredRecord:
    """The columns of a record just written (a lighter stand-in for a loaded `Record`)."""

    tenant_id: str
    id: str
    entity: str
    owner_id: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    created_by: str | None
    updated_by: str | None
    version: int
    config_version: int
    data: dict[str, Any]
    pool: str | None = None
    pipeline: str | None = None
    stage: str | None = None
    stage_entered_at: datetime | None = None
    last_activity_at: datetime | None = None
    won_at: datetime | None = None
    lost_at: datetime | None = None
    owned_at: datetime | None = None
    deal_at: datetime | None = None
    protected_until: datetime | None = None
    pool_warned_at: datetime | None = None
    previous_owner_id: str | None = None
    probability: Decimal | None = None
    forecast_category: str | None = None


@dataclass(frozen=True)
class RecordView:
    """A record as one user may see it."""

    row: Record | StoredRecord
    data: dict[str, Any]
    masked: list[str]
    stalled: bool = False  # idle in its stage beyond the stage's rot days
    approval: dict[str, Any] | None = None  # the request the change became, when it needs approval

    def to_json(self) -> dict[str, Any]:
        row = self.row
        shown = {
            "id": row.id, "entity": row.entity, "version": row.version, "owner_id": row.owner_id,
            "created_at": row.created_at, "updated_at": row.updated_at, "deleted_at": row.deleted_at,
            "created_by": row.created_by, "updated_by": row.updated_by, "config_version": row.config_version,
            "data": self.data, "masked": self.masked,
        }
        if self.approval is not None:
            shown["approval"] = self.approval
        if row.pipeline is not None:
            shown["pipeline"] = {
                "key": row.pipeline, "stage": row.stage, "stage_entered_at": row.stage_entered_at,
                "probability": row.probability, "forecast_category": row.forecast_category,
                "won_at": row.won_at, "lost_at": row.lost_at, "stalled": self.stalled,
            }
        return shown


@dataclass(frozen=True)
class Page:
    items: list[RecordView]
    next_cursor: str | None


def _transaction(method: Callable[..., T]) -> Callable[..., T]:
    """Commit what `method` wrote, or roll all of it back when it raises."""

    @functools.wraps(method)
    def run(self: RecordService, *args: Any, **kwargs: Any) -> T:
        try:
            result = method(self, *args, **kwargs)
            self.session.commit()
            return result
        except AutomationFailedError as exc:
            self.session.rollback()
            record_failure(self.session, exc)
            raise
        except BaseException:
            self.session.rollback()
            raise

    return run


class RecordService:
    """Records of one tenant, as seen and changed by one actor."""

    def __init__(self, session: Session, config: TenantConfig, actor: Actor,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.config = config
        self.actor = actor
        self.clock = clock
        self.automations = AutomationRunner(self)

    # -- reads ---------------------------------------------------------------------------------

    def get(self, entity_key: str, record_id: str, *, include_deleted: bool = False) -> RecordView:
        entity, permission = self.allowed(entity_key, "read")
        return self._view(entity, self.load(entity, permission, record_id, include_deleted=include_deleted))

    def list(self, entity_key: str, args: Mapping[str, str]) -> Page:
        """One page of records matching the filters in `args` (query parameters)."""
        entity, permission = self.allowed(entity_key, "read")
        query = parse_list_query(entity, args, pii_visible=self.actor.role.pii == "all",
                                 scope=self.config.rules.scopes[entity.key], now=self.clock())
        order, seek = order_and_seek(entity, query)
        statement = select(Record).where(*self.visible(entity, permission), *query.filters)
        if not query.include_deleted:
            statement = statement.where(Record.deleted_at.is_(None))
        if seek is not None:
            statement = statement.where(seek)
        rows = list(self.session.scalars(statement.order_by(*order).limit(query.limit + 1)))
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        cursor = encode_cursor(query.sort, rows[-1], entity) if more else None
        return Page([self._view(entity, row) for row in rows], cursor)

    def choices(self, entity_key: str, limit: int) -> list[tuple[str, str]]:
        """(id, title) of up to `limit` live records the actor may read, by title: a picker's options.

        A pii title is masked as the record's other views mask it."""
        entity, permission = self.allowed(entity_key, "read")
        field = entity.fields.get(entity.title_field or "")
        title = json_field(field.key, "text") if field else Record.id
        rows = self.session.execute(
            select(Record.id, title, Record.owner_id)
            .where(*self.visible(entity, permission), Record.deleted_at.is_(None))
            .order_by(title, Record.id).limit(limit))
        options = []
        for record_id, text, owner_id in rows:
            if text is None:
                text = record_id
            elif field is not None and field.pii and not sees_pii(self.actor, owner_id):
                text = field.kind.mask(text)
            options.append((record_id, str(text)))
        return options

    def history(self, entity_key: str, record_id: str) -> list[dict[str, Any]]:
        """The audit rows of a record, oldest first, masked as the record would be."""
        entity, permission = self.allowed(entity_key, "read")
        row = self.load(entity, permission, record_id, include_deleted=True)
        unmasked = sees_pii(self.actor, row.owner_id)
        entries = self.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.tenant_id == self.actor.tenant_id, AuditEntry.record_id == row.id)
            .order_by(AuditEntry.record_version, AuditEntry.id)  # ids written in one millisecond are unordered
        )
        return [
            {"id": e.id, "action": e.action, "actor_id": e.actor_id, "at": e.at, "record_version": e.record_version,
             "config_version": e.config_version, "changes": mask_changes(entity, e.changes, unmasked)}
            for e in entries
        ]

    # -- writes --------------------------------------------------------------------------------

    @_transaction
    def create(self, entity_key: str, body: Any, pipeline: str | None = None) -> RecordView:
        """Create a record; a record of a pipeline's entity starts in `pipeline` (default: the entity's first)."""
        entity, _ = self.allowed(entity_key, "create")
        if pipeline is not None and pipeline not in {p.key for p in self.config.pipelines.of(entity.key)}:
            raise MalformedRequestError("unknown pipeline", [parameter_error("pipeline", "unknown_pipeline",
                                                                             pipeline=pipeline, entity=entity.key)])
        row, events = self.insert(entity, self.as_object(body), self.actor.user_id, self.clock(), pipeline=pipeline)
        if self.automations.run(events) and row.id in self.automations.changed:
            return self._view(entity, self.load_any(entity, row.id))
        return self._view(entity, row)

    @_transaction
    def update(self, entity_key: str, record_id: str, patch: Any, expected_version: int) -> RecordView:
        """Apply a JSON merge patch (`null` removes a field) to the record at `expected_version`."""
        entity, permission = self.allowed(entity_key, "update")
        row = self.load(entity, permission, record_id)
        self._expect(row, expected_version)
        self.refuse_if_converted(entity, row)
        patch = self.as_object(patch)
        unknown = [detail(f"/{escape_pointer_token(k)}", "unknown_field", field=k, where=NOWHERE)
                   for k in patch if k not in entity.fields]
        if unknown:
            raise RecordInvalidError("the record is invalid", unknown)
        if not sees_pii(self.actor, row.owner_id):
            patch = unmask_patch(entity, row.data, patch)
        now = self.clock()
        approval = self._approval_of_change(entity, row, patch, now)
        if approval is not None:  # the change waits for its approvers; the record stays as it is
            return replace(self._view(entity, row), approval=approval)
        events = self.change(entity, row, patch, now)
        self.automations.run(events)
        return self._view(entity, row)  # the loaded row: automations' own writes updated it too

    def _approval_of_change(self, entity: EntityDef, row: Record, patch: dict[str, Any],
                            now: datetime) -> dict[str, Any] | None:
        """Refuse a change of fields a pending approval locks; start the approval a change of named fields
        needs (the change checked first, then kept in the request); None when the change may go ahead."""
        if not self.config.approvals.of(entity.key):
            return None
        from lowcode_platform.records.approvals import ApprovalService  # approvals apply changes: a cycle at import

        after = {k: v for k, v in {**row.data, **patch}.items() if v is not None and k in entity.fields}
        changed = frozenset(diff(dict(row.data), normalized(entity, after)))
        approvals = ApprovalService(self)
        approvals.refuse_locked(entity.key, row.id, changed)
        flows = self.config.approvals.on_fields(entity.key, changed)
        flow = approvals.flow_for(flows, entity.key, after, row, now) if flows else None
        if flow is None:
            return None
        rules = self.config.rules.of(entity.key)
        self._checked(entity, {k: v for k, v in after.items() if k not in rules.computed_keys}, system_values(row),
                      now, {}, dict(row.data))
        instance = approvals.start(flow, row, {"kind": "fields", "patch": patch}, now)
        return approvals.shown(instance) if instance.status == "pending" else None

    def insert(self, entity: EntityDef, body: dict[str, Any], owner_id: str | None, now: datetime,
               depth: int = 0, pipeline: str | None = None) -> tuple[StoredRecord, list[Event]]:
        """Create a record (no permission check: callers decide) and the events it causes."""
        rules = self.config.rules.of(entity.key)
        given = {k: body[k] for k in rules.computed_keys if k in body}
        data = entity.with_defaults({k: v for k, v in body.items() if k not in rules.computed_keys})
        values = {
            "tenant_id": self.actor.tenant_id, "id": new_id(), "entity": entity.key, "owner_id": owner_id,
            "created_at": now, "updated_at": now, "created_by": self.actor.user_id, "updated_by": self.actor.user_id,
            "version": 1, "config_version": self.config.version, "owned_at": now if owner_id else None,
        }
        pipelines = self.config.pipelines.of(entity.key)
        if pipelines:  # a record of a pipeline's entity starts in the first stage of its pipeline
            start = next((p for p in pipelines if p.key == pipeline), pipelines[0])
            values.update(pipeline=start.key, stage=start.first.key, stage_entered_at=now,
                          probability=start.first.probability, forecast_category=forecast_category(start, start.first.key))
        system = {"owner": owner_id, "stage": values.get("stage"), "pool": None, "created_at": now,
                  "last_activity_at": None, "stage_entered_at": values.get("stage_entered_at"), "won_at": None,
                  "owned_at": values["owned_at"], "deal_at": None}
        data = self._checked(entity, data, system, now, given)
        owner_id, pool, entered = placement(self.session, self.config, self.actor.tenant_id, entity.key,
                                            self.facts(entity, data, system), now, owner_id)
        if pool is not None:  # an intake pool took it in: pushed to a member, or waiting in the pool
            values.update(owner_id=owner_id, pool=None if owner_id else pool.key, owned_at=now if owner_id else None)
        elif owner_id is not None:
            check_gain(self.session, self.config, self.actor.tenant_id, entity.key, owner_id)
        self.session.connection().execute(_INSERT_RECORD, {**_NO_STAGE, **values, "data": data})
        row = StoredRecord(**values, data=data, deleted_at=None)
        if pool is not None:
            pool_event(self.session, row, pool.key, entered, None, owner_id, self.actor.user_id, now)
        if pipelines:
            record_stage_change(self.session, row, None, row.stage or "", now, self.actor.user_id)
        self._refuse_taken(self._claim_unique(entity, row.id, {}, data), RecordInvalidError)
        self._audit(row, "create", diff({}, data), now)
        events = [Event("record.created", entity.key, row.id, frozenset(data), depth)]
        return row, events + self._log_activity(entity, data, now, depth)

    def change(self, entity: EntityDef, row: Record, patch: Mapping[str, Any], now: datetime,
               depth: int = 0) -> list[Event]:
        """Merge `patch` into a loaded record (no permission check) and write it; the events it causes."""
        rules = self.config.rules.of(entity.key)
        before = dict(row.data)
        given = {k: v for k, v in patch.items() if k in rules.computed_keys}
        kept = {k: v for k, v in before.items() if k not in entity.fields}  # fields the config dropped
        merged = {k: v for k, v in {**before, **patch}.items()
                  if v is not None and k in entity.fields and k not in rules.computed_keys}
        after = {**self._checked(entity, merged, system_values(row), now, given, before), **kept}
        changes = diff(before, after)
        if not changes:
            return []
        self._write(row, row.version, data=after, updated_at=now, updated_by=self.actor.user_id,
                    config_version=self.config.version)
        self._refuse_taken(self._claim_unique(entity, row.id, before, after), RecordInvalidError)
        self._audit(row, "update", changes, now)
        return [Event("record.updated", entity.key, row.id, frozenset(changes), depth),
                Event("field.changed", entity.key, row.id, frozenset(changes), depth)]

    def reassign(self, entity: EntityDef, row: Record, owner_id: str, now: datetime, depth: int = 0) -> list[Event]:
        """Give a loaded record a new owner (no permission check); the events it causes."""
        if row.owner_id == owner_id:
            return []
        check_gain(self.session, self.config, self.actor.tenant_id, entity.key, owner_id)
        before, pool = row.owner_id, row.pool
        changes = {"owner_id": [before, owner_id]}
        self._write(row, row.version, owner_id=owner_id, pool=None, owned_at=now, pool_warned_at=None,
                    protected_until=None, updated_at=now, updated_by=self.actor.user_id)
        record_pool_event(self.session, self.config, row, pool, "assign", before, owner_id, self.actor.user_id, now)
        self._audit(row, "update", changes, now)
        events = [Event("record.updated", entity.key, row.id, frozenset({"owner"}), depth)]
        if any(c.reads & {"owner", "owner_team"} for c in self.config.rules.of(entity.key).computed):
            events += self.change(entity, row, {}, now, depth)  # fields computed from the owner follow it
        return events

    def load_any(self, entity: EntityDef, record_id: str) -> Record:
        """A live record of this tenant, whoever owns it (for automations, which act for the tenant)."""
        return self.load(entity, FULL_PERMISSION, record_id)

    def facts(self, entity: EntityDef, data: Mapping[str, Any], system: Mapping[str, Any]) -> RecordFacts:
        return RecordFacts(data, system, self.team_of)

    def _log_activity(self, entity: EntityDef, data: Mapping[str, Any], now: datetime, depth: int) -> list[Event]:
        """Stamp the records an activity names with its time; each gets an `activity.logged` event."""
        events = []
        for name in self.config.rules.of(entity.key).activity_for:
            target = self.config.entities[entity.fields[name].entity or ""]
            record_id = data.get(name)
            if record_id is None:
                continue
            self.session.execute(
                update(Record)
                .where(Record.tenant_id == self.actor.tenant_id, Record.id == record_id)
                .values(last_activity_at=now, pool_warned_at=None)  # worked again: warn again before recycling
                .execution_options(synchronize_session=False)
            )
            extend_protection(self.session, self.config, self.actor.tenant_id, target.key, record_id)
            events.append(Event("activity.logged", target.key, record_id, frozenset(), depth))
        return events

    def team_of(self, user_id: str | None) -> str | None:
        if user_id is None:
            return None
        return self.session.scalar(select(User.team_id).where(User.tenant_id == self.actor.tenant_id,
                                                               User.id == user_id))

    @_transaction
    def delete(self, entity_key: str, record_id: str, expected_version: int | None) -> RecordView:
        """Soft-delete: the record leaves lists and frees its unique values, and can be restored."""
        entity, permission = self.allowed(entity_key, "delete")
        row = self.load(entity, permission, record_id)
        version = row.version if expected_version is None else expected_version
        self._expect(row, version)
        now = self.clock()
        self._write(row, version, deleted_at=now, updated_at=now, updated_by=self.actor.user_id)
        self.session.execute(delete(RecordUniqueValue).where(
            RecordUniqueValue.tenant_id == row.tenant_id, RecordUniqueValue.record_id == row.id))
        self._audit(row, "delete", {}, now)
        if self.config.approvals.of(entity.key):
            from lowcode_platform.records.approvals import ApprovalService  # a cycle at import

            ApprovalService(self).cancel_for(row, now)  # nothing is left to approve
        return self._view(entity, row)

    @_transaction
    def restore(self, entity_key: str, record_id: str) -> RecordView:
        entity, permission = self.allowed(entity_key, "delete")
        row = self.load(entity, permission, record_id, include_deleted=True)
        if row.deleted_at is None:
            raise ConflictError("the record is not deleted", [detail("", "not_deleted")])
        now = self.clock()
        self._write(row, row.version, deleted_at=None, updated_at=now, updated_by=self.actor.user_id)
        self._refuse_taken(self._claim_unique(entity, row.id, {}, row.data), ConflictError)
        self._audit(row, "restore", {}, now)
        return self._view(entity, row)

    # -- helpers -------------------------------------------------------------------------------

    def allowed(self, entity_key: str, action: str) -> tuple[EntityDef, Permission]:
        entity = self.config.entities.get(entity_key)
        if entity is None:
            raise NotFoundError(f"unknown entity {entity_key!r}", [detail("", "unknown_entity", entity=entity_key)])
        permission = self.actor.role.permission(entity_key)
        if not permission.allows(action):
            raise PermissionDeniedError(f"your role may not {action} {entity_key} records")
        return entity, permission

    def converted_readonly(self, entity: EntityDef, row: Record) -> bool:
        """Whether a conversion that makes its source read-only converted the record."""
        locking = [c.key for c in self.config.conversions.conversions.values()
                   if c.source == entity.key and c.lead_readonly]
        return bool(locking) and self.session.scalar(select(RecordLink.id).where(
            RecordLink.tenant_id == row.tenant_id, RecordLink.from_id == row.id,
            RecordLink.conversion.in_(locking)).limit(1)) is not None

    def refuse_if_converted(self, entity: EntityDef, row: Record) -> None:
        """A record a read-only conversion converted keeps its data (its full data stays readable)."""
        if self.converted_readonly(entity, row):
            raise ConflictError("the record was converted and is read-only", [detail("", "converted_readonly")])

    @functools.cached_property
    def _team_owners(self) -> Any:
        """The owners a `team` scope shows, as a query built once per service (one request)."""
        return team_owner_ids(self.actor)

    def visible(self, entity: EntityDef, permission: Permission) -> list[ColumnElement[bool]]:
        """The clauses keeping the records of `entity` that `permission` lets the actor see."""
        return [Record.tenant_id == self.actor.tenant_id, Record.entity == entity.key,
                *owner_scope(self.actor, permission.scope, Record.owner_id,
                             self._team_owners if permission.scope == "team" else None)]

    def load(self, entity: EntityDef, permission: Permission, record_id: str, *,
              include_deleted: bool = False) -> Record:
        statement = select(Record).where(*self.visible(entity, permission), Record.id == record_id)
        if not include_deleted:
            statement = statement.where(Record.deleted_at.is_(None))
        row = self.session.scalar(statement)
        if row is None:
            raise NotFoundError(f"no {entity.key} record {record_id!r}")
        return row

    def _view(self, entity: EntityDef, row: Record | StoredRecord) -> RecordView:
        data, masked = visible_data(entity, row.data, sees_pii(self.actor, row.owner_id))
        return RecordView(row, data, masked, is_stalled(self.config.pipelines.get(row.pipeline), row, self.clock()))

    def view(self, entity: EntityDef, row: Record | StoredRecord) -> RecordView:
        """The record as the actor sees it."""
        return self._view(entity, row)

    def transaction(self, work: Callable[[], T]) -> T:
        """Run `work` as one transaction of this service: committed, or rolled back when it raises."""
        return _transaction(lambda service: work())(self)

    def write(self, row: Record, **values: Any) -> None:
        """Update system columns of a loaded record (optimistic lock on its version)."""
        self._write(row, row.version, **values)

    def audit(self, row: Record | StoredRecord, action: str, changes: Mapping[str, Any], at: datetime) -> None:
        self._audit(row, action, changes, at)

    @staticmethod
    def as_object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise RecordInvalidError("the body must be a JSON object", [detail("", "body_not_object")])
        return body

    @staticmethod
    def _expect(row: Record, expected_version: int) -> None:
        if row.version != expected_version:
            raise ConflictError(
                "the record was changed by someone else",
                [detail("/version", "stale_version", expected=expected_version, actual=row.version)],
            )

    def _write(self, row: Record, expected_version: int, **values: Any) -> None:
        """Update `row` only if it is still at `expected_version` (optimistic lock), and bump its version."""
        result = self.session.execute(
            update(Record)
            .where(Record.tenant_id == row.tenant_id, Record.id == row.id, Record.version == expected_version)
            .values(version=expected_version + 1, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            current = self.session.scalar(select(Record.version).where(
                Record.tenant_id == row.tenant_id, Record.id == row.id))
            raise ConflictError("the record was changed by someone else",
                                [detail("/version", "stale_version", expected=expected_version, actual=current)])
        for key, value in {**values, "version": expected_version + 1}.items():
            set_committed_value(row, key, value)

    def _checked(self, entity: EntityDef, data: dict[str, Any], system: Mapping[str, Any], now: datetime,
                 given: Mapping[str, Any], before: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """`data` with its computed fields, normalized for storage; or `RecordInvalidError` with every error."""
        rules = self.config.rules.of(entity.key)
        facts = None
        if rules.computed or rules.validations:
            data = normalized(entity, data)
            facts = self.facts(entity, data, system)
            computed = compute(rules, facts, now)
            data.update(computed)
            errors = refused_inputs(rules, normalized(entity, given), computed)
        else:
            errors = refused_inputs(rules, given, {})
        errors += entity.iter_record_errors(data)
        if errors:
            raise RecordInvalidError("the record is invalid", errors)
        data = entity.normalize(data)
        errors = broken_rules(rules, facts, now) if facts is not None else []
        changed = {k: v for k, v in data.items() if before is None or before.get(k) != v}
        errors += self._missing_references(entity, changed)
        if errors:
            raise RecordInvalidError("the record is invalid", errors)
        return data

    def _missing_references(self, entity: EntityDef, data: Mapping[str, Any]) -> list[ErrorDetail]:
        return list(self._iter_missing_references(entity, data))

    def _iter_missing_references(self, entity: EntityDef, data: Mapping[str, Any]) -> Iterable[ErrorDetail]:
        for key, value in data.items():
            field = entity.fields[key]
            if field.type == "reference":
                target = self.config.entities[field.entity or ""]
                # automations act for the tenant: any live record of it may be referred to
                permission = FULL_PERMISSION if self.automations.acting else self.actor.role.permission(target.key)
                found = permission.read and self.session.scalar(select(Record.id).where(
                    *self.visible(target, permission), Record.id == value, Record.deleted_at.is_(None)))
                if not found:
                    target = self.config.entities[field.entity or ""].label
                    yield detail(f"/{key}", "reference_not_found", entity=_localized(target), id=value)
            elif field.type == "user":
                found = self.session.scalar(select(User.id).where(
                    User.tenant_id == self.actor.tenant_id, User.id == value, User.active.is_(True)))
                if found is None:
                    yield detail(f"/{key}", "user_not_found", id=value)

    def _claim_unique(self, entity: EntityDef, record_id: str, before: Mapping[str, Any],
                      after: Mapping[str, Any]) -> list[ErrorDetail]:
        """Move the record's claims on unique values from `before` to `after`; the values already taken."""
        errors: list[ErrorDetail] = []
        for field in entity.fields.values():
            if not field.unique or before.get(field.key) == after.get(field.key):
                continue
            if field.key in before:
                self.session.execute(delete(RecordUniqueValue).where(
                    RecordUniqueValue.tenant_id == self.actor.tenant_id, RecordUniqueValue.entity == entity.key,
                    RecordUniqueValue.field == field.key, RecordUniqueValue.record_id == record_id))
            if field.key not in after:
                continue
            value_hash = hashlib.sha256(unique_key(field, after[field.key]).encode()).hexdigest()
            try:
                with self.session.begin_nested():
                    self.session.execute(insert(RecordUniqueValue), [{
                        "tenant_id": self.actor.tenant_id, "entity": entity.key, "field": field.key,
                        "value_hash": value_hash, "record_id": record_id}])
            except IntegrityError:
                errors.append(detail(f"/{field.key}", "not_unique", entity=_localized(entity.label)))
        return errors

    @staticmethod
    def _refuse_taken(errors: list[ErrorDetail], error: type[ConflictError | RecordInvalidError]) -> None:
        if errors:
            raise error("a value that must be unique is taken", errors)

    def _audit(self, row: Record | StoredRecord, action: str, changes: Mapping[str, Any], at: datetime) -> None:
        write_audit(self.session, tenant_id=row.tenant_id, entity=row.entity, record_id=row.id, action=action,
                    actor_id=self.actor.user_id, at=at, record_version=row.version,
                    config_version=self.config.version, changes=changes)
