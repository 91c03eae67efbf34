"""Server-rendered pages at /web: sign-in and session cookie, CSRF, list and form pages, errors, escaping.

Pages are posted the way a browser posts them: every enabled input of the rendered form, with the
user's changes laid over it (no JavaScript runs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from tests.configs import crm, label

XSS = "<img src=x onerror=alert(1)>"
BREAKOUT = "</script><script>alert(1)</script>"


class FormReader(HTMLParser):
    """The name/value pairs a browser submits for the forms whose attributes `wanted` accepts."""

    def __init__(self, wanted: Callable[[dict[str, str | None]], bool]) -> None:
        super().__init__(convert_charrefs=True)
        self.wanted = wanted
        self.inside = False
        self.pairs: list[tuple[str, str]] = []
        self.select: dict[str, str | None] | None = None
        self.options: list[tuple[dict[str, str | None], list[str]]] = []
        self.textarea: tuple[dict[str, str | None], list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = self.wanted(a)
        elif not self.inside:
            return
        elif tag == "input" and a.get("name") and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.pairs.append((str(a["name"]), a.get("value") or ("on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select":
            self.select, self.options = a, []
        elif tag == "option" and self.select is not None:
            self.options.append((a, []))
        elif tag == "textarea":
            self.textarea = (a, [])

    def handle_data(self, data: str) -> None:
        if self.select is not None and self.options:
            self.options[-1][1].append(data)
        if self.textarea is not None:
            self.textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select is not None:
            select, self.select = self.select, None
            if not select.get("name") or "disabled" in select:
                return
            values = [o.get("value") if o.get("value") is not None else "".join(t) for o, t in self.options]
            chosen = [v for (o, _), v in zip(self.options, values, strict=True) if "selected" in o]
            if not chosen and "multiple" not in select and values:
                chosen = values[:1]
            self.pairs += [(str(select["name"]), str(v)) for v in chosen]
        elif tag == "textarea" and self.textarea is not None:
            (a, text), self.textarea = self.textarea, None
            if a.get("name") and "disabled" not in a:
                value = "".join(text)  # browsers drop one newline right after <textarea>
                self.pairs.append((str(a["name"]), value[1:] if value.startswith("\n") else value))


def form_pairs(html: str, wanted: Callable[[dict[str, str | None]], bool] | None = None) -> MultiDict[str, str]:
    """What a browser would post for the page's record form (or the form `wanted` picks)."""
    reader = FormReader(wanted or (lambda a: "data-lowcode-form" in a))
    reader.feed(html)
    return MultiDict(reader.pairs)


def submit(client: FlaskClient, path: str, changes: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """GET the page at `path`, then post its record form with `changes` (name -> value or values) laid over it."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    pairs = form_pairs(page.text)
    for name, value in (changes or {}).items():
        pairs.setlist(name, value if isinstance(value, list) else [value])
    return client.post(path, data=pairs, **kwargs)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: FlaskClient, token: str) -> Any:
    page = client.get("/web/sign-in")
    return client.post("/web/sign-in", data={"token": token, "csrf_token": csrf_of(page.text)})


@pytest.fixture
def browser(app: Flask) -> Callable[[Any, str], FlaskClient]:
    """`browser(tenant, user)`: a client of its own, signed in as `user`."""

    def open_browser(tenant: Any, user: str) -> FlaskClient:
        client = app.test_client()
        response = sign_in(client, tenant.tokens[user])
        assert response.status_code == 303, response.text
        return client

    return open_browser


def set_cookies(response: Any) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith("lowcode_session=")]


def form_data_json(html: str) -> Any:
    """The JSON a page embeds for its script, read as the browser would (up to the first `</script>`)."""
    start = html.index('<script type="application/json" id="lowcode-form-data">')
    body = html[start:].split(">", 1)[1]
    return json.loads(body[:body.index("</script>")])


def errors_next_to(html: str) -> dict[str, list[str]]:
    """The error messages shown next to each field: `<p class="error" id="err-<field>">`."""
    found: dict[str, list[str]] = {}
    for key, message in re.findall(r'<p class="error" id="err-([a-z0-9_]+)">([^<]*)</p>', html):
        found.setdefault(key, []).append(message)
    return found


# -- signing in and out ------------------------------------------------------------------------------------------

def test_sign_in_sets_a_protected_session_cookie(tenant: Any, app: Flask) -> None:
    """Sign-in shows a form with a CSRF token; a good token answers 303 to /web/ with an HttpOnly, Lax cookie."""
    client = app.test_client()
    page = client.get("/web/sign-in")
    assert page.status_code == 200
    assert 'name="token"' in page.text and csrf_of(page.text)
    response = client.post("/web/sign-in", data={"token": tenant.tokens["rep1"], "csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/web/")
    for cookie in set_cookies(page) + set_cookies(response):
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
    assert set_cookies(response)
    home = client.get("/web/")
    assert home.status_code == 200
    assert 'href="/web/lead"' in home.text and 'href="/web/customer"' in home.text
    assert "rep1" in home.text


def test_sign_in_with_a_wrong_token_is_401(tenant: Any, app: Flask) -> None:
    """A token that is no user's shows the sign-in page again with 401 and signs no one in."""
    client = app.test_client()
    response = sign_in(client, "lc_not_a_token")
    assert response.status_code == 401
    assert "That token is not valid." in response.text
    assert client.get("/web/").status_code == 303


@pytest.mark.parametrize("path", ["/web/", "/web/lead", "/web/lead/new", "/web/lead/0000/edit"])
def test_pages_send_strangers_to_sign_in(client: FlaskClient, path: str) -> None:
    """Without a session every page answers 303 to the sign-in page."""
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/web/sign-in")


def test_root_goes_to_the_pages(client: FlaskClient) -> None:
    """`/` redirects to /web/."""
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/web/")


def test_sign_out(tenant: Any, browser: Any) -> None:
    """Signing out (with the CSRF token) ends the session."""
    client = browser(tenant, "rep1")
    home = client.get("/web/")
    response = client.post("/web/sign-out", data={"csrf_token": csrf_of(home.text)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/web/sign-in")
    assert client.get("/web/").status_code == 303


# -- CSRF ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sent", [None, "", "forged"])
@pytest.mark.parametrize("page", ["sign-in", "sign-out", "new", "edit"])
def test_every_post_needs_the_sessions_csrf_token(tenant: Any, browser: Any, app: Flask, page: str,
                                                  sent: str | None) -> None:
    """A POST without the session's CSRF token answers 400 and changes nothing."""
    lead = tenant.create("lead", {"name": "Before"}, "rep1")
    client = app.test_client() if page == "sign-in" else browser(tenant, "rep1")
    data: dict[str, str] = {}
    if page == "sign-in":
        client.get("/web/sign-in")
        path, data = "/web/sign-in", {"token": tenant.tokens["rep1"]}
    elif page == "sign-out":
        path = "/web/sign-out"
    elif page == "new":
        path, data = "/web/lead/new", {"f.name": "Forged"}
    else:
        path, data = f"/web/lead/{lead['id']}/edit", {"f.name": "Forged", "version": "1"}
    if sent is not None:
        data["csrf_token"] = sent
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert "The form expired or was not sent by this site" in response.text
    assert client.get("/web/").status_code == (303 if page == "sign-in" else 200)
    names = [r["data"]["name"] for r in tenant.call("GET", "/api/v1/records/lead").get_json()["items"]]
    assert names == ["Before"]


def test_csrf_token_of_another_session_is_refused(tenant: Any, browser: Any) -> None:
    """A CSRF token is good only in the session it was made for."""
    mine, theirs = browser(tenant, "rep1"), browser(tenant, "rep2")
    token = csrf_of(theirs.get("/web/lead/new").text)
    assert mine.post("/web/lead/new", data={"f.name": "X", "csrf_token": token}).status_code == 400


# -- list pages ---------------------------------------------------------------------------------------------------

def test_list_page_shows_the_records(tenant: Any, browser: Any) -> None:
    """A list shows the view's columns with option labels, and links to edit and create for roles that may."""
    first = tenant.create("lead", {"name": "Alpha", "status": "won"}, "rep1")
    tenant.create("lead", {"name": "Beta"}, "rep1")
    page = browser(tenant, "rep1").get("/web/lead")
    assert page.status_code == 200
    assert re.search(r"<th[^>]*>Name</th>\s*<th[^>]*>Status</th>", page.text)
    assert "<td>Alpha</td><td>Won</td>" in page.text and "<td>Beta</td><td>New</td>" in page.text
    assert f'href="/web/lead/{first["id"]}/edit"' in page.text and 'href="/web/lead/new"' in page.text
    viewer = browser(tenant, "viewer").get("/web/lead")
    assert "Alpha" in viewer.text
    assert "/edit" not in viewer.text and "/web/lead/new" not in viewer.text


def test_list_page_in_chinese_and_the_choice_is_remembered(tenant: Any, browser: Any) -> None:
    """`?lang=zh` shows the page in Chinese, and later pages stay Chinese until `?lang=en`."""
    tenant.create("lead", {"name": "Alpha", "status": "won"}, "rep1")
    client = browser(tenant, "rep1")
    page = client.get("/web/lead?lang=zh")
    assert '<html lang="zh-CN">' in page.text and "<td>Alpha</td><td>赢单</td>" in page.text
    assert "<th scope=\"col\">状态</th>" in client.get("/web/lead").text
    assert '<html lang="en">' in client.get("/web/lead?lang=en").text
    assert '<html lang="en">' in client.get("/web/lead").text


def test_list_page_of_an_empty_entity(tenant: Any, browser: Any) -> None:
    """A list without records says so."""
    assert "No records yet." in browser(tenant, "rep1").get("/web/customer").text


# -- create pages ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "required", "whole_number"), [
    ("en", "is required", "is not a valid whole number"), ("zh", "为必填项", "不是有效的整数"),
])
def test_create_page_shows_errors_next_to_the_fields(tenant: Any, browser: Any, lang: str, required: str,
                                                    whole_number: str) -> None:
    """A create post with errors answers 422 with every message next to its field, keeping what was typed."""
    client = browser(tenant, "rep1")
    response = submit(client, f"/web/lead/new?lang={lang}", {"f.name": "", "f.employees": "many",
                                                              "f.notes": "typed"})
    assert response.status_code == 422
    assert errors_next_to(response.text) == {"name": [required], "employees": [whole_number]}
    assert ">\ntyped</textarea>" in response.text and 'value="many"' in response.text
    response = submit(client, f"/web/lead/new?lang={lang}", {"f.name": "", "f.employees": "3"})
    assert response.status_code == 422
    assert errors_next_to(response.text) == {"name": [required]}
    assert tenant.call("GET", "/api/v1/records/lead").get_json()["items"] == []


def test_create_page_success_shows_the_record_in_the_list(tenant: Any, browser: Any) -> None:
    """A good create post answers 303 to the list, which shows the new record; it is stored with its values."""
    client = browser(tenant, "rep1")
    response = submit(client, "/web/lead/new", {"f.name": "Created on the web", "f.employees": "1,200",
                                                "f.budget.amount": "99.5", "f.budget.currency": "USD",
                                                "f.vip": ["false", "true"], "f.tags": ["", "hot"]})
    assert response.status_code == 303, response.text
    assert response.headers["Location"].endswith("/web/lead")
    assert "<td>Created on the web</td>" in client.get("/web/lead").text
    [record] = tenant.call("GET", "/api/v1/records/lead").get_json()["items"]
    assert record["data"] == {"name": "Created on the web", "employees": 1200, "status": "new", "vip": True,
                              "budget": {"amount": 99.5, "currency": "USD"}, "tags": ["hot"]}
    assert record["owner_id"] == tenant.user_ids["rep1"]


def form_config() -> dict[str, Any]:
    """CRM leads with a configured create form: a conditional budget, a field hidden for reps."""
    document = crm()
    document["forms"] = {"lead": {"create": {"label": label("Quick lead", "快速线索"), "sections": [
        {"title": label("Basics", "基本"), "fields": [
            "name", {"field": "vip", "widget": "checkbox"},
            {"field": "budget", "visible_if": {"vip": True}, "required_if": {"vip": True}},
            {"field": "phone", "hidden_for": ["rep"]}]}]}}}
    return document


def test_configured_create_page(make_tenant: Any, browser: Any) -> None:
    """The page follows the form: its title and sections, fields hidden for the role absent, conditions enforced."""
    tenant = make_tenant(form_config())
    client = browser(tenant, "rep1")
    page = client.get("/web/lead/new")
    assert "<h1>Quick lead</h1>" in page.text and "<legend>Basics</legend>" in page.text
    assert 'name="f.phone"' not in page.text and 'name="f.notes"' not in page.text
    assert re.search(r'data-field="budget"[^>]*hidden', page.text)  # vip is not set: budget is hidden
    response = submit(client, "/web/lead/new", {"f.name": "V", "f.vip": ["false", "true"]})
    assert response.status_code == 422
    assert errors_next_to(response.text) == {"budget": ["is required"]}
    assert not re.search(r'data-field="budget"[^>]*hidden', response.text)  # shown again with its error
    response = submit(client, "/web/lead/new", {"f.name": "N", "f.budget.amount": "5"})  # hidden: dropped
    assert response.status_code == 303
    [record] = tenant.call("GET", "/api/v1/records/lead").get_json()["items"]
    assert record["data"] == {"name": "N", "vip": False, "status": "new"}
    assert 'name="f.phone"' in browser(tenant, "boss").get("/web/lead/new").text


# -- edit pages --------------------------------------------------------------------------------------------------

def test_edit_page_changes_the_record(tenant: Any, browser: Any) -> None:
    """The edit page carries the version and the values; a post answers 303 and stores the change."""
    lead = tenant.create("lead", {"name": "Old", "notes": "keep", "employees": 3}, "rep1")
    client = browser(tenant, "rep1")
    page = client.get(f"/web/lead/{lead['id']}/edit")
    assert '<input type="hidden" name="version" value="1">' in page.text
    assert 'value="Old"' in page.text and ">\nkeep</textarea>" in page.text
    response = submit(client, f"/web/lead/{lead['id']}/edit", {"f.name": "New", "f.employees": ""})
    assert response.status_code == 303, response.text
    stored = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}").get_json()
    assert stored["version"] == 2
    # the untouched, unticked box leaves the never-set boolean unset
    assert stored["data"] == {"name": "New", "notes": "keep", "status": "new"}


def test_edit_page_submitted_unchanged_changes_nothing(tenant: Any, browser: Any) -> None:
    """Posting an edit page as rendered keeps every value (date-times, money, lists and booleans included)."""
    data = {"name": "Same", "met_at": "2026-03-10T12:00:00Z", "due": "2026-04-01", "vip": False, "tags": ["cold"],
            "budget": {"amount": 10.5, "currency": "USD"}, "region": {"province": "110000", "city": "110100"},
            "score": 12.25}
    lead = tenant.create("lead", data, "rep1")
    response = submit(browser(tenant, "rep1"), f"/web/lead/{lead['id']}/edit")
    assert response.status_code == 303, response.text
    stored = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}").get_json()
    assert stored["data"] == lead["data"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_edit_page_with_a_stale_version_says_so(tenant: Any, browser: Any, lang: str) -> None:
    """A post of a version someone else changed since is refused with the stale-version message; nothing changes."""
    lead = tenant.create("lead", {"name": "Old"}, "rep1")
    client = browser(tenant, "rep1")
    path = f"/web/lead/{lead['id']}/edit?lang={lang}"
    page = client.get(path)
    assert tenant.call("PATCH", f"/api/v1/records/lead/{lead['id']}", json={"version": 1, "name": "Theirs"}
                       ).status_code == 200
    pairs = form_pairs(page.text)
    pairs["f.name"] = "Mine"
    response = client.post(path, data=pairs)
    assert response.status_code in (409, 422)
    message = {"en": "the record has changed since version 1; it is now at version 2",
               "zh": "记录已在版本 1 之后被修改，当前版本为 2"}[lang]
    assert f'<p class="error">{message}</p>' in response.text
    assert 'value="Mine"' in response.text  # what was typed is not lost
    stored = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}").get_json()
    assert (stored["version"], stored["data"]["name"]) == (2, "Theirs")


def test_edit_page_masks_another_reps_pii(tenant: Any, browser: Any) -> None:
    """rep2 sees rep1's lead phone masked, as text, never the number; posting the page keeps the phone."""
    lead = tenant.create("lead", {"name": "Masked", "phone": "13812345678"}, "rep1")
    client = browser(tenant, "rep2")
    page = client.get(f"/web/lead/{lead['id']}/edit")
    assert "138****5678" in page.text and "13812345678" not in page.text
    assert 'name="f.phone"' not in page.text
    response = submit(client, f"/web/lead/{lead['id']}/edit", {"f.name": "Renamed"})
    assert response.status_code == 303, response.text
    stored = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}").get_json()
    assert stored["data"]["phone"] == "13812345678" and stored["data"]["name"] == "Renamed"


def readonly_config(widget: str) -> dict[str, Any]:
    """CRM leads whose edit form shows tags (with `widget`) read-only for reps, and met_at read-only once won."""
    document = crm()
    document["forms"] = {"lead": {"edit": {"sections": [{"fields": [
        "name", "status", {"field": "tags", "widget": widget, "readonly_for": ["rep"]},
        {"field": "met_at", "readonly_if": {"status": "won"}}]}]}}}
    return document


@pytest.mark.parametrize("widget", ["checkboxes", "select"])
def test_edit_page_with_a_readonly_list_field_can_be_saved(make_tenant: Any, browser: Any, widget: str) -> None:
    """A multi-choice field read-only for the role is posted as nothing, so the page saves and keeps its value."""
    tenant = make_tenant(readonly_config(widget))
    lead = tenant.create("lead", {"name": "Tagged", "tags": ["hot"]}, "rep1")
    client = browser(tenant, "rep1")
    assert "disabled" in client.get(f"/web/lead/{lead['id']}/edit").text
    response = submit(client, f"/web/lead/{lead['id']}/edit", {"f.name": "Renamed"})
    assert response.status_code == 303, errors_next_to(response.text)
    stored = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}").get_json()
    assert stored["data"]["tags"] == ["hot"] and stored["data"]["name"] == "Renamed"


def test_edit_page_made_readonly_by_the_post_keeps_an_untouched_datetime(make_tenant: Any, browser: Any) -> None:
    """Without JavaScript, a date-time that the post makes read-only (readonly_if) but leaves as shown is unchanged."""
    tenant = make_tenant(readonly_config("checkboxes"))
    lead = tenant.create("lead", {"name": "Met", "met_at": "2026-03-10T12:00:00Z"}, "admin")
    client = browser(tenant, "admin")
    assert 'value="2026-03-10T20:00"' in client.get(f"/web/lead/{lead['id']}/edit").text  # Asia/Shanghai
    response = submit(client, f"/web/lead/{lead['id']}/edit", {"f.status": "won"})
    assert response.status_code == 303, errors_next_to(response.text)
    stored = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}").get_json()
    assert stored["data"]["status"] == "won" and stored["data"]["met_at"] == "2026-03-10T12:00:00.000Z"


# -- permission and missing pages ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("user", "path", "status", "text"), [
    ("viewer", "/web/lead/new", 403, "Your role may not do this."),
    ("viewer", "/web/lead/{id}/edit", 403, "Your role may not do this."),
    ("viewer", "/web/customer", 403, "Your role may not do this."),
    ("outsider", "/web/lead/{id}/edit", 404, "Not found."),
    ("rep1", "/web/ghost", 404, "Not found."),
    ("rep1", "/web/ghost/new", 404, "Not found."),
    ("rep1", "/web/lead/00000000000000000000000000/edit", 404, "Not found."),
])
def test_permission_and_missing_pages(tenant: Any, browser: Any, user: str, path: str, status: int,
                                      text: str) -> None:
    """A page the role may not use renders a 403 page; an unknown entity or record (or one out of scope) a 404."""
    lead = tenant.create("lead", {"name": "L"}, "rep1")
    response = browser(tenant, user).get(path.format(id=lead["id"]))
    assert response.status_code == status
    assert f'<p class="error" role="alert">{text}</p>' in response.text


def test_forbidden_post_changes_nothing(tenant: Any, browser: Any) -> None:
    """A viewer's post to a create page is refused with 403 and creates nothing."""
    client = browser(tenant, "viewer")
    csrf = csrf_of(client.get("/web/").text)
    response = client.post("/web/lead/new", data={"f.name": "X", "csrf_token": csrf})
    assert response.status_code == 403
    assert tenant.call("GET", "/api/v1/records/lead").get_json()["items"] == []


def test_forbidden_page_in_chinese(tenant: Any, browser: Any) -> None:
    """The 403 page follows the chosen language."""
    response = browser(tenant, "viewer").get("/web/lead/new?lang=zh")
    assert response.status_code == 403 and "您的角色无权执行此操作。" in response.text


# -- escaping ------------------------------------------------------------------------------------------------------

def hostile_config() -> dict[str, Any]:
    """CRM leads whose entity, plural and field labels are markup."""
    document = crm()
    lead = document["entities"]["lead"]
    lead["label"] = label(XSS)
    lead["plural"] = label(XSS)
    lead["fields"]["name"]["label"] = label(XSS)
    lead["fields"]["notes"]["help"] = label(XSS)
    return document


def test_labels_and_values_are_escaped_everywhere(make_tenant: Any, browser: Any) -> None:
    """Markup in labels and record values shows as text (`&lt;img`) on list, create and edit pages, never as a tag."""
    tenant = make_tenant(hostile_config())
    lead = tenant.create("lead", {"name": XSS, "notes": XSS}, "rep1")
    client = browser(tenant, "rep1")
    for path in ("/web/", "/web/lead", "/web/lead/new", f"/web/lead/{lead['id']}/edit"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text, path
        assert XSS not in page.text and "<img" not in page.text, path
    response = submit(client, "/web/lead/new", {"f.name": "", "f.notes": XSS})
    assert response.status_code == 422
    assert XSS not in response.text and "&lt;img" in response.text


@pytest.mark.parametrize("value", [BREAKOUT, "<!--<script>", "a\u2028b\u2029c & </SCRIPT >"])
def test_embedded_json_cannot_be_broken_out_of(tenant: Any, browser: Any, value: str) -> None:
    """A record value holding `</script>` stays inside the page's JSON block, which still parses to that value."""
    lead = tenant.create("lead", {"name": "J", "notes": value}, "rep1")
    page = browser(tenant, "rep1").get(f"/web/lead/{lead['id']}/edit")
    assert page.status_code == 200
    assert form_data_json(page.text)["conditions"]["facts"]["notes"] == value
    assert BREAKOUT not in page.text and "<script>alert" not in page.text
    assert page.text.count("</script>") == page.text.count("<script")
