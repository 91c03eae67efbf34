"""Push pools: which member gets a record the platform assigns, and where a new record goes.

Candidates are the pool's active members below their cap. `round_robin` and `weighted` keep their
position in the pool's cursor row, locked while read, so two records pushed at once go to two turns;
`least_loaded` takes the member owning the fewest records of the entity; `rules` sends a record to the
user or team its first matching rule names (within a team, the least loaded).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from lowcode_platform.configuration import TenantConfig
from lowcode_platform.pools.definition import Pool
from lowcode_platform.records.ownership import lock_user
from lowcode_platform.rules.python import Facts
from lowcode_platform.storage.tables import PoolCursor, Record, Team, User


def members(session: Session, tenant_id: str, pool: Pool) -> list[str]:
    """Ids of the pool's active members (by role, team name, user id or name), in id order."""
    audience = pool.members
    teams = select(Team.id).where(Team.tenant_id == tenant_id, Team.name.in_(audience.teams))
    return list(session.scalars(select(User.id).where(
        User.tenant_id == tenant_id, User.active.is_(True),
        or_(User.role.in_(audience.roles), User.team_id.in_(teams), User.id.in_(audience.users),
            User.name.in_(audience.users))).order_by(User.id)))


def _loads(session: Session, tenant_id: str, entity: str, users: list[str], count_won: bool) -> dict[str, int]:
    statement = select(Record.owner_id, func.count()).where(
        Record.tenant_id == tenant_id, Record.entity == entity, Record.owner_id.in_(users),
        Record.deleted_at.is_(None)).group_by(Record.owner_id)
    if not count_won:
        statement = statement.where(Record.deal_at.is_(None))
    found = dict(session.execute(statement).all())
    return {user: found.get(user, 0) for user in users}


def _cursor(session: Session, tenant_id: str, pool: Pool) -> PoolCursor:
    cursor = session.scalar(select(PoolCursor).where(PoolCursor.tenant_id == tenant_id, PoolCursor.pool == pool.key)
                            .with_for_update())
    if cursor is None:
        session.execute(insert(PoolCursor).values(tenant_id=tenant_id, pool=pool.key, last_user=None, turns=0))
        cursor = session.scalar(select(PoolCursor).where(PoolCursor.tenant_id == tenant_id,
                                                         PoolCursor.pool == pool.key).with_for_update())
    assert cursor is not None
    return cursor


def allocate(session: Session, config: TenantConfig, tenant_id: str, pool: Pool, facts: Facts,
             now: datetime) -> str | None:
    """The member who gets the record, or None when every member is at their cap (it stays in the pool)."""
    cap, count_won = config.pools.cap(pool.entity)
    if pool.limits.owner_cap is not None and (cap is None or pool.limits.owner_cap < cap):
        cap, count_won = pool.limits.owner_cap, pool.limits.count_won
    everyone = members(session, tenant_id, pool)
    strategy = pool.allocation.strategy
    if strategy == "rules":
        rule = next((r for r in pool.allocation.rules if r.when.test(facts, now)), None)
        if rule is None:
            return None
        if rule.user is not None:
            named = session.scalar(select(User.id).where(User.tenant_id == tenant_id, User.active.is_(True),
                                                         or_(User.id == rule.user, User.name == rule.user)))
            everyone = [named] if named is not None else []
        else:
            team = select(Team.id).where(Team.tenant_id == tenant_id, Team.name == rule.team)
            everyone = list(session.scalars(select(User.id).where(
                User.tenant_id == tenant_id, User.active.is_(True), User.team_id.in_(team)).order_by(User.id)))
    if not everyone:
        return None
    cursor = _cursor(session, tenant_id, pool) if strategy in ("round_robin", "weighted") else None
    for user in everyone:  # each candidate's gains wait for this one: their caps hold
        lock_user(session, tenant_id, user)
    loads = _loads(session, tenant_id, pool.entity, everyone, count_won)
    free = [u for u in everyone if cap is None or loads[u] < cap]
    if not free:
        return None
    if strategy in ("least_loaded", "rules"):
        return min(free, key=lambda u: (loads[u], u))
    assert cursor is not None
    if strategy == "weighted":  # weights by user id or name
        names = dict(session.execute(select(User.id, User.name).where(User.tenant_id == tenant_id,
                                                                       User.id.in_(free))).all())
        weights = pool.allocation.weights
        turns = [u for u in free for _ in range(weights.get(u, weights.get(names.get(u, ""), 1)))]
        if not turns:
            return None
        chosen = turns[cursor.turns % len(turns)]
    else:
        chosen = next((u for u in free if cursor.last_user is None or u > cursor.last_user), free[0])
    cursor.last_user, cursor.turns = chosen, cursor.turns + 1
    session.flush()
    return chosen


def intake_pool(config: TenantConfig, entity: str, facts: Facts, now: datetime) -> Pool | None:
    """The first pool (config order) that takes in new records of `entity` and whose scope holds."""
    return next((p for p in config.pools.of(entity)
                 if p.intake and (p.scope is None or p.scope.test(facts, now))), None)


def placement(session: Session, config: TenantConfig, tenant_id: str, entity: str, facts: Facts, now: datetime,
              owner_id: str | None) -> tuple[str | None, Pool | None, Any]:
    """Where a new record goes: (its owner, the intake pool it entered, the pool event kind).

    A record whose creator is a member of the intake pool its scope routes it to stays with them; one
    created by anyone else (an admin, an import, an integration) enters the pool, and a push pool gives
    it to a member at once (it waits in the pool when every member is at their cap)."""
    pool = intake_pool(config, entity, facts, now)
    if pool is None or (owner_id is not None and owner_id in members(session, tenant_id, pool)):
        return owner_id, None, None
    if pool.pushes:
        chosen = allocate(session, config, tenant_id, pool, facts, now)
        if chosen is not None:
            return chosen, pool, "push"
    return None, pool, "enter"
