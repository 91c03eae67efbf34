"""Compile a condition to a SQLAlchemy boolean expression over the records table (SQLite and PostgreSQL).

A missing or null value is SQL NULL, and every comparison with NULL is NULL, which a WHERE treats as
false. The language has no negation, so NULL can never turn true on the way up through `$and`/`$or`:
the SQL verdict is the Python predicate's. System fields compile to their columns; a derived day count
compared with a number compiles to a comparison of the timestamp column with a moment computed from the
clock, which an index on that column can serve.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Numeric, String, and_, literal, not_, or_, select, true

from lowcode_platform.rules.scope import BOOLEAN, DAYS, NUMBER, Attribute
from lowcode_platform.rules.syntax import All, Any_, Arith, Compare, Condition, Const, Each, Exists, Match, Node, Ref
from lowcode_platform.storage.json_fields import json_field
from lowcode_platform.storage.sql_functions import (
    ELEMENT,
    arithmetic,
    array_test,
    ascii_lower,
    byte_order,
    exact_compare,
    float_number,
    json_number,
    json_present,
    latest_stamp,
    local_date,
    number_text,
    tie_break,
)
from lowcode_platform.storage.tables import Record, User

SqlCondition = Callable[[datetime], ColumnElement[bool]]
_KINDS = {NUMBER: "numeric", BOOLEAN: "boolean"}
_COLUMNS = {"owner": Record.owner_id, "stage": Record.stage, "pool": Record.pool}
_TIMESTAMPS = {"created_at": Record.created_at, "last_activity_at": Record.last_activity_at,
               "stage_entered_at": Record.stage_entered_at, "won_at": Record.won_at, "owned_at": Record.owned_at,
               "deal_at": Record.deal_at}
_OPS = {"eq": "__eq__", "neq": "__ne__", "lt": "__lt__", "lte": "__le__", "gt": "__gt__", "gte": "__ge__"}


def latest_of(names: tuple[str, ...]) -> ColumnElement[Any]:
    """The latest of the named timestamps (those set); the derived day counts over several end with
    `created_at`, which is never null."""
    columns = [_TIMESTAMPS[name] for name in names]
    if len(columns) == 1:
        return columns[0]  # type: ignore[no-any-return]
    assert names[-1] == "created_at"
    return latest_stamp(*columns)


def _owner_team() -> ColumnElement[Any]:
    return (select(User.team_id)
            .where(User.tenant_id == Record.tenant_id, User.id == Record.owner_id)
            .scalar_subquery())


class _Compiler:
    def __init__(self, timezone: str, now: datetime, element: ColumnElement[Any] | None = None) -> None:
        self.timezone = timezone
        self.now = now
        self.element = element  # the `$i` of an `$iany`/`$iall`

    def value(self, attribute: Attribute) -> ColumnElement[Any]:
        """The SQL of a comparable attribute's value."""
        if attribute.name == "$i":
            assert self.element is not None
            return self.element
        if attribute.source == "system":
            return _owner_team() if attribute.name == "owner_team" else _COLUMNS[attribute.name]
        if attribute.name == "created_on":
            return local_date(Record.created_at, self.timezone)
        return json_field(attribute.name, _KINDS.get(attribute.type, "text"))

    def operand(self, operand: Any, like: Attribute) -> ColumnElement[Any]:
        if isinstance(operand, Const):
            sql_type = Boolean() if like.type == BOOLEAN else Numeric() if like.type == NUMBER else String()
            return literal(operand.value, sql_type)
        if isinstance(operand, Ref):
            return self.value(operand.attribute)
        return arithmetic(operand.op, operand.integer, self.exact(operand.left), self.exact(operand.right))

    def exact(self, operand: Any) -> ColumnElement[Any]:
        """A number operand with every digit (SQLite reads JSON numbers as floats otherwise)."""
        if isinstance(operand, Const):
            return number_text(operand.value)
        if isinstance(operand, Ref):
            return json_number(operand.attribute.name)
        return arithmetic(operand.op, operand.integer, self.exact(operand.left), self.exact(operand.right))

    def node(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, All):
            return and_(*(self.node(c) for c in node.children))
        if isinstance(node, Any_):
            return or_(*(self.node(c) for c in node.children))
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Exists):
            return self.exists(node.attribute) if node.present else not_(self.exists(node.attribute))
        if isinstance(node, Match):
            value = self.value(node.attribute)
            if node.regex.ignore_case:
                value = ascii_lower(value)
            return value.regexp_match(node.regex.pattern)
        assert isinstance(node, Each)
        return self.each(node)

    def compare(self, node: Compare) -> ColumnElement[bool]:
        left = node.left
        if left.format == "days":
            return self.days(left.name, node.op, int(node.right.value))  # type: ignore[union-attr]
        if isinstance(node.right, Arith):
            return exact_compare(node.op, self.exact(Ref(left)), self.exact(node.right))
        if left.type == NUMBER and left.name != "$i":
            return self.numbers(node.op, left, node.right)
        value, other = self.value(left), self.operand(node.right, left)
        if left.type == "string" and node.op not in ("eq", "neq"):
            value, other = byte_order(value), byte_order(other)
        return getattr(value, _OPS[node.op])(other)

    def numbers(self, op: str, left: Attribute, right: Const | Ref) -> ColumnElement[bool]:
        """`left op right` over floats (fast, indexable), deciding ties between the exact numbers."""
        fast_left = self.value(left)
        fast_right = float_number(right.value) if isinstance(right, Const) else self.value(right.attribute)
        tie = tie_break(op, self.exact(Ref(left)), self.exact(right))
        if op == "eq":
            return and_(fast_left == fast_right, tie)
        if op == "neq":
            return or_(fast_left != fast_right, and_(fast_left == fast_right, tie))
        bound = fast_left >= fast_right if op in ("gt", "gte") else fast_left <= fast_right
        return and_(bound, or_(fast_left != fast_right, tie))

    def days(self, name: str, op: str, count: int) -> ColumnElement[bool]:
        """`name op count` for a whole-day count, as comparisons of timestamps with moments from the clock."""
        since = self.now - timedelta(days=count)  # elapsed >= count days  <=>  stamp <= since
        before = self.now - timedelta(days=count + 1)

        def test(stamp: Any) -> ColumnElement[bool]:
            return {
                "gte": lambda: stamp <= since, "gt": lambda: stamp <= before,
                "lte": lambda: stamp > before, "lt": lambda: stamp > since,
                "eq": lambda: and_(stamp <= since, stamp > before),
                "neq": lambda: or_(stamp > since, stamp <= before),
            }[op]()

        return test(latest_of(DAYS[name]))

    def exists(self, attribute: Attribute) -> ColumnElement[bool]:
        if attribute.format == "days":
            return and_(*(_TIMESTAMPS[c].isnot(None) for c in DAYS[attribute.name][:1])) \
                if len(DAYS[attribute.name]) == 1 else true()
        if attribute.name == "created_on":
            return true()
        if attribute.source == "system":
            return self.value(attribute).isnot(None)
        if attribute.name == "$i":
            return self.value(attribute).isnot(None)
        return json_present(attribute.name)

    def each(self, node: Each) -> ColumnElement[bool]:
        inner = _Compiler(self.timezone, self.now, ELEMENT).node(node.condition)
        return array_test(node.attribute.name, node.quantifier, inner)


def to_sql(condition: Condition) -> SqlCondition:
    """A function of the clock giving the condition as a boolean expression over `records`."""
    node, timezone = condition.node, condition.timezone
    return lambda now: _Compiler(timezone, now).node(node)
