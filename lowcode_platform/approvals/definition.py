"""Approval flows compiled from config: what needs a yes, from whom, in which order, under which conditions.

A flow is triggered by entering a stage, changing named fields, a manual submit or a conversion, when its
`when` holds. Its steps run in order; a step whose `when` is false is skipped. Each step's approvers are a
role, named users, the owner's manager N levels up, or a user field of the record; `any` takes the first
decision, `all` needs everyone, `ratio` a share of them. `compile_approvals` reads the `approvals` part
of a config whose structure is already checked. Pure: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import in_entity
from lowcode_platform.rules.python import Predicate
from lowcode_platform.rules.scope import Scope
from lowcode_platform.rules.validations import compile_condition
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.labels import Label

MODES = ("any", "all", "ratio")
TIMEOUTS = ("escalate", "approve", "reject")


@dataclass(frozen=True)
class Approvers:
    """Who decides a step: a role, named users (ids or names), the owner's manager `manager` levels up,
    or the user a field of the record names."""

    role: str | None = None
    users: tuple[str, ...] = ()
    manager: int | None = None
    field: str | None = None


@dataclass(frozen=True)
class Step:
    key: str
    label: Label
    approvers: tuple[Approvers, ...]
    mode: str = "any"
    ratio: Decimal | None = None
    when: Predicate | None = None
    timeout_hours: int | None = None
    on_timeout: str = "escalate"
    allow_self: bool = False

    def needed(self, approvers: int) -> int:
        """How many approvals of `approvers` decide the step."""
        if self.mode == "any":
            return 1
        if self.mode == "all":
            return approvers
        assert self.ratio is not None
        share = self.ratio * approvers
        return max(1, int(share) + (0 if share == int(share) else 1))


@dataclass(frozen=True)
class Trigger:
    stage: str | None = None
    fields: frozenset[str] = frozenset()
    manual: bool = False
    conversion: str | None = None


@dataclass(frozen=True)
class Flow:
    key: str
    entity: str
    label: Label
    trigger: Trigger
    steps: tuple[Step, ...]
    when: Predicate | None = None
    lock: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TenantApprovals:
    flows: Mapping[str, Flow] = field(default_factory=dict)

    def get(self, key: str | None) -> Flow | None:
        return self.flows.get(key) if key is not None else None

    def of(self, entity: str) -> list[Flow]:
        return [f for f in self.flows.values() if f.entity == entity]

    def on_stage(self, entity: str, stage: str) -> list[Flow]:
        return [f for f in self.of(entity) if f.trigger.stage == stage]

    def on_fields(self, entity: str, changed: frozenset[str]) -> list[Flow]:
        return [f for f in self.of(entity) if f.trigger.fields & changed]


def _t(token: str) -> str:
    return escape_pointer_token(token)


def _approvers(spec: Mapping[str, Any], pointer: str, entity: EntityDef, roles: frozenset[str],
               errors: list[ErrorDetail]) -> Approvers:
    if "role" in spec and spec["role"] not in roles:
        errors.append(detail(f"{pointer}/role", "unknown_role", role=spec["role"]))
    name = spec.get("field")
    if name is not None:
        field_def = entity.fields.get(name)
        if field_def is None:
            errors.append(detail(f"{pointer}/field", "unknown_field", field=name, where=in_entity(entity.key)))
        elif field_def.type != "user":
            errors.append(detail(f"{pointer}/field", "approver_field_type", field=name))
    return Approvers(spec.get("role"), tuple(spec.get("users", ())), spec.get("manager"), name)


def _step(spec: Mapping[str, Any], pointer: str, entity: EntityDef, scope: Scope, roles: frozenset[str],
          errors: list[ErrorDetail]) -> Step:
    approvers = tuple(_approvers(a, f"{pointer}/approvers/{i}", entity, roles, errors)
                      for i, a in enumerate(spec["approvers"]))
    mode = spec.get("mode", "any")
    ratio = Decimal(str(spec["ratio"])) if "ratio" in spec else None
    if mode == "ratio" and ratio is None:
        errors.append(detail(f"{pointer}/ratio", "required"))
    elif mode != "ratio" and ratio is not None:
        errors.append(detail(f"{pointer}/ratio", "ratio_without_mode"))
    when = compile_condition(spec["when"], f"{pointer}/when", scope, errors) if "when" in spec else None
    if "on_timeout" in spec and "timeout_hours" not in spec:
        errors.append(detail(f"{pointer}/timeout_hours", "required"))
    return Step(spec["key"], Label.parse(spec.get("label"), spec["key"]), approvers, mode, ratio,
                when[1] if when else None, spec.get("timeout_hours"), spec.get("on_timeout", "escalate"),
                bool(spec.get("allow_self", False)))


def _trigger(spec: Mapping[str, Any], pointer: str, entity: EntityDef, stages: frozenset[str],
             conversions: Mapping[str, str], errors: list[ErrorDetail]) -> Trigger:
    stage = spec.get("stage")
    if stage is not None and stage not in stages:
        errors.append(detail(f"{pointer}/stage", "unknown_stage", stage=stage))
    for i, name in enumerate(spec.get("fields", [])):
        if name not in entity.fields:
            errors.append(detail(f"{pointer}/fields/{i}", "unknown_field", field=name, where=in_entity(entity.key)))
    conversion = spec.get("conversion")
    if conversion is not None and conversions.get(conversion) != entity.key:
        errors.append(detail(f"{pointer}/conversion", "unknown_conversion", conversion=conversion))
    return Trigger(stage, frozenset(spec.get("fields", [])), bool(spec.get("manual", False)), conversion)


def compile_approvals(document: Mapping[str, Any], entities: Mapping[str, EntityDef], scopes: Mapping[str, Scope],
                      stages: Mapping[str, frozenset[str]],
                      conversions: Mapping[str, str]) -> tuple[TenantApprovals, list[ErrorDetail]]:
    """The tenant's approval flows and every error in them; `stages` are each entity's stage keys,
    `conversions` each conversion's source entity."""
    errors: list[ErrorDetail] = []
    roles = frozenset(document.get("roles", {}))
    compiled: dict[str, Flow] = {}
    for key, spec in document.get("approvals", {}).items():
        base = f"/approvals/{_t(key)}"
        entity = entities.get(spec["entity"])
        if entity is None:
            errors.append(detail(f"{base}/entity", "unknown_entity", entity=spec["entity"]))
            continue
        scope = scopes[entity.key]
        steps = [_step(s, f"{base}/steps/{i}", entity, scope, roles, errors) for i, s in enumerate(spec["steps"])]
        seen: set[str] = set()
        for i, step in enumerate(steps):
            if step.key in seen:
                errors.append(detail(f"{base}/steps/{i}/key", "duplicate_step", step=step.key))
            seen.add(step.key)
        for i, name in enumerate(spec.get("lock", [])):
            if name not in entity.fields:
                errors.append(detail(f"{base}/lock/{i}", "unknown_field", field=name, where=in_entity(entity.key)))
        when = compile_condition(spec["when"], f"{base}/when", scope, errors) if "when" in spec else None
        compiled[key] = Flow(
            key, entity.key, Label.parse(spec.get("label"), key),
            _trigger(spec["trigger"], f"{base}/trigger", entity, stages.get(entity.key, frozenset()), conversions,
                     errors),
            tuple(steps), when[1] if when else None, frozenset(spec.get("lock", [])))
    return TenantApprovals(MappingProxyType(compiled)), errors
