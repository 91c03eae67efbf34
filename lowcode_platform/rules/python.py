"""Compile a condition to a Python predicate over one record's facts and a clock.

Facts are the record's fields by key plus its system values: `owner`, `owner_team`, `stage`, `pool`
(strings or None) and the timestamps `created_at`, `last_activity_at`, `stage_entered_at`, `won_at`
(timezone-aware datetimes or None). A value that is missing, null or not of the type the condition
expects makes every comparison on it false, `$neq` included.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from lowcode_platform.rules.regex import lower_ascii
from lowcode_platform.rules.scope import DAYS, NUMBER, STRING, Attribute
from lowcode_platform.rules.syntax import (
    All,
    Any_,
    Arith,
    Compare,
    Condition,
    Const,
    Each,
    Exists,
    Match,
    Node,
    Operand,
    Ref,
)

Facts = Mapping[str, Any]
Predicate = Callable[[Facts, datetime], bool]
MISSING: Any = object()
DAY = timedelta(days=1)
OPERATORS = {"eq": operator.eq, "neq": operator.ne, "lt": operator.lt, "lte": operator.le,
             "gt": operator.gt, "gte": operator.ge}


def _typed(value: Any, kind: str) -> Any:
    """`value` if it is of `kind` (numbers as int or Decimal), else MISSING."""
    cls = type(value)
    if kind == STRING:
        return value if cls is str else MISSING
    if kind == NUMBER:
        if cls is int or cls is Decimal:
            return value
        return Decimal(repr(value)) if cls is float else MISSING
    return value if cls is bool else MISSING


def _getter(attribute: Attribute, timezone: str) -> Callable[[Facts, datetime], Any]:
    """Reads the attribute's value from facts: MISSING when absent, null or of another type."""
    kind = attribute.type
    if attribute.format == "days":
        columns = DAYS[attribute.name]

        def days(facts: Facts, now: datetime) -> Any:
            for column in columns:
                moment = facts.get(column)
                if moment is not None:
                    return (now - moment) // DAY
            return MISSING

        return days
    if attribute.name == "created_on":
        zone = ZoneInfo(timezone)

        def created_on(facts: Facts, now: datetime) -> Any:
            moment = facts.get("created_at")
            return MISSING if moment is None else moment.astimezone(zone).date().isoformat()

        return created_on
    head, *rest = attribute.path
    if not rest:
        return lambda facts, now: _typed(facts.get(head, MISSING), kind)
    (part,) = rest

    def nested(facts: Facts, now: datetime) -> Any:
        parent = facts.get(head)
        return _typed(parent.get(part, MISSING), kind) if type(parent) is dict else MISSING

    return nested


def _operand(operand: Any, timezone: str) -> Callable[[Facts, datetime], Any]:
    if isinstance(operand, Const):
        value = operand.value
        return lambda facts, now: value
    if isinstance(operand, Ref):
        return _getter(operand.attribute, timezone)
    return _arith(operand, timezone)


def _truncating_division(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _arith(node: Arith, timezone: str) -> Callable[[Facts, datetime], Any]:
    left, right = _operand(node.left, timezone), _operand(node.right, timezone)
    op = node.op
    if op == "div":
        if node.integer:
            def divide(facts: Facts, now: datetime) -> Any:
                a, b = left(facts, now), right(facts, now)
                if a is MISSING or b is MISSING or b == 0:
                    return MISSING
                return _truncating_division(int(a), int(b))

            return divide

        def decimal_divide(facts: Facts, now: datetime) -> Any:
            a, b = left(facts, now), right(facts, now)
            if a is MISSING or b is MISSING or b == 0:
                return MISSING
            try:
                return Decimal(a) / Decimal(b)
            except (DivisionByZero, InvalidOperation):
                return MISSING

        return decimal_divide
    function = {"add": operator.add, "sub": operator.sub, "mul": operator.mul}[op]

    def apply(facts: Facts, now: datetime) -> Any:
        a, b = left(facts, now), right(facts, now)
        if a is MISSING or b is MISSING:
            return MISSING
        return function(a, b)

    return apply


def _compile(node: Node, timezone: str) -> Predicate:
    if isinstance(node, All):
        children = tuple(_compile(c, timezone) for c in node.children)
        return lambda facts, now: all(c(facts, now) for c in children)
    if isinstance(node, Any_):
        children = tuple(_compile(c, timezone) for c in node.children)
        return lambda facts, now: any(c(facts, now) for c in children)
    if isinstance(node, Compare):
        return _compare(node, timezone)
    if isinstance(node, Exists):
        get = _getter(node.attribute, timezone) if node.attribute.source == "derived" else _raw(node.attribute)
        if node.present:
            return lambda facts, now: get(facts, now) is not MISSING
        return lambda facts, now: get(facts, now) is MISSING
    if isinstance(node, Match):
        return _match(node, timezone)
    assert isinstance(node, Each)
    return _each(node, timezone)


def _raw(attribute: Attribute) -> Callable[[Facts, datetime], Any]:
    """Reads a value of any type: MISSING when absent or null."""
    head, *rest = attribute.path

    def raw(facts: Facts, now: datetime) -> Any:
        value = facts.get(head)
        for part in rest:
            value = value.get(part) if type(value) is dict else None
        return MISSING if value is None else value

    return raw


def _compare(node: Compare, timezone: str) -> Predicate:
    get = _getter(node.left, timezone)
    compare = OPERATORS[node.op]
    if isinstance(node.right, Const):
        constant = node.right.value

        def against_constant(facts: Facts, now: datetime) -> bool:
            value = get(facts, now)
            return value is not MISSING and compare(value, constant)

        return against_constant
    right = _operand(node.right, timezone)

    def against_operand(facts: Facts, now: datetime) -> bool:
        value = get(facts, now)
        if value is MISSING:
            return False
        other = right(facts, now)
        return other is not MISSING and compare(value, other)

    return against_operand


def _match(node: Match, timezone: str) -> Predicate:
    get = _getter(node.attribute, timezone)
    search = node.regex.compile().search
    if node.regex.ignore_case:
        def match_lowered(facts: Facts, now: datetime) -> bool:
            value = get(facts, now)
            return value is not MISSING and search(lower_ascii(value)) is not None

        return match_lowered

    def match(facts: Facts, now: datetime) -> bool:
        value = get(facts, now)
        return value is not MISSING and search(value) is not None

    return match


def _each(node: Each, timezone: str) -> Predicate:
    name = node.attribute.name
    inner = _compile(node.condition, timezone)
    quantifier = any if node.quantifier == "any" else all

    def each(facts: Facts, now: datetime) -> bool:
        items = facts.get(name)
        if type(items) is not list or not items:  # durable_rules: $iall on [] is false, like $iany
            return False
        return quantifier(inner({"$i": item}, now) for item in items)

    return each


def to_python(condition: Condition) -> Predicate:
    """A predicate `(facts, now) -> bool` with the condition's meaning."""
    return _compile(condition.node, condition.timezone)


def to_value(operand: Operand, timezone: str) -> Callable[[Facts, datetime], Any]:
    """A function `(facts, now)` giving the operand's value, or MISSING (a missing field, a zero divisor)."""
    return _operand(operand, timezone)
