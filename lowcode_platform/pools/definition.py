"""Pools compiled from config: who works a pool, which records it holds, its caps, and when records recycle.

A pool (公海池 / 线索池) holds records of one entity that nobody owns. Members claim from it (pull) or the
platform assigns its records (push); records whose owner stops working them come back by the recycle
rules. `compile_pools` reads the `pools` part of a config whose structure is already checked and checks
what needs the entities and roles. Pure: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import in_entity
from lowcode_platform.rules.python import Predicate
from lowcode_platform.rules.scope import Scope
from lowcode_platform.rules.syntax import Condition
from lowcode_platform.rules.validations import compile_condition
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.labels import Label

MODES = ("pull", "push", "both")
STRATEGIES = ("round_robin", "least_loaded", "weighted", "rules")


@dataclass(frozen=True)
class Audience:
    """Users named by role, team or user id; empty means nobody."""

    roles: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()

    def includes(self, role: str, team: str | None, user: str) -> bool:
        return role in self.roles or (team is not None and team in self.teams) or user in self.users

    @property
    def empty(self) -> bool:
        return not (self.roles or self.teams or self.users)


@dataclass(frozen=True)
class Rule:
    """A compiled condition: `test` in Python, `condition` for SQL."""

    condition: Condition
    test: Predicate


@dataclass(frozen=True)
class AllocationRule:
    when: Rule
    user: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class Allocation:
    strategy: str = "round_robin"
    weights: Mapping[str, int] = field(default_factory=dict)  # user id -> weight (default 1)
    rules: tuple[AllocationRule, ...] = ()


@dataclass(frozen=True)
class Limits:
    owner_cap: int | None = None  # records of the entity one user may own
    count_won: bool = True  # whether records with a won deal count against the cap
    claims_per_day: int | None = None
    cooldown_days: int = 0  # before a user may take back a record that left them


@dataclass(frozen=True)
class Protection:
    """The protection-period model: an owner keeps a record `days`, extended by `extend_days` on each
    activity logged for it, never beyond `max_days` from when they got it."""

    days: int
    extend_days: int = 0
    max_days: int | None = None


@dataclass(frozen=True)
class Recycle:
    rules: tuple[Rule, ...] = ()  # any that holds recycles the record
    protection: Protection | None = None
    warn_days: int = 0
    exempt: Rule | None = None

    @property
    def active(self) -> bool:
        return bool(self.rules) or self.protection is not None


@dataclass(frozen=True)
class Pool:
    key: str
    entity: str
    label: Label
    members: Audience
    admins: Audience
    scope: Rule | None = None
    mode: str = "pull"
    intake: bool = False  # new records in scope enter the pool instead of staying with their creator
    allocation: Allocation = Allocation()
    limits: Limits = Limits()
    recycle: Recycle = Recycle()
    reasons: Mapping[str, Label] = field(default_factory=dict)  # release reasons; empty: none asked
    clear_on_return: tuple[str, ...] = ()
    hidden_fields: frozenset[str] = frozenset()

    @property
    def pushes(self) -> bool:
        return self.mode in ("push", "both")

    @property
    def pulls(self) -> bool:
        return self.mode in ("pull", "both")


@dataclass(frozen=True)
class TenantPools:
    pools: Mapping[str, Pool] = field(default_factory=dict)
    owner_caps: Mapping[str, int] = field(default_factory=dict)  # tenant-wide, by entity

    def get(self, key: str | None) -> Pool | None:
        return self.pools.get(key) if key is not None else None

    def of(self, entity: str) -> list[Pool]:
        return [p for p in self.pools.values() if p.entity == entity]

    def cap(self, entity: str) -> tuple[int | None, bool]:
        """The lowest cap on owning records of `entity` (the tenant's or any pool's), and whether won
        records count against it (as the pool setting that cap says)."""
        found: tuple[int | None, bool] = (self.owner_caps.get(entity), True)
        for pool in self.of(entity):
            cap = pool.limits.owner_cap
            if cap is not None and (found[0] is None or cap < found[0]):
                found = (cap, pool.limits.count_won)
        return found


def _t(token: str) -> str:
    return escape_pointer_token(token)


def _audience(spec: Mapping[str, Any] | None, pointer: str, roles: frozenset[str],
              errors: list[ErrorDetail]) -> Audience:
    spec = spec or {}
    for i, role in enumerate(spec.get("roles", [])):
        if role not in roles:
            errors.append(detail(f"{pointer}/roles/{i}", "unknown_role", role=role))
    return Audience(frozenset(spec.get("roles", [])), frozenset(spec.get("teams", [])),
                    frozenset(spec.get("users", [])))


def _rule(spec: Any, pointer: str, scope: Scope, errors: list[ErrorDetail]) -> Rule | None:
    compiled = compile_condition(spec, pointer, scope, errors)
    return Rule(*compiled) if compiled else None


def _fields(keys: list[str], pointer: str, entity: EntityDef, errors: list[ErrorDetail]) -> tuple[str, ...]:
    for i, key in enumerate(keys):
        if key not in entity.fields:
            errors.append(detail(f"{pointer}/{i}", "unknown_field", field=key, where=in_entity(entity.key)))
    return tuple(k for k in keys if k in entity.fields)


def _cleared(keys: list[str], pointer: str, entity: EntityDef, errors: list[ErrorDetail]) -> tuple[str, ...]:
    """Fields emptied on return: neither required (the record would be invalid) nor unique."""
    found = _fields(keys, pointer, entity, errors)
    for i, key in enumerate(keys):
        field_def = entity.fields.get(key)
        if field_def is not None and (field_def.required or field_def.unique):
            errors.append(detail(f"{pointer}/{i}", "on_return_required", field=key))
    return found


def _pool(key: str, spec: Mapping[str, Any], base: str, entity: EntityDef, scope: Scope, roles: frozenset[str],
          errors: list[ErrorDetail]) -> Pool:
    allocation_spec = spec.get("allocation", {})
    allocation = Allocation(
        allocation_spec.get("strategy", "round_robin"), MappingProxyType(dict(allocation_spec.get("weights", {}))),
        tuple(AllocationRule(rule, r.get("to", {}).get("user"), r.get("to", {}).get("team"))
              for i, r in enumerate(allocation_spec.get("rules", []))
              if (rule := _rule(r["when"], f"{base}/allocation/rules/{i}/when", scope, errors))))
    if allocation.strategy == "rules" and not allocation_spec.get("rules"):
        errors.append(detail(f"{base}/allocation/rules", "required"))
    mode = spec.get("mode", "pull")
    if mode != "pull" and "allocation" not in spec:
        errors.append(detail(f"{base}/allocation", "required"))
    limits_spec = spec.get("limits", {})
    limits = Limits(limits_spec.get("owner_cap"), limits_spec.get("count_won", True),
                    limits_spec.get("claims_per_day"), limits_spec.get("cooldown_days", 0))
    recycle_spec = spec.get("recycle", {})
    protection_spec = recycle_spec.get("protection")
    protection = None
    if protection_spec is not None:
        protection = Protection(protection_spec["days"], protection_spec.get("extend_days", 0),
                                protection_spec.get("max_days"))
        if protection.max_days is not None and protection.max_days < protection.days:
            errors.append(detail(f"{base}/recycle/protection/max_days", "protection_max", days=protection.days))
    rules = tuple(rule for i, r in enumerate(recycle_spec.get("rules", []))
                  if (rule := _rule(r, f"{base}/recycle/rules/{i}", scope, errors)))
    exempt = _rule(recycle_spec["exempt"], f"{base}/recycle/exempt", scope, errors) if "exempt" in recycle_spec else None
    recycle = Recycle(rules, protection, recycle_spec.get("warn_days", 0), exempt)
    release = spec.get("release", {})
    return Pool(
        key=key, entity=entity.key, label=Label.parse(spec.get("label"), key),
        members=_audience(spec.get("members"), f"{base}/members", roles, errors),
        admins=_audience(spec.get("admins"), f"{base}/admins", roles, errors),
        scope=_rule(spec["scope"], f"{base}/scope", scope, errors) if "scope" in spec else None,
        mode=mode, intake=bool(spec.get("intake", False)), allocation=allocation, limits=limits, recycle=recycle,
        reasons=MappingProxyType({r["value"]: Label.parse(r.get("label"), r["value"])
                                  for r in release.get("reasons", [])}),
        clear_on_return=_cleared(spec.get("on_return", {}).get("clear", []), f"{base}/on_return/clear", entity,
                                 errors),
        hidden_fields=frozenset(_fields(spec.get("hidden_fields", []), f"{base}/hidden_fields", entity, errors)),
    )


def compile_pools(document: Mapping[str, Any], entities: Mapping[str, EntityDef],
                  scopes: Mapping[str, Scope]) -> tuple[TenantPools, list[ErrorDetail]]:
    """The tenant's pools and every error in them."""
    errors: list[ErrorDetail] = []
    roles = frozenset(document.get("roles", {}))
    compiled: dict[str, Pool] = {}
    for key, spec in document.get("pools", {}).items():
        base = f"/pools/{_t(key)}"
        entity = entities.get(spec["entity"])
        if entity is None:
            errors.append(detail(f"{base}/entity", "unknown_entity", entity=spec["entity"]))
            continue
        compiled[key] = _pool(key, spec, base, entity, scopes[entity.key], roles, errors)
    caps = document.get("tenant", {}).get("owner_caps", {})
    for entity_key in caps:
        if entity_key not in entities:
            errors.append(detail(f"/tenant/owner_caps/{_t(entity_key)}", "unknown_entity", entity=entity_key))
    return TenantPools(MappingProxyType(compiled), MappingProxyType(dict(caps))), errors
