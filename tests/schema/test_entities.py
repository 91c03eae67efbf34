"""Tests of compiled entities: their JSON Schema, record validation per field type, normalization, masks."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from lowcode_platform import jsonutil
from lowcode_platform.configuration import compile_config
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.fields import FIELD_TYPES, unique_key
from tests.configs import crm

RJSF_KEYWORDS = frozenset({
    "$schema", "title", "description", "type", "properties", "required", "additionalProperties", "items", "enum",
    "const", "oneOf", "anyOf", "allOf", "if", "then", "else", "minimum", "maximum", "minLength", "maxLength",
    "pattern", "format", "uniqueItems", "minItems", "maxItems", "default",
})
SUBSCHEMA = {"items", "additionalProperties", "if", "then", "else"}
SUBSCHEMA_LISTS = {"oneOf", "anyOf", "allOf"}

ULID = "01hq3v0k7z8y9x6w5v4t3s2r1p"


def lead(document: dict[str, Any] | None = None) -> EntityDef:
    return compile_config(document or crm(), 1).entities["lead"]


def schema_of(entity: EntityDef, locale: str = "en") -> dict[str, Any]:
    return json.loads(entity.schema_text(locale))


def keywords_outside(schema: Any, allowed: frozenset[str], where: str = "") -> list[str]:
    """Every keyword of `schema` and its subschemas that is not in `allowed`, as pointers."""
    if isinstance(schema, bool):
        return []
    assert isinstance(schema, dict), f"{where or '/'} is not a schema"
    found = [f"{where}/{key}" for key in schema if key not in allowed]
    for key, value in schema.items():
        if key == "properties":
            for name, sub in value.items():
                found += keywords_outside(sub, allowed, f"{where}/properties/{name}")
        elif key in SUBSCHEMA:
            found += keywords_outside(value, allowed, f"{where}/{key}")
        elif key in SUBSCHEMA_LISTS:
            for i, sub in enumerate(value):
                found += keywords_outside(sub, allowed, f"{where}/{key}/{i}")
    return found


def errors(entity: EntityDef, data: Any) -> list[tuple[str, str]]:
    return [(e.pointer, e.code) for e in entity.iter_record_errors(data)]


# -- the JSON Schema ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("locale", ["en", "zh"])
def test_entity_schema_is_a_valid_draft_2020_12_schema(locale: str) -> None:
    """Every compiled entity schema passes the 2020-12 meta-schema and names that dialect."""
    for entity in compile_config(crm(), 1).entities.values():
        schema = schema_of(entity, locale)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_entity_schema_uses_only_keywords_react_jsonschema_form_understands(locale: str) -> None:
    """The whole schema, walked through every subschema, uses only keywords of the rjsf allow-list."""
    for entity in compile_config(crm(), 1).entities.values():
        assert keywords_outside(schema_of(entity, locale), RJSF_KEYWORDS) == []


def test_keyword_walker_finds_keywords_outside_the_allow_list() -> None:
    """The walker reaches into properties, items, allOf, if/then, and reports what is not allowed."""
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"$ref": "#/x"}}},
              "allOf": [{"if": {"propertyNames": {}}, "then": False}]}
    assert keywords_outside(schema, RJSF_KEYWORDS) == ["/properties/a/items/$ref", "/allOf/0/if/propertyNames"]


def test_every_field_type_appears_in_the_test_config() -> None:
    """The CRM test config has a field of every type, so the schema walks above cover them all."""
    assert {f.type for f in lead().fields.values()} == set(FIELD_TYPES)


def test_schema_is_titled_in_the_locale() -> None:
    """Entity and field titles follow the locale, falling back to English."""
    en, zh = schema_of(lead(), "en"), schema_of(lead(), "zh")
    assert (en["title"], zh["title"]) == ("Lead", "线索")
    assert (en["properties"]["phone"]["title"], zh["properties"]["phone"]["title"]) == ("Phone", "电话")


def test_enum_is_one_of_const_and_localized_title() -> None:
    """Enum options become `oneOf: [{const, title}]`, titled per locale."""
    en, zh = schema_of(lead(), "en"), schema_of(lead(), "zh")
    assert en["properties"]["status"]["oneOf"] == [{"const": "new", "title": "New"}, {"const": "won", "title": "Won"}]
    assert zh["properties"]["status"]["oneOf"] == [{"const": "new", "title": "新建"}, {"const": "won", "title": "赢单"}]
    assert en["properties"]["tags"]["items"]["oneOf"] == [{"const": "hot", "title": "Hot"},
                                                         {"const": "cold", "title": "Cold"}]
    assert "enum" not in en["properties"]["status"]


def test_required_lists_required_fields_without_default() -> None:
    """A required field is listed in `required` unless it has a default; the default is in its schema."""
    document = crm()
    document["entities"]["lead"]["fields"]["status"]["required"] = True
    schema = schema_of(lead(document))
    assert schema["required"] == ["name"]
    assert schema["properties"]["status"]["default"] == "new"
    assert schema["additionalProperties"] is False


# -- record validation per field type -----------------------------------------------------------------------------

ACCEPTED = [
    ("phone", "13812345678"),
    ("phone", "+4915112345678"),
    ("email", "alice@example.com"),
    ("site", "http://example.com"),
    ("site", "https://example.com/a?b=c"),
    ("due", "2026-02-28"),
    ("met_at", "2026-01-02T11:04:05+08:00"),
    ("met_at", "2026-01-02T03:04:05.123Z"),
    ("budget", {"amount": Decimal("0.1"), "currency": "CNY"}),
    ("budget", {"amount": 100, "currency": "USD"}),
    ("employees", 12),
    ("employees", Decimal("2.0")),
    ("score", Decimal("99.5")),
    ("vip", False),
    ("status", "won"),
    ("tags", ["hot", "cold"]),
    ("tags", []),
    ("region", {"province": "310000", "city": "310100"}),
    ("region", {"province": "440000", "city": "440300"}),
    ("region", {"province": "710000"}),
    ("assignee", ULID),
    ("customer", ULID),
    ("notes", "x" * 10000),
]

REJECTED = [
    ("phone", "12812345678", "/phone", "pattern"),
    ("phone", "1381234567", "/phone", "pattern"),
    ("phone", "+0915112345678", "/phone", "pattern"),
    ("email", "alice.example.com", "/email", "format"),
    ("email", "alice@example", "/email", "pattern"),
    ("site", "ftp://example.com", "/site", "pattern"),
    ("site", "example.com", "/site", "format"),  # not a URI (no scheme)
    ("site", "http://exa mple.com", "/site", "format"),  # a space is not allowed in a URI
    ("due", "2026-02-30", "/due", "format"),
    ("due", "20260102", "/due", "format"),
    ("met_at", "2026-01-02T03:04:05", "/met_at", "format"),
    ("met_at", "2026-01-02", "/met_at", "format"),
    ("budget", {"amount": Decimal("0.1")}, "/budget/currency", "required"),
    ("budget", {"currency": "CNY"}, "/budget/amount", "required"),
    ("budget", {"amount": 1, "currency": "EUR"}, "/budget/currency", "invalid_option"),
    ("budget", {"amount": -1, "currency": "CNY"}, "/budget/amount", "minimum"),
    ("budget", {"amount": "1", "currency": "CNY"}, "/budget/amount", "type"),
    ("budget", 100, "/budget", "type"),
    ("employees", Decimal("1.5"), "/employees", "type"),
    ("employees", "2", "/employees", "type"),
    ("employees", True, "/employees", "type"),
    ("employees", -1, "/employees", "minimum"),
    ("score", Decimal("100.01"), "/score", "maximum"),
    ("vip", "yes", "/vip", "type"),
    ("status", "lost", "/status", "invalid_option"),
    ("tags", ["hot", "hot"], "/tags", "duplicate_items"),
    ("tags", ["warm"], "/tags/0", "invalid_option"),
    ("tags", "hot", "/tags", "type"),
    ("region", {"province": "310000", "city": "320100"}, "/region/city", "invalid_option"),
    ("region", {"province": "999999"}, "/region/province", "invalid_option"),
    ("region", {"city": "310100"}, "/region/province", "required"),
    ("assignee", ULID.upper(), "/assignee", "pattern"),
    ("assignee", ULID[:25], "/assignee", "pattern"),
    ("customer", ULID + "0", "/customer", "pattern"),
    ("name", "x" * 51, "/name", "max_length"),
    ("name", "", "/name", "required"),
    ("notes", "x" * 10001, "/notes", "max_length"),
]


@pytest.mark.parametrize(("key", "value"), ACCEPTED)
def test_field_accepts(key: str, value: Any) -> None:
    """A valid value of each field type passes the entity's record validation."""
    assert errors(lead(), {"name": "Alice", key: value}) == []


@pytest.mark.parametrize(("key", "value", "pointer", "code"), REJECTED)
def test_field_rejects(key: str, value: Any, pointer: str, code: str) -> None:
    """An invalid value gives exactly one error, at the value's pointer, with the expected code."""
    record = {"name": "Alice", key: value}
    assert errors(lead(), record) == [(pointer, code)]


@pytest.mark.parametrize(("key", "value"), [
    ("phone", "13812345678\n"),
    ("email", "alice@example.com\n"),
    ("site", "https://example.com\n"),
    ("assignee", ULID + "\n"),
    ("customer", ULID + "\n"),
])
def test_pattern_fields_reject_a_trailing_newline(key: str, value: str) -> None:
    """A value with a trailing newline does not match a `^...$` pattern, as in the browser's ECMA regex."""
    assert errors(lead(), {"name": "Alice", key: value}) == [(f"/{key}", "pattern")]


def test_record_errors_are_all_collected() -> None:
    """One pass reports every bad field, missing required ones and unknown keys."""
    found = errors(lead(), {"phone": "1", "tags": ["warm"], "colour": "blue"})
    assert sorted(found) == [("/colour", "unknown_field"), ("/name", "required"), ("/phone", "pattern"),
                             ("/tags/0", "invalid_option")]


def test_record_parsed_from_json_text_is_validated_exactly() -> None:
    """Numbers parsed by jsonutil (Decimal) validate: 2.0 counts as an integer, 0.1 stays exact."""
    record = jsonutil.loads('{"name": "A", "employees": 2.0, "budget": {"amount": 0.1, "currency": "CNY"}}')
    assert errors(lead(), record) == []


# -- normalization, defaults, masks, unique keys ------------------------------------------------------------------

@pytest.mark.parametrize(("key", "value", "stored"), [
    ("met_at", "2026-01-02T11:04:05+08:00", "2026-01-02T03:04:05.000Z"),
    ("met_at", "2026-01-02t03:04:05.5z", "2026-01-02T03:04:05.500Z"),
    ("met_at", "2026-01-01T23:30:00-01:00", "2026-01-02T00:30:00.000Z"),
    ("employees", Decimal("2.0"), 2),
    ("employees", 7, 7),
    ("budget", {"amount": Decimal("0.10"), "currency": "USD"}, {"amount": Decimal("0.10"), "currency": "USD"}),
    ("name", "Alice", "Alice"),
])
def test_normalize(key: str, value: Any, stored: Any) -> None:
    """Valid values are stored in one canonical form: UTC datetimes with milliseconds, ints for integers."""
    normalized = lead().normalize({"name": "Alice", key: value})
    assert normalized[key] == stored
    assert type(normalized[key]) is type(stored)


@pytest.mark.parametrize("value", ["9999-12-31T23:00:00-02:00", "0001-01-01T00:30:00+01:00"])
def test_normalize_does_not_raise_on_a_datetime_the_schema_accepts(value: str) -> None:
    """A datetime whose UTC form leaves years 1..9999 is accepted and kept as given (never an exception)."""
    record = {"name": "Alice", "met_at": value}
    assert errors(lead(), record) == []
    assert lead().normalize(record)["met_at"] == value


def test_normalize_drops_keys_that_are_not_fields() -> None:
    """Keys that name no field are not stored."""
    assert lead().normalize({"name": "Alice", "colour": "blue"}) == {"name": "Alice"}


def test_with_defaults_fills_only_missing_fields() -> None:
    """Fields with a default are filled when absent and kept when given."""
    entity = lead()
    assert entity.with_defaults({"name": "A"}) == {"name": "A", "status": "new"}
    assert entity.with_defaults({"name": "A", "status": "won"}) == {"name": "A", "status": "won"}


@pytest.mark.parametrize(("type_", "value", "masked"), [
    ("phone", "13812345678", "138****5678"),
    ("phone", "+4915112345678", "+49*******5678"),
    ("phone", "1234567", "*******"),
    ("email", "alice@example.com", "a***@example.com"),
    ("email", "not-an-email", "***"),
    ("text", "Alice", "A***"),
    ("text", "A", "***"),
    ("long_text", "Secret notes", "S***"),
    ("url", "https://example.com", "h***"),
    ("integer", 42, "***"),
])
def test_mask(type_: str, value: Any, masked: str) -> None:
    """A pii value is shown masked, keeping only a hint of it."""
    assert FIELD_TYPES[type_].mask(value) == masked


@pytest.mark.parametrize(("key", "a", "b"), [
    pytest.param("name", "Alice", "alice", id="text-case"),
    pytest.param("name", "  Alice ", "ALICE", id="text-outer-blanks"),
    pytest.param("email", "Alice@Example.com", "alice@example.com ", id="email-case"),
    pytest.param("employees", 2, Decimal("2.0"), id="integer-int-and-decimal"),
    pytest.param("score", Decimal("1.50"), Decimal("1.5"), id="decimal-trailing-zero"),
    pytest.param("score", Decimal("100"), Decimal("1E+2"), id="decimal-exponent"),
    pytest.param("score", Decimal("0"), Decimal("-0.0"), id="decimal-zero-and-negative-zero"),
    pytest.param("phone", "13812345678", "13812345678", id="phone-same"),
])
def test_unique_key_collides(key: str, a: Any, b: Any) -> None:
    """Values that are the same for uniqueness share a unique key (text ignores case and outer blanks)."""
    f = lead().fields[key]
    assert unique_key(f, a) == unique_key(f, b)


@pytest.mark.parametrize(("key", "a", "b"), [
    pytest.param("name", "Alice", "Alicia", id="text"),
    pytest.param("name", "a b", "ab", id="text-inner-blank"),
    pytest.param("score", Decimal("1.5"), Decimal("1.05"), id="decimal"),
    pytest.param("employees", 2, 20, id="integer"),
    pytest.param("phone", "13812345678", "+8613812345678", id="phone-forms-are-distinct"),
])
def test_unique_key_differs(key: str, a: Any, b: Any) -> None:
    """Different values have different unique keys."""
    f = lead().fields[key]
    assert unique_key(f, a) != unique_key(f, b)
