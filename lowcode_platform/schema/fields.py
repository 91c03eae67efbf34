"""Field types: what each accepts, its JSON Schema, how it is stored, masked and filtered.

The JSON Schema of a field uses only keywords react-jsonschema-form understands. Everything a schema
cannot say (uniqueness, that a reference or user exists) is checked by the record service.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from lowcode_platform.schema.labels import Label
from lowcode_platform.schema.regions import load_regions

# Patterns end in `$(?!\n)`: Python's `$` (jsonschema uses `re.search`) also matches before a final
# newline, JavaScript's does not; the lookahead makes both refuse "13812345678\n".
ID_PATTERN = r"^[0-9a-z]{26}$(?!\n)"
PHONE_PATTERN = r"^(?:1[3-9][0-9]{9}|\+[1-9][0-9]{6,14})$(?!\n)"
# The address syntax JSON Schema clients check `format: email` with (ajv-formats' "full" mode), so that a
# browser and the server accept the same addresses.
EMAIL_PATTERN = (r"^[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$")
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$(?!\n)"
# RFC 3339 as the server checks it. Clients whose `date-time` format is looser (ajv-formats 2.x takes
# a missing zone, a space for "T", "+0800" or "+24:00") then still agree with the server.
DATETIME_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
                    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
DEFAULT_MAX_LENGTH = {"text": 255, "long_text": 10000}
JS_SAFE_INTEGER = 2**53 - 1
DECIMAL_LIMIT = 10**15

# Options every field may carry; each type adds its own in `FieldType.options`.
COMMON_OPTIONS = frozenset({"type", "label", "help", "required", "unique", "indexed", "pii", "default"})


@dataclass(frozen=True)
class Option:
    value: str
    label: Label


@dataclass(frozen=True)
class FieldDef:
    """One field of an entity, compiled from its config."""

    key: str
    type: str
    label: Label
    help: Label | None = None
    required: bool = False
    unique: bool = False
    indexed: bool = False
    pii: bool = False
    has_default: bool = False
    default: Any = None
    min: Decimal | int | None = None
    max: Decimal | int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    options: tuple[Option, ...] = ()
    entity: str | None = None
    currencies: tuple[str, ...] = ()

    @property
    def kind(self) -> FieldType:
        return FIELD_TYPES[self.type]


@dataclass(frozen=True)
class FieldType:
    name: str
    options: frozenset[str]
    schema: Callable[[FieldDef, str], dict[str, Any]]
    sql_kind: str | None = None  # text | integer | numeric | boolean; None: no filter, sort or index
    can_be_unique: bool = False
    normalize: Callable[[Any], Any] = lambda value: value
    mask: Callable[[Any], Any] = field(default=lambda value: "***")


def _one_of(options: tuple[Option, ...], locale: str) -> list[dict[str, str]]:
    return [{"const": option.value, "title": option.label.get(locale)} for option in options]


def _string(f: FieldDef, default_max: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": f.max_length or default_max}
    min_length = f.min_length if f.min_length is not None else (1 if f.required else None)
    if min_length:
        schema["minLength"] = min_length
    if f.pattern:
        schema["pattern"] = f.pattern
    return schema


def _number(kind: str, f: FieldDef, limit: int) -> dict[str, Any]:
    return {
        "type": kind,
        "minimum": f.min if f.min is not None else -limit,
        "maximum": f.max if f.max is not None else limit,
    }


def _money(f: FieldDef, locale: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "amount": _number("number", f, DECIMAL_LIMIT),
            "currency": {"type": "string", "enum": list(f.currencies)},
        },
        "required": ["amount", "currency"],
        "additionalProperties": False,
    }


def _region(f: FieldDef, locale: str) -> dict[str, Any]:
    provinces = load_regions()
    return {
        "type": "object",
        "properties": {
            "province": {"type": "string", "oneOf": [{"const": p.code, "title": p.name(locale)} for p in provinces]},
            "city": {"type": "string", "pattern": "^[0-9]{6}$"},
        },
        "required": ["province"],
        "additionalProperties": False,
        # A city must lie in its province; provinces without listed cities take none.
        "allOf": [
            {
                "if": {"properties": {"province": {"const": p.code}}, "required": ["province", "city"]},
                "then": {"properties": {"city": {"enum": [c.code for c in p.cities]} if p.cities else False}},
            }
            for p in provinces
        ],
    }


def normalize_datetime(value: Any) -> Any:
    """An RFC 3339 timestamp as UTC with milliseconds (`2026-01-02T03:04:05.000Z`): sortable as text."""
    try:
        parsed = datetime.fromisoformat(str(value).upper().replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            return value
        return parsed.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (ValueError, OverflowError):  # e.g. a year-1 time east of UTC: kept as given
        return value


def _normalize_integer(value: Any) -> Any:
    """A whole number as int; anything else unchanged, for validation to refuse (12.5 is not 12)."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


def _normalize_money(value: Any) -> Any:
    """Money with its parts in order; anything else (an extra key too) unchanged, for validation to refuse."""
    if isinstance(value, dict) and set(value) <= {"amount", "currency"} and isinstance(value.get("amount"), (int, Decimal)):
        return {"amount": value["amount"], "currency": value.get("currency")}
    return value


def mask_phone(value: Any) -> str:
    text = str(value)
    if len(text) <= 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def mask_email(value: Any) -> str:
    local, _, domain = str(value).partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"


def mask_text(value: Any) -> str:
    text = str(value)
    return text[:1] + "***" if len(text) > 1 else "***"


TEXTUAL = frozenset({"min_length", "max_length", "pattern"})
NUMERIC = frozenset({"min", "max"})

FIELD_TYPES: Mapping[str, FieldType] = MappingProxyType(
    {
        t.name: t
        for t in (
            FieldType("text", TEXTUAL, lambda f, loc: _string(f, DEFAULT_MAX_LENGTH["text"]), "text", True, mask=mask_text),
            FieldType("long_text", TEXTUAL, lambda f, loc: _string(f, DEFAULT_MAX_LENGTH["long_text"]), mask=mask_text),
            FieldType(
                "integer", NUMERIC, lambda f, loc: _number("integer", f, JS_SAFE_INTEGER), "integer", True,
                normalize=_normalize_integer,
            ),
            FieldType("decimal", NUMERIC, lambda f, loc: _number("number", f, DECIMAL_LIMIT), "numeric", True),
            FieldType("money", NUMERIC | {"currencies"}, _money, normalize=_normalize_money),
            FieldType("boolean", frozenset(), lambda f, loc: {"type": "boolean"}, "boolean"),
            FieldType("date", frozenset(), lambda f, loc: {"type": "string", "format": "date"}, "text", True),
            FieldType(
                "datetime", frozenset(),
                lambda f, loc: {"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN}, "text", True,
                normalize=normalize_datetime,
            ),
            FieldType("enum", frozenset({"options"}), lambda f, loc: {"type": "string", "oneOf": _one_of(f.options, loc)}, "text"),
            FieldType(
                "multi_enum", frozenset({"options"}),
                lambda f, loc: {
                    "type": "array", "items": {"type": "string", "oneOf": _one_of(f.options, loc)},
                    "uniqueItems": True, **({"minItems": 1} if f.required else {}),
                },
            ),
            FieldType(
                "email", frozenset(), lambda f, loc: {"type": "string", "format": "email", "pattern": EMAIL_PATTERN, "maxLength": 254},
                "text", True, mask=mask_email,
            ),
            FieldType(
                "phone", frozenset(), lambda f, loc: {"type": "string", "pattern": PHONE_PATTERN}, "text", True, mask=mask_phone,
            ),
            FieldType(
                "url", frozenset(), lambda f, loc: {"type": "string", "format": "uri", "pattern": URL_PATTERN, "maxLength": 2048},
                "text", True, mask=mask_text,
            ),
            FieldType("user", frozenset(), lambda f, loc: {"type": "string", "pattern": ID_PATTERN}, "text"),
            FieldType("reference", frozenset({"entity"}), lambda f, loc: {"type": "string", "pattern": ID_PATTERN}, "text"),
            FieldType("region", frozenset(), _region),
        )
    }
)

REQUIRED_OPTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"enum": ("options",), "multi_enum": ("options",), "reference": ("entity",)}
)


def field_schema(f: FieldDef, locale: str) -> dict[str, Any]:
    """The JSON Schema of one field, titled in `locale`."""
    schema = {"title": f.label.get(locale), **f.kind.schema(f, locale)}
    if f.help:
        schema["description"] = f.help.get(locale)
    if f.has_default:
        schema["default"] = f.default
    return schema


def unique_key(f: FieldDef, value: Any) -> str:
    """The text two values share exactly when they collide under the field's `unique` option."""
    if f.type in {"text", "email"}:
        return str(value).strip().casefold()
    if f.type in {"integer", "decimal"}:
        return str((Decimal(value) + 0).normalize())  # + 0 turns -0 into 0
    return str(value)


def _is_date(text: str) -> bool:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


class FilterValueError(ValueError):
    pass


def parse_filter_value(f: FieldDef, text: str) -> Any:
    """Turn a query-string value into a value of the field's type, or raise `FilterValueError`."""
    kind = f.kind.sql_kind
    if kind == "integer":
        if not re.fullmatch(r"-?[0-9]{1,16}", text):
            raise FilterValueError("an integer")
        return int(text)
    if kind == "numeric":
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise FilterValueError("a number") from None
        if not number.is_finite() or abs(number) > DECIMAL_LIMIT:
            raise FilterValueError("a number")
        return number
    if kind == "boolean":
        if text not in {"true", "false"}:
            raise FilterValueError("true or false")
        return text == "true"
    if f.type == "enum" and text not in {o.value for o in f.options}:
        raise FilterValueError("one of " + ", ".join(repr(o.value) for o in f.options))
    if f.type == "date" and not _is_date(text):
        raise FilterValueError("a date (YYYY-MM-DD)")
    if f.type == "datetime":
        try:
            parsed = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise FilterValueError("a date-time with a time zone")
        return normalize_datetime(text)
    return text
