"""Config-time checks of rules: validations, computed fields, activity_for and automations.

Every problem is reported by `iter_config_errors` with a pointer into the config and a code, all at once;
`lowcode config validate` prints them as `file#pointer: message`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from lowcode_platform import cli
from lowcode_platform.configuration import compile_config, iter_config_errors
from lowcode_platform.errors import ConfigInvalidError
from lowcode_platform.schema import load_config
from tests.configs import crm, label

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "tenant_configs" / "b2b_solution_sales"
MESSAGE = label("Broken", "坏了")


def found(document: Any) -> list[tuple[str, str]]:
    return [(e.pointer, e.code) for e in iter_config_errors(document)]


def lead(document: dict[str, Any]) -> dict[str, Any]:
    return document["entities"]["lead"]


def fields(document: dict[str, Any]) -> dict[str, Any]:
    return lead(document)["fields"]


def with_rules(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = crm()
    change(document)
    return document


def computed(when: Any, value: Any, default: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"cases": [{"when": when, "value": value}]}
    if default is not None:
        spec["default"] = default
    return spec


def integer(spec: dict[str, Any]) -> dict[str, Any]:
    return {"type": "integer", "label": label("N"), "computed": spec}


def set_validations(*rules: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        lead(document)["validations"] = list(rules)
    return change


def set_fields(**new: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        fields(document).update(new)
    return change


def set_automations(*automations: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document["entities"]["task"] = {"label": label("Task"), "fields": {
            "title": {"type": "text", "label": label("Title"), "required": True},
            "due": {"type": "date", "label": label("Due")},
            "lead": {"type": "reference", "label": label("Lead"), "entity": "lead"},
            "customer": {"type": "reference", "label": label("Customer"), "entity": "customer"},
        }}
        document["automations"] = list(automations)
    return change


def auto(*then: dict[str, Any], on: str = "record.created", entity: str = "lead", **extra: Any) -> dict[str, Any]:
    return {"key": "auto", "on": on, "entity": entity, **extra, "then": list(then)}


def task(**body: Any) -> dict[str, Any]:
    return {"create_task": {"entity": "task", **body}}


def rule(assert_: Any, **extra: Any) -> dict[str, Any]:
    return {"key": extra.pop("key", "r"), "assert": assert_, "message": MESSAGE, **extra}


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], list[tuple[str, str]]]] = {
    # validations
    "unknown field in assert": (
        set_validations(rule({"$and": [{"status": "new"}, {"$lte": {"discount": 5}}]})),
        [("/entities/lead/validations/0/assert/$and/1/$lte/discount", "unknown_field")]),
    "enum value not an option in when": (
        set_validations(rule({"$ex": {"name": 1}}, when={"status": "web"})),
        [("/entities/lead/validations/0/when/status", "condition_option")]),
    "several broken rules at once": (
        set_validations(rule({"$gt": {"score": "20"}}), rule({"status": None}, key="s"),
                        rule({"$ex": {"name": 1}}, key="r", pointer="/nope")),
        [("/entities/lead/validations/0/assert/$gt/score", "condition_mismatch"),
         ("/entities/lead/validations/1/assert/status", "condition_null"),
         ("/entities/lead/validations/2/key", "duplicate_key"),
         ("/entities/lead/validations/2/pointer", "unknown_field")]),
    "two keys in a condition": (  # docs/conditions.md: refused with condition_one_key wherever it is used
        set_validations(rule({"status": "new", "vip": True})),
        [("/entities/lead/validations/0/assert", "condition_one_key")]),
    "two keys in a nested condition": (
        set_validations(rule({"$and": [{"status": "new", "vip": True}]})),
        [("/entities/lead/validations/0/assert/$and/0", "condition_one_key")]),
    "regex outside the subset in a validation": (
        set_validations(rule({"$mt": {"name": "[^0-9]+"}})),
        [("/entities/lead/validations/0/assert/$mt/name", "condition_regex")]),
    # computed fields
    "computed cycle between two fields": (
        set_fields(a=integer(computed({"$ex": {"b": 1}}, {"$m": "b"})),
                   b=integer(computed({"$ex": {"name": 1}}, {"$add": {"$l": {"$m": "a"}, "$r": 1}}))),
        [("/entities/lead/fields/a/computed", "computed_cycle")]),
    "computed field reading itself": (
        set_fields(a=integer(computed({"$gt": {"a": 1}}, 1))),
        [("/entities/lead/fields/a/computed", "computed_cycle")]),
    "computed value of the wrong type": (
        set_fields(a=integer(computed({"$ex": {"name": 1}}, "many"))),
        [("/entities/lead/fields/a/computed/cases/0/value", "condition_mismatch")]),
    "computed reference of the wrong type": (
        set_fields(a=integer(computed({"$ex": {"name": 1}}, 1, default={"$m": "name"}))),
        [("/entities/lead/fields/a/computed/default/$m", "condition_mismatch")]),
    "computed enum value not an option": (
        set_fields(grade={"type": "enum", "label": label("Grade"), "options": [{"value": "a", "label": label("A")}],
                          "computed": computed({"$ex": {"name": 1}}, "z")}),
        [("/entities/lead/fields/grade/computed/cases/0/value", "invalid_value")]),
    "computed value outside the field's limits": (
        set_fields(a={"type": "integer", "label": label("A"), "max": 10,
                      "computed": computed({"$ex": {"name": 1}}, 11)}),
        [("/entities/lead/fields/a/computed/cases/0/value", "invalid_value")]),
    "computed on a type that cannot be computed": (
        set_fields(mobile={"type": "phone", "label": label("Mobile"),
                           "computed": computed({"$ex": {"name": 1}}, "13812345678")}),
        [("/entities/lead/fields/mobile/computed", "option_not_for_type")]),
    "computed condition naming an unknown field": (
        set_fields(a=integer(computed({"$gt": {"nope": 1}}, 1))),
        [("/entities/lead/fields/a/computed/cases/0/when/$gt/nope", "unknown_field")]),
    # activity_for
    "activity_for naming a non-reference field": (
        lambda d: lead(d).update(activity_for=["customer", "name", "ghost"]),
        [("/entities/lead/activity_for/1", "reference_field_needed"),
         ("/entities/lead/activity_for/2", "reference_field_needed")]),
    # automations
    "automation on an unknown entity": (
        set_automations(auto({"set": {"name": "x"}}, entity="ghost")),
        [("/automations/0/entity", "unknown_entity")]),
    "field.changed without fields": (
        set_automations(auto({"set": {"notes": "x"}}, on="field.changed")),
        [("/automations/0", "fields_needed")]),
    "field.changed naming an unknown field": (
        set_automations(auto({"set": {"notes": "x"}}, on="field.changed", fields=["status", "ghost"])),
        [("/automations/0/fields/1", "unknown_field")]),
    "create_task link_field not a reference to the entity": (
        set_automations(auto(task(values={"title": "t"}, link_field="customer"), task(link_field="title"),
                             task(link_field="ghost"))),
        [("/automations/0/then/0/create_task/link_field", "link_field_needed"),
         ("/automations/0/then/1/create_task/link_field", "link_field_needed"),
         ("/automations/0/then/2/create_task/link_field", "link_field_needed")]),
    "create_task due_field not a date": (
        set_automations(auto(task(values={"title": "t"}, due_field="title"))),
        [("/automations/0/then/0/create_task/due_field", "date_field_needed")]),
    "create_task on an unknown entity": (
        set_automations(auto({"create_task": {"entity": "ghost"}})),
        [("/automations/0/then/0/create_task/entity", "unknown_entity")]),
    "create_task values of unknown fields or bad values": (
        set_automations(auto(task(values={"title": 5, "ghost": 1}))),
        [("/automations/0/then/0/create_task/values/title", "condition_mismatch"),
         ("/automations/0/then/0/create_task/values/ghost", "unknown_field")]),
    "recipient field not a user field": (
        set_automations(auto({"notify": {"to": ["owner", {"field": "name"}, {"field": "ghost"}], "message": MESSAGE}},
                             {"assign_owner": {"field": "customer"}},
                             task(values={"title": "t"}, assign_to={"field": "email"}))),
        [("/automations/0/then/0/notify/to/1/field", "user_field_needed"),
         ("/automations/0/then/0/notify/to/2/field", "user_field_needed"),
         ("/automations/0/then/1/assign_owner/field", "user_field_needed"),
         ("/automations/0/then/2/create_task/assign_to/field", "user_field_needed")]),
    "recipient role unknown": (
        set_automations(auto({"notify": {"to": [{"role": "ghost"}], "message": MESSAGE}})),
        [("/automations/0/then/0/notify/to/0/role", "unknown_role")]),
    "set of a computed field, an unknown field, a bad value": (
        lambda d: (set_fields(a=integer(computed({"$ex": {"name": 1}}, 1)))(d),
                   set_automations(auto({"set": {"a": 2, "ghost": 1, "status": "lost", "employees": -1}}))(d)),
        [("/automations/0/then/0/set/a", "computed_field"),
         ("/automations/0/then/0/set/ghost", "unknown_field"),
         ("/automations/0/then/0/set/status", "invalid_value"),
         ("/automations/0/then/0/set/employees", "invalid_value")]),
    "regex outside the subset in an automation's when": (
        set_automations(auto({"set": {"notes": "x"}}, when={"$or": [{"vip": True}, {"$imt": {"name": "(a+)*"}}]})),
        [("/automations/0/when/$or/1/$imt/name", "condition_regex")]),
    "duplicate automation keys": (
        lambda d: (set_automations(auto({"set": {"notes": "x"}}), auto({"set": {"notes": "y"}}))(d)),
        [("/automations/1/key", "duplicate_key")]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_config_errors_have_exact_pointers_and_codes(case):
    """Each broken rule is reported once, at its exact pointer, with its code; nothing else is reported."""
    change, expected = CASES[case]
    document = with_rules(change)
    assert found(document) == expected
    with pytest.raises(ConfigInvalidError) as raised:
        compile_config(document, 1)
    assert [(e.pointer, e.code) for e in raised.value.details] == expected


def test_valid_rules_pass():
    """Rules of every kind that are well formed: no errors, and the config compiles."""
    document = with_rules(lambda d: (
        set_fields(a=integer(computed({"$ex": {"employees": 1}}, {"$mul": {"$l": {"$m": "employees"}, "$r": 2}},
                                      default=0)),
                   b=integer(computed({"$gt": {"a": 10}}, {"$m": "a"})))(d),
        set_validations(rule({"$gte": {"due": {"$m": "created_on"}}}, when={"$ex": {"due": 1}}, pointer="/due"))(d),
        set_automations(
            auto({"set": {"notes": "x", "employees": {"$add": {"$l": {"$m": "employees"}, "$r": 1}}}},
                 {"assign_owner": {"field": "assignee"}},
                 {"notify": {"to": ["owner", "owner_manager", "creator", "actor", {"role": "manager"},
                                    {"field": "assignee"}], "message": MESSAGE}},
                 task(values={"title": {"$m": "name"}}, link_field="lead", due_field="due", due_in_days=2,
                      assign_to="owner"),
                 on="field.changed", fields=["status"], when={"$mt": {"name": "ERP-%d{4}"}}))(d),
    ))
    assert found(document) == []
    compiled = compile_config(document, 1)
    assert [c.key for c in compiled.rules.of("lead").computed] == ["a", "b"]
    assert [a.key for a in compiled.rules.automations_on("lead", "field.changed")] == ["auto"]
    assert compiled.rules.automations_on("lead", "record.created") == ()


def test_computed_fields_are_ordered_by_dependency():
    """Declared c, b, a with c reading b and b reading a: compiled in the order a, b, c."""
    def plus_one(source: str) -> dict[str, Any]:
        return integer(computed({"$ex": {source: 1}}, {"$add": {"$l": {"$m": source}, "$r": 1}}))

    document = with_rules(set_fields(c=plus_one("b"), b=plus_one("a"), a=plus_one("employees")))
    assert found(document) == []
    assert [c.key for c in compile_config(document, 1).rules.of("lead").computed] == ["a", "b", "c"]


def test_the_template_has_no_errors():
    """The shipped template passes every rule check."""
    assert found(load_config(TEMPLATE_DIR).document) == []


def test_condition_messages_are_localized():
    """The same error in English and Chinese."""
    document = with_rules(set_validations(rule({"$ex": {"name": 1}}, when={"status": "web"})))
    (error,) = iter_config_errors(document)
    assert error.message_in("en") == "'web' is not an option of 'status'"
    assert error.message_in("zh") == "'web' 不是 'status' 的选项"


# -- lowcode config validate ------------------------------------------------------------------------

def run_validate(tmp_path: Path, *args: str) -> Any:
    env = {"LOWCODE_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
           "LOWCODE_INSTANCE_DIR": str(tmp_path / "instance"), "LOWCODE_TEMPLATE_PATH": ""}
    apps: list[Any] = []

    def create_app() -> Any:
        app = cli._create_app()
        apps.append(app)
        return app

    try:
        return CliRunner().invoke(cli.main, ["config", "validate", *args], env=env,
                                  obj=ScriptInfo(create_app=create_app))
    finally:
        for app in apps:
            app.extensions["lowcode"].engine.dispose()


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")


@pytest.fixture
def broken_template(tmp_path: Path) -> Path:
    """The template with a broken validation rule, a computed cycle and a field.changed without fields."""
    folder = tmp_path / "acme"
    shutil.copytree(TEMPLATE_DIR, folder)

    def break_opportunity(document: Any) -> None:
        document["validations"][0]["assert"] = {"$gte": {"close_date": {"$m": "created_on"}}}
        document["validations"][1]["when"] = {"source": "web"}

    def break_customer(document: Any) -> None:
        document["fields"]["segment"]["computed"]["cases"][2]["when"] = {"segment": "A"}

    def break_automations(document: Any) -> None:
        del document["automations"][1]["fields"]
        document["automations"][3]["then"][0] = {"assign_owner": {"field": "name"}}

    edit_json(folder / "entities" / "opportunity.json", break_opportunity)
    edit_json(folder / "entities" / "customer.json", break_customer)
    edit_json(folder / "automations.json", break_automations)
    return folder


def test_cli_prints_file_pointer_message_lines(tmp_path, broken_template):
    """`lowcode config validate` prints one `file#pointer: message` line per problem, in its own file; exit 1."""
    result = run_validate(tmp_path, str(broken_template))
    assert result.exit_code == 1, result.output
    folder = broken_template
    assert sorted(result.stdout.splitlines()) == sorted([
        f"{folder}/entities/opportunity.json#/validations/0/assert/$gte/close_date: "
        "unknown field 'close_date' in entity 'opportunity'",
        f"{folder}/entities/opportunity.json#/validations/1/when/source: 'web' is not an option of 'source'",
        f"{folder}/entities/customer.json#/fields/segment/computed: "
        "computed fields depend on each other in a cycle: segment -> segment",
        f"{folder}/automations.json#/automations/1: "
        "field.changed automations need 'fields': the fields whose change triggers them",
        f"{folder}/automations.json#/automations/3/then/0/assign_owner/field: "
        "'name' is not a user field of this entity",
    ])


def test_cli_prints_chinese_messages(tmp_path, broken_template):
    """With --lang zh the same pointers carry Chinese messages."""
    result = run_validate(tmp_path, "--lang", "zh", str(broken_template))
    assert result.exit_code == 1
    assert f"{broken_template}/entities/opportunity.json#/validations/1/when/source: 'web' 不是 'source' 的选项" \
        in result.stdout.splitlines()


def test_cli_single_file_config(tmp_path):
    """A config in one file: pointers are into that file."""
    document = with_rules(set_automations(auto({"set": {"notes": "x"}}, on="field.changed")))
    path = tmp_path / "crm.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = run_validate(tmp_path, str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}#/automations/0: field.changed automations need 'fields': the fields whose change triggers them"]


def test_cli_accepts_the_template(tmp_path):
    result = run_validate(tmp_path, str(TEMPLATE_DIR))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
