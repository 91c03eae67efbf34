"""Creating tenants and users, authenticating tokens, and finding a tenant's active config."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, literal, select, union
from sqlalchemy.orm import Session, aliased

from lowcode_platform.accounts.actor import Actor
from lowcode_platform.accounts.tokens import hash_token, new_token
from lowcode_platform.configuration import ConfigCache, TenantConfig, compile_config
from lowcode_platform.errors import ConflictError, NotFoundError, PlatformError, detail
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.json_fields import ensure_field_indexes
from lowcode_platform.storage.tables import Team, Tenant, TenantConfigVersion, User

SLUG = re.compile(r"^[a-z][a-z0-9-]{1,62}$")


def create_tenant(session: Session, *, slug: str, document: Mapping[str, Any], author: str | None,
                  now: datetime) -> Tenant:
    """A new tenant whose config version 1 is `document`, active at once; commits."""
    if not SLUG.match(slug):
        raise PlatformError("invalid tenant slug", [detail("/slug", "bad_identifier", key=slug)])
    config = compile_config(document, 1)  # refuse an invalid config before anything is written
    with session.begin():
        ensure_field_indexes(session.connection(), indexed_fields(config))
        if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
            raise ConflictError(f"a tenant with slug {slug!r} exists already")
        tenant = Tenant(id=new_id(), slug=slug, active_version=1, created_at=now)
        session.add(tenant)
        session.flush()
        session.add(TenantConfigVersion(tenant_id=tenant.id, version=1, document=dict(document),
                                        status="active", author=author, created_at=now))
    return tenant


def indexed_fields(config: TenantConfig) -> list[tuple[str, str]]:
    """(key, SQL kind) of every field some entity marks `indexed`."""
    return sorted({
        (f.key, f.kind.sql_kind) for e in config.entities.values() for f in e.fields.values()
        if f.indexed and f.kind.sql_kind
    })


def find_tenant(session: Session, slug: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFoundError(f"no tenant with slug {slug!r}")
    return tenant


def active_config(session: Session, cache: ConfigCache, tenant_id: str, version: int) -> TenantConfig:
    """The compiled config of a tenant's `version`, from `cache` when it is there."""

    def load() -> Mapping[str, Any]:
        row = session.get(TenantConfigVersion, (tenant_id, version))
        if row is None:
            raise NotFoundError(f"tenant {tenant_id} has no config version {version}")
        return row.document

    return cache.get(tenant_id, version, load)


def create_user(session: Session, cache: ConfigCache, *, tenant_slug: str, name: str, role: str,
                manager: str | None = None, team: str | None = None, now: datetime) -> tuple[User, str]:
    """A new user and their bearer token (shown only now; only its hash is kept); commits."""
    with session.begin():
        tenant = find_tenant(session, tenant_slug)
        config = active_config(session, cache, tenant.id, tenant.active_version or 1)
        if role not in config.roles:
            raise PlatformError(f"unknown role {role!r}", [detail("/role", "unknown_role", role=role)])
        scoped = select(User).where(User.tenant_id == tenant.id)
        if session.scalar(scoped.where(User.name == name)) is not None:
            raise ConflictError(f"a user named {name!r} exists already in {tenant_slug}")
        manager_id = None
        if manager:
            boss = session.scalar(scoped.where(User.name == manager))
            if boss is None:
                raise NotFoundError(f"no user named {manager!r} in {tenant_slug}")
            manager_id = boss.id
        team_id = None
        if team:
            team_row = session.scalar(select(Team).where(Team.tenant_id == tenant.id, Team.name == team))
            if team_row is None:
                team_row = Team(tenant_id=tenant.id, id=new_id(), name=team)
                session.add(team_row)
                session.flush()
            team_id = team_row.id
        token = new_token()
        user = User(tenant_id=tenant.id, id=new_id(), name=name, role=role, team_id=team_id,
                    manager_id=manager_id, token_hash=hash_token(token), active=True, created_at=now)
        session.add(user)
    return user, token


_BY_TOKEN = (
    select(User.tenant_id, User.id, User.name, User.role, User.team_id, Tenant.active_version)
    .join(Tenant, Tenant.id == User.tenant_id)
    .where(User.token_hash == bindparam("token_hash"), User.active.is_(True))
)


class TokenCache:
    """Recent token lookups, kept `ttl` seconds: a request then needs no query to know its caller.

    A deactivated user, a changed role or a newly activated config version is seen by every server
    process within `ttl` seconds; `ttl=0` turns the cache off.
    """

    def __init__(self, ttl: float = 5.0, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._rows: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Any | None:
        with self._lock:
            found = self._rows.get(token_hash)
            if found is None or found[0] <= self.clock():
                return None
            return found[1]

    def put(self, token_hash: str, row: Any) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._rows[token_hash] = (self.clock() + self.ttl, row)
            self._rows.move_to_end(token_hash)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


def authenticate(session: Session, cache: ConfigCache, token: str,
                 tokens: TokenCache | None = None) -> tuple[Actor, TenantConfig] | None:
    """The actor a bearer token stands for and their tenant's active config, or None."""
    return authenticate_hash(session, cache, hash_token(token), tokens)


def authenticate_hash(session: Session, cache: ConfigCache, token_hash: str,
                      tokens: TokenCache | None = None) -> tuple[Actor, TenantConfig] | None:
    """`authenticate` by the token's hash (what a web session keeps instead of the token)."""
    row = tokens.get(token_hash) if tokens else None
    if row is None:
        row = session.connection().execute(_BY_TOKEN, {"token_hash": token_hash}).first()
        if row is None:
            return None
        if tokens:
            tokens.put(token_hash, row)
    config = active_config(session, cache, row.tenant_id, row.active_version or 1)
    role = config.roles.get(row.role)
    if role is None:  # the role left the config: the user keeps no rights
        return None
    return Actor(row.tenant_id, row.id, row.name, role, row.team_id), config


def list_users(session: Session, tenant_id: str, limit: int) -> list[tuple[str, str]]:
    """(id, name) of up to `limit` active users of a tenant, by name: a user picker's options."""
    rows = session.execute(select(User.id, User.name).where(User.tenant_id == tenant_id, User.active.is_(True))
                           .order_by(User.name, User.id).limit(limit))
    return [(row.id, row.name) for row in rows]


def owner_scope(actor: Actor, scope: str, owner: Any, team_owners: Any = None) -> list[Any]:
    """The clause that keeps the records a permission `scope` (own, team, all) shows `actor`, on the column
    `owner`; `team_owners` is `team_owner_ids(actor)` when the caller keeps it (built once per request)."""
    if scope == "own":
        return [owner == actor.user_id]
    if scope == "team":
        return [owner.in_(team_owners if team_owners is not None else team_owner_ids(actor))]
    return []


def team_owner_ids(actor: Actor) -> Select[tuple[str]]:
    """Owners whose records a `team` scope shows: the actor, their team mates and everyone below them
    (direct and indirect reports), as one SQL query to use in `owner_id IN (...)`."""
    below = select(User.id).where(User.tenant_id == actor.tenant_id, User.manager_id == actor.user_id)
    reports = below.cte("reports", recursive=True)
    report = aliased(User)
    reports = reports.union(  # UNION, not UNION ALL: a cycle in the manager chain still terminates
        select(report.id).where(report.tenant_id == actor.tenant_id, report.manager_id == reports.c.id))
    owners = [select(literal(actor.user_id)), select(reports.c.id)]
    if actor.team_id is not None:  # (a user without a team has no team mates)
        owners.append(select(User.id).where(User.tenant_id == actor.tenant_id, User.team_id == actor.team_id))
    return union(*owners)
