"""Semantic checks of a tenant config: what the meta-schema cannot say.

Each check yields `ErrorDetail`s with pointers into the merged document and never raises, even on a
document that also breaks the meta-schema (parts of the wrong shape are passed over).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from numbers import Number
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import NOWHERE, Localized, in_entity
from lowcode_platform.schema.entities import SORTABLE_SYSTEM_FIELDS, SYSTEM_FIELDS, compile_field
from lowcode_platform.schema.fields import (
    COMMON_OPTIONS,
    DEFAULT_MAX_LENGTH,
    FIELD_TYPES,
    REQUIRED_OPTIONS,
    FieldType,
    field_schema,
)
from lowcode_platform.schema.validators import iter_schema_errors, make_validator


def _objects(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


# Regex syntax Python accepts but JavaScript (the browser validating the same schema) does not.
PYTHON_ONLY_REGEX = re.compile(r"\\[AZ]|\(\?P[<=>]|\(\?#|\(\?[aiLmsux-]+[):]")
ALL_OPTIONS = COMMON_OPTIONS.union(*(kind.options for kind in FIELD_TYPES.values()))


def tenant_currency(document: Mapping[str, Any]) -> str:
    """The tenant's default currency (CNY unless `tenant.currency` says otherwise)."""
    currency = _objects(document.get("tenant")).get("currency")
    return currency if isinstance(currency, str) else "CNY"


def _kind(spec: Any) -> FieldType | None:
    """The type of a field spec, or None when it names no known type."""
    name = _objects(spec).get("type")
    return FIELD_TYPES.get(name) if isinstance(name, str) else None


def _t(key: object) -> str:
    return escape_pointer_token(key)


class _Shape:
    """Where the meta-schema found errors: a part with one is passed over by the semantic checks."""

    def __init__(self, broken: Iterable[str]) -> None:
        self.broken = tuple(broken)

    def sound(self, pointer: str) -> bool:
        return not any(b == pointer or b.startswith(pointer + "/") for b in self.broken)


def iter_semantic_errors(document: Any, shape_errors: Iterable[str] = ()) -> Iterator[ErrorDetail]:
    """Every semantic error of a config document; `shape_errors` are pointers the meta-schema refused."""
    shape = _Shape(shape_errors)
    if not isinstance(document, dict) or "" in shape.broken:
        return
    entities = _objects(document.get("entities"))
    roles = _objects(document.get("roles"))
    currency = tenant_currency(document)
    yield from _check_tenant(document)
    for role_key, role in roles.items():
        for entity_key in _objects(_objects(role).get("permissions")):
            pointer = f"/roles/{_t(role_key)}/permissions/{_t(entity_key)}"
            if entity_key != "*" and entity_key not in entities and shape.sound(pointer):
                yield detail(pointer, "unknown_entity", entity=entity_key)
    for entity_key, entity in entities.items():
        yield from _check_entity(f"/entities/{_t(entity_key)}", _objects(entity), entities, roles, currency, shape)
    for entity_key, forms in _objects(document.get("forms")).items():
        base = f"/forms/{_t(entity_key)}"
        if entity_key not in entities:
            yield detail(base, "unknown_entity", entity=entity_key)
            continue
        fields = _objects(_objects(entities[entity_key]).get("fields"))
        for purpose, form in _objects(forms).items():
            if shape.sound(f"{base}/{_t(purpose)}"):
                yield from _check_form(f"{base}/{_t(purpose)}", _objects(form), fields, entity_key, roles)


def _check_form(base: str, form: Mapping[str, Any], fields: Mapping[str, Any], entity: str,
                roles: Mapping[str, Any]) -> Iterator[ErrorDetail]:
    """A form's structure: sections or tabs (not both), known fields each placed once, known roles."""
    if ("sections" in form) == ("tabs" in form):
        yield detail(base, "form_sections_or_tabs")
    sections = [(f"{base}/sections/{i}", s) for i, s in enumerate(form.get("sections") or ())]
    for t, tab in enumerate(form.get("tabs") or ()):
        sections += [(f"{base}/tabs/{t}/sections/{i}", s) for i, s in enumerate(_objects(tab).get("sections") or ())]
    seen: set[str] = set()
    for pointer, section in sections:
        for i, item in enumerate(_objects(section).get("fields") or ()):
            here = f"{pointer}/fields/{i}"
            if isinstance(item, dict):
                item, here = item.get("field"), f"{here}/field"
                for key in ("hidden_for", "readonly_for"):
                    yield from _check_roles(f"{pointer}/fields/{i}/{key}", _objects(section)["fields"][i].get(key), roles)
            if not isinstance(item, str):
                continue
            if item not in fields:
                yield detail(here, "unknown_field", field=item, where=in_entity(entity))
            elif item in seen:
                yield detail(here, "duplicate_key", key=item, where=NOWHERE)
            seen.add(item)
    yield from _check_roles(f"{base}/roles", form.get("roles"), roles)


def _check_tenant(document: Mapping[str, Any]) -> Iterator[ErrorDetail]:
    tenant = _objects(document.get("tenant"))
    locales = document.get("locales")
    default = tenant.get("default_locale")
    if isinstance(locales, list) and isinstance(default, str) and default not in locales:
        yield detail("/tenant/default_locale", "invalid_option", allowed=", ".join(repr(x) for x in locales))


def _check_roles(pointer: str, names: Any, roles: Mapping[str, Any]) -> Iterator[ErrorDetail]:
    for i, name in enumerate(names if isinstance(names, list) else ()):
        if isinstance(name, str) and name not in roles:
            yield detail(f"{pointer}/{i}", "unknown_role", role=name)


def _check_field_list(pointer: str, names: Any, fields: Mapping[str, Any], entity: str,
                      system: frozenset[str] = frozenset()) -> Iterator[ErrorDetail]:
    seen: set[str] = set()
    for i, name in enumerate(names if isinstance(names, list) else ()):
        if not isinstance(name, str):
            continue
        if name not in fields and name not in system:
            yield detail(f"{pointer}/{i}", "unknown_field", field=name, where=in_entity(entity))
        elif name in seen:
            yield detail(f"{pointer}/{i}", "duplicate_key", key=name, where=NOWHERE)
        seen.add(name)


def _check_entity(base: str, entity: Mapping[str, Any], entities: Mapping[str, Any],
                  roles: Mapping[str, Any], currency: str, shape: _Shape) -> Iterator[ErrorDetail]:
    entity_key = base.rsplit("/", 1)[-1]
    fields = _objects(entity.get("fields"))
    for key, spec in fields.items():
        if shape.sound(f"{base}/fields/{_t(key)}"):
            yield from _check_field(f"{base}/fields/{_t(key)}", key, _objects(spec), entities, currency)
    title = entity.get("title_field")
    if isinstance(title, str) and title not in fields:
        yield detail(f"{base}/title_field", "unknown_field", field=title, where=in_entity(entity_key))
    for view_key, view in _objects(entity.get("views")).items():
        view = _objects(view)
        pointer = f"{base}/views/{_t(view_key)}"
        if not shape.sound(pointer):
            continue
        yield from _check_field_list(f"{pointer}/columns", view.get("columns"), fields, entity_key, SORTABLE_SYSTEM_FIELDS)
        sort = view.get("sort")
        if isinstance(sort, str):
            name = sort.lstrip("-")
            kind = _kind(fields.get(name))
            known = name in SORTABLE_SYSTEM_FIELDS or (kind is not None and kind.sql_kind is not None)
            if not known:
                yield detail(f"{pointer}/sort", "unknown_field", field=name, where=Localized(" among the sortable fields", "（不可排序）"))
        for name, value in _objects(view.get("filters")).items():
            if name not in fields:
                yield detail(f"{pointer}/filters/{_t(name)}", "unknown_field", field=name, where=in_entity(entity_key))
            elif (kind := _kind(fields[name])) is not None and kind.sql_kind is None:
                yield detail(f"{pointer}/filters/{_t(name)}", "invalid_filter",
                             error=f"{kind.name} fields cannot be filtered")
            elif shape.sound(f"{base}/fields/{_t(name)}"):
                yield from _check_value(f"{pointer}/filters/{_t(name)}", name, _objects(fields[name]), value,
                                        currency, "invalid_filter")
        yield from _check_roles(f"{pointer}/roles", view.get("roles"), roles)


def _check_field(base: str, key: str, spec: Mapping[str, Any], entities: Mapping[str, Any],
                 currency: str) -> Iterator[ErrorDetail]:
    if key in SYSTEM_FIELDS:
        yield detail(base, "reserved_field", field=key)
    kind = _kind(spec)
    if kind is None:
        return
    allowed = COMMON_OPTIONS | kind.options
    for option in spec:
        if option not in allowed and option in ALL_OPTIONS:  # an unknown key is the meta-schema's to report
            yield detail(f"{base}/{_t(option)}", "option_not_for_type", option=option, type=kind.name)
    for option in REQUIRED_OPTIONS.get(kind.name, ()):
        if option not in spec:
            yield detail(base, "missing_option", option=option, type=kind.name)
    if spec.get("unique") and not kind.can_be_unique:
        yield detail(f"{base}/unique", "option_not_for_type", option="unique", type=kind.name)
    if spec.get("indexed") and kind.sql_kind is None:
        yield detail(f"{base}/indexed", "option_not_for_type", option="indexed", type=kind.name)
    target = spec.get("entity")
    if "entity" in kind.options and isinstance(target, str) and target not in entities:
        yield detail(f"{base}/entity", "unknown_entity", entity=target)
    for low, high in (("min", "max"), ("min_length", "max_length")):
        lo, hi = spec.get(low), spec.get(high, DEFAULT_MAX_LENGTH.get(kind.name) if high == "max_length" else None)
        if _is_number(lo) and _is_number(hi) and lo > hi:
            yield detail(f"{base}/{low}", "min_above_max", low=low, high=high)
    pattern = spec.get("pattern")
    if isinstance(pattern, str) and "pattern" in kind.options:
        try:
            re.compile(pattern)
        except re.error as exc:
            yield detail(f"{base}/pattern", "bad_pattern", error=str(exc))
            return
        python_only = PYTHON_ONLY_REGEX.search(pattern)
        if python_only:
            yield detail(f"{base}/pattern", "bad_pattern",
                         error=f"{python_only.group()!r} is Python-only syntax that browsers do not understand")
    options = spec.get("options")
    seen: set[str] = set()
    for i, option in enumerate(options if isinstance(options, list) else ()):
        value = _objects(option).get("value")
        if value in seen:
            yield detail(f"{base}/options/{i}/value", "duplicate_key", key=value, where=NOWHERE)
        seen.add(value)
    if "default" in spec:
        yield from _check_default(base, spec, seen, currency)


def _is_number(value: Any) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def _check_default(base: str, spec: Mapping[str, Any], option_values: set[str], currency: str) -> Iterator[ErrorDetail]:
    default = spec["default"]
    if spec["type"] in {"enum", "multi_enum"}:
        values = default if isinstance(default, list) and spec["type"] == "multi_enum" else [default]
        for value in values:
            if isinstance(value, str) and value not in option_values:
                yield detail(f"{base}/default", "default_not_option", value=value)
                return
    yield from _check_value(f"{base}/default", base.rsplit("/", 1)[-1], spec, default, currency, "invalid_default")


def _check_value(pointer: str, key: str, spec: Mapping[str, Any], value: Any, currency: str,
                 code: str) -> Iterator[ErrorDetail]:
    """An error when `value` is not a valid value of the field `spec`."""
    try:
        field = compile_field(key, spec, currency)
        errors = list(iter_schema_errors(make_validator(field_schema(field, "en")), value))
    except (TypeError, ValueError, KeyError):  # a malformed field: the meta-schema reports it
        return
    if errors:
        yield detail(f"{pointer}{errors[0].pointer}", code, error=errors[0].message)
