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
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation
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
# Decimal arithmetic: sums, differences and products exact (as PostgreSQL's NUMERIC), quotients rounded
# half away from zero to 20 decimal places (as `round(x, 20)` does there).
EXACT = Context(prec=120, Emax=999999, Emin=-999999)
QUOTIENT = Decimal("1e-20")


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
            moments = [m for m in (facts.get(c) for c in columns) if m is not None]
            return (now - max(moments)) // DAY if moments else MISSING

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
                if a is MISSING or b is MISSING or int(b) == 0:  # a fraction where a whole number belongs
                    return MISSING
                return _truncating_division(int(a), int(b))

            return divide

        def decimal_divide(facts: Facts, now: datetime) -> Any:
            a, b = left(facts, now), right(facts, now)
            if a is MISSING or b is MISSING or b == 0:
                return MISSING
            try:
                return EXACT.divide(Decimal(a), Decimal(b)).quantize(QUOTIENT, ROUND_HALF_UP, EXACT)
            except (DivisionByZero, InvalidOperation):
                return MISSING

        return decimal_divide
    exact = {"add": EXACT.add, "sub": EXACT.subtract, "mul": EXACT.multiply}[op]
    whole = {"add": operator.add, "sub": operator.sub, "mul": operator.mul}[op]

    def apply(facts: Facts, now: datetime) -> Any:
        a, b = left(facts, now), right(facts, now)
        if a is MISSING or b is MISSING:
            return MISSING
        if type(a) is int and type(b) is int:
            return whole(a, b)
        return exact(Decimal(a), Decimal(b))

    return apply


class _Source:
    """Python source of one predicate: an expression per node; constants and helpers are passed in, never written."""

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        self.names: dict[str, Any] = {}
        self.counter = 0

    def bind(self, value: Any, prefix: str = "k") -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def temp(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def typed(self, attribute: Attribute, element: str | None) -> tuple[str, str]:
        """An expression true when the attribute has a value of its type, and the variable then holding it."""
        if attribute.source == "derived":
            value = self.temp()
            getter = self.bind(_getter(attribute, self.timezone), "g")
            return f"({value} := {getter}(facts, now)) is not M", value
        head, *rest = attribute.path
        value = self.temp()
        guard = ""
        if attribute.name == "$i":
            fetched = str(element)
        elif rest:
            parent = self.temp()
            guard = f"type({parent} := get({head!r})) is dict and "
            fetched = f"{parent}.get({rest[0]!r})"
        else:
            fetched = f"get({head!r})"
        if attribute.type == NUMBER:
            to_number = self.bind(_float_number, "f")
            test = (f"(type({value} := {fetched}) in NUMBERS or "
                    f"(type({value}) is float and ({value} := {to_number}({value})) is not M))")
        else:
            test = f"type({value} := {fetched}) is {'str' if attribute.type == STRING else 'bool'}"
        return f"({guard}{test})", value

    def node(self, node: Node, element: str | None = None) -> str:
        """The expression of `node`; inside `$iany`/`$iall`, `element` names the variable holding `$i`."""
        if isinstance(node, All):
            return "(" + " and ".join(self.node(c, element) for c in node.children) + ")"
        if isinstance(node, Any_):
            return "(" + " or ".join(self.node(c, element) for c in node.children) + ")"
        if isinstance(node, Compare):
            present, value = self.typed(node.left, element)
            symbol = SYMBOLS[node.op]
            if isinstance(node.right, Const):
                constant = node.right.value
                if node.left.type == NUMBER and not node.left.integer and node.left.source == "field":
                    constant = Decimal(constant)  # decimal values compare fastest with a decimal
                return f"({present} and {value} {symbol} {self.bind(constant)})"
            if isinstance(node.right, Ref):
                other_present, other = self.typed(node.right.attribute, element)
                return f"({present} and {other_present} and {value} {symbol} {other})"
            other = self.temp()
            operand = self.bind(_operand(node.right, self.timezone), "a")
            return f"({present} and ({other} := {operand}(facts, now)) is not M and {value} {symbol} {other})"
        if isinstance(node, Exists):
            test = "is not M" if node.present else "is M"
            if node.attribute.name == "$i":
                return f"({element} {'is not None' if node.present else 'is None'})"
            if node.attribute.source == "derived":
                return f"({self.bind(_getter(node.attribute, self.timezone), 'g')}(facts, now) {test})"
            return f"({self.bind(_raw(node.attribute), 'g')}(facts, now) {test})"
        if isinstance(node, Match):
            present, value = self.typed(node.attribute, element)
            search = self.bind(node.regex.compile().fullmatch, "r")
            text = f"{self.bind(lower_ascii, 'f')}({value})" if node.regex.ignore_case else value
            return f"({present} and {search}({text}) is not None)"
        assert isinstance(node, Each)
        items, element = self.temp(), self.temp()
        inner = self.node(node.condition, element)
        quantifier = "any" if node.quantifier == "any" else "all"
        return (f"(type({items} := get({node.attribute.name!r})) is list and len({items}) > 0 and "
                f"{quantifier}({inner} for {element} in {items}))")


def _float_number(value: float) -> Any:
    return Decimal(repr(value)) if value == value and value not in (float("inf"), float("-inf")) else MISSING


def _raw(attribute: Attribute) -> Callable[[Facts, datetime], Any]:
    """Reads a value of any type: MISSING when absent or null."""
    head, *rest = attribute.path

    def raw(facts: Facts, now: datetime) -> Any:
        value = facts.get(head)
        for part in rest:
            value = value.get(part) if type(value) is dict else None
        return MISSING if value is None else value

    return raw


SYMBOLS = {"eq": "==", "neq": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def to_python(condition: Condition) -> Predicate:
    """A predicate `(facts, now) -> bool` with the condition's meaning.

    The condition becomes the source of one Python function, so a record is judged without a call per
    node. Field names are written into that source as string literals; constants, patterns and helpers
    are passed in as default arguments, never written.
    """
    source = _Source(condition.timezone)
    expression = source.node(condition.node)
    names = {"M": MISSING, "NUMBERS": (int, Decimal), **source.names}
    defaults = ", ".join(f"{name}={name}" for name in names)
    text = f"def predicate(facts, now, {defaults}):\n    get = facts.get\n    return {expression}\n"
    namespace: dict[str, Any] = dict(names)
    exec(compile(text, "<condition>", "exec"), namespace)  # noqa: S102 - the source holds no tenant text
    return namespace["predicate"]  # type: ignore[no-any-return]


def to_value(operand: Operand, timezone: str) -> Callable[[Facts, datetime], Any]:
    """A function `(facts, now)` giving the operand's value, or MISSING (a missing field, a zero divisor)."""
    return _operand(operand, timezone)
