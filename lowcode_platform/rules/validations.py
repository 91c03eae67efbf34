"""Validation rules and computed fields of an entity: what every create and update must meet, and what it derives.

A validation rule `{key, when?, assert, message, pointer?}` fails a write when `when` holds (or is
absent) and `assert` does not. A computed field `{cases: [{when, value}], default?}` takes the value of
the first case whose `when` holds, else the default, else no value; computed fields may read each other
(they are evaluated in dependency order) but not in a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import NOWHERE
from lowcode_platform.rules.python import MISSING, Facts, Predicate, to_python
from lowcode_platform.rules.scope import Scope
from lowcode_platform.rules.syntax import Condition, ConditionError, parse_condition
from lowcode_platform.rules.values import Evaluator, compile_value
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.labels import Label

COMPUTABLE_TYPES = frozenset({"text", "long_text", "integer", "decimal", "money", "boolean", "date", "datetime",
                              "enum", "multi_enum", "user"})


def compile_condition(document: Any, pointer: str, scope: Scope,
                      errors: list[ErrorDetail]) -> tuple[Condition, Predicate] | None:
    """A condition from config and its predicate; problems (located under `pointer`) go to `errors`."""
    try:
        condition = parse_condition(document, scope)
    except ConditionError as exc:
        errors.extend(detail(pointer + e.pointer, e.code, **e.params) for e in exc.errors)
        return None
    return condition, to_python(condition)


@dataclass(frozen=True)
class ValidationRule:
    key: str
    when: Predicate | None
    check: Predicate
    message: Label
    pointer: str

    def fails(self, facts: Facts, now: datetime) -> bool:
        return (self.when is None or self.when(facts, now)) and not self.check(facts, now)


@dataclass(frozen=True)
class ComputedField:
    key: str
    cases: tuple[tuple[Predicate, Evaluator], ...]
    default: Evaluator | None
    reads: frozenset[str]

    def value(self, facts: Facts, now: datetime) -> Any:
        """The field's value for `facts`, or MISSING."""
        for when, value in self.cases:
            if when(facts, now):
                return value(facts, now)
        return self.default(facts, now) if self.default is not None else MISSING


def compile_validations(base: str, specs: Any, entity: EntityDef, scope: Scope,
                        errors: list[ErrorDetail]) -> tuple[ValidationRule, ...]:
    rules = []
    seen: set[str] = set()
    for i, spec in enumerate(specs if isinstance(specs, list) else ()):
        pointer = f"{base}/{i}"
        if spec["key"] in seen:
            errors.append(detail(f"{pointer}/key", "duplicate_key", key=spec["key"], where=NOWHERE))
        seen.add(spec["key"])
        target = spec.get("pointer", "")
        if target and target[1:] not in entity.fields:
            errors.append(detail(f"{pointer}/pointer", "unknown_field", field=target[1:], where=NOWHERE))
        when = compile_condition(spec["when"], f"{pointer}/when", scope, errors) if "when" in spec else None
        check = compile_condition(spec["assert"], f"{pointer}/assert", scope, errors)
        if check is not None and ("when" not in spec or when is not None):
            rules.append(ValidationRule(spec["key"], when[1] if when else None, check[1],
                                        Label.parse(spec["message"]), target))
    return tuple(rules)


def compile_computed(base: str, entity: EntityDef, specs: Mapping[str, Any], scope: Scope,
                     errors: list[ErrorDetail]) -> tuple[ComputedField, ...]:
    """The entity's computed fields in an order where each comes after the computed fields it reads."""
    compiled: dict[str, ComputedField] = {}
    for key, spec in specs.items():
        pointer = f"{base}/fields/{escape_pointer_token(key)}/computed"
        field = entity.fields[key]
        if field.type not in COMPUTABLE_TYPES:
            errors.append(detail(pointer, "option_not_for_type", option="computed", type=field.type))
            continue
        cases, reads, broken = [], set(), False
        for i, case in enumerate(spec["cases"]):
            when = compile_condition(case["when"], f"{pointer}/cases/{i}/when", scope, errors)
            value = compile_value(case["value"], f"{pointer}/cases/{i}/value", scope, field, errors)
            if when is None or value is None:
                broken = True
                continue
            cases.append((when[1], value[0]))
            reads |= when[0].names | value[1]
        default = None
        if "default" in spec:
            compiled_default = compile_value(spec["default"], f"{pointer}/default", scope, field, errors)
            broken |= compiled_default is None
            if compiled_default is not None:
                default = compiled_default[0]
                reads |= compiled_default[1]
        if not broken:
            compiled[key] = ComputedField(key, tuple(cases), default, frozenset(reads))
    return _in_dependency_order(base, compiled, errors)


def _in_dependency_order(base: str, computed: Mapping[str, ComputedField],
                         errors: list[ErrorDetail]) -> tuple[ComputedField, ...]:
    ordered: list[ComputedField] = []
    state: dict[str, str] = {}

    def visit(key: str, path: tuple[str, ...]) -> None:
        if state.get(key) == "done":
            return
        if state.get(key) == "visiting":
            cycle = " -> ".join((*path[path.index(key):], key))
            errors.append(detail(f"{base}/fields/{escape_pointer_token(key)}/computed", "computed_cycle", cycle=cycle))
            return
        state[key] = "visiting"
        for name in sorted(computed[key].reads - {key}):
            if name in computed:
                visit(name, (*path, key))
        if key in computed[key].reads:
            errors.append(detail(f"{base}/fields/{escape_pointer_token(key)}/computed", "computed_cycle",
                                 cycle=f"{key} -> {key}"))
        state[key] = "done"
        ordered.append(computed[key])

    for key in computed:
        visit(key, ())
    return tuple(ordered)
