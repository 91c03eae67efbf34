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

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from lowcode_platform.configuration import TenantConfig
from lowcode_platform.pools.definition import Pool
from lowcode_platform.rules.sql import to_sql
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.json_fields import json_values, json_without
from lowcode_platform.storage.tables import OutboxMessage, PoolEvent, Record, Tenant
from lowcode_platform.storage.types import JSONDocument

EVENT_COLUMNS = ["tenant_id", "id", "pool", "entity", "record_id", "kind", "from_owner", "to_owner", "reason",
                 "cleared", "actor_id", "at"]


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
    # an unknown (null) verdict keeps a record, as false does: in a WHERE both leave the row out
    clauses = [Record.tenant_id == tenant_id, Record.entity == pool.entity, Record.owner_id.isnot(None),
               Record.deleted_at.is_(None), or_(*reasons)]
    if pool.scope is not None:
        clauses.append(to_sql(pool.scope.condition)(at))
    if recycle.exempt is not None:
        clauses.append(not_(_holds(to_sql(recycle.exempt.condition)(at))))
    return and_(*clauses)


def _reason(pool: Pool, at: datetime) -> ColumnElement[str]:
    """Which rule sent the record back: `rule_<n>` (from 1, in config order) or `protection_expired`."""
    rules = pool.recycle.rules
    if len(rules) == 1 and pool.recycle.protection is None:
        return literal("rule_1")
    whens = [(_holds(to_sql(rule.condition)(at)), f"rule_{i}") for i, rule in enumerate(rules, 1)]
    return case(*whens, else_="protection_expired") if whens else literal("protection_expired")


def _notify(session: Session, tenant_id: str, owners: list[Any], kind: str, pool: Pool, batch: str,
            now: datetime) -> int:
    """One outbox notification per former owner with how many of their records the batch moved; the total."""
    if owners:
        session.execute(insert(OutboxMessage), [{
            "tenant_id": tenant_id, "id": new_id(), "kind": "notification", "recipients": {"users": [owner]},
            "created_at": now, "sent_at": None,
            "payload": {"event": f"pool.{kind}", "pool": pool.key, "entity": pool.entity, "records": count,
                        "batch": batch, "label": pool.label.to_json()}} for owner, count in owners])
    return sum(count for _, count in owners)


def _move(session: Session, pool: Pool, tenant_id: str, selected: ColumnElement[bool], values: dict[str, Any],
          kind: str, reason: ColumnElement[str] | None, actor_id: str | None, now: datetime,
          cleared: tuple[str, ...] = ()) -> int:
    """Apply `values` to the selected records and write a pool event for each (with the rule that held and
    the values of the `cleared` fields, both as they were before); how many moved."""
    batch = new_id()[:13] + kind[0]  # the ids of this batch's events: `batch`, then the record's id
    connection = session.connection()  # Core statements: each is exactly the SQL written here
    before = [Record.id, Record.owner_id.label("owner"), (reason if reason is not None else null()).label("reason"),
              (json_values(cleared) if cleared else cast(null(), JSONDocument)).label("cleared")]

    def event(source: Any) -> list[Any]:
        return [literal(tenant_id), literal(batch) + source.id, literal(pool.key), literal(pool.entity), source.id,
                literal(kind), source.owner, null(), source.reason, source.cleared, literal(actor_id),
                literal(now, Record.created_at.type)]

    if session.get_bind().dialect.name == "postgresql":
        # one statement: the rows are updated (each locked, and checked again, as it is), their events written
        # from what the update returns, and the count per former owner read from it. What the event tells of
        # the record as it was (the rule that held, the values cleared) comes from a read of the same rows.
        if isinstance(reason, BindParameter) and not cleared:
            moved = (update(Record).where(selected).values(**values)
                     .returning(Record.id, Record.previous_owner_id.label("owner") if "owner_id" in values
                                else Record.owner_id.label("owner"), reason.label("reason"),
                                cast(null(), JSONDocument).label("cleared")).cte("moved"))
        else:
            old = select(*before).where(selected).subquery("old")
            moved = (update(Record).where(Record.tenant_id == tenant_id, Record.id == old.c.id, selected)
                     .values(**values).returning(Record.id, old.c.owner, old.c.reason, old.c.cleared).cte("moved"))
        events = insert(PoolEvent).from_select(EVENT_COLUMNS, select(*event(moved.c))).cte("events")
        owners = list(connection.execute(select(moved.c.owner, func.count()).add_cte(events)
                                         .group_by(moved.c.owner)).all())
    else:  # SQLite runs one write transaction at a time: these statements see the same rows
        old = select(*before).where(selected).subquery()
        connection.execute(insert(PoolEvent).from_select(EVENT_COLUMNS, select(*event(old.c))))
        connection.execute(update(Record).where(selected).values(**values))
        end = batch[:-1] + chr(ord(batch[-1]) + 1)  # the batch's ids, as a range of the primary key
        owners = list(connection.execute(select(PoolEvent.from_owner, func.count()).where(
            PoolEvent.tenant_id == tenant_id, PoolEvent.id >= batch, PoolEvent.id < end)
            .group_by(PoolEvent.from_owner)).all())
    return _notify(session, tenant_id, owners, kind, pool, batch, now)


def sweep_pool(session: Session, pool: Pool, tenant_id: str, now: datetime, actor_id: str | None = None) -> dict[str, int]:
    """Recycle the pool's due records and warn the owners of those due within `warn_days`."""
    if not pool.recycle.active:
        return {"recycled": 0, "warned": 0}
    # owned_at stays (when the last owner got it), so a rule read back in RETURNING sees the same clocks;
    # a claim resets the owner's clocks, its warning and protection
    values: dict[str, Any] = {"owner_id": None, "previous_owner_id": Record.owner_id, "pool": pool.key,
                              "updated_at": now, "updated_by": actor_id, "version": Record.version + 1}
    if pool.clear_on_return:
        values["data"] = json_without(pool.clear_on_return)
    recycled = _move(session, pool, tenant_id, due(pool, tenant_id, now), values, "recycle", _reason(pool, now),
                     actor_id, now, pool.clear_on_return)
    warned = 0
    if pool.recycle.warn_days:
        soon = and_(due(pool, tenant_id, now + timedelta(days=pool.recycle.warn_days)),
                    Record.pool_warned_at.is_(None), not_(_holds(due(pool, tenant_id, now))))
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
