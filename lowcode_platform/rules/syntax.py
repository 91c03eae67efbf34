"""Parse and check a condition (durable_rules' JSON syntax, a typed subset) against the names of an entity.

`parse_condition` returns a `Condition` whose tree the compilers read, or raises `ConditionError` with
every problem found, each located by a JSON pointer into the condition. What is refused is what
durable_rules answers badly or not at all: objects with more than one key (it reads only the first),
comparisons across types (it coerces through text), null constants, references to unknown fields,
regexes outside the safe subset, and more `$and`/`$or` nodes or alternatives than it can hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Union

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import Localized, in_entity
from lowcode_platform.rules.regex import RegexError, Translated, translate
from lowcode_platform.rules.scope import BOOLEAN, LIST, MAX_DAYS, NUMBER, STRING, Attribute, Scope, item_scope
from lowcode_platform.schema.fields import normalize_datetime

MAX_LOGIC_NODES = 15  # durable_rules refuses more `$and`/`$or` nodes in one rule
MAX_ALTERNATIVES = 500  # and loops forever past 512 tests under one node
MAX_DEPTH = 32
MAX_ARITHMETIC_DEPTH = 8
COMPARISONS = {"$eq": "eq", "$neq": "neq", "$lt": "lt", "$lte": "lte", "$gt": "gt", "$gte": "gte"}
ARITHMETIC = {"$add": "add", "$sub": "sub", "$mul": "mul", "$div": "div"}
ORDERING = {"lt", "lte", "gt", "gte"}
INT64 = 2**63
# Words that fill messages, in both languages.
WORDS = {
    "string": Localized("text", "文本"), "number": Localized("number", "数字"), "boolean": Localized("true/false", "布尔值"),
    "list": Localized("list", "列表"), "object": Localized("object", "对象"), "array": Localized("array", "数组"),
    "null": Localized("null", "null"), "date": Localized("date", "日期"), "datetime": Localized("date-time", "日期时间"),
    "whole number": Localized("whole number", "整数"), "decimal": Localized("decimal", "小数"),
    "a condition": Localized("a condition (a JSON object)", "条件（JSON 对象）"),
    "a value": Localized("a value", "值"),
    "a field name": Localized("a field name (text)", "字段名（文本）"),
    "a pattern": Localized("a pattern (text)", "正则表达式（文本）"),
    "date (YYYY-MM-DD)": Localized("date (YYYY-MM-DD)", "日期（YYYY-MM-DD）"),
    "date-time with a time zone": Localized("date-time with a time zone", "带时区的日期时间"),
}
_WORDED = ("what", "actual", "expected", "type", "format")


# -- the tree ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Const:
    value: str | int | Decimal | bool
    integer: bool = False


@dataclass(frozen=True)
class Ref:
    attribute: Attribute


@dataclass(frozen=True)
class Arith:
    op: str  # add | sub | mul | div
    left: Operand
    right: Operand
    integer: bool  # both sides whole numbers: division truncates toward zero


Operand = Union[Const, Ref, Arith]


@dataclass(frozen=True)
class All:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Any_:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Compare:
    op: str  # eq | neq | lt | lte | gt | gte
    left: Attribute
    right: Operand


@dataclass(frozen=True)
class Exists:
    attribute: Attribute
    present: bool


@dataclass(frozen=True)
class Match:
    attribute: Attribute
    regex: Translated


@dataclass(frozen=True)
class Each:
    quantifier: str  # any | all
    attribute: Attribute
    condition: Node


Node = Union[All, Any_, Compare, Exists, Match, Each]


@dataclass(frozen=True)
class Condition:
    """A checked condition: its tree, the names it uses, and the document it was read from."""

    node: Node
    source: Any
    timezone: str
    names: frozenset[str]

    def uses(self, name: str) -> bool:
        return name in self.names


class ConditionError(ValueError):
    """A condition that cannot be used; `errors` locate each problem inside it."""

    def __init__(self, errors: list[ErrorDetail]) -> None:
        super().__init__("; ".join(f"{e.pointer or '/'}: {e.message}" for e in errors))
        self.errors = errors


# -- the parser -------------------------------------------------------------------------------------

def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, (int, Decimal, float)):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def _body_of(operator: str) -> Localized:
    return Localized(f"the body of {operator} (a JSON object)", f"{operator} 的内容（JSON 对象）")


def _is_date(text: str) -> bool:
    try:
        return len(text) == 10 and date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _is_datetime(text: str) -> bool:
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


class _Parser:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.errors: list[ErrorDetail] = []
        self.logic_nodes = 0
        self.names: set[str] = set()

    def error(self, pointer: str, code: str, **params: Any) -> None:
        for name in _WORDED:
            if isinstance(params.get(name), str):
                params[name] = WORDS.get(params[name], params[name])
        self.errors.append(detail(pointer, code, **params))

    def only_key(self, value: Any, pointer: str, what: str) -> tuple[str, Any] | None:
        if not isinstance(value, dict):
            self.error(pointer, "condition_type", what=what, actual=_kind(value))
            return None
        if len(value) != 1:
            self.error(pointer, "condition_one_key", what=what, count=len(value))
            return None
        return next(iter(value.items()))

    def attribute(self, scope: Scope, name: str, pointer: str) -> Attribute | None:
        attribute = scope.get(name)
        if attribute is None:
            self.error(pointer, "unknown_field", field=name, where=in_entity(scope.entity))
        elif not name.startswith("$"):
            self.names.add(attribute.name.split(".")[0])
        return attribute

    def condition(self, value: Any, pointer: str, scope: Scope, depth: int = 0) -> Node | None:
        if depth > MAX_DEPTH:
            self.error(pointer, "condition_too_deep", limit=MAX_DEPTH)
            return None
        pair = self.only_key(value, pointer, "a condition")
        if pair is None:
            return None
        key, body = pair
        here = f"{pointer}/{escape_pointer_token(key)}"
        if key in ("$and", "$or"):
            return self.logic(key, body, here, scope, depth)
        if key in ("$ex", "$nex"):
            pair = self.only_key(body, here, _body_of(key))
            if pair is None:
                return None
            attribute = self.attribute(scope, pair[0], f"{here}/{escape_pointer_token(pair[0])}")
            return Exists(attribute, key == "$ex") if attribute else None
        if key in COMPARISONS:
            pair = self.only_key(body, here, _body_of(key))
            return self.comparison(COMPARISONS[key], pair, here, scope) if pair else None
        if key in ("$mt", "$imt"):
            return self.match(key, body, here, scope)
        if key in ("$iany", "$iall"):
            return self.each(key, body, here, scope, depth)
        if key.startswith("$") and scope.get(key) is None:
            self.error(here, "condition_operator", operator=key)
            return None
        return self.comparison("eq", (key, body), pointer, scope)

    def logic(self, key: str, body: Any, pointer: str, scope: Scope, depth: int) -> Node | None:
        self.logic_nodes += 1
        if self.logic_nodes == MAX_LOGIC_NODES + 1:
            self.error(pointer, "condition_too_many_nodes", limit=MAX_LOGIC_NODES)
        if not isinstance(body, list) or not body:
            self.error(pointer, "condition_list", operator=key)
            return None
        if len(body) > MAX_ALTERNATIVES:
            self.error(pointer, "condition_too_many_items", limit=MAX_ALTERNATIVES)
            return None
        children = [self.condition(item, f"{pointer}/{i}", scope, depth + 1) for i, item in enumerate(body)]
        if any(c is None for c in children):
            return None
        if key == "$and":
            return All(tuple(children))  # type: ignore[arg-type]
        node = Any_(tuple(children))  # type: ignore[arg-type]
        if _alternatives(node) > MAX_ALTERNATIVES:  # durable_rules counts a nested $or's alternatives as its own
            self.error(pointer, "condition_too_many_items", limit=MAX_ALTERNATIVES)
            return None
        return node

    def comparison(self, op: str, pair: tuple[str, Any], pointer: str, scope: Scope) -> Node | None:
        name, value = pair
        here = f"{pointer}/{escape_pointer_token(name)}"
        left = self.attribute(scope, name, here)
        if left is None:
            return None
        if not left.comparable:
            self.error(here, "condition_not_comparable", field=name, type=left.type)
            return None
        if left.type == BOOLEAN and op in ORDERING:
            self.error(here, "condition_operator_type", operator="$" + op, type=BOOLEAN)
            return None
        if left.format == "days":
            if not (isinstance(value, int) and not isinstance(value, bool) and -MAX_DAYS <= value <= MAX_DAYS):
                self.error(here, "condition_days", field=name, limit=MAX_DAYS)
                return None
            return Compare(op, left, Const(value, integer=True))
        right = self.operand(value, here, scope, left)
        if right is None:
            return None
        if isinstance(right, Const) and left.options is not None and op in ("eq", "neq") and right.value not in left.options:
            self.error(here, "condition_option", value=right.value, field=name)
            return None
        return Compare(op, left, right)

    def operand(self, value: Any, pointer: str, scope: Scope, left: Attribute) -> Operand | None:
        """The right side of a comparison with `left`, of `left`'s type."""
        if isinstance(value, dict):
            pair = self.only_key(value, pointer, "a value")
            if pair is None:
                return None
            key, body = pair
            if key == "$m":
                return self.reference(body, f"{pointer}/$m", scope, left)
            if key in ARITHMETIC:
                if left.type != NUMBER:
                    self.error(pointer, "condition_mismatch", field=left.name, expected=left.type, actual=NUMBER)
                    return None
                return self.arithmetic(key, body, f"{pointer}/{escape_pointer_token(key)}", scope)
            self.error(f"{pointer}/{escape_pointer_token(key)}", "condition_operator", operator=key)
            return None
        if isinstance(value, float):  # from Python callers; JSON numbers arrive as int or Decimal
            value = Decimal(repr(value)) if math.isfinite(value) else None
        kind = _kind(value)
        if kind == NUMBER and not _plain_number(value):
            self.error(pointer, "condition_number")
            return None
        if kind == "null":
            self.error(pointer, "condition_null")
            return None
        if kind != left.type:
            self.error(pointer, "condition_mismatch", field=left.name, expected=left.type, actual=kind)
            return None
        if left.format == "date" and not _is_date(value):
            self.error(pointer, "condition_format", field=left.name, format="date (YYYY-MM-DD)")
            return None
        if left.format == "datetime":
            if not _is_datetime(value):
                self.error(pointer, "condition_format", field=left.name, format="date-time with a time zone")
                return None
            value = normalize_datetime(value)
        return Const(value, integer=isinstance(value, int) and not isinstance(value, bool))

    def reference(self, name: Any, pointer: str, scope: Scope, left: Attribute) -> Ref | None:
        if not isinstance(name, str):
            self.error(pointer, "condition_type", what="a field name", actual=_kind(name))
            return None
        attribute = self.attribute(scope, name, pointer)
        if attribute is None:
            return None
        if attribute.format == "days":
            self.error(pointer, "condition_days_reference", field=name)
            return None
        if attribute.type != left.type or attribute.format != left.format:
            actual = attribute.format or attribute.type
            self.error(pointer, "condition_mismatch", field=left.name, expected=left.format or left.type, actual=actual)
            return None
        return Ref(attribute)

    def arithmetic(self, key: str, body: Any, pointer: str, scope: Scope, depth: int = 1) -> Arith | None:
        number = Attribute("", NUMBER)
        if depth > MAX_ARITHMETIC_DEPTH:
            self.error(pointer, "condition_arithmetic_depth", limit=MAX_ARITHMETIC_DEPTH)
            return None
        if not isinstance(body, dict) or set(body) != {"$l", "$r"}:
            self.error(pointer, "condition_arithmetic", operator=key)
            return None
        sides = []
        for side in ("$l", "$r"):
            value = body[side]
            if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ARITHMETIC:
                op = next(iter(value))
                sides.append(self.arithmetic(op, value[op], f"{pointer}/{side}/{escape_pointer_token(op)}", scope,
                                             depth + 1))
            else:
                sides.append(self.operand(value, f"{pointer}/{side}", scope, number))
        left, right = sides
        if left is None or right is None:
            return None
        if isinstance(left, Const) and isinstance(right, Const):
            self.error(pointer, "condition_constant_arithmetic", operator=key)
            return None
        integer = _integer(left) and _integer(right)
        return Arith(ARITHMETIC[key], left, right, integer)

    def match(self, key: str, body: Any, pointer: str, scope: Scope) -> Node | None:
        pair = self.only_key(body, pointer, _body_of(key))
        if pair is None:
            return None
        name, pattern = pair
        here = f"{pointer}/{escape_pointer_token(name)}"
        attribute = self.attribute(scope, name, here)
        if attribute is None:
            return None
        if attribute.type != STRING:
            self.error(here, "condition_operator_type", operator=key, type=attribute.type)
            return None
        if not isinstance(pattern, str):
            self.error(here, "condition_type", what="a pattern", actual=_kind(pattern))
            return None
        try:
            return Match(attribute, translate(pattern, ignore_case=key == "$imt"))
        except RegexError as exc:
            self.error(here, "condition_regex", error=str(exc))
            return None

    def each(self, key: str, body: Any, pointer: str, scope: Scope, depth: int) -> Node | None:
        pair = self.only_key(body, pointer, _body_of(key))
        if pair is None:
            return None
        name, inner = pair
        here = f"{pointer}/{escape_pointer_token(name)}"
        attribute = self.attribute(scope, name, here)
        if attribute is None:
            return None
        if attribute.type != LIST or attribute.item is None:
            self.error(here, "condition_operator_type", operator=key, type=attribute.type)
            return None
        condition = self.condition(inner, here, item_scope(scope, attribute.item), depth + 1)
        return Each("any" if key == "$iany" else "all", attribute, condition) if condition else None


def _alternatives(node: Any_) -> int:
    return sum(_alternatives(c) if isinstance(c, Any_) else 1 for c in node.children)


def _plain_number(value: int | Decimal) -> bool:
    """Whether durable_rules reads the number as written: no exponent, within 64 bits."""
    if isinstance(value, Decimal):
        return value.is_finite() and "E" not in str(value) and abs(value) < INT64
    return -INT64 <= value < INT64


def _integer(operand: Operand) -> bool:
    if isinstance(operand, Const):
        return operand.integer
    if isinstance(operand, Ref):
        return operand.attribute.integer
    return operand.integer


def parse_condition(document: Any, scope: Scope) -> Condition:
    """The checked form of `document`, or `ConditionError` listing every problem (pointers into it)."""
    parser = _Parser(scope)
    node = parser.condition(document, "", scope)
    if parser.errors or node is None:
        raise ConditionError(parser.errors)
    return Condition(node, document, scope.timezone, frozenset(parser.names))


def check_condition(document: Any, scope: Scope, pointer: str = "") -> list[ErrorDetail]:
    """The problems of `document` as a condition, located under `pointer`."""
    try:
        parse_condition(document, scope)
    except ConditionError as exc:
        return [detail(pointer + e.pointer, e.code, **e.params) for e in exc.errors]
    return []


def parse_value(document: Any, scope: Scope, target: Attribute) -> Operand:
    """A value for `target` (a constant, `{"$m": name}` or arithmetic), or `ConditionError`."""
    parser = _Parser(scope)
    operand = parser.operand(document, "", scope, target)
    if operand is not None and target.integer and not _integer(operand):
        parser.error("", "condition_mismatch", field=target.name, expected="whole number", actual="decimal")
    if parser.errors or operand is None:
        raise ConditionError(parser.errors)
    return operand


def operand_names(operand: Operand) -> frozenset[str]:
    """The fields an operand reads."""
    if isinstance(operand, Ref):
        return frozenset({operand.attribute.name.split(".")[0]})
    if isinstance(operand, Arith):
        return operand_names(operand.left) | operand_names(operand.right)
    return frozenset()
