"""What the pages make of what a browser posts: inputs that cannot be read, numbers with commas, edit pages
saved untouched, read-only and hidden fields, errors about fields not on the page, and links that keep the query.

Pages are posted as a browser posts them (`submit`, `form_pairs` from tests.web.test_pages).
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.configs import crm, label
from tests.web.test_pages import browser, errors_next_to, form_pairs, submit  # noqa: F401  (browser is a fixture)

DATE_TIME = {"en": "is not a valid date and time", "zh": "不是有效的日期时间"}
NUMBER, WHOLE_NUMBER = "is not a valid number", "is not a valid whole number"
NUL = "text may not contain NUL characters or unpaired surrogates"


def zoned(zone: str) -> dict[str, Any]:
    """The CRM test config in the time zone `zone`."""
    document = crm()
    document["tenant"]["timezone"] = zone
    return document


def stored(tenant: Any, record: dict[str, Any]) -> dict[str, Any]:
    response = tenant.call("GET", f"/api/v1/records/lead/{record['id']}")
    assert response.status_code == 200
    return response.get_json()


def leads(tenant: Any) -> list[dict[str, Any]]:
    return tenant.call("GET", "/api/v1/records/lead").get_json()["items"]


def history(tenant: Any, record: dict[str, Any]) -> list[dict[str, Any]]:
    response = tenant.call("GET", f"/api/v1/records/lead/{record['id']}/history")
    assert response.status_code == 200
    return response.get_json()["items"]


def alert_of(page: str) -> str:
    """The block of errors at the top of a form page ("" when there is none)."""
    match = re.search(r'<div class="errors" role="alert">(.*?)</div>', page, re.S)
    return match.group(1) if match else ""


# -- inputs that cannot be read ----------------------------------------------------------------------------------

UNREADABLE = [  # zone, input, value, field, message
    pytest.param("Asia/Shanghai", "f.met_at", "2026-02-30T10:00", "met_at", DATE_TIME["en"], id="february-30"),
    pytest.param("Asia/Shanghai", "f.met_at", "0000-01-01T00:00", "met_at", DATE_TIME["en"], id="year-0"),
    pytest.param("Asia/Shanghai", "f.met_at", "0001-01-01T00:00", "met_at", DATE_TIME["en"], id="before-year-1-in-utc"),
    pytest.param("America/New_York", "f.met_at", "9999-12-31T23:59", "met_at", DATE_TIME["en"], id="after-9999-in-utc"),
    pytest.param("Asia/Shanghai", "f.met_at", "2026-03-10T25:00", "met_at", DATE_TIME["en"], id="hour-25"),
    pytest.param("Asia/Shanghai", "f.name", "a\x00b", "name", NUL, id="nul-in-text"),
    pytest.param("Asia/Shanghai", "f.notes", "a\x00b", "notes", NUL, id="nul-in-long-text"),
    pytest.param("Asia/Shanghai", "f.email", "a\x00b@example.com", "email", NUL, id="nul-in-email"),
    pytest.param("Asia/Shanghai", "f.budget.amount", "1\x00", "budget", NUL, id="nul-in-money"),
]


@pytest.mark.parametrize(("zone", "name", "value", "field", "message"), UNREADABLE)
def test_unreadable_input_on_a_create_page(make_tenant: Any, browser: Any, zone: str, name: str,  # noqa: F811
                                           value: str, field: str, message: str) -> None:
    """An input that cannot be read answers 422 (not 500) with the error next to its field; nothing is created."""
    tenant = make_tenant(zoned(zone))
    client = browser(tenant, "rep1")
    response = submit(client, "/web/lead/new", {"f.name": "Typed", name: value})
    assert response.status_code == 422, response.text
    assert errors_next_to(response.text) == {field: [message]}
    assert leads(tenant) == []


@pytest.mark.parametrize(("zone", "name", "value", "field", "message"), UNREADABLE)
def test_unreadable_input_on_an_edit_page(make_tenant: Any, browser: Any, zone: str, name: str,  # noqa: F811
                                          value: str, field: str, message: str) -> None:
    """An edit post that cannot be read answers 422 next to the field, changes nothing, and the page still opens."""
    tenant = make_tenant(zoned(zone))
    lead = tenant.create("lead", {"name": "Kept", "met_at": "2026-03-10T12:00:00Z"}, "rep1")
    client = browser(tenant, "rep1")
    path = f"/web/lead/{lead['id']}/edit"
    response = submit(client, path, {"f.name": "Typed", name: value})
    assert response.status_code == 422, response.text
    assert errors_next_to(response.text) == {field: [message]}
    assert stored(tenant, lead)["version"] == 1
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(("zone", "value"), [
    ("Asia/Shanghai", "2026-02-30T10:00"), ("Asia/Shanghai", "0000-01-01T00:00"),
    ("America/New_York", "9999-12-31T23:59"), ("Asia/Shanghai", "2026-03-10"), ("Asia/Shanghai", "soon"),
])
def test_datetime_error_names_a_date_and_time(make_tenant: Any, browser: Any, lang: str, zone: str,  # noqa: F811
                                              value: str) -> None:
    """A date-time that is no moment (impossible, or beyond year 9999 in UTC) is 'not a valid date and time'."""
    tenant = make_tenant(zoned(zone))
    response = submit(browser(tenant, "rep1"), f"/web/lead/new?lang={lang}", {"f.name": "N", "f.met_at": value})
    assert response.status_code == 422
    assert errors_next_to(response.text) == {"met_at": [DATE_TIME[lang]]}


@pytest.mark.parametrize("version", ["²", "1e3", "-1", "", "1.0", "9" * 30])
def test_edit_post_with_a_version_that_is_no_number(tenant: Any, browser: Any, version: str) -> None:  # noqa: F811
    """A posted version that is not a whole number is refused at the top of the page (422, not 500); nothing changes."""
    lead = tenant.create("lead", {"name": "Kept"}, "rep1")
    client = browser(tenant, "rep1")
    path = f"/web/lead/{lead['id']}/edit"
    pairs = form_pairs(client.get(path).text)
    pairs["version"] = version
    pairs["f.name"] = "Mine"
    response = client.post(path, data=pairs)
    assert response.status_code == 422, response.text
    assert '<p class="error">' in alert_of(response.text)
    assert 'value="Mine"' in response.text  # what was typed is not lost
    assert (stored(tenant, lead)["version"], stored(tenant, lead)["data"]["name"]) == (1, "Kept")
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(("zone", "moment", "shown"), [
    ("America/New_York", "0001-01-01T00:00:00Z", None),  # before year 1 once in New York time
    ("America/New_York", "9999-12-31T23:59:59Z", "9999-12-31T18:59:59"),
    ("Asia/Shanghai", "9999-12-31T23:59:59Z", None),  # after 9999 once in Shanghai time
    ("Asia/Shanghai", "0001-01-01T00:00:00Z", "0001-01-01T08:05:43"),  # local mean time before 1901
])
def test_edit_page_of_a_record_at_the_ends_of_the_calendar(make_tenant: Any, browser: Any, zone: str,  # noqa: F811
                                                           moment: str, shown: str | None) -> None:
    """A stored date-time that the tenant's zone cannot show still lets its edit and list pages render."""
    tenant = make_tenant(zoned(zone))
    lead = tenant.create("lead", {"name": "Edge", "met_at": moment}, "rep1")
    client = browser(tenant, "rep1")
    page = client.get(f"/web/lead/{lead['id']}/edit")
    assert page.status_code == 200
    if shown is not None:
        assert f'value="{shown}"' in page.text
    assert client.get("/web/lead").status_code == 200


# -- numbers -------------------------------------------------------------------------------------------------------

def unbounded_score() -> dict[str, Any]:
    """The CRM test config with no maximum on the lead's decimal score."""
    document = crm()
    del document["entities"]["lead"]["fields"]["score"]["max"]
    return document


@pytest.mark.parametrize(("name", "value", "field", "expected"), [
    ("f.score", "1,234.5", "score", 1234.5),
    ("f.score", "1,234,567.25", "score", 1234567.25),
    ("f.score", " 12.5 ", "score", 12.5),
    ("f.employees", "1,234", "employees", 1234),
    ("f.employees", "12,345,678", "employees", 12345678),
    ("f.budget.amount", "1,234.5", "budget", {"amount": 1234.5, "currency": "CNY"}),
])
def test_numbers_with_thousands_separators(make_tenant: Any, browser: Any, name: str, value: str,  # noqa: F811
                                           field: str, expected: Any) -> None:
    """Commas between groups of three digits are thousands separators: `1,234.5` reads as 1234.5."""
    tenant = make_tenant(unbounded_score())
    response = submit(browser(tenant, "rep1"), "/web/lead/new", {"f.name": "N", name: value})
    assert response.status_code == 303, errors_next_to(response.text)
    [record] = leads(tenant)
    assert record["data"][field] == expected


@pytest.mark.parametrize(("name", "value", "field", "message"), [
    ("f.score", "1,5", "score", NUMBER),
    ("f.score", "1,2,3", "score", NUMBER),
    ("f.score", "12,34.5", "score", NUMBER),
    ("f.score", "1,234.", "score", NUMBER),
    ("f.employees", "1,5", "employees", WHOLE_NUMBER),
    ("f.employees", "1,2,3", "employees", WHOLE_NUMBER),
    ("f.employees", "1234,567", "employees", WHOLE_NUMBER),
    ("f.employees", ",123", "employees", WHOLE_NUMBER),
    ("f.budget.amount", "1,5", "budget", NUMBER),
])
def test_numbers_with_misplaced_commas_are_refused(make_tenant: Any, browser: Any, name: str,  # noqa: F811
                                                   value: str, field: str, message: str) -> None:
    """A comma that is not a thousands separator (`1,5`, `1,2,3`) is refused next to the field, never guessed at."""
    tenant = make_tenant(unbounded_score())
    response = submit(browser(tenant, "rep1"), "/web/lead/new", {"f.name": "N", name: value})
    assert response.status_code == 422
    assert errors_next_to(response.text) == {field: [message]}
    assert leads(tenant) == []


# -- an edit page saved untouched ----------------------------------------------------------------------------------

def as_browser_posts(pairs: Any) -> Any:
    """Textarea values as browsers submit them: with CRLF line breaks (`form_pairs` already drops the one
    newline the HTML parser drops right after `<textarea>`)."""
    for name, values in list(pairs.lists()):
        if name == "f.notes":
            pairs.setlist(name, [v.replace("\n", "\r\n") for v in values])
    return pairs


@pytest.mark.parametrize("data", [
    pytest.param({"met_at": "2026-03-10T12:00:30Z"}, id="datetime-with-seconds"),
    pytest.param({"met_at": "2026-03-10T12:00:00.250Z"}, id="datetime-with-milliseconds"),
    pytest.param({"met_at": "0999-06-01T00:00:00Z"}, id="datetime-before-year-1000"),
    pytest.param({"tags": ["cold", "hot"]}, id="multi-enum-not-in-option-order"),
    pytest.param({}, id="unset-boolean-unticked"),
    pytest.param({"vip": False}, id="false-boolean-unticked"),
    pytest.param({"notes": "first line\nsecond line\n"}, id="long-text-with-newlines"),
    pytest.param({"notes": "\nafter a blank line"}, id="long-text-starting-with-a-newline"),
    pytest.param({"name": "  padded  "}, id="text-with-spaces-around"),
    pytest.param({"met_at": "2026-03-10T12:00:30Z", "tags": ["cold", "hot"], "notes": "a\nb", "employees": 1200,
                  "score": 12.5, "budget": {"amount": 10, "currency": "USD"}}, id="all-together"),
])
def test_edit_page_posted_as_rendered_changes_nothing(tenant: Any, browser: Any, data: dict[str, Any]) -> None:  # noqa: F811
    """Saving an edit page as rendered answers 303 and writes nothing: the version stays, no audit row is added."""
    lead = tenant.create("lead", {"name": "Same", **data}, "rep1")
    client = browser(tenant, "rep1")
    path = f"/web/lead/{lead['id']}/edit"
    response = client.post(path, data=as_browser_posts(form_pairs(client.get(path).text)))
    assert response.status_code == 303, errors_next_to(response.text)
    after = stored(tenant, lead)
    assert [entry["action"] for entry in history(tenant, lead)] == ["create"], history(tenant, lead)[1:]
    assert (after["version"], after["data"]) == (1, lead["data"])


# -- read-only fields on a failed post -----------------------------------------------------------------------------

def readonly_config() -> dict[str, Any]:
    """CRM leads whose edit form shows notes, employees, met_at, vip, tags and budget read-only for reps."""
    document = crm()
    locked = ["notes", "employees", "met_at", "vip", "tags", "budget"]
    document["forms"] = {"lead": {"edit": {"sections": [{"fields": [
        "name", *({"field": key, "readonly_for": ["rep"]} for key in locked)]}]}}}
    return document


READONLY_DATA = {"name": "Locked", "notes": "stored notes", "employees": 7, "met_at": "2026-03-10T12:00:00Z",
                 "vip": True, "tags": ["cold"], "budget": {"amount": 10.5, "currency": "USD"}}


def refused_edit(tenant: Any, client: FlaskClient) -> tuple[str, str]:
    """rep1's edit page of a lead holding READONLY_DATA, posted with the name emptied: (its path, the 422 page)."""
    lead = tenant.create("lead", READONLY_DATA, "rep1")
    path = f"/web/lead/{lead['id']}/edit"
    response = submit(client, path, {"f.name": ""})
    assert response.status_code == 422
    assert errors_next_to(response.text) == {"name": ["is required"]}
    return path, response.text


@pytest.mark.parametrize("pattern", [
    pytest.param(r'<textarea id="f-notes"[^>]*disabled>\nstored notes</textarea>', id="notes"),
    pytest.param(r'<input id="f-employees"[^>]*value="7"[^>]*disabled>', id="employees"),
    pytest.param(r'<input id="f-met_at"[^>]*value="2026-03-10T20:00"[^>]*disabled>', id="met_at"),  # in Asia/Shanghai
    pytest.param(r'<input id="f-vip"[^>]*value="true" checked[^>]*disabled>', id="vip"),
    pytest.param(r'<input type="checkbox" name="f.tags" value="cold" checked\s+disabled>', id="tags"),
    pytest.param(r'name="f.budget.amount"[^>]*value="10.5"[^>]*disabled>.*?<option value="USD" selected>', id="budget"),
])
def test_refused_edit_post_shows_readonly_fields_with_their_values(make_tenant: Any, browser: Any,  # noqa: F811
                                                                   pattern: str) -> None:
    """A refused edit post shows each field read-only for the role (disabled, so not posted) with its stored value."""
    tenant = make_tenant(readonly_config())
    _, page = refused_edit(tenant, browser(tenant, "rep1"))
    assert re.search(pattern, page, re.S)


def test_refused_edit_post_saved_again_keeps_readonly_values(make_tenant: Any, browser: Any) -> None:  # noqa: F811
    """Saving the refused page again once the name is fixed keeps every read-only value (none is posted)."""
    tenant = make_tenant(readonly_config())
    client = browser(tenant, "rep1")
    path, page = refused_edit(tenant, client)
    pairs = form_pairs(page)
    assert set(pairs) == {"csrf_token", "version", "f.name"}
    pairs["f.name"] = "Fixed"
    response = client.post(path, data=pairs)
    assert response.status_code == 303, errors_next_to(response.text)
    [lead] = leads(tenant)
    assert (lead["version"], lead["data"]) == (2, {**READONLY_DATA, "met_at": "2026-03-10T12:00:00.000Z",
                                                   "status": "new", "name": "Fixed"})


# -- errors about fields not on the page ---------------------------------------------------------------------------

RULE_MESSAGE = "Reserved names need a score."


def rule_config(pointer: str) -> dict[str, Any]:
    """CRM leads with a rule at `pointer` that a lead named "Reserved" breaks; the create and edit forms show
    name, vip and a budget shown only for VIPs (score is on neither)."""
    document = crm()
    document["entities"]["lead"]["validations"] = [
        {"key": "reserved", "when": {"name": "Reserved"}, "assert": {"$ex": {"score": 1}},
         "message": label(RULE_MESSAGE), "pointer": pointer}]
    fields = ["name", "vip", {"field": "budget", "visible_if": {"vip": True}}]
    document["forms"] = {"lead": {"create": {"sections": [{"fields": fields}]}}}
    return document


@pytest.mark.parametrize("page", ["new", "edit"])
@pytest.mark.parametrize("pointer", ["/score", "/budget", ""])
def test_error_about_a_field_not_on_the_page_is_shown_at_the_top(make_tenant: Any, browser: Any,  # noqa: F811
                                                                 pointer: str, page: str) -> None:
    """An error about a field left off the form, hidden by its condition, or the whole record shows at the top."""
    tenant = make_tenant(rule_config(pointer))
    client = browser(tenant, "rep1")
    path = "/web/lead/new"
    if page == "edit":
        path = f"/web/lead/{tenant.create('lead', {'name': 'Other'}, 'rep1')['id']}/edit"
    response = submit(client, path, {"f.name": "Reserved"})
    assert response.status_code == 422
    assert errors_next_to(response.text) == {}
    assert f'<p class="error">{RULE_MESSAGE}</p>' in alert_of(response.text)


def test_error_about_a_shown_field_stays_next_to_it(make_tenant: Any, browser: Any) -> None:  # noqa: F811
    """A rule error at a field that is shown goes next to that field, not to the top."""
    tenant = make_tenant(rule_config("/name"))
    response = submit(browser(tenant, "rep1"), "/web/lead/new", {"f.name": "Reserved"})
    assert response.status_code == 422
    assert errors_next_to(response.text) == {"name": [RULE_MESSAGE]}
    assert RULE_MESSAGE not in alert_of(response.text)


# -- unreadable values in hidden fields ----------------------------------------------------------------------------

def conditional_config() -> dict[str, Any]:
    """CRM leads whose create and edit form show budget, employees, met_at and notes only for VIPs."""
    document = crm()
    hidden = [{"field": key, "visible_if": {"vip": True}} for key in ("budget", "employees", "met_at", "notes")]
    document["forms"] = {"lead": {"create": {"sections": [{"fields": ["name", "vip", *hidden]}]}}}
    return document


@pytest.mark.parametrize("page", ["new", "edit"])
@pytest.mark.parametrize(("name", "value"), [
    ("f.budget.amount", "lots"), ("f.employees", "1,5"), ("f.met_at", "2026-02-30T10:00"),
    ("f.met_at", "9999-12-31T23:59"), ("f.notes", "a\x00b"),
])
def test_unreadable_value_in_a_hidden_field_does_not_block_the_save(make_tenant: Any, browser: Any,  # noqa: F811
                                                                    page: str, name: str, value: str) -> None:
    """A field hidden by its `visible_if` is not used, so what its input holds cannot stop the save."""
    tenant = make_tenant(conditional_config())
    client = browser(tenant, "rep1")
    if page == "new":
        response = submit(client, "/web/lead/new", {"f.name": "Saved", name: value})
        assert response.status_code == 303, errors_next_to(response.text)
        [record] = leads(tenant)
        assert record["data"] == {"name": "Saved", "vip": False, "status": "new"}
    else:
        lead = tenant.create("lead", {"name": "Old", "vip": False}, "rep1")
        response = submit(client, f"/web/lead/{lead['id']}/edit", {"f.name": "Saved", name: value})
        assert response.status_code == 303, errors_next_to(response.text)
        assert stored(tenant, lead)["data"] == {"name": "Saved", "vip": False, "status": "new"}


def test_unreadable_value_in_a_field_the_post_shows_is_refused(make_tenant: Any, browser: Any) -> None:  # noqa: F811
    """The same input is refused once the post ticks the box that shows its field."""
    tenant = make_tenant(conditional_config())
    response = submit(browser(tenant, "rep1"), "/web/lead/new",
                      {"f.name": "N", "f.vip": ["false", "true"], "f.employees": "1,5"})
    assert response.status_code == 422
    assert errors_next_to(response.text) == {"employees": [WHOLE_NUMBER]}


# -- links that keep the query -------------------------------------------------------------------------------------

def row_names(page: str) -> list[str]:
    return re.findall(r'<tr data-id="[^"]+">\s*<td>([^<]*)</td>', page)


def link(page: str, pattern: str) -> tuple[str, dict[str, list[str]]]:
    """The path and query of the first link whose `<a ...>` tag matches `pattern`."""
    match = re.search(pattern, page)
    assert match, page
    url = urlsplit(html.unescape(match.group(1)))
    return url.path, parse_qs(url.query)


def test_next_page_link_keeps_the_sort(tenant: Any, browser: Any) -> None:  # noqa: F811
    """With more records than a page holds, the next-page link keeps `sort`, and the next page continues it."""
    names = [f"Lead {i:02d}" for i in range(51)]
    for name in names:  # created in name order: the default sort (newest first) is the reverse
        tenant.create("lead", {"name": name}, "rep1")
    client = browser(tenant, "rep1")
    first = client.get("/web/lead?sort=name")
    assert first.status_code == 200
    assert row_names(first.text) == names[:50]
    path, query = link(first.text, r'<a href="([^"]*cursor=[^"]*)">')
    assert path == "/web/lead" and query["sort"] == ["name"] and query["cursor"]
    second = client.get(path, query_string={k: v[0] for k, v in query.items()})
    assert second.status_code == 200
    assert row_names(second.text) == names[50:]
    assert not re.search(r'<a href="[^"]*cursor=', second.text)  # the last page has no next-page link


@pytest.mark.parametrize(("path", "query", "expected"), [
    ("/web/lead", "sort=name", {"sort": ["name"], "lang": ["zh"]}),
    ("/web/lead", "sort=-name&lang=zh", {"sort": ["-name"], "lang": ["en"]}),
    ("/web/lead", "", {"lang": ["zh"]}),
    ("/web/lead/new", "", {"lang": ["zh"]}),
    ("/web/lead/{id}/edit", "", {"lang": ["zh"]}),
    ("/web/", "", {"lang": ["zh"]}),
])
def test_language_link_keeps_the_page_and_its_query(tenant: Any, browser: Any, path: str, query: str,  # noqa: F811
                                                    expected: dict[str, list[str]]) -> None:
    """The language link leads to the same page with the same query, only `lang` switched."""
    lead = tenant.create("lead", {"name": "L"}, "rep1")
    client: FlaskClient = browser(tenant, "rep1")
    page = client.get(f"{path.format(id=lead['id'])}?{query}")
    assert page.status_code == 200
    assert link(page.text, r'<a class="lang" href="([^"]*)">') == (path.format(id=lead["id"]), expected)
