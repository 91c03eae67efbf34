"""`check_submission`: what a form lets one role send, what it drops, and what it then requires.

Pure: the config is compiled in memory; facts are the record's values as they would be after the submission.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowcode_platform.configuration import compile_config
from lowcode_platform.forms.submission import check_submission, field_state
from tests.configs import crm, label

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
BUDGET = {"amount": 10, "currency": "CNY"}


def submission_config() -> dict[str, Any]:
    """Leads with a computed `rank`; a create form with conditions and role restrictions, a smaller edit form."""
    document = crm()
    document["entities"]["lead"]["fields"]["rank"] = {
        "type": "text", "label": label("Rank"),
        "computed": {"cases": [{"when": {"vip": True}, "value": "A"}], "default": "B"}}
    document["forms"] = {"lead": {
        "create": {"sections": [{"fields": [
            "name", "vip",
            {"field": "budget", "visible_if": {"vip": True}, "required_if": {"vip": True}},
            {"field": "status", "readonly_for": ["rep"]},
            {"field": "phone", "hidden_for": ["rep"]},
            {"field": "notes", "readonly_if": {"status": "won"}},
            "rank",
            {"field": "email", "required": True},
            "score",
            {"field": "due", "required_if": {"$gt": {"score": 50}}},
        ]}]},
        "edit": {"sections": [{"fields": [
            "name", "vip",
            {"field": "budget", "visible_if": {"vip": True}},
            {"field": "status", "readonly_for": ["rep"]},
            {"field": "notes", "readonly_if": {"status": "won"}},
            "email", "rank", {"field": "met_at", "readonly_for": ["rep"]},
        ]}]},
    }}
    return document


CONFIG = compile_config(submission_config(), 1)
LEAD = CONFIG.entities["lead"]
STORED = {"name": "a", "email": "a@example.com", "status": "won", "notes": "old", "vip": True, "budget": BUDGET,
          "rank": "A", "met_at": "2026-03-10T12:00:00.000Z"}


def facts_of(data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(data)


def check(purpose: str, role: str, data: dict[str, Any], before: dict[str, Any] | None = None,
          **kwargs: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    result = check_submission(CONFIG.forms.get("lead", purpose), LEAD, role, data, before=before,
                              facts_of=facts_of, now=NOW, **kwargs)
    return result.data, [(e.pointer, e.code) for e in result.errors]


OK = "a@example.com"
CREATE_CASES = [
    # what is kept
    pytest.param("admin", {"name": "a", "email": OK}, {"name": "a", "email": OK}, [], id="minimal"),
    pytest.param("admin", {"name": "a", "email": OK, "score": 3, "vip": False},
                 {"name": "a", "email": OK, "score": 3, "vip": False}, [], id="plain-fields-kept"),
    # required: the field's own `required`, the form's `required`, `required_if`
    pytest.param("admin", {}, {}, [("/name", "required"), ("/email", "required")], id="required-missing"),
    pytest.param("admin", {"name": "", "email": None}, {"name": "", "email": None},
                 [("/name", "required"), ("/email", "required")], id="required-empty"),
    pytest.param("admin", {"name": "a", "email": OK, "score": 51}, {"name": "a", "email": OK, "score": 51},
                 [("/due", "required")], id="required_if-true"),
    pytest.param("admin", {"name": "a", "email": OK, "score": 50}, {"name": "a", "email": OK, "score": 50}, [],
                 id="required_if-false"),
    pytest.param("admin", {"name": "a", "email": OK, "score": 51, "due": "2026-04-01"},
                 {"name": "a", "email": OK, "score": 51, "due": "2026-04-01"}, [], id="required_if-met"),
    pytest.param("admin", {"name": "a", "email": OK, "vip": True}, {"name": "a", "email": OK, "vip": True},
                 [("/budget", "required")], id="visible-and-required_if"),
    # hidden by visible_if: never required, its value dropped
    pytest.param("admin", {"name": "a", "email": OK}, {"name": "a", "email": OK}, [], id="hidden-never-required"),
    pytest.param("admin", {"name": "a", "email": OK, "vip": False, "budget": BUDGET},
                 {"name": "a", "email": OK, "vip": False}, [], id="hidden-value-dropped"),
    pytest.param("admin", {"name": "a", "email": OK, "vip": True, "budget": BUDGET},
                 {"name": "a", "email": OK, "vip": True, "budget": BUDGET}, [], id="shown-value-kept"),
    # not on the form, or hidden for the role
    pytest.param("admin", {"name": "a", "email": OK, "tags": ["hot"]}, {"name": "a", "email": OK},
                 [("/tags", "not_on_form")], id="not_on_form-entity-field"),
    pytest.param("admin", {"name": "a", "email": OK, "ghost": 1}, {"name": "a", "email": OK},
                 [("/ghost", "not_on_form")], id="not_on_form-unknown-key"),
    pytest.param("admin", {"name": "a", "email": OK, "a/b~c": 1}, {"name": "a", "email": OK},
                 [("/a~1b~0c", "not_on_form")], id="not_on_form-pointer-escaped"),
    pytest.param("rep", {"name": "a", "email": OK, "phone": "13812345678"}, {"name": "a", "email": OK},
                 [("/phone", "not_on_form")], id="not_on_form-hidden_for-role"),
    pytest.param("admin", {"name": "a", "email": OK, "phone": "13812345678"},
                 {"name": "a", "email": OK, "phone": "13812345678"}, [], id="hidden_for-other-role-kept"),
    # read-only: may be sent unchanged (then dropped), refused when changed
    pytest.param("rep", {"name": "a", "email": OK, "status": "new"}, {"name": "a", "email": OK}, [],
                 id="readonly_for-unchanged-default"),
    pytest.param("rep", {"name": "a", "email": OK, "status": "won"}, {"name": "a", "email": OK},
                 [("/status", "readonly_field")], id="readonly_for-changed"),
    pytest.param("admin", {"name": "a", "email": OK, "status": "won"}, {"name": "a", "email": OK, "status": "won"},
                 [], id="readonly_for-other-role"),
    pytest.param("admin", {"name": "a", "email": OK, "rank": "A"}, {"name": "a", "email": OK},
                 [("/rank", "readonly_field")], id="computed-sent"),
    pytest.param("admin", {"name": "a", "email": OK, "rank": None}, {"name": "a", "email": OK}, [],
                 id="computed-sent-empty"),
    pytest.param("admin", {"name": "a", "email": OK, "status": "won", "notes": "x"},
                 {"name": "a", "email": OK, "status": "won"}, [("/notes", "readonly_field")],
                 id="readonly_if-reads-the-submission"),
    pytest.param("admin", {"name": "a", "email": OK, "notes": "x"}, {"name": "a", "email": OK, "notes": "x"}, [],
                 id="readonly_if-false"),
    # every error together: not_on_form first, then the form's fields in order
    pytest.param("rep", {"tags": [], "phone": "1", "status": "won", "vip": True},
                 {"vip": True}, [("/tags", "not_on_form"), ("/phone", "not_on_form"), ("/name", "required"),
                                 ("/budget", "required"), ("/status", "readonly_field"), ("/email", "required")],
                 id="all-errors-together"),
]


@pytest.mark.parametrize(("role", "data", "kept", "errors"), CREATE_CASES)
def test_create_submission(role: str, data: dict[str, Any], kept: dict[str, Any],
                           errors: list[tuple[str, str]]) -> None:
    """Submitting `data` through the create form keeps `kept` and finds `errors`."""
    assert check("create", role, data) == (kept, errors)


EDIT_CASES = [
    pytest.param("admin", {}, STORED, {}, [], id="empty-patch-stored-values-meet-required"),
    pytest.param("admin", {"name": "b"}, STORED, {"name": "b"}, [], id="change"),
    pytest.param("admin", {"name": None}, STORED, {"name": None}, [("/name", "required")], id="removing-required"),
    pytest.param("admin", {"email": None}, STORED, {"email": None}, [], id="form-required-only-on-create"),
    pytest.param("admin", {"notes": "old"}, STORED, {}, [], id="readonly_if-unchanged"),
    pytest.param("admin", {"notes": "new"}, STORED, {}, [("/notes", "readonly_field")], id="readonly_if-changed"),
    pytest.param("admin", {"status": "new", "notes": "new"}, STORED, {"status": "new", "notes": "new"}, [],
                 id="readonly_if-released-by-the-same-submission"),
    pytest.param("admin", {"notes": "new"}, {**STORED, "status": "new"}, {"notes": "new"}, [],
                 id="readonly_if-false-on-the-stored-record"),
    pytest.param("admin", {"vip": False, "budget": {"amount": 99, "currency": "CNY"}}, STORED, {"vip": False}, [],
                 id="hidden-by-the-submission-dropped"),
    pytest.param("admin", {"budget": {"amount": 99, "currency": "CNY"}}, STORED,
                 {"budget": {"amount": 99, "currency": "CNY"}}, [], id="visible-on-the-stored-record"),
    pytest.param("admin", {"budget": BUDGET}, {**STORED, "vip": False}, {}, [], id="hidden-on-the-stored-record"),
    pytest.param("rep", {"status": "won"}, STORED, {}, [], id="readonly_for-unchanged"),
    pytest.param("rep", {"status": "new"}, STORED, {}, [("/status", "readonly_field")], id="readonly_for-changed"),
    pytest.param("admin", {"rank": "A"}, STORED, {}, [], id="computed-unchanged"),
    pytest.param("admin", {"rank": "B"}, STORED, {}, [("/rank", "readonly_field")], id="computed-changed"),
    pytest.param("admin", {"score": 1, "phone": "13812345678"}, STORED, {},
                 [("/score", "not_on_form"), ("/phone", "not_on_form")], id="not-on-the-edit-form"),
]


@pytest.mark.parametrize(("role", "data", "before", "kept", "errors"), EDIT_CASES)
def test_edit_submission(role: str, data: dict[str, Any], before: dict[str, Any], kept: dict[str, Any],
                         errors: list[tuple[str, str]]) -> None:
    """Submitting `data` through the edit form of the stored record `before` keeps `kept` and finds `errors`."""
    assert check("edit", role, data, before) == (kept, errors)


@pytest.mark.parametrize(("sent", "errors"), [
    pytest.param("2026-03-10T12:00:00.000Z", [], id="as-stored"),
    pytest.param("2026-03-10T12:00:00Z", [], id="same-moment-without-milliseconds"),
    pytest.param("2026-03-10T20:00:00+08:00", [], id="same-moment-at-another-offset"),
    pytest.param("2026-03-10T12:00:01Z", [("/met_at", "readonly_field")], id="another-moment"),
])
def test_readonly_datetime_compares_moments(sent: str, errors: list[tuple[str, str]]) -> None:
    """A read-only date-time sent back as the stored moment, however written, is unchanged (and dropped)."""
    assert check("edit", "rep", {"met_at": sent}, STORED) == ({}, errors)


@pytest.mark.parametrize(("sent", "errors"), [
    pytest.param("a***@example.com", [], id="masked-text-sent-back"),
    pytest.param("a@example.com", [], id="real-value-sent-back"),
    pytest.param("z@example.com", [("/email", "readonly_field")], id="changed"),
    pytest.param(None, [("/email", "readonly_field")], id="removed"),
])
def test_masked_field_may_only_be_sent_back_unchanged(sent: Any, errors: list[tuple[str, str]]) -> None:
    """A field the role sees masked is read-only: its masked text (or real value) sent back is dropped."""
    shown = {**STORED, "email": "a***@example.com"}
    kept, found = check("edit", "admin", {"email": sent}, STORED, masked=frozenset({"email"}), shown=shown)
    assert (kept, found) == ({}, errors)


@pytest.mark.parametrize(("data", "errors"), [
    pytest.param({}, [], id="nothing"),
    pytest.param({"name": "a", "vip": True}, [], id="unchanged"),
    pytest.param({"name": "b"}, [("/name", "readonly_field")], id="changed"),
    pytest.param({"name": None}, [("/name", "readonly_field")], id="removed"),
])
def test_view_form_changes_nothing(data: dict[str, Any], errors: list[tuple[str, str]]) -> None:
    """Through a view form every field is read-only: nothing is kept and nothing is required."""
    assert check("view", "admin", data, STORED) == ({}, errors)


def test_edit_and_create_differ_in_what_they_require() -> None:
    """The same empty submission fails on create (required fields) and passes on edit (stored values count)."""
    assert check("create", "admin", {})[1] == [("/name", "required"), ("/email", "required")]
    assert check("edit", "admin", {}, STORED) == ({}, [])


def test_create_reads_conditions_over_the_entitys_defaults() -> None:
    """On create, a condition reads the defaults of fields not sent (status defaults to new: notes is writable)."""
    assert check("create", "admin", {"name": "a", "email": OK, "notes": "x"})[1] == []
    assert check("create", "admin", {"name": "a", "email": OK, "status": "won", "notes": "x"})[1] == [
        ("/notes", "readonly_field")]


@pytest.mark.parametrize(("role", "values", "field", "state"), [
    ("admin", {"vip": True}, "budget", (True, False, True)),
    ("admin", {"vip": False}, "budget", (False, False, False)),
    ("admin", {"status": "won"}, "notes", (True, True, False)),
    ("rep", {}, "status", (True, True, False)),
    ("admin", {}, "rank", (True, True, False)),
    ("admin", {}, "email", (True, False, True)),
    ("admin", {"score": 60}, "due", (True, False, True)),
])
def test_field_state(role: str, values: dict[str, Any], field: str, state: tuple[bool, bool, bool]) -> None:
    """(visible, read-only, required) of a field for a role on a record with these values."""
    form = CONFIG.forms.get("lead", "create")
    found = field_state(form, form.fields[field], LEAD, role, values, NOW)
    assert (found.visible, found.readonly, found.required) == state


VALUES = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["", "a"]), "vip": st.booleans(), "budget": st.just(BUDGET),
    "status": st.sampled_from(["new", "won"]), "phone": st.just("13812345678"), "notes": st.sampled_from(["", "x"]),
    "rank": st.sampled_from(["A", "B"]), "email": st.just(OK), "score": st.integers(0, 100),
    "due": st.just("2026-04-01"), "tags": st.just(["hot"]),
})


@settings(max_examples=200, deadline=None)
@given(role=st.sampled_from(["admin", "rep"]), data=VALUES, stored=st.booleans())
def test_only_visible_writable_fields_of_the_form_are_kept(role: str, data: dict[str, Any], stored: bool) -> None:
    """Whatever is sent, what is kept is sent values of fields the role sees, visible and writable after it."""
    purpose, before = ("edit", STORED) if stored else ("create", None)
    form = CONFIG.forms.get("lead", purpose)
    result = check_submission(form, LEAD, role, data, before=before, facts_of=facts_of, now=NOW)
    after = {k: v for k, v in {**(before or LEAD.with_defaults({})), **data}.items() if v is not None}
    visible = {f.key: f for f in form.visible_to(role)}
    for key, value in result.data.items():
        assert data[key] == value and key in visible
        state = field_state(form, visible[key], LEAD, role, after, NOW)
        assert state.visible and not state.readonly
    codes = {e.code for e in result.errors}
    assert codes <= {"not_on_form", "readonly_field", "required"}
    assert {e.pointer[1:] for e in result.errors if e.code == "not_on_form"} == set(data) - set(visible)
