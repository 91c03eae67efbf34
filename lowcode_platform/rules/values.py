"""Values a config assigns to a field (computed fields, `set` and `create_task` actions), checked and compiled.

A value is a constant of the field's type, `{"$m": other_field}` or arithmetic over number fields. A
constant must be a valid value of the field (an enum's option, within min and max, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail
from lowcode_platform.rules.python import Facts, to_value
from lowcode_platform.rules.scope import Scope, field_attribute
from lowcode_platform.rules.syntax import ConditionError, Const, operand_names, parse_value
from lowcode_platform.schema.fields import FieldDef, field_schema
from lowcode_platform.schema.validators import iter_schema_errors, make_validator

Evaluator = Callable[[Facts, datetime], Any]


def compile_value(document: Any, pointer: str, scope: Scope, field: FieldDef,
                  errors: list[ErrorDetail]) -> tuple[Evaluator, frozenset[str]] | None:
    """The evaluator of a value for `field` and the fields (of `scope`'s entity) it reads; problems go to `errors`."""
    attribute = field_attribute(field)
    if attribute.comparable:
        try:
            operand = parse_value(document, scope, attribute)
        except ConditionError as exc:
            errors.extend(detail(pointer + e.pointer, e.code, **e.params) for e in exc.errors)
            return None
        if isinstance(operand, Const) and not _valid_constant(operand.value, pointer, field, errors):
            return None
        return to_value(operand, scope.timezone), operand_names(operand)
    if not _valid_constant(document, pointer, field, errors):
        return None
    return (lambda facts, now: document), frozenset()


def _valid_constant(value: Any, pointer: str, field: FieldDef, errors: list[ErrorDetail]) -> bool:
    found = list(iter_schema_errors(make_validator(field_schema(field, "en")), value))
    if found:
        errors.append(detail(pointer + found[0].pointer, "invalid_value", error=found[0].message))
    return not found
