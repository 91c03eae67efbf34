"""A fast yes/no check of a record against its entity, for the common case of a valid record.

jsonschema walks the schema generically and costs most of a write's CPU time. This module compiles the
same field definitions into plain Python predicates. It only ever says "valid" when the entity's JSON
Schema would accept the record too (the property test in tests/api/test_schema_property.py holds the two
to the same verdicts); on "invalid" the caller asks jsonschema for the located errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from lowcode_platform.schema.fields import (
    DATETIME_PATTERN,
    DECIMAL_LIMIT,
    DEFAULT_MAX_LENGTH,
    EMAIL_PATTERN,
    ID_PATTERN,
    JS_SAFE_INTEGER,
    PHONE_PATTERN,
    URL_PATTERN,
    FieldDef,
)
from lowcode_platform.schema.regions import load_regions
from lowcode_platform.schema.validators import FORMAT_CHECKER, pattern_search

Check = Callable[[Any], bool]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool) and (
        not isinstance(value, Decimal) or value.is_finite())


def _is_integer(value: Any) -> bool:
    return _is_number(value) and (isinstance(value, int) or value == value.to_integral_value())


def _between(f: FieldDef, limit: int, kind: Check) -> Check:
    low = f.min if f.min is not None else -limit
    high = f.max if f.max is not None else limit
    return lambda v: kind(v) and low <= v <= high


def _string(f: FieldDef, max_length: int | None, pattern: str | None = None, fmt: str | None = None) -> Check:
    low = f.min_length if f.min_length is not None else (1 if f.required else 0)
    high = f.max_length or max_length
    search = pattern_search(pattern) if pattern else None

    def check(v: Any) -> bool:
        return (isinstance(v, str) and low <= len(v) and (high is None or len(v) <= high)
                and (search is None or search(v) is not None)
                and (fmt is None or FORMAT_CHECKER.conforms(v, fmt)))

    return check


def _options(f: FieldDef) -> frozenset[str]:
    return frozenset(o.value for o in f.options)


def _multi(f: FieldDef) -> Check:
    allowed = _options(f)
    least = 1 if f.required else 0
    return lambda v: (isinstance(v, list) and len(v) >= least and all(isinstance(i, str) and i in allowed for i in v)
                      and len(set(v)) == len(v))


def _money(f: FieldDef) -> Check:
    amount = _between(f, DECIMAL_LIMIT, _is_number)
    currencies = frozenset(f.currencies)
    return lambda v: (isinstance(v, dict) and v.keys() == {"amount", "currency"} and amount(v["amount"])
                      and isinstance(v["currency"], str) and v["currency"] in currencies)


def _region(f: FieldDef) -> Check:
    cities = {p.code: frozenset(c.code for c in p.cities) for p in load_regions()}

    def check(v: Any) -> bool:
        if not (isinstance(v, dict) and "province" in v and v.keys() <= {"province", "city"}):
            return False
        province = v["province"]
        if not isinstance(province, str) or province not in cities:
            return False
        return "city" not in v or (isinstance(v["city"], str) and v["city"] in cities[province])

    return check


def _field_check(f: FieldDef) -> Check | None:
    """The predicate of one field; None for a type this module does not know (jsonschema decides)."""
    builders: Mapping[str, Callable[[], Check]] = {
        "text": lambda: _string(f, DEFAULT_MAX_LENGTH["text"], f.pattern),
        "long_text": lambda: _string(f, DEFAULT_MAX_LENGTH["long_text"], f.pattern),
        "integer": lambda: _between(f, JS_SAFE_INTEGER, _is_integer),
        "decimal": lambda: _between(f, DECIMAL_LIMIT, _is_number),
        "money": lambda: _money(f),
        "boolean": lambda: lambda v: isinstance(v, bool),
        "date": lambda: _string(f, None, fmt="date"),
        "datetime": lambda: _string(f, None, DATETIME_PATTERN, "date-time"),
        "enum": lambda: (lambda allowed: lambda v: isinstance(v, str) and v in allowed)(_options(f)),
        "multi_enum": lambda: _multi(f),
        "email": lambda: _string(f, 254, EMAIL_PATTERN, "email"),
        "phone": lambda: _string(f, None, PHONE_PATTERN),
        "url": lambda: _string(f, 2048, URL_PATTERN, "uri"),
        "user": lambda: _string(f, None, ID_PATTERN),
        "reference": lambda: _string(f, None, ID_PATTERN),
        "region": lambda: _region(f),
    }
    builder = builders.get(f.type)
    return builder() if builder else None


def compile_record_check(fields: Mapping[str, FieldDef]) -> Callable[[Any], bool]:
    """`check(data)`: True only when `data` is a valid record of an entity with these fields."""
    checks = {key: _field_check(f) for key, f in fields.items()}
    if any(c is None for c in checks.values()):
        return lambda data: False
    required = frozenset(f.key for f in fields.values() if f.required and not f.has_default)

    def check(data: Any) -> bool:
        if not isinstance(data, dict) or not required <= data.keys():
            return False
        for key, value in data.items():
            field_check = checks.get(key)
            if field_check is None or not field_check(value):
                return False
        return True

    return check
