"""Form endpoints and submissions through forms: `GET /api/v1/forms[/{entity}/{purpose}]`,
`POST /api/v1/records/{entity}?form=` and `PATCH /api/v1/records/{entity}/{id}?form=`.

On the b2b_solution_sales template (roles admin, sales_manager, sales_rep with pii "own") and on small configs.
"""

from __future__ import annotations

from typing import Any

import pytest

from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.configs import crm, label

TEMPLATE = load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document
TEMPLATE_USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
                  ("rep1", "sales_rep", "boss", "east"), ("rep2", "sales_rep", "boss", "east"),
                  ("far", "sales_rep", None, "west"))
ENTITIES = list(TEMPLATE["entities"])
PHONE, MASKED_PHONE = "13812345678", "138****5678"


def problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json", response.data
    return response.get_json()


def errors(response: Any) -> list[tuple[str, str]]:
    return [(e.get("pointer", ""), e["code"]) for e in problem(response)["errors"]]


@pytest.fixture
def sales(make_tenant: Any) -> Any:
    """The template tenant, with a customer and a contact (phone, birthday) owned by rep1."""
    tenant = make_tenant(TEMPLATE, TEMPLATE_USERS)
    customer = tenant.create("customer", {"name": "Acme"}, "rep1")
    tenant.contact = tenant.create("contact", {"name": "Li Lei", "customer": customer["id"], "phone": PHONE,
                                               "birthday": "1990-05-01", "title": "CTO"}, "rep1")
    tenant.customer = customer
    return tenant


def form_of(tenant: Any, path: str, user: str = "admin", language: str = "en") -> Any:
    response = tenant.call("GET", f"/api/v1/forms/{path}", user, headers={"Accept-Language": language})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- listing -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("user", "expected"), [
    ("admin", [(e, p) for e in ("customer", "lead") for p in ("create", "edit", "view")]),
    ("boss", [(e, p) for e in ("customer", "lead") for p in ("create", "edit", "view")]),
    ("rep1", [(e, p) for e in ("customer", "lead") for p in ("create", "edit", "view")]),
    ("viewer", [("lead", "view")]),
])
def test_list_holds_the_forms_the_role_may_open(tenant: Any, user: str, expected: list[tuple[str, str]]) -> None:
    """A role lists a form only when it has the permission the purpose needs (create, update, read)."""
    response = tenant.call("GET", "/api/v1/forms", user)
    assert response.status_code == 200
    assert [(f["entity"], f["purpose"]) for f in response.get_json()["items"]] == expected


def test_list_of_template_forms_with_labels_per_language(make_tenant: Any) -> None:
    """The template's forms come by entity in config order, labelled in the request's language (view: none)."""
    tenant = make_tenant(TEMPLATE, TEMPLATE_USERS)
    for language, lead_label in (("en", "New lead"), ("zh", "新建线索")):
        items = tenant.call("GET", "/api/v1/forms", "rep1", headers={"Accept-Language": language}).get_json()["items"]
        assert [(f["entity"], f["purpose"]) for f in items] == [(e, p) for e in ENTITIES
                                                                for p in ("create", "edit", "view")]
        labels = {(f["entity"], f["purpose"]): f["label"] for f in items}
        assert labels[("lead", "create")] == lead_label
        assert labels[("lead", "view")] is None


def test_list_needs_a_token(tenant: Any) -> None:
    """Without a bearer token the forms are not listed."""
    assert tenant.client.get("/api/v1/forms").status_code == 401


# -- documents ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("language", "title", "section", "placeholder"), [
    ("en", "New lead", "Contact", "Mobile, e.g. 13812345678"),
    ("zh", "新建线索", "联系人", "手机号，如 13812345678"),
    ("zh-CN,zh;q=0.9", "新建线索", "联系人", "手机号，如 13812345678"),
    ("", "新建线索", "联系人", "手机号，如 13812345678"),  # none: the tenant's default, zh
])
def test_document_in_the_requests_language(sales: Any, language: str, title: str, section: str,
                                           placeholder: str) -> None:
    """The lead create form's titles, sections and placeholders follow Accept-Language (else the tenant's)."""
    document = form_of(sales, "lead/create", "rep1", language)
    assert set(document) == {"schema", "uiSchema", "layout", "conditions", "formData"}
    assert (document["schema"]["title"], document["layout"]["title"]) == (title, title)
    assert document["layout"]["tabs"][0]["sections"][0]["title"] == section
    assert document["uiSchema"]["phone"]["ui:placeholder"] == placeholder


def test_document_per_purpose(sales: Any) -> None:
    """Create, edit and view forms of one entity differ as configured: layout, read-only fields, required list."""
    create = form_of(sales, "customer/create", "rep1")
    edit = form_of(sales, "customer/edit", "rep1")
    view = form_of(sales, "customer/view", "rep1")
    assert (create["layout"]["tabbed"], edit["layout"]["tabbed"], view["layout"]["tabbed"]) == (False, True, True)
    assert [t["title"] for t in edit["layout"]["tabs"]] == ["Profile", "Status"]
    assert create["schema"]["required"] == ["name"]
    assert "level" not in create["schema"]["properties"]  # hidden for sales reps
    assert edit["schema"]["properties"]["status"]["readOnly"] is True  # read-only for sales reps
    assert edit["schema"]["properties"]["segment"]["readOnly"] is True  # computed
    assert "required" not in view["schema"]
    assert all(p.get("readOnly") for p in view["schema"]["properties"].values())
    assert create["conditions"]["fields"]["tax_id"] == {"visible_if": {"$ex": {"annual_revenue": 1}}}


def test_document_for_a_role_that_sees_more(sales: Any) -> None:
    """A sales manager sees the fields hidden for reps and may change what is read-only for them."""
    edit = form_of(sales, "customer/edit", "boss")
    assert "level" in edit["schema"]["properties"]
    assert "readOnly" not in edit["schema"]["properties"]["status"]


@pytest.mark.parametrize(("user", "path", "status"), [
    ("viewer", "lead/create", 403), ("viewer", "lead/edit", 403), ("viewer", "lead/view", 200),
    ("viewer", "customer/view", 403), ("rep1", "customer/edit", 200), ("admin", "ghost/create", 404),
    ("admin", "lead/ghost", 404), ("viewer", "ghost/view", 404), ("viewer", "lead/ghost", 404),
])
def test_document_status(tenant: Any, user: str, path: str, status: int) -> None:
    """403 when the role lacks the permission the purpose needs; 404 for an unknown entity or form."""
    response = tenant.call("GET", f"/api/v1/forms/{path}", user)
    assert response.status_code == status
    if status != 200:
        assert problem(response)["status"] == status


def test_unknown_form_is_404_with_code(tenant: Any) -> None:
    """An unknown purpose answers 404 with `unknown_form`."""
    response = tenant.call("GET", "/api/v1/forms/lead/ghost")
    assert errors(response) == [("", "unknown_form")]


def test_document_needs_a_token(tenant: Any) -> None:
    """Without a bearer token a form is not served."""
    assert tenant.client.get("/api/v1/forms/lead/create").status_code == 401


@pytest.mark.parametrize("purpose", ["create", "edit", "view"])
def test_default_form_lists_the_fields_in_config_order(tenant: Any, purpose: str) -> None:
    """An entity without forms gets forms listing its fields in the order the config defines them."""
    document = form_of(tenant, f"lead/{purpose}")
    assert document["uiSchema"]["ui:order"] == list(crm()["entities"]["lead"]["fields"])
    assert list(document["schema"]["properties"]) == list(crm()["entities"]["lead"]["fields"])


def test_document_without_an_id_holds_the_defaults(tenant: Any) -> None:
    """Without `?id=` formData holds the defaults of the fields on the form, as the schema does."""
    document = form_of(tenant, "lead/create")
    assert document["formData"] == {"status": "new"}
    assert document["schema"]["properties"]["status"]["default"] == "new"


# -- ?id= ----------------------------------------------------------------------------------------------------------

def test_form_data_of_another_reps_record_is_masked(sales: Any) -> None:
    """rep2 (pii own) gets rep1's contact with the phone masked and read-only; the number appears nowhere."""
    record_id = sales.contact["id"]
    response = sales.call("GET", f"/api/v1/forms/contact/edit?id={record_id}", "rep2",
                          headers={"Accept-Language": "en"})
    assert response.status_code == 200
    document = response.get_json()
    assert document["formData"]["phone"] == MASKED_PHONE
    assert document["formData"]["name"] == "Li Lei"
    assert document["schema"]["properties"]["phone"] == {"title": "Mobile phone", "type": "string", "readOnly": True}
    assert document["uiSchema"]["phone"]["ui:options"]["masked"] is True
    assert "phone" not in document["conditions"]["facts"]
    assert PHONE.encode() not in response.data
    assert "birthday" not in document["formData"]  # hidden for sales reps


@pytest.mark.parametrize("user", ["rep1", "boss", "admin"])
def test_form_data_unmasked_for_roles_that_see_pii(sales: Any, user: str) -> None:
    """The owner (pii own), a manager (pii all) and an admin get the real phone, writable."""
    document = form_of(sales, f"contact/edit?id={sales.contact['id']}", user)
    assert document["formData"]["phone"] == PHONE
    assert "readOnly" not in document["schema"]["properties"]["phone"]
    assert ("birthday" in document["formData"]) is (user != "rep1")


def test_form_data_follows_the_form(sales: Any) -> None:
    """formData holds only the form's fields the role sees; the view form shows the same values."""
    view = form_of(sales, f"contact/view?id={sales.contact['id']}", "rep1")
    assert view["formData"] == {"name": "Li Lei", "customer": sales.customer["id"], "title": "CTO", "phone": PHONE,
                                "is_decision_maker": False}


@pytest.mark.parametrize(("user", "record"), [("far", "contact"), ("rep1", "ghost")])
def test_form_data_of_a_record_out_of_reach_is_404(sales: Any, user: str, record: str) -> None:
    """A record outside the role's scope, or none, answers 404."""
    record_id = sales.contact["id"] if record == "contact" else "0" * 26
    assert sales.call("GET", f"/api/v1/forms/contact/edit?id={record_id}", user).status_code == 404


# -- create through a form ----------------------------------------------------------------------------------------

def lead(**values: Any) -> dict[str, Any]:
    return {"name": "Wang", "company": "Wang Co", **values}


@pytest.mark.parametrize(("user", "body", "expected"), [
    pytest.param("rep1", lead(phone="13900000001"), [], id="ok"),
    pytest.param("rep1", lead(email="w@example.com"), [], id="ok-email-instead-of-phone"),
    pytest.param("rep1", {}, [("/name", "required"), ("/company", "required"), ("/email", "required")],
                 id="required-and-required_if"),
    pytest.param("rep1", lead(phone="13900000001", status="qualified"), [("/status", "not_on_form")],
                 id="not-on-the-create-form"),
    pytest.param("rep1", lead(phone="13900000001", grade="A"), [("/grade", "not_on_form")], id="computed-not-on-form"),
    pytest.param("rep1", lead(phone="13900000001", timing="within_3_months"), [("/expected_purchase_date", "required")],
                 id="visible-and-required_if"),
    pytest.param("rep1", lead(phone="x"), [("/phone", "pattern")], id="then-the-entity-schema"),
])
def test_create_through_the_lead_form(sales: Any, user: str, body: dict[str, Any],
                                      expected: list[tuple[str, str]]) -> None:
    """`POST ?form=create` answers 201, or 422 with every error's pointer and code."""
    response = sales.call("POST", "/api/v1/records/lead?form=create", user, json=body)
    if not expected:
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["data"]["name"] == "Wang"
    else:
        assert response.status_code == 422
        assert problem(response)["code"] == "invalid_record"
        assert errors(response) == expected


def test_form_errors_in_the_requests_language(sales: Any) -> None:
    """Form errors are worded in the language of Accept-Language."""
    response = sales.call("POST", "/api/v1/records/lead?form=create", "rep1", json={"company": "c", "ghost": 1},
                          headers={"Accept-Language": "zh"})
    messages = {e["pointer"]: e["message"] for e in problem(response)["errors"]}
    assert messages["/name"] == "为必填项"
    assert "'ghost'" in messages["/ghost"]


def test_hidden_value_is_not_stored(sales: Any) -> None:
    """Values of fields hidden by `visible_if` are dropped: the record is stored without them."""
    body = {"name": "Han", "customer": sales.customer["id"], "notes": "hidden", "is_decision_maker": False}
    response = sales.call("POST", "/api/v1/records/contact?form=create", "rep1", json=body)
    assert response.status_code == 201, response.get_json()
    stored = sales.call("GET", f"/api/v1/records/contact/{response.get_json()['id']}", "rep1").get_json()
    assert stored["data"] == {"name": "Han", "customer": sales.customer["id"], "is_decision_maker": False}
    body = lead(phone="13900000002", timing="later", expected_purchase_date="2026-12-01")
    created = sales.call("POST", "/api/v1/records/lead?form=create", "rep1", json=body).get_json()
    assert "expected_purchase_date" not in created["data"]


def test_shown_value_is_stored(sales: Any) -> None:
    """A field shown by its `visible_if` keeps its value."""
    body = {"name": "Han", "customer": sales.customer["id"], "notes": "kept", "is_decision_maker": True,
            "department": "IT"}
    created = sales.call("POST", "/api/v1/records/contact?form=create", "rep1", json=body).get_json()
    assert created["data"]["notes"] == "kept"


@pytest.mark.parametrize(("user", "discount", "status", "expected"), [
    ("rep1", 10, 422, [("/discount_percent", "readonly_field")]),
    ("boss", 10, 201, []),
    ("rep1", None, 201, []),
])
def test_readonly_for_the_role_is_refused(sales: Any, user: str, discount: Any, status: int,
                                          expected: list[tuple[str, str]]) -> None:
    """A field read-only for the role cannot be set through the create form; other roles may set it."""
    body = {"name": "Deal", "customer": sales.customer["id"], "amount": {"amount": 1000, "currency": "CNY"},
            "expected_close_date": "2099-01-01"}
    if discount is not None:
        body["discount_percent"] = discount
    response = sales.call("POST", "/api/v1/records/opportunity?form=create", user, json=body)
    assert response.status_code == status, response.get_json()
    if expected:
        assert errors(response) == expected


def test_hidden_for_the_role_is_not_on_form(sales: Any) -> None:
    """A field hidden for the role is refused as `not_on_form`; a role that sees it may send it."""
    body = {"name": "Ma", "customer": sales.customer["id"], "birthday": "1991-01-01"}
    response = sales.call("POST", "/api/v1/records/contact?form=create", "rep1", json=body)
    assert errors(response) == [("/birthday", "not_on_form")]
    assert sales.call("POST", "/api/v1/records/contact?form=create", "boss", json=body).status_code == 201


@pytest.mark.parametrize(("method", "form", "status", "code"), [
    ("POST", "edit", 400, "form_purpose"), ("POST", "view", 400, "form_purpose"),
    ("POST", "ghost", 404, "unknown_form"), ("PATCH", "create", 400, "form_purpose"),
    ("PATCH", "view", 400, "form_purpose"), ("PATCH", "ghost", 404, "unknown_form"),
])
def test_submitting_to_the_wrong_form(sales: Any, method: str, form: str, status: int, code: str) -> None:
    """A create form cannot edit, an edit or view form cannot create, and an unknown form is 404."""
    path = "/api/v1/records/contact" + (f"/{sales.contact['id']}" if method == "PATCH" else "")
    body = {"name": "X", "version": 1} if method == "PATCH" else {"name": "X", "customer": sales.customer["id"]}
    response = sales.call(method, f"{path}?form={form}", "rep1", json=body)
    assert response.status_code == status
    assert [c for _, c in errors(response)] == [code]


def test_submitting_without_permission_is_403(tenant: Any) -> None:
    """A role without create permission cannot create through a form."""
    response = tenant.call("POST", "/api/v1/records/lead?form=create", "viewer", json={"name": "x"})
    assert response.status_code == 403


# -- edit through a form ------------------------------------------------------------------------------------------

def patch(tenant: Any, record: dict[str, Any], body: dict[str, Any], user: str = "rep1",
          entity: str = "contact") -> Any:
    return tenant.call("PATCH", f"/api/v1/records/{entity}/{record['id']}?form=edit", user, json=body)


def test_edit_through_the_form(sales: Any) -> None:
    """`PATCH ?form=edit` changes the record and bumps its version."""
    response = patch(sales, sales.contact, {"version": 1, "title": "CEO", "phone": PHONE})
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["version"], response.get_json()["data"]["title"]) == (2, "CEO")


def test_edit_with_a_stale_version_is_409(sales: Any) -> None:
    """An edit of a version that is no longer current answers 409 `stale_version` and changes nothing."""
    assert patch(sales, sales.contact, {"version": 1, "title": "CEO"}).status_code == 200
    response = patch(sales, sales.contact, {"version": 1, "title": "CFO"})
    assert response.status_code == 409
    assert errors(response) == [("/version", "stale_version")]
    stored = sales.call("GET", f"/api/v1/records/contact/{sales.contact['id']}", "rep1").get_json()
    assert (stored["version"], stored["data"]["title"]) == (2, "CEO")


def test_edit_without_a_version_is_428(sales: Any) -> None:
    """An edit through a form needs the version it edited."""
    assert patch(sales, sales.contact, {"title": "CEO"}).status_code == 428


@pytest.mark.parametrize(("user", "body", "status", "expected", "phone"), [
    pytest.param("rep2", {"phone": MASKED_PHONE, "title": "VP"}, 200, [], PHONE, id="masked-sent-back"),
    pytest.param("rep2", {"phone": "13900000000"}, 422, [("/phone", "readonly_field")], PHONE, id="masked-changed"),
    pytest.param("rep2", {"phone": None}, 422, [("/phone", "readonly_field")], PHONE, id="masked-removed"),
    pytest.param("rep1", {"phone": "13900000000"}, 200, [], "13900000000", id="owner-changes-phone"),
    pytest.param("rep1", {"birthday": "1990-05-01"}, 422, [("/birthday", "not_on_form")], PHONE,
                 id="hidden-for-reps"),
    pytest.param("boss", {"birthday": "1990-06-01"}, 200, [], PHONE, id="manager-sees-birthday"),
    pytest.param("rep1", {"ghost": 1}, 422, [("/ghost", "not_on_form")], PHONE, id="unknown-key"),
    pytest.param("rep1", {"name": None}, 422, [("/name", "required")], PHONE, id="required-removed"),
])
def test_edit_contact(sales: Any, user: str, body: dict[str, Any], status: int, expected: list[tuple[str, str]],
                      phone: str) -> None:
    """Masked pii can only be sent back unchanged; hidden and unknown fields are refused; required stays required."""
    response = patch(sales, sales.contact, {"version": 1, **body}, user)
    assert response.status_code == status, response.get_json()
    if expected:
        assert errors(response) == expected
    stored = sales.call("GET", f"/api/v1/records/contact/{sales.contact['id']}", "boss").get_json()
    assert (stored["version"], stored["data"]["phone"]) == (2 if status == 200 else 1, phone)


def test_edit_refuses_a_change_to_a_readonly_field(sales: Any) -> None:
    """A sales rep cannot change a lead's status (read-only for reps) nor its grade (computed); unchanged is fine."""
    created = sales.create("lead", lead(phone="13900000003"), "rep1")
    for body, expected in (({"status": "qualified"}, [("/status", "readonly_field")]),
                           ({"grade": "A"}, [("/grade", "readonly_field")])):
        response = patch(sales, created, {"version": 1, **body}, entity="lead")
        assert response.status_code == 422
        assert errors(response) == expected
    response = patch(sales, created, {"version": 1, "status": created["data"]["status"], "title": "CIO"}, entity="lead")
    assert response.status_code == 200, response.get_json()
    response = patch(sales, created, {"version": 2, "status": "qualified"}, "boss", entity="lead")
    assert response.status_code == 200, response.get_json()


def test_edit_drops_a_value_hidden_by_the_submission(sales: Any) -> None:
    """A value sent for a field the submission itself hides is dropped; the stored value stays."""
    created = sales.create("lead", lead(phone="13900000004", timing="within_6_months",
                                        expected_purchase_date="2026-09-01"), "rep1")
    response = patch(sales, created, {"version": 1, "timing": "later", "expected_purchase_date": "2026-10-01"},
                     entity="lead")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["expected_purchase_date"] == "2026-09-01"


@pytest.mark.parametrize("sent", ["2026-03-10T12:00:00.000Z", "2026-03-10T12:00:00Z", "2026-03-10T20:00:00+08:00"])
def test_edit_accepts_a_readonly_datetime_sent_back_unchanged(sales: Any, sent: str) -> None:
    """A read-only date-time sent back as the same moment (as stored, as first sent, or at +08:00) is unchanged."""
    activity = sales.create("activity", {"subject": "Visit", "type": "visit", "happened_at": "2026-03-10T12:00:00Z",
                                         "next_follow_up": "2026-03-20"}, "rep1")
    assert activity["data"]["happened_at"] == "2026-03-10T12:00:00.000Z"
    response = patch(sales, activity, {"version": 1, "happened_at": sent, "outcome": "Good"}, entity="activity")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["happened_at"] == "2026-03-10T12:00:00.000Z"


# -- small configs ------------------------------------------------------------------------------------------------

def small_config() -> dict[str, Any]:
    """CRM leads whose create form holds name, vip, a conditional budget and a form-required email."""
    document = crm()
    document["forms"] = {"lead": {"create": {"label": label("Quick lead", "快速线索"), "sections": [{"fields": [
        "name", "vip", {"field": "budget", "visible_if": {"vip": True}, "required_if": {"vip": True}},
        {"field": "email", "required": True, "hidden_for": ["viewer"]},
        {"field": "notes", "readonly_if": {"vip": True}}]}]}}}
    return document


@pytest.mark.parametrize(("body", "status", "expected"), [
    ({"name": "a", "email": "a@example.com"}, 201, []),
    ({"name": "a"}, 422, [("/email", "required")]),
    ({"name": "a", "email": "a@example.com", "vip": True}, 422, [("/budget", "required")]),
    ({"name": "a", "email": "a@example.com", "vip": True, "budget": {"amount": 5, "currency": "USD"}}, 201, []),
    ({"name": "a", "email": "a@example.com", "vip": True, "notes": "n",
      "budget": {"amount": 5, "currency": "USD"}}, 422, [("/notes", "readonly_field")]),
    ({"name": "a", "email": "a@example.com", "score": 1}, 422, [("/score", "not_on_form")]),
])
def test_small_config_create_form(make_tenant: Any, body: dict[str, Any], status: int,
                                  expected: list[tuple[str, str]]) -> None:
    """A configured create form decides what is required, read-only and allowed."""
    tenant = make_tenant(small_config())
    response = tenant.call("POST", "/api/v1/records/lead?form=create", "rep1", json=body)
    assert response.status_code == status, response.get_json()
    if expected:
        assert errors(response) == expected


def test_without_a_form_the_records_api_is_unchanged(make_tenant: Any) -> None:
    """Without `?form=` a create is checked by the entity alone (no form-required email, any field)."""
    tenant = make_tenant(small_config())
    response = tenant.call("POST", "/api/v1/records/lead", "rep1", json={"name": "a", "score": 1})
    assert response.status_code == 201


def test_small_config_edit_falls_back_to_the_create_layout(make_tenant: Any) -> None:
    """Without an edit form, editing goes through the create form's fields (not the record's others)."""
    tenant = make_tenant(small_config())
    created = tenant.create("lead", {"name": "a", "email": "a@example.com", "score": 1}, "rep1")
    assert list(form_of(tenant, "lead/edit", "rep1")["schema"]["properties"]) == [
        "name", "vip", "budget", "email", "notes"]
    response = patch(tenant, created, {"version": 1, "score": 2}, entity="lead")
    assert errors(response) == [("/score", "not_on_form")]
    response = patch(tenant, created, {"version": 1, "name": "b"}, entity="lead")
    assert response.status_code == 200, response.get_json()
