"""SQL constructs that mean the same on SQLite and PostgreSQL, for the condition compiler.

PostgreSQL does these natively; SQLite gets small Python functions, registered on every connection by
`register_sqlite_functions`, that compute exactly what the Python predicate computes: decimal arithmetic
without binary rounding, division that truncates whole numbers and answers NULL for a zero divisor.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Numeric, String, literal, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from lowcode_platform.storage.json_fields import PATH, json_field, pg_parent

# What the condition language's Python side computes (rules/python.py): exact sums, differences and
# products; quotients rounded half away from zero to 20 decimal places.
_EXACT = Context(prec=120, Emax=999999, Emin=-999999)
_QUOTIENT = Decimal("1e-20")
UPPER, LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"


class _Element(ColumnElement[Any]):
    inherit_cache = True


ELEMENT = literal_column("lowcode_element.value", String())


class array_test(_Element):  # noqa: N801 - reads like a SQL function
    """Whether `condition` holds for some (`any`) or every (`all`) element of the array at `records.data -> key`.

    `condition` reads the element (as text) through `ELEMENT`. A key holding no array, or an empty
    one, fails both tests.
    """

    type = Boolean()
    _traverse_internals = [("key_name", InternalTraversal.dp_string), ("quantifier", InternalTraversal.dp_string),
                           ("condition", InternalTraversal.dp_clauseelement)]

    def __init__(self, key: str, quantifier: str, condition: ColumnElement[bool]) -> None:
        if not PATH.match(key) or quantifier not in ("any", "all"):
            raise ValueError(f"bad field key or quantifier: {key!r}, {quantifier!r}")
        self.key_name, self.quantifier, self.condition = key, quantifier, condition


def _array_test(elements: str, element: array_test, compiler: Any, **kw: Any) -> str:
    condition = compiler.process(element.condition, **kw)
    if element.quantifier == "any":
        return f"(EXISTS (SELECT 1 FROM {elements} WHERE {condition}))"
    return (f"(EXISTS (SELECT 1 FROM {elements}) AND "
            f"NOT EXISTS (SELECT 1 FROM {elements} WHERE NOT coalesce({condition}, false)))")


@compiles(array_test, "postgresql")
def _array_test_pg(element: array_test, compiler: Any, **kw: Any) -> str:
    column, key = pg_parent(element.key_name)
    value = f"{column} -> '{key}'"
    elements = (f"jsonb_array_elements_text(CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} "
                f"ELSE '[]'::jsonb END) AS lowcode_element(value)")
    return _array_test(elements, element, compiler, **kw)


@compiles(array_test)
def _array_test_sqlite(element: array_test, compiler: Any, **kw: Any) -> str:
    path = f"'$.{element.key_name}'"
    elements = (f"json_each(CASE WHEN json_type(records.data, {path}) = 'array' "
                f"THEN json_extract(records.data, {path}) ELSE '[]' END) AS lowcode_element")
    return _array_test(elements, element, compiler, **kw)


class json_present(_Element):  # noqa: N801
    """Whether `records.data` holds a non-null value at `key`."""

    type = Boolean()
    _traverse_internals: list[Any] = []

    def __init__(self, key: str) -> None:
        if not PATH.match(key):
            raise ValueError(f"bad field key: {key!r}")
        self.key_name = key

    def _gen_cache_key(self, anon_map: Any, bindparams: Any) -> tuple[Any, ...]:
        return (json_present, self.key_name)


@compiles(json_present, "postgresql")
def _present_pg(element: json_present, compiler: Any, **kw: Any) -> str:
    column, key = pg_parent(element.key_name)
    return f"(({column} ->> '{key}') IS NOT NULL)"


@compiles(json_present)
def _present_sqlite(element: json_present, compiler: Any, **kw: Any) -> str:
    return f"(coalesce(json_type(records.data, '$.{element.key_name}'), 'null') <> 'null')"


class byte_order(_Element):  # noqa: N801
    """`expression` compared by code point (PostgreSQL's "C" collation; SQLite's default)."""

    type = String()
    _traverse_internals = [("inner", InternalTraversal.dp_clauseelement)]

    def __init__(self, expression: ColumnElement[Any]) -> None:
        self.inner = expression


@compiles(byte_order, "postgresql")
def _byte_order_pg(element: byte_order, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(element.inner, **kw)} COLLATE "C")'


@compiles(byte_order)
def _byte_order_sqlite(element: byte_order, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.inner, **kw)


class ascii_lower(_Element):  # noqa: N801
    """`expression` with A-Z lowered and every other character kept."""

    type = String()
    _traverse_internals = [("inner", InternalTraversal.dp_clauseelement)]

    def __init__(self, expression: ColumnElement[Any]) -> None:
        self.inner = expression


@compiles(ascii_lower, "postgresql")
def _lower_pg(element: ascii_lower, compiler: Any, **kw: Any) -> str:
    return f"translate({compiler.process(element.inner, **kw)}, '{UPPER}', '{LOWER}')"


@compiles(ascii_lower)
def _lower_sqlite(element: ascii_lower, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.inner, **kw)})"  # SQLite's lower() folds ASCII only


class local_date(_Element):  # noqa: N801
    """The date (`YYYY-MM-DD`) of a UTC timestamp column in the time zone `zone`."""

    type = String()
    _traverse_internals = [("inner", InternalTraversal.dp_clauseelement),
                           ("zone", InternalTraversal.dp_string)]

    def __init__(self, expression: ColumnElement[Any], zone: str) -> None:
        ZoneInfo(zone)  # refuses an unknown zone
        self.inner = expression
        self.zone = zone


@compiles(local_date, "postgresql")
def _local_date_pg(element: local_date, compiler: Any, **kw: Any) -> str:
    zone = compiler.process(_literal(element.zone), **kw)
    return f"to_char(({compiler.process(element.inner, **kw)}) AT TIME ZONE {zone}, 'YYYY-MM-DD')"


@compiles(local_date)
def _local_date_sqlite(element: local_date, compiler: Any, **kw: Any) -> str:
    zone = compiler.process(_literal(element.zone), **kw)
    return f"lowcode_local_date({compiler.process(element.inner, **kw)}, {zone})"


class arithmetic(_Element):  # noqa: N801
    """`left op right` (op: add, sub, mul, div) over numbers; NULL when a side is NULL or a divisor is 0.

    With `integer`, both sides are whole numbers and division truncates toward zero.
    """

    type = Numeric()
    _traverse_internals = [("op", InternalTraversal.dp_string), ("integer", InternalTraversal.dp_boolean),
                           ("left", InternalTraversal.dp_clauseelement), ("right", InternalTraversal.dp_clauseelement)]

    def __init__(self, op: str, integer: bool, left: ColumnElement[Any], right: ColumnElement[Any]) -> None:
        if op not in ("add", "sub", "mul", "div"):
            raise ValueError(f"bad operator {op!r}")
        self.op, self.integer, self.left, self.right = op, integer, left, right


@compiles(arithmetic, "postgresql")
def _arithmetic_pg(element: arithmetic, compiler: Any, **kw: Any) -> str:
    left, right = compiler.process(element.left, **kw), compiler.process(element.right, **kw)
    if element.op == "div":
        divisor = f"NULLIF(CAST({right} AS NUMERIC), 0)"
        if element.integer:
            return f"div(CAST({left} AS NUMERIC), {divisor})"
        # 25 decimals on the dividend make the quotient carry at least 25, then rounded to 20 like Python's
        return f"round((CAST({left} AS NUMERIC) + 0.0000000000000000000000000) / {divisor}, 20)"
    symbol = {"add": "+", "sub": "-", "mul": "*"}[element.op]
    return f"(CAST({left} AS NUMERIC) {symbol} CAST({right} AS NUMERIC))"


@compiles(arithmetic)
def _arithmetic_sqlite(element: arithmetic, compiler: Any, **kw: Any) -> str:
    left, right = compiler.process(element.left, **kw), compiler.process(element.right, **kw)
    return f"lowcode_arith('{element.op}', {int(element.integer)}, {left}, {right})"


class exact_compare(_Element):
    """`left op right` for numbers, where `right` is an `arithmetic` (exact on SQLite too)."""

    type = Boolean()
    _traverse_internals = [("op", InternalTraversal.dp_string), ("left", InternalTraversal.dp_clauseelement),
                           ("right", InternalTraversal.dp_clauseelement)]

    def __init__(self, op: str, left: ColumnElement[Any], right: ColumnElement[Any]) -> None:
        if op not in _COMPARE:
            raise ValueError(f"bad operator {op!r}")
        self.op, self.left, self.right = op, left, right


@compiles(exact_compare, "postgresql")
def _compare_pg(element: exact_compare, compiler: Any, **kw: Any) -> str:
    left, right = compiler.process(element.left, **kw), compiler.process(element.right, **kw)
    return f"({left} {_COMPARE[element.op]} {right})"


@compiles(exact_compare)
def _compare_sqlite(element: exact_compare, compiler: Any, **kw: Any) -> str:
    left, right = compiler.process(element.left, **kw), compiler.process(element.right, **kw)
    return f"lowcode_compare('{element.op}', {left}, {right})"


_COMPARE = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _literal(value: str) -> Any:
    return literal(value, String())


# -- SQLite's side ------------------------------------------------------------------------------------

def _number(value: Any) -> int | Decimal | None:
    """A number SQLite hands over (int, float, or text: a JSON number's or `lowcode_arith`'s) as int or Decimal."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None  # JSON text of a string, true, an object...: not a number
    return number if number.is_finite() else None


def sqlite_arith(op: str, integer: int, left: Any, right: Any) -> str | None:
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return None
    try:
        if op == "div" and b == 0:
            return None
        if op == "div" and integer:
            quotient = abs(int(a)) // abs(int(b))
            result: int | Decimal = quotient if (a < 0) == (b < 0) else -quotient
        elif op == "div":
            result = _EXACT.divide(Decimal(a), Decimal(b)).quantize(_QUOTIENT, ROUND_HALF_UP, _EXACT)
        elif isinstance(a, int) and isinstance(b, int):
            result = {"add": a + b, "sub": a - b, "mul": a * b}[op]
        else:
            result = {"add": _EXACT.add, "sub": _EXACT.subtract, "mul": _EXACT.multiply}[op](Decimal(a), Decimal(b))
    except (DivisionByZero, InvalidOperation):
        return None
    return str(result)


def sqlite_compare(op: str, left: Any, right: Any) -> int | None:
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return None
    return int({"eq": a == b, "neq": a != b, "lt": a < b, "lte": a <= b, "gt": a > b, "gte": a >= b}[op])


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def sqlite_local_date(stamp: Any, zone: str) -> str | None:
    if stamp is None:
        return None
    moment = datetime.fromisoformat(str(stamp)).replace(tzinfo=timezone.utc)
    return moment.astimezone(_zone(zone)).date().isoformat()


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Make the functions above callable from SQL on one SQLite connection."""
    dbapi_connection.create_function("lowcode_arith", 4, sqlite_arith, deterministic=True)
    dbapi_connection.create_function("lowcode_compare", 3, sqlite_compare, deterministic=True)
    dbapi_connection.create_function("lowcode_local_date", 2, sqlite_local_date, deterministic=True)


class json_number(_Element):  # noqa: N801 - reads like a SQL function
    """The number at `records.data -> key`, exactly: NUMERIC on PostgreSQL, its JSON text on SQLite.

    SQLite reads JSON numbers as 8-byte floats; this form keeps every digit, for `lowcode_arith` and
    `lowcode_compare` to read as a decimal.
    """

    type = Numeric()
    _traverse_internals = [("key_name", InternalTraversal.dp_string)]

    def __init__(self, key: str) -> None:
        if not PATH.match(key):
            raise ValueError(f"bad field key: {key!r}")
        self.key_name = key


@compiles(json_number, "postgresql")
def _number_pg(element: json_number, compiler: Any, **kw: Any) -> str:
    return compiler.process(json_field(element.key_name, "numeric"), **kw)


@compiles(json_number)
def _number_sqlite(element: json_number, compiler: Any, **kw: Any) -> str:
    return f"(records.data -> '$.{element.key_name}')"


class tie_break(_Element):  # noqa: N801
    """The verdict of `left op right` for two numbers whose floats are equal, read from their exact forms.

    Number comparisons compare floats (fast, and what an index holds) and ask this only on a tie:
    PostgreSQL's numbers are exact, so a tie is equality; SQLite reads JSON numbers as floats, and
    two decimals that round to one float are told apart by `lowcode_compare` on their text.
    """

    type = Boolean()
    _traverse_internals = [("op", InternalTraversal.dp_string), ("left", InternalTraversal.dp_clauseelement),
                           ("right", InternalTraversal.dp_clauseelement)]

    def __init__(self, op: str, left: ColumnElement[Any], right: ColumnElement[Any]) -> None:
        if op not in _COMPARE:
            raise ValueError(f"bad operator {op!r}")
        self.op, self.left, self.right = op, left, right


@compiles(tie_break, "postgresql")
def _tie_break_pg(element: tie_break, compiler: Any, **kw: Any) -> str:
    return "true" if element.op in ("eq", "gte", "lte") else "false"


@compiles(tie_break)
def _tie_break_sqlite(element: tie_break, compiler: Any, **kw: Any) -> str:
    left, right = compiler.process(element.left, **kw), compiler.process(element.right, **kw)
    return f"lowcode_compare('{element.op}', {left}, {right})"


class float_number(_Element):  # noqa: N801
    """A number constant as the other side of a `json_field`: NUMERIC on PostgreSQL, a float on SQLite."""

    type = Numeric()
    _traverse_internals = [("text", InternalTraversal.dp_string)]

    def __init__(self, value: int | Decimal) -> None:
        self.text = str(value)


@compiles(float_number, "postgresql")
def _float_number_pg(element: float_number, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(_literal(element.text), **kw)} AS NUMERIC)"


@compiles(float_number)
def _float_number_sqlite(element: float_number, compiler: Any, **kw: Any) -> str:
    number = Decimal(element.text)
    value = int(number) if number == number.to_integral_value() and abs(number) < 2**63 else float(number)
    return compiler.process(literal(value), **kw)


class number_text(_Element):  # noqa: N801
    """A number constant with every digit: NUMERIC on PostgreSQL, text for the SQLite functions."""

    type = Numeric()
    _traverse_internals = [("text", InternalTraversal.dp_string)]

    def __init__(self, value: int | Decimal) -> None:
        self.text = str(value)


@compiles(number_text, "postgresql")
def _number_text_pg(element: number_text, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(_literal(element.text), **kw)} AS NUMERIC)"


@compiles(number_text)
def _number_text_sqlite(element: number_text, compiler: Any, **kw: Any) -> str:
    return compiler.process(_literal(element.text), **kw)


class latest_stamp(_Element):  # noqa: N801 - reads like a SQL function
    """The latest of some timestamp columns, the last of which is never null (e.g. `created_at`)."""

    _traverse_internals = [("stamps", InternalTraversal.dp_clauseelement_list)]

    def __init__(self, *stamps: ColumnElement[Any]) -> None:
        self.stamps = list(stamps)
        self.type = stamps[-1].type


@compiles(latest_stamp, "postgresql")
def _latest_pg(element: latest_stamp, compiler: Any, **kw: Any) -> str:
    return "GREATEST(" + ", ".join(compiler.process(s, **kw) for s in element.stamps) + ")"  # nulls are skipped


@compiles(latest_stamp)
def _latest_sqlite(element: latest_stamp, compiler: Any, **kw: Any) -> str:
    *stamps, last = [compiler.process(s, **kw) for s in element.stamps]  # SQLite's max() is null if any is
    return "max(" + ", ".join([*(f"coalesce({s}, {last})" for s in stamps), last]) + ")"
