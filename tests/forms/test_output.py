"""`form_document`: a compiled form as `{schema, uiSchema, layout, conditions[, formData]}` for one role and
language. Pure: configs are compiled in memory, nothing is served."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowcode_platform.configuration import TenantConfig, compile_config
from lowcode_platform.forms.output import form_document
from lowcode_platform.forms.widgets import RJSF_WIDGETS
from lowcode_platform.schema.entities import JSON_SCHEMA_DIALECT
from tests.configs import crm, label

MAIN = [
    {"field": "name", "placeholder": label("Full name", "全名"), "help": label("Who it is", "是谁"), "span": 2},
    {"field": "vip", "widget": "radio"},
    {"field": "budget", "visible_if": {"vip": True}, "required_if": {"vip": True}},
    {"field": "status", "readonly_for": ["rep"]},
    {"field": "phone", "hidden_for": ["rep"], "visible_if": {"$ex": {"name": 1}}},
    {"field": "email", "required": True},
    {"field": "notes", "readonly_if": {"status": "won"}},
    "rank",
]
SECRET = [{"field": "due", "hidden_for": ["rep"], "help": label("Internal")}]
MORE = ["region", {"field": "tags", "widget": "select"}, "customer", "assignee", "site", "employees", "score"]
ORDER = [f if isinstance(f, str) else f["field"] for f in MAIN + SECRET + MORE]


def output_config() -> dict[str, Any]:
    """Leads with a computed `rank`; a create form in three sections, an edit form in two tabs, no view form."""
    document = crm()
    document["entities"]["lead"]["fields"]["rank"] = {
        "type": "text", "label": label("Rank", "等级"),
        "computed": {"cases": [{"when": {"vip": True}, "value": "A"}], "default": "B"}}
    document["forms"] = {"lead": {
        "create": {"label": label("New lead", "新建线索"), "sections": [
            {"title": label("Main", "主要"), "columns": 3, "fields": MAIN},
            {"title": label("Secret", "机密"), "columns": 1, "fields": SECRET},
            {"fields": MORE}]},
        "edit": {"tabs": [
            {"title": label("Profile", "资料"), "sections": [{"columns": 1, "fields": [
                {"field": "name", "visible_if": {"$nex": {"vip": 1}}},
                {"field": "email", "required": True, "readonly_for": ["rep"]},
                {"field": "notes", "required": True, "readonly_if": {"vip": True}},
                "vip", "status"]}]},
            {"title": label("Admin", "管理"), "sections": [{"fields": [{"field": "due", "hidden_for": ["rep"]}]}]},
        ]},
    }}
    return document


CONFIG = compile_config(output_config(), 1)


def document_of(purpose: str = "create", role: str = "admin", locale: str = "en", *, config: TenantConfig = CONFIG,
                entity: str = "lead", **kwargs: Any) -> dict[str, Any]:
    form = config.forms.get(entity, purpose)
    return form_document(form, config.entities[entity], config.rules.scopes[entity], role, locale, **kwargs)


def one_field_config(item: Any, entity: str = "lead") -> TenantConfig:
    """The CRM config whose lead create form is `name` and `item` (`item` alone when it places `name`)."""
    document = crm()
    fields = [item] if isinstance(item, dict) and item["field"] == "name" else ["name", item]
    document["forms"] = {entity: {"create": {"sections": [{"fields": fields}]}}}
    return compile_config(document, 1)


# -- schema ----------------------------------------------------------------------------------------------------

def test_schema_holds_the_forms_fields_in_form_order() -> None:
    """The schema is the entity's, restricted to the form's fields, in form order, titled by the form's label."""
    schema = document_of()["schema"]
    assert list(schema["properties"]) == ORDER
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    assert (schema["title"], schema["type"], schema["additionalProperties"]) == ("New lead", "object", False)
    assert "met_at" in CONFIG.entities["lead"].fields and "met_at" not in schema["properties"]


def test_schema_leaves_out_fields_hidden_for_the_role() -> None:
    """A rep does not get the fields hidden for reps; an admin does."""
    assert [k for k in ORDER if k not in document_of(role="rep")["schema"]["properties"]] == ["phone", "due"]
    assert list(document_of(role="admin")["schema"]["properties"]) == ORDER


def test_schema_of_a_form_without_label_is_titled_by_the_entity() -> None:
    """The edit form has no label: its schema is titled with the entity's label, in the language asked."""
    assert document_of("edit")["schema"]["title"] == "Lead"
    assert document_of("edit", locale="zh")["schema"]["title"] == "线索"


@pytest.mark.parametrize(("purpose", "role", "required"), [
    pytest.param("create", "admin", ["name", "email"], id="create-admin"),
    pytest.param("create", "rep", ["name", "email"], id="create-rep"),
    pytest.param("edit", "admin", ["email"], id="edit-admin"),
    pytest.param("edit", "rep", None, id="edit-rep-none-at-all"),
    pytest.param("view", "admin", None, id="view"),
])
def test_required_lists_only_unconditionally_required_fields(purpose: str, role: str, required: Any) -> None:
    """`required` lists required fields without default and form-required ones, unless conditional or read-only."""
    # left out: budget (required_if), status (has a default), rank (computed), on the edit form name (visible_if),
    # notes (readonly_if) and, for reps, email (readonly_for); and everything on a view form
    schema = document_of(purpose, role)["schema"]
    assert schema.get("required") == required


# -- read-only -------------------------------------------------------------------------------------------------

def readonly_of(document: dict[str, Any]) -> dict[str, bool]:
    """Fields by whether both the schema (`readOnly`) and the uiSchema (`ui:readonly`) say they are read-only."""
    schema, ui = document["schema"]["properties"], document["uiSchema"]
    marks = {}
    for key in document["uiSchema"]["ui:order"]:
        in_schema, in_ui = schema[key].get("readOnly", False), ui[key].get("ui:readonly", False)
        assert in_schema == in_ui, key
        marks[key] = in_schema
    return marks


@pytest.mark.parametrize(("purpose", "role", "readonly"), [
    pytest.param("create", "admin", {"rank"}, id="computed-for-everyone"),
    pytest.param("create", "rep", {"rank", "status"}, id="readonly_for-rep"),
    pytest.param("edit", "admin", set(), id="edit-admin"),
    pytest.param("edit", "rep", {"email"}, id="edit-readonly_for-rep"),
    pytest.param("view", "rep", {"name", "email", "notes", "vip", "status"}, id="view-form-all"),
    pytest.param("view", "admin", {"name", "email", "notes", "vip", "status", "due"}, id="view-form-admin"),
])
def test_read_only_fields_are_marked_in_schema_and_ui_schema(purpose: str, role: str, readonly: set[str]) -> None:
    """readOnly and ui:readonly mark fields read-only for the role, computed fields and every field of a view form."""
    marks = readonly_of(document_of(purpose, role))
    assert {k for k, v in marks.items() if v} == readonly


def test_readonly_if_is_left_to_the_conditions() -> None:
    """A field read-only only by `readonly_if` is not marked read-only; its condition travels in `conditions`."""
    document = document_of("edit", "admin")
    assert "readOnly" not in document["schema"]["properties"]["notes"]
    assert document["conditions"]["fields"]["notes"] == {"readonly_if": {"$eq": {"vip": True}}}


# -- hidden_for --------------------------------------------------------------------------------------------------

def test_hidden_for_removes_the_field_everywhere() -> None:
    """A field hidden for the role is in none of schema, uiSchema, ui:order, layout, conditions or formData."""
    values = {"name": "n", "phone": "13812345678", "due": "2026-01-01"}
    admin = document_of(role="admin", values=values)
    rep = document_of(role="rep", values=values)
    assert "phone" in admin["uiSchema"] and "phone" in admin["conditions"]["fields"]
    for key in ("phone", "due"):
        assert key not in rep["schema"]["properties"]
        assert key not in rep["uiSchema"] and key not in rep["uiSchema"]["ui:order"]
        assert key not in rep["conditions"]["fields"]
        assert key not in rep["formData"]
        assert key not in [f["field"] for t in rep["layout"]["tabs"] for s in t["sections"] for f in s["fields"]]
    assert rep["formData"] == {"name": "n"}


# -- uiSchema ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("purpose", "role", "order"), [
    ("create", "admin", ORDER),
    ("create", "rep", [k for k in ORDER if k not in ("phone", "due")]),
    ("edit", "admin", ["name", "email", "notes", "vip", "status", "due"]),
    ("edit", "rep", ["name", "email", "notes", "vip", "status"]),
])
def test_ui_order_is_the_form_order(purpose: str, role: str, order: list[str]) -> None:
    """`ui:order` lists the fields the role sees in form order (across sections and tabs), as the schema does."""
    document = document_of(purpose, role)
    assert document["uiSchema"]["ui:order"] == order == list(document["schema"]["properties"])
    assert set(document["uiSchema"]) == {"ui:order", *order}


@pytest.mark.parametrize(("field", "widget", "ui_widget"), [
    ("name", "text", "text"), ("name", "textarea", "textarea"), ("notes", "textarea", "textarea"),
    ("notes", "text", "text"), ("employees", "number", "updown"), ("score", "number", "updown"),
    ("vip", "checkbox", "checkbox"), ("vip", "radio", "radio"), ("vip", "select", "select"),
    ("due", "date", "date"), ("met_at", "datetime", "datetime"), ("status", "select", "select"),
    ("status", "radio", "radio"), ("tags", "checkboxes", "checkboxes"), ("tags", "select", "select"),
    ("email", "email", "email"), ("email", "text", "text"), ("phone", "phone", "text"), ("phone", "text", "text"),
    ("site", "url", "uri"), ("site", "text", "text"), ("assignee", "user", "text"),
    ("customer", "reference", "text"),
])
def test_widgets_map_to_react_jsonschema_form(field: str, widget: str, ui_widget: str) -> None:
    """Each platform widget maps to its react-jsonschema-form widget; `ui:options.platformWidget` keeps the platform's."""
    ui = document_of(config=one_field_config({"field": field, "widget": widget}))["uiSchema"][field]
    assert ui["ui:widget"] == ui_widget == RJSF_WIDGETS[widget]
    assert ui["ui:options"]["platformWidget"] == widget
    assert ui["ui:options"].get("inputType") == ("tel" if widget == "phone" else None)


def test_default_widgets_are_used_when_the_form_names_none() -> None:
    """A bare field key gets its type's default widget."""
    ui = document_of()["uiSchema"]
    assert {k: ui[k]["ui:options"]["platformWidget"] for k in ("name", "email", "notes", "status", "employees", "customer")} == {
        "name": "text", "email": "email", "notes": "textarea", "status": "select", "employees": "number",
        "customer": "reference"}


def test_money_and_region_get_widgets_for_their_parts() -> None:
    """Money: an up-down amount and a currency select; region: a province select and a city text input."""
    ui = document_of()["uiSchema"]
    assert "ui:widget" not in ui["budget"] and "ui:widget" not in ui["region"]
    assert (ui["budget"]["amount"], ui["budget"]["currency"]) == ({"ui:widget": "updown"}, {"ui:widget": "select"})
    assert (ui["region"]["province"], ui["region"]["city"]) == ({"ui:widget": "select"}, {"ui:widget": "text"})
    assert ui["budget"]["ui:options"]["platformWidget"] == "money" and ui["region"]["ui:options"]["platformWidget"] == "region"


def test_reference_fields_name_their_entity_and_spans_are_kept() -> None:
    """A reference field's options name the entity it points to; every field's options carry its span."""
    ui = document_of()["uiSchema"]
    assert ui["customer"]["ui:options"] == {"platformWidget": "reference", "span": 1, "entity": "customer"}
    assert ui["name"]["ui:options"]["span"] == 2


@pytest.mark.parametrize(("locale", "texts"), [
    ("en", {"title": "Name", "help": "Who it is", "placeholder": "Full name", "status": "Status", "form": "New lead",
            "section": "Main", "option": "New", "tab": "Profile"}),
    ("zh", {"title": "姓名", "help": "是谁", "placeholder": "全名", "status": "状态", "form": "新建线索",
            "section": "主要", "option": "新建", "tab": "资料"}),
])
def test_labels_help_and_placeholders_are_localized(locale: str, texts: dict[str, str]) -> None:
    """Field titles, help, placeholders, option titles, form, section and tab titles are in the language asked."""
    document = document_of(locale=locale)
    ui, schema, layout = document["uiSchema"], document["schema"], document["layout"]
    assert (ui["name"]["ui:title"], schema["properties"]["name"]["title"]) == (texts["title"], texts["title"])
    assert (ui["name"]["ui:help"], ui["name"]["ui:placeholder"]) == (texts["help"], texts["placeholder"])
    assert ui["status"]["ui:title"] == texts["status"]
    assert schema["properties"]["status"]["oneOf"][0]["title"] == texts["option"]
    assert (schema["title"], layout["title"], layout["tabs"][0]["sections"][0]["title"]) == (
        texts["form"], texts["form"], texts["section"])
    assert document_of("edit", locale=locale)["layout"]["tabs"][0]["title"] == texts["tab"]


def test_texts_without_chinese_fall_back_to_english() -> None:
    """A help text given only in English is shown in English on a Chinese form."""
    ui = document_of(locale="zh")["uiSchema"]
    assert ui["due"]["ui:help"] == "Internal"
    assert "ui:help" not in ui["vip"] and "ui:placeholder" not in ui["vip"]


# -- masked fields ---------------------------------------------------------------------------------------------

def test_masked_fields_are_read_only_text() -> None:
    """A field the role sees masked is read-only text: no pattern, no widget of its type, no conditions."""
    masked = frozenset({"phone", "email"})
    document = document_of(masked=masked, values={"name": "n", "phone": "138****5678", "email": "a***@b.cn"})
    for key in masked:
        assert document["schema"]["properties"][key] == {
            "title": CONFIG.entities["lead"].fields[key].label.get("en"), "type": "string", "readOnly": True}
        ui = document["uiSchema"][key]
        assert (ui["ui:widget"], ui["ui:readonly"], ui["ui:options"]["masked"]) == ("text", True, True)
    assert "email" not in document["schema"]["required"]  # form-required, but it cannot be changed
    assert "phone" not in document["conditions"]["fields"]
    assert document["formData"] == {"name": "n", "phone": "138****5678", "email": "a***@b.cn"}


def test_unmasked_fields_keep_their_schema() -> None:
    """Without masking, a pii field keeps its type's schema (the phone pattern) and widget."""
    document = document_of()
    assert "pattern" in document["schema"]["properties"]["phone"]
    assert "masked" not in document["uiSchema"]["phone"]["ui:options"]


# -- layout ------------------------------------------------------------------------------------------------------

def test_layout_of_a_form_with_sections() -> None:
    """A form with sections has one untitled tab; sections keep titles, columns (default 2) and field spans."""
    layout = document_of()["layout"]
    assert (layout["title"], layout["tabbed"], len(layout["tabs"])) == ("New lead", False, 1)
    [tab] = layout["tabs"]
    assert tab["title"] is None
    assert [(s["title"], s["columns"]) for s in tab["sections"]] == [("Main", 3), ("Secret", 1), (None, 2)]
    assert tab["sections"][0]["fields"][:2] == [{"field": "name", "widget": "text", "span": 2},
                                                {"field": "vip", "widget": "radio", "span": 1}]
    assert [f["field"] for s in tab["sections"] for f in s["fields"]] == ORDER


def test_layout_of_a_tabbed_form() -> None:
    """A tabbed form lists its tabs with their titles and sections."""
    layout = document_of("edit")["layout"]
    assert (layout["title"], layout["tabbed"]) == (None, True)
    assert [t["title"] for t in layout["tabs"]] == ["Profile", "Admin"]
    assert [[f["field"] for f in s["fields"]] for t in layout["tabs"] for s in t["sections"]] == [
        ["name", "email", "notes", "vip", "status"], ["due"]]


def test_layout_leaves_out_sections_and_tabs_with_nothing_for_the_role() -> None:
    """A section or tab whose every field is hidden for the role is left out of the role's layout."""
    assert [s["title"] for s in document_of(role="rep")["layout"]["tabs"][0]["sections"]] == ["Main", None]
    assert [t["title"] for t in document_of("edit", "rep")["layout"]["tabs"]] == ["Profile"]


# -- conditions --------------------------------------------------------------------------------------------------

def test_conditions_hold_each_fields_rules() -> None:
    """`conditions.fields` holds each visible field's visible_if/required_if/readonly_if as the server reads them."""
    fields = document_of()["conditions"]["fields"]
    assert fields == {
        "budget": {"visible_if": {"$eq": {"vip": True}}, "required_if": {"$eq": {"vip": True}}},
        "phone": {"visible_if": {"$ex": {"name": 1}}},
        "notes": {"readonly_if": {"$eq": {"status": "won"}}},
    }
    assert document_of("edit")["conditions"]["fields"] == {
        "name": {"visible_if": {"$nex": {"vip": 1}}}, "notes": {"readonly_if": {"$eq": {"vip": True}}}}


def test_conditions_carry_the_environment_and_the_facts() -> None:
    """The entity's attribute types, the patterns, and the given facts written for a browser (exact decimals)."""
    facts = {"owner": "u1", "score": Decimal("12.5"), "employees": 3, "days_since_created": 2,
             "budget": {"amount": Decimal("100.00"), "currency": "CNY"}}
    conditions = document_of(facts=facts)["conditions"]
    assert conditions["attributes"]["vip"] == {"type": "boolean", "integer": False}
    assert conditions["attributes"]["employees"]["integer"] is True
    assert conditions["patterns"] == {"mt": {}, "imt": {}}
    assert conditions["facts"] == {"owner": "u1", "score": 12.5, "employees": 3, "days_since_created": 2,
                                   "budget": {"amount": {"$decimal": "100.00"}, "currency": "CNY"}}
    assert document_of()["conditions"]["facts"] == {}


def test_conditions_translate_patterns_for_the_browser() -> None:
    """A `$mt` condition's pattern is given as an anchored ECMAScript source."""
    config = one_field_config({"field": "notes", "visible_if": {"$mt": {"name": "a[0-9]+"}}})
    conditions = document_of(config=config)["conditions"]
    assert conditions["fields"]["notes"] == {"visible_if": {"$mt": {"name": "a[0-9]+"}}}
    assert conditions["patterns"]["mt"] == {"a[0-9]+": "^(?:a[0-9]+)$"}


# -- formData ----------------------------------------------------------------------------------------------------

def test_form_data_only_when_values_are_given() -> None:
    """formData holds the given values of the fields on the form; without values there is none."""
    assert "formData" not in document_of()
    document = document_of("edit", values={"name": "n", "tags": ["hot"], "vip": False, "score": 3})
    assert document["formData"] == {"name": "n", "vip": False}


# -- a property over generated forms -----------------------------------------------------------------------------

ROLES = ["admin", "manager", "rep", "viewer"]
PLAIN = ["name", "notes", "employees", "score", "vip", "due", "status", "tags", "site"]
PLACED = st.fixed_dictionaries({
    "hidden_for": st.lists(st.sampled_from(ROLES), unique=True, max_size=2),
    "readonly_for": st.lists(st.sampled_from(ROLES), unique=True, max_size=2),
    "required": st.booleans(),
    "visible": st.booleans(),
})
EDIT_FORMS = st.lists(st.tuples(st.sampled_from(PLAIN), PLACED), min_size=1, max_size=6,
                      unique_by=lambda item: item[0])


@settings(max_examples=25, deadline=None)
@given(placed=EDIT_FORMS, role=st.sampled_from(ROLES), locale=st.sampled_from(["en", "zh"]))
def test_schema_ui_schema_and_layout_agree(placed: list[tuple[str, dict[str, Any]]], role: str, locale: str) -> None:
    """For any edit form and role: schema, ui:order and layout list the same fields; required ones are writable."""
    items = []
    for key, spec in placed:
        item: dict[str, Any] = {"field": key, "required": spec["required"]}
        for option in ("hidden_for", "readonly_for"):
            if spec[option]:
                item[option] = spec[option]
        if not spec["visible"]:
            item["visible_if"] = {"$ex": {"name": 1}}
        items.append(item)
    document = crm()
    document["forms"] = {"lead": {"edit": {"sections": [{"fields": items[:3]}] + (
        [{"fields": items[3:]}] if items[3:] else [])}}}
    output = document_of("edit", role, locale, config=compile_config(document, 1))
    seen = [k for k, spec in placed if role not in spec["hidden_for"]]
    laid_out = [f["field"] for t in output["layout"]["tabs"] for s in t["sections"] for f in s["fields"]]
    assert list(output["schema"]["properties"]) == output["uiSchema"]["ui:order"] == laid_out == seen
    for key in output["schema"].get("required", []):
        spec = dict(placed)[key]
        assert (spec["required"] or key == "name") and spec["visible"] and role not in spec["readonly_for"]
        assert "readOnly" not in output["schema"]["properties"][key]
    for key in seen:
        spec = dict(placed)[key]
        if (spec["required"] or key == "name") and spec["visible"] and role not in spec["readonly_for"]:
            assert key in output["schema"]["required"]
        assert output["schema"]["properties"][key].get("readOnly", False) is (role in spec["readonly_for"])
        assert (key in output["conditions"]["fields"]) is (not spec["visible"])
