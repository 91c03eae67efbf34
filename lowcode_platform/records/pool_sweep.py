"""The pool sweep: owned records that meet their pool's recycle rule go back to the pool, and owners are
warned of records that will meet it within the pool's `warn_days`.

Set-based: each pool's rule compiles to SQL (`rules.sql`) and one statement moves every due record,
one writes their pool events, and one outbox notification goes to each former owner; no Python loop
over records. On PostgreSQL the move and its events are one statement (a data-modifying CTE that locks
the due rows), so a record claimed or worked meanwhile is either moved with its event or left alone.
SQLite runs one write transaction at a time, so its statements cannot interleave with another's.

The sweep is idempotent (a moved record is no longer owned, a warned one carries `pool_warned_at`),
and several workers may run it at once: each tenant is swept under a lock on its row that other
workers skip (`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, literal, not_, null, or_, select, update
from sqlalchemy.orm import Session

from lowcode_platform.configuration import TenantConfig
from lowcode_platform.pools.definition import Pool
from lowcode_platform.rules.sql import to_sql
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.json_fields import json_without
from lowcode_platform.storage.tables import OutboxMessage, PoolEvent, Record, Tenant

EVENT_COLUMNS = ["tenant_id", "id", "pool", "entity", "record_id", "kind", "from_owner", "to_owner", "reason",
                 "actor_id", "at"]


def _holds(expression: ColumnElement[bool]) -> ColumnElement[bool]:
    """True where the expression is true; false where it is false or unknown (null)."""
    return case((expression, 1), else_=0) == 1


def due(pool: Pool, tenant_id: str, at: datetime) -> ColumnElement[bool]:
    """The owned records of the pool's entity that its recycle rule sends back at `at`."""
    recycle = pool.recycle
    reasons: list[ColumnElement[bool]] = [to_sql(rule.condition)(at) for rule in recycle.rules]
    if recycle.protection is not None:
        days = recycle.protection.days
        reasons.append(or_(Record.protected_until <= at,
                           and_(Record.protected_until.is_(None), Record.owned_at <= at - timedelta(days=days))))
    clauses = [Record.tenant_id == tenant_id, Record.entity == pool.entity, Record.owner_id.isnot(None),
               Record.deleted_at.is_(None), _holds(or_(*reasons))]
    if pool.scope is not None:
        clauses.append(_holds(to_sql(pool.scope.condition)(at)))
    if recycle.exempt is not None:
        clauses.append(not_(_holds(to_sql(recycle.exempt.condition)(at))))
    return and_(*clauses)


def _reason(pool: Pool, at: datetime) -> ColumnElement[str]:
    """Which rule sent the record back: `rule_<n>` (from 1, in config order) or `protection_expired`."""
    whens = [(_holds(to_sql(rule.condition)(at)), f"rule_{i}") for i, rule in enumerate(pool.recycle.rules, 1)]
    return case(*whens, else_="protection_expired") if whens else literal("protection_expired")


def _notify(session: Session, tenant_id: str, prefix: str, kind: str, pool: Pool, now: datetime) -> int:
    """One outbox notification per former owner of the records an event batch (`prefix`) names; how many
    records the batch moved."""
    owners = session.execute(select(PoolEvent.from_owner, func.count()).where(
        PoolEvent.tenant_id == tenant_id, PoolEvent.id.startswith(prefix)).group_by(PoolEvent.from_owner)).all()
    if owners:
        session.execute(insert(OutboxMessage), [{
            "tenant_id": tenant_id, "id": new_id(), "kind": "notification", "recipients": {"users": [owner]},
            "created_at": now, "sent_at": None,
            "payload": {"event": f"pool.{kind}", "pool": pool.key, "entity": pool.entity, "records": count,
                        "batch": prefix, "label": pool.label.to_json()}} for owner, count in owners])
    return sum(count for _, count in owners)


def _move(session: Session, pool: Pool, tenant_id: str, selected: ColumnElement[bool], values: dict[str, Any],
          kind: str, reason: ColumnElement[str] | None, actor_id: str | None, now: datetime) -> int:
    """Apply `values` to the selected records and write a pool event for each; how many moved."""
    prefix = new_id()[:13] + kind[0]  # events of this batch: the prefix, then the record's id
    connection = session.connection()  # Core statements: each is exactly the SQL written here
    event_values = [literal(tenant_id), literal(prefix) + Record.id, literal(pool.key), literal(pool.entity),
                    Record.id, literal(kind), Record.owner_id, null(), reason if reason is not None else null(),
                    literal(actor_id), literal(now, Record.created_at.type)]
    if session.get_bind().dialect.name == "postgresql":
        old = select(Record.tenant_id, Record.id, Record.owner_id, *( [reason.label("reason")] if reason is not None else []))\
            .where(selected).with_for_update(of=Record).subquery("old")
        moved = (update(Record).where(Record.tenant_id == old.c.tenant_id, Record.id == old.c.id)
                 .values(**values)
                 .returning(Record.id, old.c.owner_id, *([old.c.reason] if reason is not None else []))
                 .cte("moved"))
        columns = [literal(tenant_id), literal(prefix) + moved.c.id, literal(pool.key), literal(pool.entity),
                   moved.c.id, literal(kind), moved.c.owner_id, null(),
                   moved.c.reason if reason is not None else null(), literal(actor_id),
                   literal(now, Record.created_at.type)]
        connection.execute(insert(PoolEvent).from_select(EVENT_COLUMNS, select(*columns)))
    else:
        connection.execute(insert(PoolEvent).from_select(EVENT_COLUMNS, select(*event_values).where(selected)))
        connection.execute(update(Record).where(selected).values(**values))
    return _notify(session, tenant_id, prefix, kind, pool, now)


def sweep_pool(session: Session, pool: Pool, tenant_id: str, now: datetime, actor_id: str | None = None) -> dict[str, int]:
    """Recycle the pool's due records and warn the owners of those due within `warn_days`."""
    if not pool.recycle.active:
        return {"recycled": 0, "warned": 0}
    values: dict[str, Any] = {"owner_id": None, "pool": pool.key, "owned_at": None, "pool_warned_at": None,
                              "protected_until": None, "updated_at": now, "updated_by": actor_id,
                              "version": Record.version + 1}
    if pool.clear_on_return:
        values["data"] = json_without(pool.clear_on_return)
    recycled = _move(session, pool, tenant_id, due(pool, tenant_id, now), values, "recycle", _reason(pool, now),
                     actor_id, now)
    warned = 0
    if pool.recycle.warn_days:
        soon = and_(due(pool, tenant_id, now + timedelta(days=pool.recycle.warn_days)),
                    Record.pool_warned_at.is_(None), not_(due(pool, tenant_id, now)))
        warned = _move(session, pool, tenant_id, soon, {"pool_warned_at": now}, "warn", None, actor_id, now)
    return {"recycled": recycled, "warned": warned}


def sweep_tenant(session: Session, config: TenantConfig, tenant_id: str, now: datetime,
                 actor_id: str | None = None) -> dict[str, Any] | None:
    """Sweep every pool of the tenant in one transaction; None when another worker is sweeping it."""
    locked = session.execute(select(Tenant.id).where(Tenant.id == tenant_id)
                             .with_for_update(skip_locked=True)).first()
    if locked is None:
        session.rollback()
        return None
    try:
        pools = {pool.key: sweep_pool(session, pool, tenant_id, now, actor_id) for pool in _swept(config)}
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return {"pools": pools, "at": now}


def _swept(config: TenantConfig) -> Iterable[Pool]:
    return (pool for pool in config.pools.pools.values() if pool.recycle.active)
