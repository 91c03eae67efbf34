"""Who may own how many records: the owner caps every change of owner passes, on every path.

A user gains records by creating them, claiming them from a pool, or being given them (an admin's
assignment or transfer, a push pool, an automation). Each path calls `check_gain` in its transaction
before writing the new owner: the user's row is locked first (PostgreSQL), so two transactions adding
records to one user count one after the other and the cap holds; SQLite runs one write transaction at
a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from lowcode_platform.configuration import TenantConfig
from lowcode_platform.errors import ConflictError, detail
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.json_fields import json_field
from lowcode_platform.storage.tables import PoolEvent, Record, User


def owned_count(session: Session, tenant_id: str, entity: str, user_id: str, count_won: bool) -> int:
    """Live records of `entity` the user owns (those with a won deal left out unless `count_won`)."""
    statement = select(func.count()).select_from(Record).where(
        Record.tenant_id == tenant_id, Record.entity == entity, Record.owner_id == user_id,
        Record.deleted_at.is_(None))
    if not count_won:
        statement = statement.where(Record.deal_at.is_(None))
    return session.scalar(statement) or 0


def lock_user(session: Session, tenant_id: str, user_id: str) -> Any:
    """The user's row, locked until the transaction ends (None for no such user)."""
    return session.execute(select(User.id, User.active, User.name).where(
        User.tenant_id == tenant_id, User.id == user_id).with_for_update()).first()


def check_gain(session: Session, config: TenantConfig, tenant_id: str, entity: str, user_id: str,
               count: int = 1, cap: int | None = None, count_won: bool | None = None, won: int = 0) -> None:
    """Refuse (409 `owner_cap`) when `count` more records of `entity` (`won` of them with a won deal) would
    take the user past their cap: the lowest of the tenant's, the entity's pools' and `cap`."""
    lowest, counts_won = config.pools.cap(entity)
    if cap is not None and (lowest is None or cap < lowest):
        lowest, counts_won = cap, counts_won if count_won is None else count_won
    if lowest is None:
        return
    if not counts_won:
        count -= won
    lock_user(session, tenant_id, user_id)
    owned = owned_count(session, tenant_id, entity, user_id, counts_won)
    if owned + count > lowest:
        raise ConflictError("the owner would hold more records than allowed",
                            [detail("", "owner_cap", cap=lowest, owned=owned, adding=count)])


def left_recently(session: Session, tenant_id: str, record_id: str, user_id: str, days: int,
                  now: datetime) -> datetime | None:
    """When the record last left the user, if that was less than `days` days ago (their cooldown)."""
    if days <= 0:
        return None
    return session.scalar(select(func.max(PoolEvent.at)).where(
        PoolEvent.tenant_id == tenant_id, PoolEvent.record_id == record_id, PoolEvent.from_owner == user_id,
        PoolEvent.kind.in_(("release", "recycle", "assign", "transfer")),
        PoolEvent.at > now - timedelta(days=days)))


def pool_event(session: Session, row: Any, pool: str, kind: str, from_owner: str | None, to_owner: str | None,
               actor_id: str | None, now: datetime, reason: str | None = None, comment: str | None = None,
               cleared: dict[str, Any] | None = None) -> None:
    """One movement of a record into, out of or within a pool (`cleared`: the values `on_return` removed)."""
    session.execute(insert(PoolEvent).values(
        tenant_id=row.tenant_id, id=new_id(), pool=pool, entity=row.entity, record_id=row.id, kind=kind,
        from_owner=from_owner, to_owner=to_owner, reason=reason, comment=comment, cleared=cleared,
        actor_id=actor_id, at=now))


def record_pool_event(session: Session, config: TenantConfig, row: Record, pool_key: str | None, kind: str,
                      from_owner: str | None, to_owner: str | None, actor_id: str | None, now: datetime) -> None:
    """A change of owner outside a pool's own endpoints (an automation's assignment), as a pool event of
    the pool the record was in, else the entity's first pool; nothing for an entity without pools."""
    pool = config.pools.get(pool_key) or next(iter(config.pools.of(row.entity)), None)
    if pool is not None:
        pool_event(session, row, pool.key, kind, from_owner, to_owner, actor_id, now)


def extend_protection(session: Session, config: TenantConfig, tenant_id: str, entity: str, record_id: str) -> None:
    """An activity logged for an owned record extends its protection period (the entity's first pool with
    the protection model): `extend_days` more, never beyond `max_days` from when its owner got it."""
    pool = next((p for p in config.pools.of(entity) if p.recycle.protection is not None), None)
    protection = pool.recycle.protection if pool is not None else None
    if protection is None or not protection.extend_days:
        return
    row = session.execute(select(Record.protected_until, Record.owned_at).where(
        Record.tenant_id == tenant_id, Record.id == record_id, Record.owner_id.isnot(None))).first()
    if row is None or row.owned_at is None:
        return
    until = (row.protected_until or row.owned_at + timedelta(days=protection.days)) + timedelta(days=protection.extend_days)
    if protection.max_days is not None:
        until = min(until, row.owned_at + timedelta(days=protection.max_days))
    session.execute(update(Record).where(Record.tenant_id == tenant_id, Record.id == record_id)
                    .values(protected_until=until).execution_options(synchronize_session=False))


def backfill_deals(session: Session, config: TenantConfig, tenant_id: str) -> int:
    """Stamp `deal_at` on the records that won deals refer to (a customer, a contact), from the deals' `won_at`,
    where it is missing or older: what `StageService` does for each deal won from now on, done once for the
    deals won before. Set-based: one UPDATE per reference field of each pipeline entity. How many rows changed."""
    changed = 0
    for entity_key in {p.entity for p in config.pipelines.pipelines.values()}:
        entity = config.entities[entity_key]
        for field in (f for f in entity.fields.values() if f.type == "reference"):
            won = (select(json_field(field.key, "text").label("ref"), func.max(Record.won_at).label("won"))
                   .where(Record.tenant_id == tenant_id, Record.entity == entity_key, Record.won_at.isnot(None),
                          Record.deleted_at.is_(None))
                   .group_by(json_field(field.key, "text")).subquery("won"))
            changed += session.connection().execute(
                update(Record).where(Record.tenant_id == tenant_id, Record.id == won.c.ref,
                                     (Record.deal_at.is_(None)) | (Record.deal_at < won.c.won))
                .values(deal_at=won.c.won)).rowcount or 0
    return changed
