"""The platform's tables. Every tenant-owned table leads its key and indexes with `tenant_id`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, Integer, MetaData, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lowcode_platform.storage.types import JSONDocument, OrderedJSONDocument, UTCDateTime

ID = String(26)
KEY = String(63)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument}


class TenantScoped:
    """A table whose rows belong to one tenant; a tenant-scoped session filters every statement on it."""

    tenant_id: Mapped[str] = mapped_column(ID, primary_key=True, sort_order=-10)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    slug: Mapped[str] = mapped_column(KEY, unique=True)
    active_version: Mapped[int | None]
    created_at: Mapped[datetime]


class TenantConfigVersion(TenantScoped, Base):
    __tablename__ = "tenant_config_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(OrderedJSONDocument)  # in the order it was written
    status: Mapped[str] = mapped_column(String(16))  # draft | active | retired
    author: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]

    __table_args__ = (ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),)


class Team(TenantScoped, Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
    )


class User(TenantScoped, Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(KEY)
    team_id: Mapped[str | None] = mapped_column(ID)
    manager_id: Mapped[str | None] = mapped_column(ID)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"]),
        ForeignKeyConstraint(["tenant_id", "manager_id"], ["users.tenant_id", "users.id"]),
    )


class Record(TenantScoped, Base):
    """A record of any tenant entity: system columns, and the entity's fields in `data`."""

    __tablename__ = "records"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    entity: Mapped[str] = mapped_column(KEY)
    owner_id: Mapped[str | None] = mapped_column(ID)
    pool: Mapped[str | None] = mapped_column(KEY)
    pipeline: Mapped[str | None] = mapped_column(KEY)
    stage: Mapped[str | None] = mapped_column(KEY)
    stage_entered_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    won_at: Mapped[datetime | None]
    lost_at: Mapped[datetime | None]
    owned_at: Mapped[datetime | None]  # when the current owner got the record (pool clocks start here)
    deal_at: Mapped[datetime | None]  # the last deal won on it or on a record referring to it
    protected_until: Mapped[datetime | None]  # a pool's protection period for the current owner
    pool_warned_at: Mapped[datetime | None]  # when the current owner was warned of recycling
    previous_owner_id: Mapped[str | None] = mapped_column(ID)  # who owned it before it went to a pool
    probability: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))  # the stage's, unless a rep overrode it
    forecast_category: Mapped[str | None] = mapped_column(String(16))  # pipeline, best_case, commit, closed, omitted
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(ID)
    updated_by: Mapped[str | None] = mapped_column(ID)
    version: Mapped[int]
    config_version: Mapped[int]
    data: Mapped[dict[str, Any]]

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        Index("ix_records_entity_created", "tenant_id", "entity", "created_at", "id"),
        Index("ix_records_entity_updated", "tenant_id", "entity", "updated_at", "id"),
        Index("ix_records_entity_owner", "tenant_id", "entity", "owner_id"),
        Index("ix_records_pool", "tenant_id", "pool", "entity"),
    )


class StageChange(TenantScoped, Base):
    """One move of a record between stages (the first row: the stage it was created in)."""

    __tablename__ = "stage_history"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    record_id: Mapped[str] = mapped_column(ID)
    entity: Mapped[str] = mapped_column(KEY)
    pipeline: Mapped[str] = mapped_column(KEY)
    from_stage: Mapped[str | None] = mapped_column(KEY)
    to_stage: Mapped[str] = mapped_column(KEY)
    at: Mapped[datetime]
    seconds_in_from: Mapped[int | None]  # time spent in `from_stage`
    actor_id: Mapped[str | None] = mapped_column(ID)
    reason: Mapped[str | None] = mapped_column(String(200))  # why lost
    comment: Mapped[str | None] = mapped_column(String(2000))
    override: Mapped[bool] = mapped_column(default=False)  # an admin moved past the rules and the gate
    override_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "record_id"], ["records.tenant_id", "records.id"]),
        Index("ix_stage_history_record", "tenant_id", "record_id", "at"),
        Index("ix_stage_history_pipeline", "tenant_id", "pipeline", "to_stage", "at"),
    )


class RecordLink(TenantScoped, Base):
    """Lineage between records: what a conversion made (or linked) from a record, one row per target."""

    __tablename__ = "record_links"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # converted
    conversion: Mapped[str] = mapped_column(KEY)
    target: Mapped[str] = mapped_column(KEY)  # the conversion's name for the record made
    from_entity: Mapped[str] = mapped_column(KEY)
    from_id: Mapped[str] = mapped_column(ID)
    to_entity: Mapped[str] = mapped_column(KEY)
    to_id: Mapped[str] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(16))  # created | linked
    actor_id: Mapped[str | None] = mapped_column(ID)
    at: Mapped[datetime]

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "from_id"], ["records.tenant_id", "records.id"],
                             name="fk_record_links_from_records"),
        ForeignKeyConstraint(["tenant_id", "to_id"], ["records.tenant_id", "records.id"],
                             name="fk_record_links_to_records"),
        UniqueConstraint("tenant_id", "from_id", "conversion", "target"),  # a record converts once
        Index("ix_record_links_to", "tenant_id", "to_id"),
    )


class PoolEvent(TenantScoped, Base):
    """One movement of a record into, out of or within a pool: claim, release, recycle, push, assign,
    transfer, or a warning that it will be recycled."""

    __tablename__ = "pool_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # a sweep's events: its id, then the record's
    pool: Mapped[str] = mapped_column(KEY)
    entity: Mapped[str] = mapped_column(KEY)
    record_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(16))
    from_owner: Mapped[str | None] = mapped_column(ID)
    to_owner: Mapped[str | None] = mapped_column(ID)
    reason: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(String(2000))
    cleared: Mapped[dict[str, Any] | None]  # the values `on_return` removed, as they were
    actor_id: Mapped[str | None] = mapped_column(ID)
    at: Mapped[datetime]

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "record_id"], ["records.tenant_id", "records.id"]),
        Index("ix_pool_events_record", "tenant_id", "record_id", "at"),  # history, cooldowns
        Index("ix_pool_events_claims", "tenant_id", "to_owner", "pool", "at",  # claims per day: only claims
              postgresql_where=text("kind = 'claim'"), sqlite_where=text("kind = 'claim'")),
    )


class PoolCursor(TenantScoped, Base):
    """Where a push pool's round robin stands: the last user it gave a record to (locked while read)."""

    __tablename__ = "pool_cursors"

    pool: Mapped[str] = mapped_column(KEY, primary_key=True)
    last_user: Mapped[str | None] = mapped_column(ID)
    turns: Mapped[int] = mapped_column(default=0)

    __table_args__ = (ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),)


class ApprovalInstance(TenantScoped, Base):
    """One request for approval: the flow, the record, what takes effect on approval, where it stands."""

    __tablename__ = "approval_instances"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    flow: Mapped[str] = mapped_column(KEY)
    entity: Mapped[str] = mapped_column(KEY)
    record_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected | recalled
    step: Mapped[int]  # the index of the current step in the flow
    round: Mapped[int]  # how many times a step was opened: the current step's tasks carry this number
    request: Mapped[dict[str, Any]]  # {"kind": stage | fields | manual | conversion, ...what takes effect}
    submitter_id: Mapped[str | None] = mapped_column(ID)
    pending_key: Mapped[str | None] = mapped_column(String(100))  # record:flow while pending: one at a time
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    version: Mapped[int]

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "record_id"], ["records.tenant_id", "records.id"]),
        UniqueConstraint("tenant_id", "pending_key"),
        Index("ix_approval_instances_record", "tenant_id", "record_id", "created_at"),
    )


class ApprovalTask(TenantScoped, Base):
    """One approver's part in one step of a request."""

    __tablename__ = "approval_tasks"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    instance_id: Mapped[str] = mapped_column(ID)
    step: Mapped[int]
    round: Mapped[int]  # which opening of the step (a step sent back to opens again): only its tasks count
    approver_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16))  # open | approved | rejected | delegated | closed | expired
    delegated_from: Mapped[str | None] = mapped_column(ID)
    comment: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "instance_id"], ["approval_instances.tenant_id", "approval_instances.id"]),
        Index("ix_approval_tasks_inbox", "tenant_id", "approver_id", "status"),
        Index("ix_approval_tasks_instance", "tenant_id", "instance_id", "step"),
        Index("ix_approval_tasks_due", "tenant_id", "status", "due_at"),
    )


class RecordUniqueValue(TenantScoped, Base):
    """One claimed value of a `unique` field; the primary key makes two claims of it impossible."""

    __tablename__ = "record_unique_values"

    entity: Mapped[str] = mapped_column(KEY, primary_key=True)
    field: Mapped[str] = mapped_column(KEY, primary_key=True)
    value_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(ID)

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "record_id"], ["records.tenant_id", "records.id"]),
        Index("ix_record_unique_values_record", "tenant_id", "record_id"),
    )


class AuditEntry(TenantScoped, Base):
    """Who changed what and when: one row per create, update, delete and restore."""

    __tablename__ = "audit_log"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    entity: Mapped[str] = mapped_column(KEY)
    record_id: Mapped[str] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(ID)
    at: Mapped[datetime]
    record_version: Mapped[int]
    config_version: Mapped[int]
    changes: Mapped[dict[str, Any]]

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        Index("ix_audit_log_record", "tenant_id", "record_id", "id"),
    )


class AutomationRun(TenantScoped, Base):
    """One automation's run on one record: what triggered it and how it ended (done, failed, depth_limit)."""

    __tablename__ = "automation_runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    automation: Mapped[str] = mapped_column(KEY)
    entity: Mapped[str] = mapped_column(KEY)
    record_id: Mapped[str] = mapped_column(ID)
    event: Mapped[str] = mapped_column(String(32))
    depth: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]]
    actor_id: Mapped[str | None] = mapped_column(ID)
    at: Mapped[datetime]

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        Index("ix_automation_runs_record", "tenant_id", "record_id", "id"),
        Index("ix_automation_runs_automation", "tenant_id", "automation", "id"),
    )


class OutboxMessage(TenantScoped, Base):
    """A notification or event to deliver, written in the transaction of the change that caused it."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipients: Mapped[dict[str, Any]]  # {"users": [user ids]}
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        Index("ix_outbox_unsent", "tenant_id", "sent_at", "id"),
    )
