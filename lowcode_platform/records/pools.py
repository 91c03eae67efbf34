"""Pools at runtime: listing a pool, claiming, releasing, an admin's assignment and transfer, a record's
pool history. Each is one transaction; every movement is a pool event, an audit row, and events for
automations.

A record in a pool has no owner and `pool` set to the pool's key; an owned record has `pool` null.
Claims are race-safe: the record's row is locked and the owner is written only where it is still
null, so of several users claiming one record exactly one wins; caps hold through `ownership`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal_column, or_, select, update

from lowcode_platform.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RecordInvalidError,
    detail,
)
from lowcode_platform.pools.definition import Pool
from lowcode_platform.records.allocation import members
from lowcode_platform.records.automations import Event
from lowcode_platform.records.derive import system_values
from lowcode_platform.records.listing import encode_cursor, order_and_seek, parse_list_query
from lowcode_platform.records.ownership import check_gain, left_recently, lock_user, pool_event
from lowcode_platform.records.service import Page, RecordService, RecordView
from lowcode_platform.records.views import sees_pii, visible_data
from lowcode_platform.schema import EntityDef
from lowcode_platform.storage.tables import PoolEvent, Record, Team, User

TEXT_LIMITS = {"reason": 200, "comment": 2000}


class PoolService:
    """The pools of one tenant, as one actor works them."""

    def __init__(self, records: RecordService) -> None:
        self.records = records
        self.config = records.config
        self.actor = records.actor
        self.session = records.session

    # -- who may do what -----------------------------------------------------------------------

    def _team_name(self) -> str | None:
        if self.actor.team_id is None:
            return None
        return self.session.scalar(select(Team.name).where(Team.tenant_id == self.actor.tenant_id,
                                                           Team.id == self.actor.team_id))

    def _in(self, audience: Any) -> bool:
        actor = self.actor
        return (audience.includes(actor.role.key, self._team_name(), actor.user_id)
                or actor.name in audience.users)

    def is_admin(self, pool: Pool) -> bool:
        return self.actor.role.admin or self._in(pool.admins)

    def is_member(self, pool: Pool) -> bool:
        return self.is_admin(pool) or self._in(pool.members)

    def pool(self, key: str) -> Pool:
        """A pool the actor works in (404 for one they are not a member or admin of: it is not theirs to see)."""
        pool = self.config.pools.get(key)
        if pool is None or not self.is_member(pool):
            raise NotFoundError(f"no pool {key!r}")
        return pool

    def _admin_pool(self, key: str) -> Pool:
        pool = self.pool(key)
        if not self.is_admin(pool):
            raise PermissionDeniedError("only the pool's admins may do this", [detail("", "pool_admin_only")])
        return pool

    # -- reads ---------------------------------------------------------------------------------

    def pools(self) -> list[dict[str, Any]]:
        """The pools the actor works in, with how many records each holds."""
        mine = [p for p in self.config.pools.pools.values() if self.is_member(p)]
        counts = dict(self.session.execute(
            select(Record.pool, func.count()).where(Record.tenant_id == self.actor.tenant_id,
                                                    Record.pool.in_([p.key for p in mine]),
                                                    Record.owner_id.is_(None), Record.deleted_at.is_(None))
            .group_by(Record.pool)).all()) if mine else {}
        return [{"key": p.key, "entity": p.entity, "label": p.label.to_json(), "mode": p.mode,
                 "records": counts.get(p.key, 0), "admin": self.is_admin(p),
                 "release_reasons": [{"value": v, "label": label.to_json()} for v, label in p.reasons.items()],
                 "limits": {"owner_cap": self.config.pools.cap(p.entity)[0],
                            "claims_per_day": p.limits.claims_per_day, "cooldown_days": p.limits.cooldown_days}}
                for p in mine]

    def _shown(self, pool: Pool, entity: EntityDef, row: Record) -> RecordView:
        """A pool record as a member sees it: pii masked as for a record they do not own, the pool's
        hidden fields left out until they own it."""
        data, masked = visible_data(entity, row.data, sees_pii(self.actor, row.owner_id))
        hidden = pool.hidden_fields if row.owner_id != self.actor.user_id else frozenset()
        return RecordView(row, {k: v for k, v in data.items() if k not in hidden},
                          [k for k in masked if k not in hidden])

    def records_in(self, key: str, args: Mapping[str, str]) -> Page:
        """One page of the records in the pool, filtered and sorted as record lists are (`where`, `sort`)."""
        pool = self.pool(key)
        entity = self.config.entities[pool.entity]
        query = parse_list_query(entity, args, pii_visible=False, scope=self.config.rules.scopes[entity.key],
                                 now=self.records.clock(), hidden=pool.hidden_fields)
        order, seek = order_and_seek(entity, query)
        statement = select(Record).where(Record.tenant_id == self.actor.tenant_id, Record.entity == entity.key,
                                         Record.pool == pool.key, Record.owner_id.is_(None),
                                         Record.deleted_at.is_(None), *query.filters)
        if seek is not None:
            statement = statement.where(seek)
        rows = list(self.session.scalars(statement.order_by(*order).limit(query.limit + 1)))
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        cursor = encode_cursor(query.sort, rows[-1], entity) if more else None
        return Page([self._shown(pool, entity, row) for row in rows], cursor)

    def history(self, entity_key: str, record_id: str) -> list[dict[str, Any]]:
        """The record's pool events, oldest first: former owners, reasons and dates (for anyone who may
        read the record, and for the members of the pool it is in)."""
        entity = self.config.entities.get(entity_key)
        if entity is None:
            raise NotFoundError(f"no entity {entity_key!r}")
        row = self.session.scalar(select(Record).where(Record.tenant_id == self.actor.tenant_id,
                                                       Record.entity == entity_key, Record.id == record_id,
                                                       Record.deleted_at.is_(None)))
        pool = self.config.pools.get(row.pool) if row is not None else None
        if row is None or not (pool is not None and self.is_member(pool)):
            self.records.get(entity_key, record_id)  # 404 or 403 unless the actor may read it
        events = self.session.scalars(select(PoolEvent).where(
            PoolEvent.tenant_id == self.actor.tenant_id, PoolEvent.record_id == record_id)
            .order_by(PoolEvent.at, PoolEvent.id))
        names = dict(self.session.execute(select(User.id, User.name).where(User.tenant_id == self.actor.tenant_id)).all())
        admin = self.actor.role.admin  # the values `on_return` cleared may be personal: only tenant admins see them
        return [{"pool": e.pool, "kind": e.kind, "from_owner": e.from_owner, "from_owner_name": names.get(e.from_owner),
                 "to_owner": e.to_owner, "to_owner_name": names.get(e.to_owner), "reason": e.reason,
                 "comment": e.comment, "actor_id": e.actor_id, "at": e.at,
                 "cleared_fields": sorted(e.cleared or {}), "cleared": (e.cleared or None) if admin else None}
                for e in events]

    # -- movements -----------------------------------------------------------------------------

    def claim(self, key: str, body: Any) -> RecordView:
        """Take a record of the pool: within the pool's cap, claims per day and cooldown."""
        pool = self.pool(key)
        record_id = self._id(body)
        if not pool.pulls:
            raise ConflictError("records of this pool are assigned, not claimed", [detail("", "pool_push_only")])
        return self.records.transaction(lambda: self._claim(pool, record_id))

    def _claim(self, pool: Pool, record_id: str) -> RecordView:
        now = self.records.clock()
        user = self.actor.user_id
        lock_user(self.session, self.actor.tenant_id, user)  # one gain of this user at a time
        row = self._pool_record(pool, record_id)
        since = left_recently(self.session, self.actor.tenant_id, row.id, user, pool.limits.cooldown_days, now)
        if since is not None:
            raise ConflictError("the record left you recently", [detail("", "pool_cooldown",
                                                                        days=pool.limits.cooldown_days)])
        if pool.limits.claims_per_day is not None:
            day = now.astimezone(ZoneInfo(self.config.timezone)).replace(hour=0, minute=0, second=0, microsecond=0)
            claimed = self.session.scalar(select(func.count()).select_from(PoolEvent).where(
                PoolEvent.tenant_id == self.actor.tenant_id, PoolEvent.to_owner == user,
                PoolEvent.kind == literal_column("'claim'"),  # a constant, so the partial index applies
                PoolEvent.pool == pool.key, PoolEvent.at >= day)) or 0
            if claimed >= pool.limits.claims_per_day:
                raise ConflictError("you claimed as many records as a day allows",
                                    [detail("", "claims_per_day", limit=pool.limits.claims_per_day)])
        check_gain(self.session, self.config, self.actor.tenant_id, pool.entity, user,
                   cap=pool.limits.owner_cap, count_won=pool.limits.count_won)
        self._take(pool, row, user, "claim", now)
        return self.records.view(self.config.entities[pool.entity], row)

    def release(self, key: str, body: Any) -> RecordView:
        """Give a record back to the pool, with one of the pool's reasons; its `on_return` fields are cleared."""
        pool = self.pool(key)
        body = self.records.as_object(body)
        record_id = self._id(body)
        reason, comment = self._texts(body)
        if pool.reasons and reason not in pool.reasons:
            raise RecordInvalidError("choose one of the pool's release reasons", [
                detail("/reason", "required") if reason is None else
                detail("/reason", "invalid_option", allowed=", ".join(pool.reasons))])
        return self.records.transaction(lambda: self._release(pool, record_id, reason, comment))

    def _release(self, pool: Pool, record_id: str, reason: str | None, comment: str | None) -> RecordView:
        now = self.records.clock()
        entity = self.config.entities[pool.entity]
        row = self._owned_record(pool, record_id)
        if row.owner_id != self.actor.user_id and not self.is_admin(pool):
            raise PermissionDeniedError("only the owner or the pool's admins may release a record",
                                        [detail("", "not_owner")])
        self._check_scope(pool, entity, row, now)
        self._give_back(pool, entity, row, "release", now, reason, comment)
        return self.records.view(entity, row)

    def assign(self, key: str, body: Any) -> RecordView:
        """An admin gives a record of the pool (or one owned by another user) to a member, within their cap."""
        pool = self._admin_pool(key)
        body = self.records.as_object(body)
        record_id, to = self._id(body), body.get("to")
        if not isinstance(to, str) or not to:
            raise RecordInvalidError("name the user to assign to", [detail("/to", "required")])
        return self.records.transaction(lambda: self._assign(pool, record_id, to))

    def _assign(self, pool: Pool, record_id: str, to: str) -> RecordView:
        now = self.records.clock()
        entity = self.config.entities[pool.entity]
        self._assignee(pool, to)
        row = self.session.scalar(select(Record).where(
            Record.tenant_id == self.actor.tenant_id, Record.entity == pool.entity, Record.id == record_id,
            Record.deleted_at.is_(None), or_(Record.pool == pool.key, Record.owner_id.isnot(None)))
            .with_for_update())
        if row is None:
            raise NotFoundError(f"no {pool.entity} record {record_id!r} in this pool")
        if row.owner_id == to:
            return self.records.view(entity, row)
        check_gain(self.session, self.config, self.actor.tenant_id, pool.entity, to,
                   cap=pool.limits.owner_cap, count_won=pool.limits.count_won)
        self._take(pool, row, to, "assign", now)
        return self.records.view(entity, row)

    def transfer(self, key: str, body: Any) -> dict[str, Any]:
        """An admin moves every record of the pool's entity a user owns to another user (within their cap)
        or back to the pool: `{"from": user, "to": user | null, "reason"}`."""
        pool = self._admin_pool(key)
        body = self.records.as_object(body)
        source, to = body.get("from"), body.get("to")
        if not isinstance(source, str) or not source:
            raise RecordInvalidError("name the user to transfer from", [detail("/from", "required")])
        if to is not None and not isinstance(to, str):
            raise RecordInvalidError("`to` is a user id or null", [detail("/to", "type", expected="a user id or null")])
        reason, comment = self._texts(body)
        return self.records.transaction(lambda: self._transfer(pool, source, to, reason, comment))

    def _transfer(self, pool: Pool, source: str, to: str | None, reason: str | None,
                  comment: str | None) -> dict[str, Any]:
        now = self.records.clock()
        entity = self.config.entities[pool.entity]
        lock_user(self.session, self.actor.tenant_id, source)
        rows = list(self.session.scalars(select(Record).where(
            Record.tenant_id == self.actor.tenant_id, Record.entity == pool.entity, Record.owner_id == source,
            Record.deleted_at.is_(None)).order_by(Record.id).with_for_update()))
        if to is not None:
            self._assignee(pool, to)
            check_gain(self.session, self.config, self.actor.tenant_id, pool.entity, to, len(rows),
                       cap=pool.limits.owner_cap, count_won=pool.limits.count_won,
                       won=sum(1 for r in rows if r.deal_at is not None))
        else:  # back to the pool: the records its scope takes; the others stay with their owner
            rows = [r for r in rows if self._fits(pool, entity, r, now)]
        for row in rows:
            if to is None:
                self._give_back(pool, entity, row, "transfer", now, reason, comment)
            else:
                self._take(pool, row, to, "transfer", now, reason, comment)
        return {"moved": len(rows), "from": source, "to": to, "ids": [r.id for r in rows]}

    # -- the writes ----------------------------------------------------------------------------

    def _take(self, pool: Pool, row: Record, user: str, kind: str, now: datetime,
              reason: str | None = None, comment: str | None = None) -> None:
        """`user` becomes the owner (the record leaves the pool); their clocks start now."""
        before = row.owner_id
        protection = pool.recycle.protection
        changed = self.session.execute(
            update(Record).where(Record.tenant_id == row.tenant_id, Record.id == row.id,
                                 Record.version == row.version)
            .values(owner_id=user, pool=None, owned_at=now, pool_warned_at=None,
                    protected_until=now + timedelta(days=protection.days) if protection else None,
                    updated_at=now, updated_by=self.actor.user_id, version=row.version + 1)
            .execution_options(synchronize_session=False)).rowcount
        if changed != 1:
            raise ConflictError("someone else took the record first", [detail("", "pool_taken")])
        self.session.expire(row)
        self._event(pool, row, kind, before, user, now, reason, comment)
        self.records.audit(row, kind, {"owner_id": [before, user], "pool": [pool.key if before is None else None, None]},
                           now)
        self.records.automations.run([Event("record.updated", pool.entity, row.id, frozenset({"owner", "pool"}), 0)])

    def _give_back(self, pool: Pool, entity: EntityDef, row: Record, kind: str, now: datetime,
                   reason: str | None, comment: str | None) -> None:
        """The record goes back to the pool without an owner; the pool's `on_return` fields are cleared."""
        before = row.owner_id
        cleared = {k: row.data[k] for k in pool.clear_on_return if row.data.get(k) is not None}
        if cleared:
            self.records.automations.run(self.records.change(entity, row, dict.fromkeys(cleared), now))
        self.records.write(row, owner_id=None, pool=pool.key, previous_owner_id=before, updated_at=now,
                           updated_by=self.actor.user_id)
        pool_event(self.session, row, pool.key, kind, before, None, self.actor.user_id, now, reason, comment,
                   cleared or None)
        self.records.audit(row, kind, {"owner_id": [before, None], "pool": [None, pool.key]}, now)
        self.records.automations.run([Event("record.updated", pool.entity, row.id, frozenset({"owner", "pool"}), 0)])

    def _event(self, pool: Pool, row: Record, kind: str, from_owner: str | None, to_owner: str | None,
               now: datetime, reason: str | None, comment: str | None) -> None:
        pool_event(self.session, row, pool.key, kind, from_owner, to_owner, self.actor.user_id, now, reason, comment)

    # -- helpers -------------------------------------------------------------------------------

    def _pool_record(self, pool: Pool, record_id: str) -> Record:
        """The record, locked, if it is in the pool now (409 when someone owns it, 404 when not in the pool)."""
        row = self.session.scalar(select(Record).where(
            Record.tenant_id == self.actor.tenant_id, Record.entity == pool.entity, Record.id == record_id,
            Record.deleted_at.is_(None)).with_for_update())
        if row is None or (row.pool != pool.key and row.owner_id is None):
            raise NotFoundError(f"no {pool.entity} record {record_id!r} in this pool")
        if row.owner_id is not None:
            raise ConflictError("someone else owns the record", [detail("", "pool_taken")])
        return row

    def _owned_record(self, pool: Pool, record_id: str) -> Record:
        row = self.session.scalar(select(Record).where(
            Record.tenant_id == self.actor.tenant_id, Record.entity == pool.entity, Record.id == record_id,
            Record.deleted_at.is_(None)).with_for_update())
        if row is None or (row.owner_id != self.actor.user_id and not self.is_admin(pool)):
            raise NotFoundError(f"no {pool.entity} record {record_id!r} of yours")
        if row.owner_id is None:
            raise ConflictError("the record is in a pool already", [detail("", "pool_not_owned")])
        return row

    def _fits(self, pool: Pool, entity: EntityDef, row: Record, now: datetime) -> bool:
        return pool.scope is None or pool.scope.test(self.records.facts(entity, row.data, system_values(row)), now)

    def _check_scope(self, pool: Pool, entity: EntityDef, row: Record, now: datetime) -> None:
        if not self._fits(pool, entity, row, now):
            raise ConflictError("the record does not belong in this pool", [detail("", "pool_scope")])

    def _assignee(self, pool: Pool, user_id: str) -> None:
        """An active member of the pool (locked: their gains are counted one at a time)."""
        found = lock_user(self.session, self.actor.tenant_id, user_id)
        if found is None or not found.active:
            raise RecordInvalidError("no active user with that id", [detail("/to", "unknown_user", id=user_id)])
        if user_id not in members(self.session, self.actor.tenant_id, pool):
            raise RecordInvalidError("the user does not work in this pool", [detail("/to", "not_a_member",
                                                                                   name=found.name)])

    @staticmethod
    def _id(body: Any) -> str:
        record_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(record_id, str) or not record_id:
            raise RecordInvalidError("name the record", [detail("/id", "required")])
        return record_id

    @staticmethod
    def _texts(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
        found: list[str | None] = []
        for key, limit in TEXT_LIMITS.items():
            value = body.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise RecordInvalidError(f"{key} is text", [detail(f"/{key}", "max_length", limit=limit)])
            found.append(value.strip() or None if isinstance(value, str) else None)
        return found[0], found[1]
