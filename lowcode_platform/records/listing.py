"""Lists of records: exact-match filters, a sort, and keyset (cursor) pagination.

A cursor holds the sort values of the last row shown, so a page never repeats or skips a row that
existed when the first page was read, however many rows are inserted meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, literal, or_

from lowcode_platform import jsonutil
from lowcode_platform.errors import ConditionInvalidError, ErrorDetail, MalformedRequestError, parameter_error
from lowcode_platform.messages import in_entity
from lowcode_platform.rules import ConditionError, Scope, entity_scope, parse_condition
from lowcode_platform.rules.sql import SqlCondition, to_sql
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.fields import FilterValueError, parse_filter_value
from lowcode_platform.storage.json_fields import json_field
from lowcode_platform.storage.tables import Record

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
SYSTEM_SORTS = {"created_at": Record.created_at, "updated_at": Record.updated_at}
SYSTEM_FILTERS = {"owner_id": Record.owner_id}
CONTROL = {"sort", "limit", "cursor", "include_deleted", "where"}


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[ColumnElement[bool], ...]
    sort: str
    limit: int
    after: tuple[Any, ...] | None  # (null flag, value, id) of the last row seen
    include_deleted: bool


def _sort_key(entity: EntityDef, name: str) -> tuple[ColumnElement[Any], bool] | None:
    """The SQL of a sort key, and whether it may be null."""
    if name in SYSTEM_SORTS:
        return SYSTEM_SORTS[name], False
    field = entity.fields.get(name)
    if field is None or field.kind.sql_kind is None:
        return None
    return json_field(name, field.kind.sql_kind), True


def parse_list_query(entity: EntityDef, args: Mapping[str, str], *, pii_visible: bool, scope: Scope | None = None,
                     now: datetime | None = None, hidden: frozenset[str] = frozenset()) -> ListQuery:
    """A `ListQuery` from query parameters; raises `MalformedRequestError` listing every bad one.

    Without `pii_visible` (the role sees pii unmasked on every record) a pii field may be neither filtered
    nor sorted on: matching or ordering by a masked value would reveal it. The `hidden` fields (a pool's,
    until claimed) may not be filtered or sorted on either.
    """
    errors: list[ErrorDetail] = []
    filters: list[ColumnElement[bool]] = []
    for name, raw in args.items():
        if name in CONTROL:
            continue
        if name in SYSTEM_FILTERS:
            filters.append(SYSTEM_FILTERS[name] == raw)
            continue
        field = entity.fields.get(name)
        if name in hidden:
            errors.append(parameter_error(name, "pool_hidden_field", field=name))
        elif field is None:
            errors.append(parameter_error(name, "unknown_field", field=name, where=in_entity(entity.key)))
        elif field.kind.sql_kind is None:
            errors.append(parameter_error(name, "bad_parameter", error=f"{field.type} fields cannot be filtered"))
        elif field.pii and not pii_visible:
            errors.append(parameter_error(name, "pii_hidden", field=name))
        else:
            try:
                filters.append(json_field(name, field.kind.sql_kind) == parse_filter_value(field, raw))
            except FilterValueError as exc:
                errors.append(parameter_error(name, "type", expected=str(exc)))
    sort = args.get("sort", "-created_at")
    sorted_field = entity.fields.get(sort.removeprefix("-"))
    if sort.removeprefix("-") in hidden:
        errors.append(parameter_error("sort", "pool_hidden_field", field=sort.removeprefix("-")))
    elif _sort_key(entity, sort.removeprefix("-")) is None:
        errors.append(parameter_error("sort", "bad_parameter", error=f"cannot sort by {sort!r}"))
    elif sorted_field is not None and sorted_field.pii and not pii_visible:
        errors.append(parameter_error("sort", "pii_hidden", field=sorted_field.key))
    limit = DEFAULT_LIMIT
    try:
        limit = int(args.get("limit", DEFAULT_LIMIT))
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError
    except ValueError:
        errors.append(parameter_error("limit", "bad_parameter", error=f"limit must be an integer from 1 to {MAX_LIMIT}"))
    after = None
    if args.get("cursor"):
        try:
            after = _typed_cursor(entity, sort, decode_cursor(args["cursor"], sort))
        except (ValueError, TypeError):
            errors.append(parameter_error("cursor", "bad_parameter", error="not a cursor of this list and sort"))
    include_deleted = args.get("include_deleted", "false")
    if include_deleted not in {"true", "false"}:
        errors.append(parameter_error("include_deleted", "type", expected="true or false"))
    if errors:
        raise MalformedRequestError("invalid query parameters", errors)
    if "where" in args:
        moment = now or datetime.now(UTC)
        scope = scope or entity_scope(entity)
        filters.append(parse_where(entity, args["where"], scope=scope, pii_visible=pii_visible, hidden=hidden)(moment))
    return ListQuery(tuple(filters), sort, limit, after, include_deleted == "true")


def parse_where(entity: EntityDef, text: str, *, scope: Scope, pii_visible: bool,
                hidden: frozenset[str] = frozenset()) -> SqlCondition:
    """The SQL of a `where` condition: 400 when it is not JSON, 422 when it is not a valid condition."""
    try:
        document = jsonutil.loads(text)
    except (jsonutil.JSONDecodeError, RecursionError) as exc:
        error = getattr(exc, "msg", None) or str(exc)
        raise MalformedRequestError("the where condition is not JSON",
                                    [parameter_error("where", "malformed_condition", error=error)]) from None
    if not _storable(document):
        raise MalformedRequestError("the where condition holds text that cannot be matched",
                                    [parameter_error("where", "unstorable_text")])
    try:
        condition = parse_condition(document, scope)
    except ConditionError as exc:
        raise ConditionInvalidError("the where condition is invalid",
                                    [ErrorDetail(e.pointer, e.code, e.params, "where") for e in exc.errors]) from None
    personal = sorted(n for n in condition.names if n in entity.fields and entity.fields[n].pii)
    if personal and not pii_visible:
        raise MalformedRequestError("invalid query parameters",
                                    [parameter_error("where", "pii_hidden", field=personal[0])])
    withheld = sorted(n.split(".")[0] for n in condition.names if n.split(".")[0] in hidden)
    if withheld:
        raise MalformedRequestError("invalid query parameters",
                                    [parameter_error("where", "pool_hidden_field", field=withheld[0])])
    return to_sql(condition)


def _storable(value: Any) -> bool:
    """Whether every text in a JSON value can be sent to a database (no NUL, no lone surrogate)."""
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _typed_cursor(entity: EntityDef, sort: str, after: tuple[Any, ...]) -> tuple[Any, ...]:
    """The cursor's values, checked against the sort key's type (a client may send any cursor)."""
    flag, value, last_id = after
    name = sort.removeprefix("-")
    if name in SYSTEM_SORTS:
        moment = datetime.fromisoformat(value) if isinstance(value, str) and flag == 0 else None
        if moment is None or moment.tzinfo is None:
            raise ValueError("bad cursor")
        return flag, moment, last_id
    if flag == 1:
        if value is not None:
            raise ValueError("bad cursor")
        return after
    kind = entity.fields[name].kind.sql_kind
    fits = {
        "text": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "numeric": lambda v: isinstance(v, (int, Decimal)) and not isinstance(v, bool) and Decimal(v).is_finite(),
        "boolean": lambda v: isinstance(v, bool),
    }[kind or "text"]
    if not fits(value):
        raise ValueError("bad cursor")
    return after


def order_and_seek(entity: EntityDef, query: ListQuery) -> tuple[list[ColumnElement[Any]], ColumnElement[bool] | None]:
    """ORDER BY terms, and the condition that starts the page after the cursor."""
    descending = query.sort.startswith("-")
    key, nullable = _sort_key(entity, query.sort.removeprefix("-"))  # type: ignore[misc]
    null_flag = case((key.is_(None), 1), else_=0) if nullable else None
    terms = [t for t in (null_flag, key, Record.id) if t is not None]
    order = [t.desc() if descending else t.asc() for t in terms]
    if query.after is None:
        return order, None
    flag, raw, last_id = query.after
    value = literal(raw, key.type)

    def beyond(a: Any, b: Any) -> ColumnElement[bool]:
        return a < b if descending else a > b

    if null_flag is None:
        return order, or_(beyond(key, value), and_(key == value, beyond(Record.id, last_id)))
    if flag == 1:  # the last row had no value: only other valueless rows may follow (or precede)
        same = and_(null_flag == 1, beyond(Record.id, last_id))
        return order, or_(same, null_flag == 0) if descending else same
    valued = and_(null_flag == 0, or_(beyond(key, value), and_(key == value, beyond(Record.id, last_id))))
    return order, valued if descending else or_(valued, null_flag == 1)


def encode_cursor(sort: str, row: Record, entity: EntityDef) -> str:
    """The cursor that continues a list after `row`."""
    name = sort.removeprefix("-")
    if name in SYSTEM_SORTS:
        value: Any = getattr(row, name).isoformat()
        flag = 0
    else:
        field = entity.fields[name]
        value = field.kind.normalize(row.data.get(name))
        flag = 1 if value is None else 0
    payload = jsonutil.dumps([sort, flag, value, row.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, ...]:
    try:
        payload = jsonutil.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("bad cursor") from None
    if not (isinstance(payload, list) and len(payload) == 4 and payload[0] == sort and payload[1] in (0, 1)):
        raise ValueError("bad cursor")
    if not isinstance(payload[3], str) or not isinstance(payload[2], (str, int, Decimal, bool, type(None))):
        raise ValueError("bad cursor")
    return tuple(payload[1:])
