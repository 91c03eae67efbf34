"""Entities compiled from config: their fields, views, JSON Schema and record validator."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lowcode_platform import jsonutil
from lowcode_platform.errors import ErrorDetail
from lowcode_platform.messages import LOCALES
from lowcode_platform.schema.fastcheck import compile_record_check
from lowcode_platform.schema.fields import FieldDef, Option, field_schema
from lowcode_platform.schema.labels import Label
from lowcode_platform.schema.validators import iter_schema_errors, make_validator

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Names the platform keeps for itself: system columns, derived attributes and list parameters.
SYSTEM_FIELDS = frozenset(
    {
        "id", "entity", "version", "owner", "owner_id", "owner_team", "pool", "pipeline", "stage",
        "stage_entered_at", "last_activity_at", "won_at", "lost_at", "created_at", "updated_at",
        "deleted_at", "created_by", "updated_by", "config_version", "data", "masked",
        "days_since_last_activity", "days_since_created", "days_in_stage", "days_since_won", "created_on",
        "sort", "limit", "cursor", "include_deleted", "where",
    }
)
# System columns a list may be sorted by, besides sortable fields.
SORTABLE_SYSTEM_FIELDS = frozenset({"created_at", "updated_at"})


@dataclass(frozen=True)
class ViewDef:
    key: str
    label: Label
    columns: tuple[str, ...]
    sort: str | None
    filters: Mapping[str, Any]
    roles: tuple[str, ...]


@dataclass(frozen=True)
class EntityDef:
    """One entity of a tenant: fields in order, views, and the JSON Schema its records must meet."""

    key: str
    label: Label
    plural: Label
    title_field: str | None
    fields: Mapping[str, FieldDef]
    views: Mapping[str, ViewDef]
    _schema_texts: Mapping[str, str]
    _validator: Any
    _is_valid: Callable[[Any], bool]

    def schema_text(self, locale: str) -> str:
        """The entity's JSON Schema (JSON text), titled in `locale`."""
        return self._schema_texts.get(locale) or self._schema_texts["en"]

    def is_valid(self, data: Any) -> bool:
        """Whether `data` is a valid record: the entity's JSON Schema's verdict, computed fast."""
        return self._is_valid(data)

    def iter_record_errors(self, data: Any) -> Iterator[ErrorDetail]:
        """Every way `data` breaks the entity's JSON Schema, with pointers into it."""
        if self._is_valid(data):  # the fast path for the common case: nothing to report
            return iter(())
        return iter_schema_errors(self._validator, data)

    def with_defaults(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """`data` with every missing field that has a default filled in."""
        filled = dict(data)
        for f in self.fields.values():
            if f.has_default and f.key not in filled:
                filled[f.key] = copy.deepcopy(f.default)
        return filled

    def normalize(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Valid `data` in the form it is stored in (integers as int, datetimes in UTC, ...)."""
        return {key: self.fields[key].kind.normalize(value) for key, value in data.items() if key in self.fields}


def build_entity_schema(label: Label, help: Label | None, fields: Mapping[str, FieldDef], locale: str) -> dict[str, Any]:
    """The JSON Schema (2020-12, react-jsonschema-form compatible) of an entity's records."""
    schema: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, "title": label.get(locale), "type": "object"}
    if help:
        schema["description"] = help.get(locale)
    schema["properties"] = {f.key: field_schema(f, locale) for f in fields.values()}
    required = [f.key for f in fields.values() if f.required and not f.has_default]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def compile_field(key: str, spec: Mapping[str, Any], currency: str) -> FieldDef:
    """A `FieldDef` from a field's config (already checked)."""
    return FieldDef(
        key=key,
        type=spec["type"],
        label=Label.parse(spec.get("label"), key),
        help=Label.parse(spec["help"]) if spec.get("help") else None,
        required=bool(spec.get("required", False)),
        unique=bool(spec.get("unique", False)),
        indexed=bool(spec.get("indexed", False)),
        pii=bool(spec.get("pii", False)),
        has_default="default" in spec,
        default=spec.get("default"),
        min=spec.get("min"),
        max=spec.get("max"),
        min_length=spec.get("min_length"),
        max_length=spec.get("max_length"),
        pattern=spec.get("pattern"),
        options=tuple(Option(o["value"], Label.parse(o.get("label"), o["value"])) for o in spec.get("options", ())),
        entity=spec.get("entity"),
        currencies=tuple(spec.get("currencies") or (currency,)),
    )


def compile_entity(key: str, spec: Mapping[str, Any], currency: str) -> EntityDef:
    """An `EntityDef` from an entity's config (already checked)."""
    label = Label.parse(spec.get("label"), key)
    help = Label.parse(spec["help"]) if spec.get("help") else None
    fields = {k: compile_field(k, f, currency) for k, f in spec["fields"].items()}
    views = {
        k: ViewDef(
            key=k, label=Label.parse(v.get("label"), k), columns=tuple(v["columns"]), sort=v.get("sort"),
            filters=MappingProxyType(dict(v.get("filters", {}))), roles=tuple(v.get("roles", ())),
        )
        for k, v in spec.get("views", {}).items()
    }
    schemas = {locale: build_entity_schema(label, help, fields, locale) for locale in LOCALES}
    return EntityDef(
        key=key,
        label=label,
        plural=Label.parse(spec["plural"]) if spec.get("plural") else label,
        title_field=spec.get("title_field"),
        fields=MappingProxyType(fields),
        views=MappingProxyType(views),
        _schema_texts=MappingProxyType({locale: jsonutil.dumps(s) for locale, s in schemas.items()}),
        _validator=make_validator(schemas["en"]),
        _is_valid=compile_record_check(fields),
    )
