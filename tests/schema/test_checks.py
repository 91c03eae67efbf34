"""Tests of the config checks: every semantic error kind and the meta-schema's, located and coded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lowcode_platform.configuration import iter_config_errors
from lowcode_platform.errors import ErrorDetail
from lowcode_platform.messages import CATALOG
from tests.configs import crm, label

Mutation = Callable[[dict[str, Any]], None]


def errors_of(document: Any) -> list[ErrorDetail]:
    return list(iter_config_errors(document))


def pairs(document: Any) -> list[tuple[str, str]]:
    return [(e.pointer, e.code) for e in errors_of(document)]


def add_form(document: dict[str, Any], entity: str = "lead", fields: list[str] | None = None,
             roles: list[str] | None = None) -> None:
    form: dict[str, Any] = {"sections": [{"fields": fields or ["name"]}]}
    if roles is not None:
        form["roles"] = roles
    document["forms"] = {entity: {"create": form}}


def set_in(path: str, value: Any) -> Mutation:
    """A mutation that sets the value at `path` (slash-separated keys below the document)."""

    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = document
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value

    return mutate


def delete(path: str) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = document
        for key in parents:
            target = target[key]
        del target[last]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(document)

    return mutate


F = "entities/lead/fields"
P = "/entities/lead/fields"
V = "/entities/lead/views/all"

SEMANTIC_CASES = [
    pytest.param(set_in("roles/rep/permissions/ghost", {"read": True}),
                 "/roles/rep/permissions/ghost", "unknown_entity", id="unknown_entity-permissions"),
    pytest.param(set_in(f"{F}/customer/entity", "ghost"),
                 f"{P}/customer/entity", "unknown_entity", id="unknown_entity-reference"),
    pytest.param(lambda d: add_form(d, entity="ghost"),
                 "/forms/ghost", "unknown_entity", id="unknown_entity-forms"),
    pytest.param(set_in("entities/lead/title_field", "nope"),
                 "/entities/lead/title_field", "unknown_field", id="unknown_field-title_field"),
    pytest.param(set_in("entities/lead/views/all/columns", ["name", "nope"]),
                 f"{V}/columns/1", "unknown_field", id="unknown_field-view-columns"),
    pytest.param(set_in("entities/lead/views/all/sort", "-nope"),
                 f"{V}/sort", "unknown_field", id="unknown_field-view-sort"),
    pytest.param(set_in("entities/lead/views/all/sort", "tags"),
                 f"{V}/sort", "unknown_field", id="unknown_field-view-sort-not-sortable"),
    pytest.param(set_in("entities/lead/views/all/filters", {"nope": "x"}),
                 f"{V}/filters/nope", "unknown_field", id="unknown_field-view-filters"),
    pytest.param(set_in("entities/lead/views/all/filters", {"employees": "x"}),
                 f"{V}/filters/employees", "invalid_filter", id="invalid_filter-wrong-type"),
    pytest.param(set_in("entities/lead/views/all/filters", {"status": "lost"}),
                 f"{V}/filters/status", "invalid_filter", id="invalid_filter-not-an-option"),
    pytest.param(set_in("entities/lead/views/all/filters", {"budget": {"amount": 1, "currency": "CNY"}}),
                 f"{V}/filters/budget", "invalid_filter", id="invalid_filter-money-cannot-be-filtered"),
    pytest.param(lambda d: add_form(d, fields=["name", "nope"]),
                 "/forms/lead/create/sections/0/fields/1", "unknown_field", id="unknown_field-form-section"),
    pytest.param(set_in("entities/lead/views/all/roles", ["rep", "ghost"]),
                 f"{V}/roles/1", "unknown_role", id="unknown_role-view"),
    pytest.param(lambda d: add_form(d, roles=["ghost"]),
                 "/forms/lead/create/roles/0", "unknown_role", id="unknown_role-form"),
    pytest.param(set_in(f"{F}/tags/options/1/value", "hot"),
                 f"{P}/tags/options/1/value", "duplicate_key", id="duplicate_key-option-value"),
    pytest.param(set_in("entities/lead/views/all/columns", ["name", "status", "name"]),
                 f"{V}/columns/2", "duplicate_key", id="duplicate_key-view-column"),
    pytest.param(set_in(f"{F}/owner", {"type": "text", "label": label("Owner")}),
                 f"{P}/owner", "reserved_field", id="reserved_field"),
    pytest.param(set_in(f"{F}/employees/min_length", 1),
                 f"{P}/employees/min_length", "option_not_for_type", id="option_not_for_type-min_length-integer"),
    pytest.param(set_in(f"{F}/name/currencies", ["CNY"]),
                 f"{P}/name/currencies", "option_not_for_type", id="option_not_for_type-currencies-text"),
    pytest.param(set_in(f"{F}/vip/unique", True),
                 f"{P}/vip/unique", "option_not_for_type", id="option_not_for_type-unique-boolean"),
    pytest.param(set_in(f"{F}/budget/indexed", True),
                 f"{P}/budget/indexed", "option_not_for_type", id="option_not_for_type-indexed-money"),
    pytest.param(both(delete(f"{F}/status/options"), delete(f"{F}/status/default")),
                 f"{P}/status", "missing_option", id="missing_option-enum-options"),
    pytest.param(delete(f"{F}/customer/entity"),
                 f"{P}/customer", "missing_option", id="missing_option-reference-entity"),
    pytest.param(both(set_in(f"{F}/score/min", 100), set_in(f"{F}/score/max", 0)),
                 f"{P}/score/min", "min_above_max", id="min_above_max-min-max"),
    pytest.param(set_in(f"{F}/name/min_length", 60),
                 f"{P}/name/min_length", "min_above_max", id="min_above_max-lengths"),
    pytest.param(set_in(f"{F}/name/pattern", "[a-"), f"{P}/name/pattern", "bad_pattern", id="bad_pattern"),
    pytest.param(set_in(f"{F}/status/default", "lost"),
                 f"{P}/status/default", "default_not_option", id="default_not_option-enum"),
    pytest.param(set_in(f"{F}/tags/default", ["hot", "warm"]),
                 f"{P}/tags/default", "default_not_option", id="default_not_option-multi_enum"),
    pytest.param(set_in(f"{F}/employees/default", "x"),
                 f"{P}/employees/default", "invalid_default", id="invalid_default-integer"),
    pytest.param(set_in(f"{F}/name/default", "x" * 51),
                 f"{P}/name/default", "invalid_default", id="invalid_default-text-too-long"),
    pytest.param(set_in(f"{F}/budget/default", {"amount": 1}),
                 f"{P}/budget/default/currency", "invalid_default", id="invalid_default-money-inner-pointer"),
    pytest.param(both(set_in("locales", ["en"]), set_in("tenant/default_locale", "zh")),
                 "/tenant/default_locale", "invalid_option", id="invalid_option-default_locale"),
]


def test_the_base_config_is_valid() -> None:
    """The CRM test config has no errors at all."""
    assert errors_of(crm()) == []


@pytest.mark.parametrize(("mutation", "pointer", "code"), SEMANTIC_CASES)
def test_semantic_error(mutation: Mutation, pointer: str, code: str) -> None:
    """Each semantic mistake gives exactly one error, with its pointer and code."""
    document = crm()
    mutation(document)
    assert pairs(document) == [(pointer, code)]


META_CASES = [
    pytest.param(set_in("colour", "blue"), "/colour", "unknown_key", id="unknown_key-top-level"),
    pytest.param(set_in(f"{F}/name/colour", "blue"), f"{P}/name/colour", "unknown_key", id="unknown_key-field"),
    pytest.param(delete(f"{F}/name/label"), f"{P}/name/label", "required", id="required-field-label"),
    pytest.param(lambda d: d["entities"].__setitem__("Lead", d["entities"]["customer"]),
                 "/entities/Lead", "bad_identifier", id="bad_identifier-entity"),
    pytest.param(set_in(f"{F}/name/required", "yes"), f"{P}/name/required", "type", id="type-required"),
    pytest.param(set_in(f"{F}/name/type", "colour"),
                 f"{P}/name/type", "invalid_option", id="invalid_option-field-type"),
]


@pytest.mark.parametrize(("mutation", "pointer", "code"), META_CASES)
def test_meta_schema_error(mutation: Mutation, pointer: str, code: str) -> None:
    """A document breaking the meta-schema gives an error at the offending pointer."""
    document = crm()
    mutation(document)
    assert (pointer, code) in pairs(document)


@pytest.mark.parametrize(("mutation", "pointer", "code"), SEMANTIC_CASES + META_CASES)
def test_errors_render_messages_in_english_and_chinese(mutation: Mutation, pointer: str, code: str) -> None:
    """Every error a broken config produces renders a filled-in message in en and a different one in zh."""
    document = crm()
    mutation(document)
    found = errors_of(document)
    assert found
    for error in found:
        english, chinese = error.message_in("en"), error.message_in("zh")
        for message in (english, chinese):
            assert message not in {error.code, error.code.replace("_", " ")}, error
            assert "{" not in message, f"a placeholder of {error.code} was left unfilled: {message}"
        assert chinese != english, error


def test_every_code_of_the_tables_is_in_the_catalog() -> None:
    """Each code the checks can produce has an English and a Chinese template."""
    codes = {case.values[2] for case in SEMANTIC_CASES + META_CASES}
    for code in sorted(codes):
        assert set(CATALOG[code]) == {"en", "zh"}, code
        assert CATALOG[code]["zh"] != CATALOG[code]["en"], code


MALFORMED_CASES = [
    pytest.param(set_in(f"{F}/vip/type", ["boolean"]), f"{P}/vip/type", "invalid_option", id="field-type-is-a-list"),
    pytest.param(set_in(f"{F}/vip/type", {"kind": "boolean"}),
                 f"{P}/vip/type", "invalid_option", id="field-type-is-an-object"),
    pytest.param(set_in(f"{F}/tags/options/0/value", ["hot"]),
                 f"{P}/tags/options/0/value", "type", id="option-value-is-a-list"),
    pytest.param(set_in(f"{F}/status/label", "Status"),
                 f"{P}/status/label", "type", id="label-of-a-field-with-default-is-a-string"),
    pytest.param(set_in(f"{F}/status/help", "Where the lead stands"),
                 f"{P}/status/help", "type", id="help-of-a-field-with-default-is-a-string"),
    pytest.param(set_in(f"{F}/status/options/0/label", "New"),
                 f"{P}/status/options/0/label", "type", id="option-label-is-a-string"),
    pytest.param(lambda d: add_form(d) or d["forms"]["lead"]["create"].__setitem__("sections", 5),
                 "/forms/lead/create/sections", "type", id="form-sections-is-a-number"),
]


@pytest.mark.parametrize(("mutation", "pointer", "code"), MALFORMED_CASES)
def test_malformed_parts_are_reported_once_and_never_raise(mutation: Mutation, pointer: str, code: str) -> None:
    """A part of the wrong shape gets the meta-schema's error only; the semantic checks pass over it."""
    document = crm()
    mutation(document)
    assert pairs(document) == [(pointer, code)]


def test_min_length_above_the_default_max_length() -> None:
    """A text min_length above the implicit max_length (255) can never be met, so it is min_above_max."""
    document = crm()
    del document["entities"]["lead"]["fields"]["name"]["max_length"]
    document["entities"]["lead"]["fields"]["name"]["min_length"] = 300
    assert pairs(document) == [(f"{P}/name/min_length", "min_above_max")]


# One case per error kind, with the exact English message a config author reads.
MESSAGES = {
    "unknown_entity-permissions": ("/roles/rep/permissions/ghost", "unknown entity 'ghost'"),
    "unknown_field-title_field": ("/entities/lead/title_field", "unknown field 'nope' in entity 'lead'"),
    "invalid_filter-wrong-type": ("/entities/lead/views/all/filters/employees",
                                  "the filter value is invalid: must be an integer"),
    "unknown_role-view": ("/entities/lead/views/all/roles/1", "unknown role 'ghost'"),
    "duplicate_key-option-value": ("/entities/lead/fields/tags/options/1/value",
                                   "the key 'hot' is defined more than once"),
    "reserved_field": ("/entities/lead/fields/owner", "'owner' is a system field name and cannot be defined"),
    "option_not_for_type-min_length-integer": ("/entities/lead/fields/employees/min_length",
                                               "'min_length' does not apply to integer fields"),
    "missing_option-enum-options": ("/entities/lead/fields/status", "enum fields need 'options'"),
    "min_above_max-min-max": ("/entities/lead/fields/score/min", "min is greater than max"),
    "bad_pattern": ("/entities/lead/fields/name/pattern",
                    "not a valid regular expression: unterminated character set at position 0"),
    "default_not_option-enum": ("/entities/lead/fields/status/default",
                                "the default 'lost' is not one of the field's options"),
    "invalid_default-integer": ("/entities/lead/fields/employees/default", "the default is invalid: must be an integer"),
    "invalid_option-default_locale": ("/tenant/default_locale", "must be one of 'en'"),
    "unknown_key-top-level": ("/colour", "unknown key 'colour'"),
    "required-field-label": ("/entities/lead/fields/name/label", "is required"),
    "bad_identifier-entity": ("/entities/Lead", "'Lead' is not a valid key: use at most 63 lower-case letters, "
                                                "digits and _, starting with a letter"),
    "type-required": ("/entities/lead/fields/name/required", "must be true or false"),
}


@pytest.mark.parametrize("case_id", sorted(MESSAGES))
def test_each_error_kind_has_its_pointer_and_message(case_id: str) -> None:
    """For one case of every error kind, the error sits at its pointer with the exact English message."""
    mutation, _, code = next(c for c in SEMANTIC_CASES + META_CASES if c.id == case_id).values
    pointer, message = MESSAGES[case_id]
    document = crm()
    mutation(document)
    assert (pointer, code, message) in [(e.pointer, e.code, e.message) for e in errors_of(document)]


def test_the_message_table_covers_every_error_kind() -> None:
    """Every code of the case tables has a case in the message table."""
    kinds = {c.values[2] for c in SEMANTIC_CASES + META_CASES}
    covered = {c.values[2] for c in SEMANTIC_CASES + META_CASES if c.id in MESSAGES}
    assert kinds == covered
