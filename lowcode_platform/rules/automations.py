"""Automations: when an event happens to a record and a condition holds, run actions.

`{key, on, entity, fields?, when?, then: [action, ...]}`. Events: `record.created`, `record.updated`,
`field.changed` (an update changed one of `fields`), `stage.changed`, `activity.logged` (an activity
record naming this record was created) and `record.converted` (the record was converted). Every automation that matches fires, in config order. Actions:
`set` fields of the record, `assign_owner`, `notify` users (an outbox message) and `create_task` (a
record of another entity, linked to this one, with a due date). This module decides; the record service
carries the actions out inside the transaction of the write that caused them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import NOWHERE, in_entity
from lowcode_platform.rules.python import Facts, Predicate
from lowcode_platform.rules.scope import Scope
from lowcode_platform.rules.validations import compile_condition
from lowcode_platform.rules.values import Evaluator, compile_value
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.labels import Label

EVENTS = ("record.created", "record.updated", "field.changed", "stage.changed", "activity.logged", "record.converted")
MAX_DEPTH = 5  # automations triggered by automations' own writes, at most this many levels deep

# A recipient: "owner", "creator", "owner_manager", "actor", ("field", key) or ("role", key).
Recipient = Union[str, tuple[str, str]]


@dataclass(frozen=True)
class SetFields:
    values: tuple[tuple[str, Evaluator], ...]


@dataclass(frozen=True)
class AssignOwner:
    to: Recipient


@dataclass(frozen=True)
class Notify:
    to: tuple[Recipient, ...]
    message: Label


@dataclass(frozen=True)
class CreateTask:
    entity: str
    values: tuple[tuple[str, Evaluator], ...]
    link_field: str | None
    due_field: str | None
    due_in_days: int
    assign_to: Recipient


@dataclass(frozen=True)
class MoveStage:
    to: str
    reason: str | None = None
    comment: str | None = None
    pointer: str = ""  # where the action is, for the check that `to` is a stage of the entity's pipelines


Action = Union[SetFields, AssignOwner, Notify, CreateTask, MoveStage]


@dataclass(frozen=True)
class Automation:
    key: str
    label: Label
    on: str
    entity: str
    fields: frozenset[str]
    when: Predicate | None
    actions: tuple[Action, ...]

    def matches(self, event: str, changed: frozenset[str], facts: Facts, now: datetime) -> bool:
        if event != self.on or (event == "field.changed" and not self.fields & changed):
            return False
        return self.when is None or self.when(facts, now)


def _recipient(spec: Any, pointer: str, entity: EntityDef, roles: Mapping[str, Any],
               errors: list[ErrorDetail]) -> Recipient:
    if isinstance(spec, str):
        return spec
    if "field" in spec:
        field = entity.fields.get(spec["field"])
        if field is None or field.type != "user":
            errors.append(detail(f"{pointer}/field", "user_field_needed", field=spec["field"]))
        return ("field", spec["field"])
    if spec["role"] not in roles:
        errors.append(detail(f"{pointer}/role", "unknown_role", role=spec["role"]))
    return ("role", spec["role"])


def _values(spec: Mapping[str, Any], pointer: str, scope: Scope, target: EntityDef,
            computed: frozenset[str], errors: list[ErrorDetail]) -> tuple[tuple[str, Evaluator], ...]:
    """Values for fields of `target`, computed from the record the automation runs on (`scope`)."""
    values = []
    for key, value in spec.items():
        here = f"{pointer}/{escape_pointer_token(key)}"
        field = target.fields.get(key)
        if field is None:
            errors.append(detail(here, "unknown_field", field=key, where=in_entity(target.key)))
        elif key in computed:
            errors.append(detail(here, "computed_field"))
        else:  # `$m` names a field of the record the automation runs on
            compiled = compile_value(value, here, scope, field, errors)
            if compiled is not None:
                values.append((key, compiled[0]))
    return tuple(values)


def _action(spec: Mapping[str, Any], pointer: str, entity: EntityDef, scope: Scope,
            entities: Mapping[str, EntityDef], roles: Mapping[str, Any], computed: Mapping[str, frozenset[str]],
            errors: list[ErrorDetail]) -> Action | None:
    (kind, body), = spec.items()
    here = f"{pointer}/{kind}"
    if kind == "set":
        return SetFields(_values(body, here, scope, entity, computed.get(entity.key, frozenset()), errors))
    if kind == "assign_owner":
        return AssignOwner(_recipient(body, here, entity, roles, errors))
    if kind == "notify":
        to = tuple(_recipient(r, f"{here}/to/{i}", entity, roles, errors) for i, r in enumerate(body["to"]))
        return Notify(to, Label.parse(body["message"]))
    if kind == "move_stage":  # the stage is checked against the pipelines, which compile after the rules
        return MoveStage(body["to"], body.get("reason"), body.get("comment"), f"{here}/to")
    target = entities.get(body["entity"])
    if target is None:
        errors.append(detail(f"{here}/entity", "unknown_entity", entity=body["entity"]))
        return None
    link, due = body.get("link_field"), body.get("due_field")
    if link is not None:
        field = target.fields.get(link)
        if field is None or field.type != "reference" or field.entity != entity.key:
            errors.append(detail(f"{here}/link_field", "link_field_needed", field=link, entity=entity.key))
    if due is not None:
        field = target.fields.get(due)
        if field is None or field.type not in ("date", "datetime"):
            errors.append(detail(f"{here}/due_field", "date_field_needed", field=due))
    values = _values(body.get("values", {}), f"{here}/values", scope, target,
                     computed.get(target.key, frozenset()), errors)
    assign_to = _recipient(body.get("assign_to", "owner"), f"{here}/assign_to", entity, roles, errors)
    return CreateTask(target.key, values, link, due, int(body.get("due_in_days", 0)), assign_to)


def compile_automations(specs: Any, entities: Mapping[str, EntityDef], scopes: Mapping[str, Scope],
                        roles: Mapping[str, Any], computed: Mapping[str, frozenset[str]],
                        errors: list[ErrorDetail]) -> tuple[Automation, ...]:
    automations = []
    seen: set[str] = set()
    for i, spec in enumerate(specs if isinstance(specs, list) else ()):
        pointer = f"/automations/{i}"
        if spec["key"] in seen:
            errors.append(detail(f"{pointer}/key", "duplicate_key", key=spec["key"], where=NOWHERE))
        seen.add(spec["key"])
        entity = entities.get(spec["entity"])
        if entity is None:
            errors.append(detail(f"{pointer}/entity", "unknown_entity", entity=spec["entity"]))
            continue
        scope = scopes[entity.key]
        fields = frozenset(spec.get("fields", ()))
        if spec["on"] == "field.changed" and not fields:
            errors.append(detail(pointer, "fields_needed"))
        for j, name in enumerate(spec.get("fields", ())):
            if name not in entity.fields:
                errors.append(detail(f"{pointer}/fields/{j}", "unknown_field", field=name, where=in_entity(entity.key)))
        when = compile_condition(spec["when"], f"{pointer}/when", scope, errors) if "when" in spec else None
        actions = [_action(a, f"{pointer}/then/{j}", entity, scope, entities, roles, computed, errors)
                   for j, a in enumerate(spec["then"])]
        automations.append(Automation(
            key=spec["key"], label=Label.parse(spec.get("label"), spec["key"]), on=spec["on"], entity=entity.key,
            fields=fields, when=when[1] if when else None, actions=tuple(a for a in actions if a is not None)))
    return tuple(automations)
