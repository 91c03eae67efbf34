"""A form as JSON for one role and language: `{schema, uiSchema, layout, conditions}`.

`schema` is the entity's JSON Schema restricted to the fields the role sees on the form; `uiSchema`
follows react-jsonschema-form's conventions; `layout` holds tabs, sections and columns; `conditions`
holds each field's `visible_if`/`required_if`/`readonly_if` (as the checker reads them: the same
conditions, constants in their stored form) with what a client needs to evaluate them
(`lowcode_platform/web/static/conditions.js` is such a client; see `rules/javascript.py`).
Pure: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lowcode_platform.forms.definition import FormDef, FormField, is_readonly
from lowcode_platform.forms.widgets import RJSF_WIDGETS
from lowcode_platform.rules.javascript import browser_condition, browser_value, condition_environment
from lowcode_platform.rules.scope import Scope
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.entities import JSON_SCHEMA_DIALECT
from lowcode_platform.schema.fields import FieldDef, field_schema


def always_required(field: FormField, field_def: FieldDef) -> bool:
    """Required whatever the record holds: no condition can hide it or make it read-only."""
    needed = field.required or (field_def.required and not field_def.has_default)
    return needed and field.visible_if is None and field.readonly_if is None


def _field_ui(field: FormField, field_def: FieldDef, readonly: bool, masked: bool, locale: str) -> dict[str, Any]:
    ui: dict[str, Any] = {"ui:title": field_def.label.get(locale)}
    widget = RJSF_WIDGETS[field.widget]
    if widget is not None:
        ui["ui:widget"] = widget
    elif field.widget == "money":
        ui.update({"amount": {"ui:widget": "updown"}, "currency": {"ui:widget": "select"}})
    else:  # region: a province, then a city code
        ui.update({"province": {"ui:widget": "select"}, "city": {"ui:widget": "text"}})
    if field.help:
        ui["ui:help"] = field.help.get(locale)
    if field.placeholder:
        ui["ui:placeholder"] = field.placeholder.get(locale)
    if readonly:
        ui["ui:readonly"] = True
    options: dict[str, Any] = {"platformWidget": field.widget, "span": field.span}
    if field.widget == "phone":
        options["inputType"] = "tel"
    if field_def.entity:
        options["entity"] = field_def.entity
    if masked:  # the value is shown masked, as text
        options["masked"] = True
        ui["ui:widget"] = "text"
    ui["ui:options"] = options
    return ui


def form_schema(form: FormDef, entity: EntityDef, role: str, locale: str,
                masked: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON Schema of what `role` submits through the form."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in form.visible_to(role):
        field_def = entity.fields[field.key]
        if field.key in masked:  # shown as its masked text, which no field pattern accepts
            properties[field.key] = {"title": field_def.label.get(locale), "type": "string", "readOnly": True}
            continue
        prop = field_schema(field_def, locale)
        if is_readonly(form, field, role, masked):
            prop["readOnly"] = True
        elif always_required(field, field_def):
            required.append(field.key)
        properties[field.key] = prop
    schema: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, "title": (form.label or entity.label).get(locale),
                              "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def form_layout(form: FormDef, role: str, locale: str) -> dict[str, Any]:
    """Tabs, sections and columns, holding only the fields `role` sees (empty sections and tabs left out)."""
    tabs = []
    for tab in form.tabs:
        sections = []
        for section in tab.sections:
            fields = [{"field": f.key, "widget": f.widget, "span": f.span}
                      for f in section.fields if role not in f.hidden_for]
            if fields:
                sections.append({"title": section.title.get(locale) if section.title else None,
                                 "columns": section.columns, "fields": fields})
        if sections:
            tabs.append({"title": tab.title.get(locale) if tab.title else None, "sections": sections})
    return {"title": form.label.get(locale) if form.label else None, "tabbed": form.tabbed, "tabs": tabs}


def _static_document(form: FormDef, entity: EntityDef, scope: Scope, role: str, locale: str,
                     masked: frozenset[str]) -> dict[str, Any]:
    """The part of a form's document that depends on the config alone (not on a record or the clock)."""
    fields = form.visible_to(role)
    ui: dict[str, Any] = {"ui:order": [f.key for f in fields]}
    rules: dict[str, Any] = {}
    for field in fields:
        ui[field.key] = _field_ui(field, entity.fields[field.key], is_readonly(form, field, role, masked),
                                  field.key in masked, locale)
        if field.key not in masked:
            found = {name: browser_condition(rule.condition) for name, rule in field.rules()}
            if found:
                rules[field.key] = found
    conditions = [rule.condition for f in fields for _, rule in f.rules()]
    return {
        "schema": form_schema(form, entity, role, locale, masked),
        "uiSchema": ui,
        "layout": form_layout(form, role, locale),
        "conditions": {"fields": rules, **condition_environment(conditions, scope)},
    }


def form_document(form: FormDef, entity: EntityDef, scope: Scope, role: str, locale: str, *,
                  masked: frozenset[str] = frozenset(), facts: Mapping[str, Any] | None = None,
                  values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`{schema, uiSchema, layout, conditions}` (and `formData` when `values` are given).

    `facts` are what conditions may read besides the form's own fields (system values, derived day
    counts, fields not on the form), as the role may see them; clients evaluate conditions over the
    form's values laid over them. The rest is built once per form, role, language and masked set, and
    shared: callers must not change the document.
    """
    key = (role, locale, masked)
    static = form.documents.get(key)
    if static is None:
        static = form.documents[key] = _static_document(form, entity, scope, role, locale, masked)
    document = {**static, "conditions": {**static["conditions"], "facts": browser_value(dict(facts or {}))}}
    if values is not None:
        document["formData"] = {k: values[k] for k in static["uiSchema"]["ui:order"] if k in values}
    return document
