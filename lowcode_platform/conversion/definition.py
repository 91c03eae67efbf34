"""Lead conversions compiled from config: which records a lead becomes, how their fields map, dedupe, links.

`compile_conversions` reads the `conversions` part of a config whose structure is already checked, and
checks what needs the entities: mapped fields exist and their types fit, templates name source fields,
dedupe keys exist, links are references to the linked target's entity, the lead's own changes are valid.
Pure: no Flask, no database. (The conversion itself, one transaction, comes with its service.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import in_entity
from lowcode_platform.rules.python import Predicate
from lowcode_platform.rules.scope import Scope
from lowcode_platform.rules.validations import compile_condition
from lowcode_platform.rules.values import Evaluator, compile_value
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.labels import Label

NORMALIZATIONS = ("trim", "case", "width", "digits")
TEMPLATE_FIELD = re.compile(r"\{([a-z][a-z0-9_]*)\}")
TEXT_TYPES = frozenset({"text", "long_text", "email", "phone", "url"})


@dataclass(frozen=True)
class Mapped:
    """How one target field gets its value: a value over the source record, a copy, or a text template."""

    target: str
    value: Evaluator | None = None  # constants, {"$m": field}, arithmetic (the value language)
    copy: str | None = None  # an object or list field copied whole from the source
    template: str | None = None  # "{field} text", over the source's fields


@dataclass(frozen=True)
class Dedupe:
    keys: tuple[str, ...]
    normalize: tuple[str, ...]
    on_match: str  # link | create | refuse
    fill: str  # empty | overwrite: what linking does to the matched record's fields


@dataclass(frozen=True)
class Target:
    key: str
    entity: str
    map: tuple[Mapped, ...]
    optional: bool = False
    dedupe: Dedupe | None = None
    links: Mapping[str, str] = field(default_factory=dict)  # reference field -> the target it points at


@dataclass(frozen=True)
class Conversion:
    key: str
    source: str
    label: Label
    when: Predicate | None
    targets: tuple[Target, ...]
    lead_set: tuple[tuple[str, Evaluator], ...] = ()
    lead_stage: str | None = None
    lead_readonly: bool = True


@dataclass(frozen=True)
class TenantConversions:
    conversions: Mapping[str, Conversion] = field(default_factory=dict)

    def get(self, key: str) -> Conversion | None:
        return self.conversions.get(key)


def _t(token: str) -> str:
    return escape_pointer_token(token)


def _mapped(target_field: str, spec: Any, pointer: str, source: EntityDef, target: EntityDef, scope: Scope,
            errors: list[ErrorDetail]) -> Mapped | None:
    field_def = target.fields.get(target_field)
    if field_def is None:
        errors.append(detail(pointer, "unknown_field", field=target_field, where=in_entity(target.key)))
        return None
    if isinstance(spec, dict) and set(spec) == {"$template"}:
        if field_def.type not in TEXT_TYPES:
            errors.append(detail(f"{pointer}/$template", "template_needs_text", field=target_field))
            return None
        for name in TEMPLATE_FIELD.findall(str(spec["$template"])):
            if name not in source.fields:
                errors.append(detail(f"{pointer}/$template", "unknown_field", field=name, where=in_entity(source.key)))
        return Mapped(target_field, template=str(spec["$template"]))
    if isinstance(spec, dict) and set(spec) == {"$m"} and field_def.type in ("money", "region", "multi_enum"):
        source_field = source.fields.get(str(spec["$m"]))
        if source_field is None:
            errors.append(detail(f"{pointer}/$m", "unknown_field", field=spec["$m"], where=in_entity(source.key)))
            return None
        if source_field.type != field_def.type:
            errors.append(detail(f"{pointer}/$m", "mapping_mismatch", field=spec["$m"], type=source_field.type,
                                 expected=field_def.type))
            return None
        return Mapped(target_field, copy=source_field.key)
    compiled = compile_value(spec, pointer, scope, field_def, errors)
    return Mapped(target_field, value=compiled[0]) if compiled else None


def _target(key: str, spec: Mapping[str, Any], base: str, source: EntityDef, entities: Mapping[str, EntityDef],
            scope: Scope, target_entities: Mapping[str, str], errors: list[ErrorDetail]) -> Target | None:
    entity = entities.get(spec["entity"])
    if entity is None:
        errors.append(detail(f"{base}/entity", "unknown_entity", entity=spec["entity"]))
        return None
    mapped = [_mapped(name, value, f"{base}/map/{_t(name)}", source, entity, scope, errors)
              for name, value in spec.get("map", {}).items()]
    dedupe = None
    if "dedupe" in spec:
        d = spec["dedupe"]
        for i, name in enumerate(d["keys"]):
            if name not in entity.fields:
                errors.append(detail(f"{base}/dedupe/keys/{i}", "unknown_field", field=name, where=in_entity(entity.key)))
        dedupe = Dedupe(tuple(d["keys"]), tuple(d.get("normalize", ("trim", "case"))), d.get("on_match", "link"),
                        d.get("fill", "empty"))
    links = dict(spec.get("link", {}))
    for name, other in links.items():
        pointer = f"{base}/link/{_t(name)}"
        reference = entity.fields.get(name)
        if other not in target_entities:
            errors.append(detail(pointer, "unknown_target", target=other))
        elif target_entities[other] not in entities:  # that target's entity is reported already
            continue
        elif reference is None or reference.type != "reference" or reference.entity != target_entities[other]:
            errors.append(detail(pointer, "reference_field_needed", field=name))
    return Target(key, entity.key, tuple(m for m in mapped if m is not None), bool(spec.get("optional", False)),
                  dedupe, MappingProxyType(links))


def compile_conversions(document: Mapping[str, Any], entities: Mapping[str, EntityDef], scopes: Mapping[str, Scope],
                        stages: Mapping[str, frozenset[str]]) -> tuple[TenantConversions, list[ErrorDetail]]:
    """The tenant's conversions and every error in them; `stages` are each entity's pipeline stage keys."""
    errors: list[ErrorDetail] = []
    compiled: dict[str, Conversion] = {}
    for key, spec in document.get("conversions", {}).items():
        base = f"/conversions/{_t(key)}"
        source = entities.get(spec["from"])
        if source is None:
            errors.append(detail(f"{base}/from", "unknown_entity", entity=spec["from"]))
            continue
        scope = scopes[source.key]
        when = compile_condition(spec["when"], f"{base}/when", scope, errors) if "when" in spec else None
        target_entities = {name: t["entity"] for name, t in spec["targets"].items()}
        targets = [_target(name, t, f"{base}/targets/{_t(name)}", source, entities, scope, target_entities, errors)
                   for name, t in spec["targets"].items()]
        lead = spec.get("lead", {})
        lead_set = []
        for name, value in lead.get("set", {}).items():
            pointer = f"{base}/lead/set/{_t(name)}"
            field_def = source.fields.get(name)
            if field_def is None:
                errors.append(detail(pointer, "unknown_field", field=name, where=in_entity(source.key)))
                continue
            value_compiled = compile_value(value, pointer, scope, field_def, errors)
            if value_compiled:
                lead_set.append((name, value_compiled[0]))
        stage = lead.get("stage")
        if stage is not None and stage not in stages.get(source.key, frozenset()):
            errors.append(detail(f"{base}/lead/stage", "unknown_stage", stage=stage))
        compiled[key] = Conversion(
            key=key, source=source.key, label=Label.parse(spec.get("label"), key), when=when[1] if when else None,
            targets=tuple(t for t in targets if t is not None), lead_set=tuple(lead_set), lead_stage=stage,
            lead_readonly=bool(lead.get("readonly", True)),
        )
    return TenantConversions(MappingProxyType(compiled)), errors
