"""SQL for one field inside a record's `data` (or one part of it, `budget.amount`), typed, with the key inlined.

The key is written into the SQL text (keys are `^[a-z][a-z0-9_]*$`, so this is safe) rather than bound,
so that a query's expression is exactly the one an expression index was built on.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import JSON, Boolean, Numeric, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import TypeEngine

KEY = re.compile(r"^[a-z][a-z0-9_]*$")
PATH = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")
_TYPES: dict[str, TypeEngine[Any]] = {
    "text": String(), "integer": Numeric(asdecimal=False), "numeric": Numeric(asdecimal=True), "boolean": Boolean(),
}
# On PostgreSQL a cast applies only to values of the right JSON type, so no row can make it fail:
# another tenant (or entity) may store text under a key this one indexes as a number. Integers
# compare as NUMERIC too, so an integer and a decimal field of the same key share one index.
_PG_TEXT = "({column} ->> '{key}')"
_PG_CASTS = {
    "text": _PG_TEXT,
    "integer": "(CASE WHEN jsonb_typeof({column} -> '{key}') = 'number' THEN CAST({column} -> '{key}' AS NUMERIC) END)",
    "numeric": "(CASE WHEN jsonb_typeof({column} -> '{key}') = 'number' THEN CAST({column} -> '{key}' AS NUMERIC) END)",
    "boolean": "(CASE WHEN jsonb_typeof({column} -> '{key}') = 'boolean' THEN CAST({column} -> '{key}' AS BOOLEAN) END)",
}


class json_field(ColumnElement[Any]):  # noqa: N801 - reads like a SQL function
    """`records.data -> key` as a value of SQL kind `text`, `integer`, `numeric` or `boolean`.

    `key` may name a part of an object field, `budget.amount`.
    """

    inherit_cache = True
    _traverse_internals: list[Any] = []

    def __init__(self, key: str, kind: str) -> None:
        if not PATH.match(key) or kind not in _TYPES:
            raise ValueError(f"bad field key or kind: {key!r}, {kind!r}")
        self.key_name = key
        self.kind = kind
        self.type = _TYPES[kind]

    def _gen_cache_key(self, anon_map: Any, bindparams: Any) -> tuple[Any, ...]:
        return (json_field, self.key_name, self.kind)


def pg_parent(key: str) -> tuple[str, str]:
    """The JSONB expression holding the last part of `key`, and that part."""
    *parents, last = key.split(".")
    return "records.data" + "".join(f" -> '{p}'" for p in parents), last


@compiles(json_field, "postgresql")
def _compile_pg(element: json_field, compiler: Any, **kw: Any) -> str:
    column, key = pg_parent(element.key_name)
    return _PG_CASTS[element.kind].format(column=column, key=key)


@compiles(json_field)
def _compile_sqlite(element: json_field, compiler: Any, **kw: Any) -> str:
    return f"json_extract(records.data, '$.{element.key_name}')"


def field_index_ddl(dialect: str, key: str, kind: str) -> str:
    """`CREATE INDEX IF NOT EXISTS` for an `indexed` field: (tenant, entity, the field's expression)."""
    if not KEY.match(key) or kind not in _TYPES:
        raise ValueError(f"bad field key or kind: {key!r}, {kind!r}")
    expression = (
        _PG_CASTS[kind].format(column="data", key=key) if dialect == "postgresql" else f"json_extract(data, '$.{key}')"
    )
    name = "ix_records_data_" + hashlib.sha1(expression.encode()).hexdigest()[:16]
    return f"CREATE INDEX IF NOT EXISTS {name} ON records (tenant_id, entity, {expression})"


def ensure_field_indexes(connection: Any, fields: list[tuple[str, str]]) -> None:
    """Create the expression indexes of `(key, kind)` pairs that do not exist yet."""
    for key, kind in fields:
        connection.execute(text(field_index_ddl(connection.dialect.name, key, kind)))


class _top_level_keys(ColumnElement[Any]):
    """A JSON expression over some top-level keys of `records.data` (inlined: keys are `^[a-z][a-z0-9_]*$`)."""

    inherit_cache = True
    _traverse_internals: list[Any] = []

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys or not all(KEY.match(k) for k in keys):
            raise ValueError(f"bad field keys: {keys!r}")
        self.keys = keys
        self.type = JSON().with_variant(JSONB(), "postgresql")

    def _gen_cache_key(self, anon_map: Any, bindparams: Any) -> tuple[Any, ...]:
        return (type(self), self.keys)


class json_without(_top_level_keys):  # noqa: N801 - reads like a SQL function
    """`records.data` without the top-level `keys`: a set-based way to clear fields."""

    inherit_cache = True


@compiles(json_without, "postgresql")
def _compile_without_pg(element: json_without, compiler: Any, **kw: Any) -> str:
    return "(records.data - '{" + ",".join(element.keys) + "}'::text[])"


@compiles(json_without)
def _compile_without_sqlite(element: json_without, compiler: Any, **kw: Any) -> str:
    return "json_remove(records.data, " + ", ".join(f"'$.{k}'" for k in element.keys) + ")"


class json_values(_top_level_keys):  # noqa: N801 - reads like a SQL function
    """`{key: records.data -> key, ...}`: some top-level fields of a record as one JSON object (absent keys as
    null)."""

    inherit_cache = True


@compiles(json_values, "postgresql")
def _compile_values_pg(element: json_values, compiler: Any, **kw: Any) -> str:
    return "jsonb_build_object(" + ", ".join(f"'{k}', records.data -> '{k}'" for k in element.keys) + ")"


@compiles(json_values)
def _compile_values_sqlite(element: json_values, compiler: Any, **kw: Any) -> str:
    return "json_object(" + ", ".join(f"'{k}', records.data -> '$.{k}'" for k in element.keys) + ")"
