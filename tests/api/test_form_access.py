"""Who may see what through forms: `GET /api/v1/forms/{entity}/{purpose}?id=` needs `read`, the web pickers
show what the role may see (pii masked, active users only), and the web session cookie keeps no bearer token.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select, update

from lowcode_platform.storage.tables import Tenant, User
from tests.configs import crm, label
from tests.web.test_pages import browser, sign_in  # noqa: F401  (browser is a fixture)

SECRET = "Sensitive Customer Ltd"
MASKED_SECRET = "S***"
WRITER_USERS = (("admin", "admin", None, None), ("writer", "writer", None, None), ("rep1", "rep", None, None))
PII_USERS = (("admin", "admin", None, None), ("blind", "clerk", None, None), ("seer", "auditor", None, None))


def writer_config() -> dict[str, Any]:
    """CRM with a `writer` role that may create and update leads, but not read them."""
    document = crm()
    document["roles"]["writer"] = {"label": label("Writer"), "pii": "all", "permissions": {
        "lead": {"create": True, "update": True, "scope": "all"}}}
    return document


def problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json", response.data
    return response.get_json()


# -- ?id= needs read -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("purpose", ["edit", "create"])
def test_form_data_needs_read_permission(make_tenant: Any, purpose: str) -> None:
    """A role that may create and update but not read leads gets 403, not the record's values, for `?id=`."""
    tenant = make_tenant(writer_config(), WRITER_USERS)
    lead = tenant.create("lead", {"name": "Secret lead", "notes": "private notes"}, "admin")
    response = tenant.call("GET", f"/api/v1/forms/lead/{purpose}?id={lead['id']}", "writer")
    assert response.status_code == 403
    assert problem(response)["status"] == 403
    assert b"Secret lead" not in response.data and b"private notes" not in response.data


@pytest.mark.parametrize("purpose", ["edit", "create"])
def test_form_without_id_still_opens_for_a_role_that_cannot_read(make_tenant: Any, purpose: str) -> None:
    """Without `?id=` the writer role opens the create and edit forms (the permission the purpose needs)."""
    tenant = make_tenant(writer_config(), WRITER_USERS)
    response = tenant.call("GET", f"/api/v1/forms/lead/{purpose}", "writer")
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("record", ["lead", "0" * 26, "not-an-id"])
def test_create_form_with_an_id_is_400(tenant: Any, record: str) -> None:
    """`GET .../create?id=` answers 400 naming the parameter `id`, whether or not the record exists."""
    record_id = tenant.create("lead", {"name": "Shown nowhere"}, "rep1")["id"] if record == "lead" else record
    response = tenant.call("GET", f"/api/v1/forms/lead/create?id={record_id}", "rep1")
    assert response.status_code == 400
    assert [(e.get("parameter"), e["code"]) for e in problem(response)["errors"]] == [("id", "create_form_id")]
    assert b"Shown nowhere" not in response.data


# -- web pickers ---------------------------------------------------------------------------------------------------

def pii_title_config() -> dict[str, Any]:
    """CRM whose customer title (name) is pii, with a `clerk` (pii none) and an `auditor` (pii all) role."""
    document = crm()
    document["entities"]["customer"]["fields"]["name"]["pii"] = True
    permissions = {"lead": {"create": True, "read": True, "update": True, "scope": "all"},
                   "customer": {"read": True, "scope": "all"}}
    document["roles"]["clerk"] = {"label": label("Clerk"), "pii": "none", "permissions": permissions}
    document["roles"]["auditor"] = {"label": label("Auditor"), "pii": "all", "permissions": permissions}
    return document


def picker_options(html: str, field: str) -> list[tuple[str, str]]:
    """(value, label) of the options of the `<select name="f.<field>">` on a page."""
    match = re.search(rf'<select id="f-{field}" name="f\.{field}"[^>]*>(.*?)</select>', html, re.S)
    assert match, html
    return [(v, t.strip()) for v, t in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', match.group(1))]


@pytest.mark.parametrize(("user", "shown"), [("blind", MASKED_SECRET), ("seer", SECRET), ("admin", SECRET)])
def test_reference_picker_masks_a_pii_title(make_tenant: Any, browser: Any, user: str,  # noqa: F811
                                            shown: str) -> None:
    """A reference picker shows a pii title masked to a role with pii none, and as it is to one with pii all."""
    tenant = make_tenant(pii_title_config(), PII_USERS)
    customer = tenant.create("customer", {"name": SECRET}, "admin")
    page = browser(tenant, user).get("/web/lead/new")
    assert page.status_code == 200
    assert (customer["id"], shown) in picker_options(page.text, "customer")
    if shown == MASKED_SECRET:
        assert SECRET not in page.text


def test_user_picker_lists_only_active_users(tenant: Any, browser: Any, app: Flask) -> None:  # noqa: F811
    """A deactivated user is no longer offered by the user picker; active users are."""
    engine = app.extensions["lowcode"].engine
    with engine.begin() as connection:
        tenant_id = connection.scalar(select(Tenant.id).where(Tenant.slug == tenant.slug))
        changed = connection.execute(update(User).where(User.tenant_id == tenant_id,
                                                        User.id == tenant.user_ids["rep2"]).values(active=False))
        assert changed.rowcount == 1
    options = picker_options(browser(tenant, "rep1").get("/web/lead/new").text, "assignee")
    listed = {value for value, _ in options}
    assert tenant.user_ids["rep2"] not in listed
    assert {tenant.user_ids[u] for u in ("admin", "boss", "rep1", "outsider", "viewer")} <= listed


# -- the session cookie ----------------------------------------------------------------------------------------------

def all_values(value: Any) -> list[Any]:
    """Every value nested in a decoded session, keys included."""
    if isinstance(value, dict):
        return [*value.keys(), *(v for item in value.values() for v in all_values(item))]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in all_values(item)]
    return [value]


def test_session_cookie_holds_no_bearer_token(tenant: Any, app: Flask) -> None:
    """The signed session cookie keeps the token's hash, never the bearer token itself."""
    client = app.test_client()
    token = tenant.tokens["rep1"]
    assert sign_in(client, token).status_code == 303
    cookie = client.get_cookie("lowcode_session")
    assert cookie is not None
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    stored = serializer.loads(cookie.value)
    assert "token_hash" in stored and stored["token_hash"] != token
    assert all(not (isinstance(v, str) and token in v) for v in all_values(stored)), stored
    assert token not in cookie.value
    assert client.get("/web/").status_code == 200  # the hash is enough to stay signed in
