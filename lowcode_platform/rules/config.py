"""The rules of a tenant config, checked and compiled: validations and computed fields per entity, automations."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.rules.automations import Automation, compile_automations
from lowcode_platform.rules.scope import Scope, entity_scope
from lowcode_platform.rules.validations import ComputedField, ValidationRule, compile_computed, compile_validations
from lowcode_platform.schema import EntityDef


@dataclass(frozen=True)
class EntityRules:
    validations: tuple[ValidationRule, ...] = ()
    computed: tuple[ComputedField, ...] = ()  # in dependency order
    activity_for: tuple[str, ...] = ()  # reference fields naming the records an activity is logged on

    @property
    def computed_keys(self) -> frozenset[str]:
        return frozenset(c.key for c in self.computed)


NO_RULES = EntityRules()


@dataclass(frozen=True)
class TenantRules:
    entities: Mapping[str, EntityRules] = field(default_factory=dict)
    automations: tuple[Automation, ...] = ()
    scopes: Mapping[str, Scope] = field(default_factory=dict)  # what conditions on each entity may name

    def of(self, entity: str) -> EntityRules:
        return self.entities.get(entity, NO_RULES)

    def automations_on(self, entity: str, event: str) -> tuple[Automation, ...]:
        """The automations `event` on a record of `entity` may fire, in config order."""
        return self._by_event.get((entity, event), ())

    @functools.cached_property
    def _by_event(self) -> dict[tuple[str, str], tuple[Automation, ...]]:
        grouped: dict[tuple[str, str], list[Automation]] = {}
        for automation in self.automations:
            grouped.setdefault((automation.entity, automation.on), []).append(automation)
        return {key: tuple(value) for key, value in grouped.items()}


def _stage_keys(document: Mapping[str, Any], entity: str) -> frozenset[str] | None:
    """The stage keys of the entity's pipelines (and `lost`), read from the checked document; None without one."""
    pipelines = [p for p in document.get("pipelines", {}).values() if p.get("entity") == entity]
    if not pipelines:
        return None
    return frozenset({s["key"] for p in pipelines for s in p["stages"]} | {"lost"})


def compile_rules(document: Mapping[str, Any], entities: Mapping[str, EntityDef], timezone: str
                  ) -> tuple[TenantRules, list[ErrorDetail]]:
    """The compiled rules of a config whose structure is valid, and every error found in them."""
    errors: list[ErrorDetail] = []
    scopes = {key: entity_scope(entity, timezone, _stage_keys(document, key)) for key, entity in entities.items()}
    compiled: dict[str, EntityRules] = {}
    for key, entity in entities.items():
        spec = document["entities"][key]
        base = f"/entities/{escape_pointer_token(key)}"
        validations = compile_validations(f"{base}/validations", spec.get("validations"), entity, scopes[key], errors)
        computed = compile_computed(base, entity, {k: f["computed"] for k, f in spec["fields"].items() if "computed" in f},
                                    scopes[key], errors)
        activity_for = tuple(spec.get("activity_for", ()))
        for i, name in enumerate(activity_for):
            target = entity.fields.get(name)
            if target is None or target.type != "reference":
                errors.append(detail(f"{base}/activity_for/{i}", "reference_field_needed", field=name))
        compiled[key] = EntityRules(validations, computed, activity_for)
    computed_keys = {key: rules.computed_keys for key, rules in compiled.items()}
    automations = compile_automations(document.get("automations"), entities, scopes, document.get("roles", {}),
                                      computed_keys, errors)
    return TenantRules(MappingProxyType(compiled), automations, MappingProxyType(scopes)), errors
