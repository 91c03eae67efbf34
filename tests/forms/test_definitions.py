"""Form definitions: every config error a form can hold (located and coded), the template's forms, and the
default and fall-back forms every entity gets for `create`, `edit` and `view`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lowcode_platform.configuration import compile_config, iter_config_errors
from lowcode_platform.forms.definition import PURPOSES
from lowcode_platform.forms.widgets import WIDGETS, default_widget
from lowcode_platform.messages import CATALOG
from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.configs import crm, label

Mutation = Callable[[dict[str, Any]], None]
TEMPLATE = load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document
C = "/forms/lead/create"


def forms_config() -> dict[str, Any]:
    """The CRM config with a computed lead field `rank` and a valid lead create form."""
    document = crm()
    document["entities"]["lead"]["fields"]["rank"] = {
        "type": "text", "label": label("Rank", "等级"),
        "computed": {"cases": [{"when": {"vip": True}, "value": "A"}], "default": "B"}}
    document["forms"] = {"lead": {"create": sections(["name", "vip", "notes"])}}
    return document


def sections(*field_lists: list[Any]) -> dict[str, Any]:
    return {"sections": [{"fields": fields} for fields in field_lists]}


def tabs(*field_lists: list[Any]) -> dict[str, Any]:
    return {"tabs": [{"title": label(f"Tab {i}"), "sections": [{"fields": fields}]}
                     for i, fields in enumerate(field_lists)]}


def lead_form(form: dict[str, Any], purpose: str = "create") -> Mutation:
    """A mutation that sets the lead form of `purpose`."""

    def mutate(document: dict[str, Any]) -> None:
        document["forms"]["lead"][purpose] = form

    return mutate


def name_and(*items: Any) -> Mutation:
    """The lead create form with `name` first, then `items`."""
    return lead_form(sections(["name", *items]))


def errors_of(document: Any) -> list[tuple[str, str]]:
    return [(e.pointer, e.code) for e in iter_config_errors(document)]


CASES = [
    # a section naming a field the entity does not have, or naming one twice
    pytest.param(name_and("ghost"), f"{C}/sections/0/fields/1", "unknown_field", id="unknown-field-key"),
    pytest.param(name_and({"field": "ghost", "widget": "text"}), f"{C}/sections/0/fields/1/field", "unknown_field",
                 id="unknown-field-object"),
    pytest.param(lead_form(tabs(["name"], ["vip", "ghost"])), f"{C}/tabs/1/sections/0/fields/1", "unknown_field",
                 id="unknown-field-in-tab"),
    pytest.param(lead_form(sections(["name"], ["vip"]), "edit"), None, None, id="edit-form-is-fine"),
    pytest.param(lead_form(sections(["name"], ["vip", "ghost"]), "edit"), "/forms/lead/edit/sections/1/fields/1",
                 "unknown_field", id="unknown-field-edit-form"),
    pytest.param(lead_form(sections(["name", "vip"], ["vip"])), f"{C}/sections/1/fields/0", "duplicate_key",
                 id="duplicate-field-across-sections"),
    pytest.param(name_and({"field": "name"}), f"{C}/sections/0/fields/1/field", "duplicate_key",
                 id="duplicate-field-object"),
    # a widget unfit for its field's type
    pytest.param(name_and({"field": "vip", "widget": "text"}), f"{C}/sections/0/fields/1/widget", "widget_unfit",
                 id="widget-text-on-boolean"),
    pytest.param(name_and({"field": "employees", "widget": "text"}), f"{C}/sections/0/fields/1/widget",
                 "widget_unfit", id="widget-text-on-integer"),
    pytest.param(name_and({"field": "notes", "widget": "number"}), f"{C}/sections/0/fields/1/widget", "widget_unfit",
                 id="widget-number-on-long_text"),
    pytest.param(name_and({"field": "budget", "widget": "number"}), f"{C}/sections/0/fields/1/widget",
                 "widget_unfit", id="widget-number-on-money"),
    pytest.param(name_and({"field": "status", "widget": "checkboxes"}), f"{C}/sections/0/fields/1/widget",
                 "widget_unfit", id="widget-checkboxes-on-enum"),
    pytest.param(name_and({"field": "tags", "widget": "radio"}), f"{C}/sections/0/fields/1/widget", "widget_unfit",
                 id="widget-radio-on-multi_enum"),
    pytest.param(name_and({"field": "due", "widget": "datetime"}), f"{C}/sections/0/fields/1/widget",
                 "widget_unfit", id="widget-datetime-on-date"),
    pytest.param(name_and({"field": "customer", "widget": "select"}), f"{C}/sections/0/fields/1/widget",
                 "widget_unfit", id="widget-select-on-reference"),
    pytest.param(name_and({"field": "assignee", "widget": "text"}), f"{C}/sections/0/fields/1/widget",
                 "widget_unfit", id="widget-text-on-user"),
    pytest.param(name_and({"field": "region", "widget": "select"}), f"{C}/sections/0/fields/1/widget",
                 "widget_unfit", id="widget-select-on-region"),
    pytest.param(lead_form(tabs(["name"], [{"field": "phone", "widget": "email"}])),
                 f"{C}/tabs/1/sections/0/fields/0/widget", "widget_unfit", id="widget-email-on-phone-in-tab"),
    # conditions, read by the condition language: the pointer goes on into the condition
    pytest.param(name_and({"field": "vip", "visible_if": {"ghost": 1}}), f"{C}/sections/0/fields/1/visible_if/ghost",
                 "unknown_field", id="visible_if-unknown-field"),
    pytest.param(name_and({"field": "vip", "required_if": {"$ex": {"ghost": 1}}}),
                 f"{C}/sections/0/fields/1/required_if/$ex/ghost", "unknown_field", id="required_if-unknown-field"),
    pytest.param(name_and({"field": "vip", "readonly_if": {"$and": [{"vip": True}, {"ghost": 1}]}}),
                 f"{C}/sections/0/fields/1/readonly_if/$and/1/ghost", "unknown_field",
                 id="readonly_if-unknown-field-nested"),
    pytest.param(name_and({"field": "notes", "visible_if": {"vip": "yes"}}),
                 f"{C}/sections/0/fields/1/visible_if/vip", "condition_mismatch", id="visible_if-wrong-type"),
    pytest.param(name_and({"field": "notes", "visible_if": {"$foo": 1}}),
                 f"{C}/sections/0/fields/1/visible_if/$foo", "condition_operator", id="visible_if-unknown-operator"),
    pytest.param(lead_form(sections(["name"], [{"field": "vip", "visible_if": {"ghost": 1}}]), "edit"),
                 "/forms/lead/edit/sections/1/fields/0/visible_if/ghost", "unknown_field",
                 id="condition-on-edit-form"),
    # roles that do not exist
    pytest.param(name_and({"field": "vip", "hidden_for": ["ghost"]}), f"{C}/sections/0/fields/1/hidden_for/0",
                 "unknown_role", id="hidden_for-unknown-role"),
    pytest.param(name_and({"field": "vip", "readonly_for": ["rep", "ghost"]}),
                 f"{C}/sections/0/fields/1/readonly_for/1", "unknown_role", id="readonly_for-unknown-role"),
    pytest.param(lead_form(tabs(["name"], [{"field": "vip", "hidden_for": ["ghost"]}])),
                 f"{C}/tabs/1/sections/0/fields/0/hidden_for/0", "unknown_role", id="hidden_for-unknown-role-in-tab"),
    # sections xor tabs
    pytest.param(lead_form({**sections(["name"]), **tabs(["vip"])}), C, "form_sections_or_tabs",
                 id="sections-and-tabs"),
    pytest.param(lead_form({"label": label("Empty")}), C, "form_sections_or_tabs", id="neither-sections-nor-tabs"),
    # a create form must show each required field without a default, to every role, unconditionally
    pytest.param(lead_form(sections(["vip"])), C, "required_field_off_form", id="required-field-missing"),
    pytest.param(lead_form(tabs(["vip"], ["notes"])), C, "required_field_off_form", id="required-field-missing-tabs"),
    pytest.param(lead_form(sections([{"field": "name", "hidden_for": ["rep"]}])), C, "required_field_off_form",
                 id="required-field-hidden-for-a-role"),
    pytest.param(lead_form(sections([{"field": "name", "hidden_for": ["admin"]}])), C, "required_field_off_form",
                 id="required-field-hidden-for-admins"),
    pytest.param(lead_form(sections(["vip", {"field": "name", "visible_if": {"vip": True}}])), C,
                 "required_field_off_form", id="required-field-conditional"),
    pytest.param(lead_form(sections([{"field": "name", "readonly_for": ["viewer"]}])), C, "required_field_off_form",
                 id="required-field-readonly-for-a-role"),
    pytest.param(lead_form(sections([{"field": "name", "readonly_if": {"vip": True}}, "vip"])), C,
                 "required_field_off_form", id="required-field-readonly-if"),
    pytest.param(lead_form(sections(["vip"]), "edit"), None, None, id="edit-form-may-leave-required-fields-off"),
    pytest.param(lead_form(sections(["name"])), None, None, id="fields-with-a-default-may-be-left-off"),
    pytest.param(lead_form(sections([{"field": "name", "required_if": {"vip": True}}, "vip"])), None, None,
                 id="required_if-on-a-required-field-is-fine"),
    # computed fields are shown read-only: never required
    pytest.param(name_and({"field": "rank", "required": True}), f"{C}/sections/0/fields/1/required",
                 "computed_field_on_form", id="computed-field-required"),
    pytest.param(name_and({"field": "rank", "required_if": {"vip": True}}), f"{C}/sections/0/fields/1/required_if",
                 "computed_field_on_form", id="computed-field-required_if"),
    pytest.param(name_and({"field": "rank", "widget": "textarea", "required": False}), None, None,
                 id="computed-field-shown"),
]


@pytest.mark.parametrize(("mutation", "pointer", "code"), CASES)
def test_form_config_error(mutation: Mutation, pointer: str | None, code: str | None) -> None:
    """Each broken form gives exactly its error at its pointer; a sound one (None) gives none."""
    document = forms_config()
    assert errors_of(document) == []
    mutation(document)
    assert errors_of(document) == ([] if pointer is None else [(pointer, code)])


@pytest.mark.parametrize("form", [
    sections(["vip"]), sections([{"field": "name", "hidden_for": ["rep"]}]),
    sections([{"field": "name", "visible_if": {"vip": True}}, "vip"]),
])
def test_required_field_off_form_names_the_field(form: dict[str, Any]) -> None:
    """`required_field_off_form` names the field in its params and in its message."""
    document = forms_config()
    lead_form(form)(document)
    [error] = iter_config_errors(document)
    assert error.params["field"] == "name"
    assert "'name'" in error.message_in("en") and "'name'" in error.message_in("zh")


def test_every_error_of_every_form_is_reported_in_one_pass() -> None:
    """Errors of several fields, purposes and entities come together, in form order."""
    document = forms_config()
    document["forms"]["lead"]["create"] = sections(["name", {"field": "vip", "widget": "text"},
                                                    {"field": "notes", "visible_if": {"ghost": 1}}])
    document["forms"]["lead"]["edit"] = sections([{"field": "rank", "required": True}])
    document["forms"]["customer"] = {"create": sections(["level"])}
    assert sorted(errors_of(document)) == sorted([
        (f"{C}/sections/0/fields/1/widget", "widget_unfit"),
        (f"{C}/sections/0/fields/2/visible_if/ghost", "unknown_field"),
        ("/forms/lead/edit/sections/0/fields/0/required", "computed_field_on_form"),
        ("/forms/customer/create", "required_field_off_form"),
    ])


@pytest.mark.parametrize("code", ["form_sections_or_tabs", "widget_unfit", "required_field_off_form",
                                  "computed_field_on_form", "not_on_form", "readonly_field", "unknown_form",
                                  "form_purpose", "form_value"])
def test_form_error_codes_have_english_and_chinese_messages(code: str) -> None:
    """Every code the forms use has a message in both languages."""
    assert set(CATALOG[code]) >= {"en", "zh"}
    assert CATALOG[code]["en"] != CATALOG[code]["zh"]


# -- the template ----------------------------------------------------------------------------------------------

def test_template_forms_are_valid() -> None:
    """The b2b_solution_sales template, forms included, has no config error and compiles."""
    assert errors_of(TEMPLATE) == []
    config = compile_config(TEMPLATE, 1)
    for entity in config.entities:
        for purpose in ("create", "edit"):
            assert config.forms.get(entity, purpose).label is not None, (entity, purpose)


def test_template_create_forms_show_every_required_field() -> None:
    """Each template create form holds every required field without a default, shown to all and unconditional."""
    config = compile_config(TEMPLATE, 1)
    for key, entity in config.entities.items():
        form = config.forms.get(key, "create")
        for field in entity.fields.values():
            if field.required and not field.has_default:
                placed = form.fields[field.key]
                assert not (placed.hidden_for or placed.readonly_for or placed.visible_if or placed.readonly_if)


def test_template_view_forms_fall_back_to_the_edit_layout() -> None:
    """The template defines no view forms: each is its edit form's layout, read-only and without a label."""
    config = compile_config(TEMPLATE, 1)
    for entity in config.entities:
        edit, view = config.forms.get(entity, "edit"), config.forms.get(entity, "view")
        assert (view.purpose, view.readonly, view.label) == ("view", True, None)
        assert view.tabs == edit.tabs and view.tabbed == edit.tabbed


# -- default forms and fall-backs --------------------------------------------------------------------------------

@pytest.mark.parametrize("purpose", PURPOSES)
def test_every_entity_gets_a_default_form_per_purpose(purpose: str) -> None:
    """Without forms in the config, each entity's form lists its fields in order with their default widgets."""
    config = compile_config(crm(), 1)
    for key, entity in config.entities.items():
        form = config.forms.get(key, purpose)
        assert (form.entity, form.purpose, form.label, form.tabbed) == (key, purpose, None, False)
        assert form.readonly is (purpose == "view")
        assert list(form.fields) == list(entity.fields)
        assert {k: f.widget for k, f in form.fields.items()} == {
            k: default_widget(f.type) for k, f in entity.fields.items()}
        [tab] = form.tabs
        [section] = tab.sections
        assert (tab.title, section.title, section.columns) == (None, None, 2)
    assert [f.purpose for f in config.forms.of("lead")] == list(PURPOSES)


def test_default_create_form_leaves_computed_fields_out() -> None:
    """A computed field is not on the default create form; edit and view show it, computed (read-only)."""
    config = compile_config(forms_config() | {"forms": {}}, 1)
    assert "rank" not in config.forms.get("lead", "create").fields
    for purpose in ("edit", "view"):
        assert config.forms.get("lead", purpose).fields["rank"].computed


def test_default_widgets_fit_their_types() -> None:
    """Each field type's default widget is one it accepts (the first listed)."""
    for field_type, widgets in WIDGETS.items():
        assert default_widget(field_type) == widgets[0]


def layout(form: Any) -> list[list[list[str]]]:
    """A compiled form's field keys by tab and section."""
    return [[[f.key for f in s.fields] for s in tab.sections] for tab in form.tabs]


def spec_layout(spec: dict[str, Any]) -> list[list[list[str]]]:
    """A form config's field keys by tab and section (a form without tabs has one)."""
    return [[[f if isinstance(f, str) else f["field"] for f in s["fields"]] for s in tab["sections"]]
            for tab in spec.get("tabs") or [{"sections": spec["sections"]}]]


CREATE = sections(["name", "vip"], ["notes"])
EDIT = tabs(["name"], ["status", "notes"])
VIEW = sections(["name", "status"])
DEFAULT: dict[str, Any] = {}  # the default form: every field in one section


@pytest.mark.parametrize(("defined", "expected"), [
    pytest.param({"create": CREATE}, {"create": CREATE, "edit": CREATE, "view": CREATE}, id="create-only"),
    pytest.param({"create": CREATE, "edit": EDIT}, {"create": CREATE, "edit": EDIT, "view": EDIT},
                 id="create-and-edit"),
    pytest.param({"edit": EDIT}, {"create": DEFAULT, "edit": EDIT, "view": EDIT}, id="edit-only"),
    pytest.param({"view": VIEW}, {"create": DEFAULT, "edit": DEFAULT, "view": VIEW}, id="view-only"),
    pytest.param({"create": CREATE, "view": VIEW}, {"create": CREATE, "edit": CREATE, "view": VIEW},
                 id="create-and-view"),
    pytest.param({"create": CREATE, "edit": EDIT, "view": VIEW}, {"create": CREATE, "edit": EDIT, "view": VIEW},
                 id="all-three"),
])
def test_missing_purposes_fall_back(defined: dict[str, Any], expected: dict[str, dict[str, Any]]) -> None:
    """Edit takes create's layout, view takes edit's; with nothing before it, a purpose gets the default form."""
    document = crm()
    document["forms"] = {"lead": defined}
    config = compile_config(document, 1)
    for purpose, source in expected.items():
        form = config.forms.get("lead", purpose)
        want = [[list(config.entities["lead"].fields)]] if source is DEFAULT else spec_layout(source)
        assert (form.purpose, layout(form), form.tabbed) == (purpose, want, "tabs" in source)
        assert form.readonly is (purpose == "view")
        if purpose not in defined:
            assert form.label is None


def test_fall_back_keeps_the_field_rules() -> None:
    """An edit form taken from create keeps its widgets, conditions and role restrictions."""
    document = crm()
    document["forms"] = {"lead": {"create": sections([
        "name", "vip", {"field": "notes", "widget": "text", "visible_if": {"vip": True}, "readonly_for": ["rep"],
                        "hidden_for": ["viewer"], "help": label("Help")}])}}
    config = compile_config(document, 1)
    notes = config.forms.get("lead", "edit").fields["notes"]
    assert notes.widget == "text" and notes.visible_if is not None and notes.help is not None
    assert (notes.readonly_for, notes.hidden_for) == (frozenset({"rep"}), frozenset({"viewer"}))
    assert config.forms.get("lead", "view").fields["notes"] == notes


def test_other_purposes_are_kept_and_do_not_take_part_in_fall_backs() -> None:
    """A form under another key is compiled as written and needs not show required fields; create gets the default."""
    document = crm()
    document["forms"] = {"lead": {"quick": sections(["vip"])}}
    assert errors_of(document) == []
    config = compile_config(document, 1)
    assert list(config.forms.get("lead", "quick").fields) == ["vip"]
    assert list(config.forms.get("lead", "create").fields) == list(config.entities["lead"].fields)
    assert config.forms.get("customer", "quick") is None
