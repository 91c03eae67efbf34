"""react-jsonschema-form (RJSF), from the npm registry, as a real client of the form endpoints.

RJSF 5 with its ajv8 validator, configured with Ajv2020 as a client of draft 2020-12 schemas would be
(tests/browser/rjsf/entry.js), runs in headless Chromium on the `{schema, uiSchema}` the API serves for
the template tenant. It must render every form with no error, and for a fixed table of submissions its
validator must give the server's verdict.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.browser.rjsf.bundle import BundleError, build_bundle

USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
         ("rep", "sales_rep", "boss", "east"))
ENTITIES = ("lead", "customer", "contact", "opportunity", "activity", "task")
PAGE = "<!doctype html><html><head><meta charset='utf-8'><title>rjsf</title></head><body></body></html>"


@pytest.fixture(scope="session")
def rjsf_bundle() -> Path:
    """react-jsonschema-form bundled by npm and esbuild, once per content of tests/browser/rjsf/."""
    try:
        return build_bundle()
    except BundleError as error:  # never a skip: a missing client would hide every disagreement
        pytest.fail(f"could not bundle react-jsonschema-form:\n{error}", pytrace=False)


@pytest.fixture(scope="session")
def template_document() -> dict[str, Any]:
    return load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document


@pytest.fixture
def template_tenant(make_tenant: Any, template_document: dict[str, Any]) -> Any:
    return make_tenant(copy.deepcopy(template_document), USERS)


class RJSF:
    """The bundle loaded in a page; each call hands JSON in and out of `window.RJSFHarness`."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.page_errors: list[str] = []  # as Chromium reports them, besides what the harness catches
        page.on("pageerror", lambda error: self.page_errors.append(f"uncaught: {error}"))
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.page_errors.append(f"console {message.type}: {message.text}")

    def _call(self, function: str, *args: Any) -> dict[str, Any]:
        seen = len(self.page_errors)
        result: dict[str, Any] = self.page.evaluate(f"(args) => window.RJSFHarness.{function}(...args)", list(args))
        result["pageErrors"] = self.page_errors[seen:]
        return result

    def render(self, schema: dict[str, Any], ui_schema: dict[str, Any], form_data: Any = None) -> dict[str, Any]:
        """Render the form: what React, the console and the page reported, the `ui:order` fields missing
        from the page, and the verdict of the form's own `validateForm()` (defaults filled in, as on submit)."""
        return self._call("render", schema, ui_schema, form_data)

    def errors(self, schema: dict[str, Any], ui_schema: dict[str, Any], data: Any) -> list[dict[str, Any]]:
        """RJSF's validator's errors for `data`, as `validator.validateFormData` reports them."""
        result = self._call("validate", schema, ui_schema, data)
        logged = result["consoleErrors"] + result["consoleWarnings"] + result["pageErrors"]
        assert logged == [], f"validating logged {logged}"
        errors: list[dict[str, Any]] = result["errors"]
        return errors


@pytest.fixture(scope="module")
def rjsf(browser: Any, rjsf_bundle: Path) -> Iterator[RJSF]:
    """One page holding the bundle for the module: a new page per test would cost more than the tests."""
    context = browser.new_context()
    try:
        page = context.new_page()
        client = RJSF(page)
        page.set_content(PAGE)
        page.add_script_tag(path=str(rjsf_bundle))
        assert page.evaluate("typeof window.RJSFHarness") == "object", client.page_errors
        yield client
    finally:
        context.close()


def get_json(tenant: Any, path: str, user: str, locale: str = "en") -> Any:
    response = tenant.call("GET", path, user, headers={"Accept-Language": locale})
    assert response.status_code == 200, (path, response.get_json())
    return response.get_json()


# --- records and submissions -------------------------------------------------------------------------

CUSTOMER, CONTACT = "{customer}", "{contact}"  # replaced by the ids of records created for the case


def fill(value: Any, ids: dict[str, str]) -> Any:
    """`value` with the placeholders replaced by record ids."""
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if value in (CUSTOMER, CONTACT):
        return ids[value.strip("{}")]
    return value


CNY = "CNY"
FULL: dict[str, dict[str, Any]] = {
    "customer": {
        "name": "Acme Robotics Co., Ltd.", "short_name": "Acme", "industry": "manufacturing", "level": "A",
        "region": {"province": "310000", "city": "310100"}, "address": "1 Century Ave", "website": "https://acme.example.com/about",
        "employees": 250, "annual_revenue": {"amount": 12000000.5, "currency": CNY}, "potential": "high",
        "tax_id": "91310115MA1H7GQR3K", "notes": "Met at the Shanghai fair.",
    },
    "lead": {
        "name": "Wang Wei", "company": "Acme Robotics", "title": "CTO", "phone": "13812345678",
        "email": "wang.wei@example.com", "source": "exhibition", "industry": "manufacturing",
        "region": {"province": "440000", "city": "440300"}, "budget": {"amount": 500000, "currency": CNY},
        "authority": "decision_maker", "need": "clear", "timing": "within_6_months",
        "expected_purchase_date": "2027-03-31", "notes": "Wants a demo.",
    },
    "contact": {
        "name": "Li Na", "customer": CUSTOMER, "title": "Purchasing manager", "department": "Procurement",
        "is_decision_maker": True, "phone": "+8613912345678", "email": "li.na@example.com", "wechat": "lina_88",
        "birthday": "1988-02-29", "notes": "Prefers WeChat.",
    },
    "opportunity": {
        "name": "Acme line 2 automation", "customer": CUSTOMER, "contact": CONTACT, "source": "referral",
        "amount": {"amount": 1250000, "currency": CNY}, "expected_close_date": "2027-06-30",
        "product_lines": ["software", "services"], "discount_percent": 12.5, "discount_reason": "Volume",
        "competitors": "Initech", "next_step": "Send the quote", "description": "Two production lines.",
    },
    "activity": {
        "subject": "Kick-off call", "type": "call", "happened_at": "2026-03-01T10:00:00+08:00", "duration_minutes": 45,
        "related_customer": CUSTOMER, "contact": CONTACT, "outcome": "Agreed on scope.", "next_follow_up": "2026-03-08",
    },
    "task": {"title": "Send the quote", "status": "open", "due_date": "2026-03-05", "customer": CUSTOMER,
             "notes": "Include the discount."},
}

LEAD = {"name": "Zhang San", "company": "Initech", "phone": "13812345678"}  # its phone spares the email
OPPORTUNITY = {"name": "Initech CRM", "customer": CUSTOMER, "amount": {"amount": 1000, "currency": CNY},
               "expected_close_date": "2027-01-31"}
ACTIVITY = {"subject": "Call", "type": "call", "happened_at": "2026-03-01T10:00:00Z"}  # a call shows its duration
TASK = {"title": "Call back", "due_date": "2026-03-05"}  # a due date, so that an open task needs no more
REVENUE = {"amount": 1000, "currency": CNY}  # tax_id is on the form only with annual_revenue

# (id, entity, user, submitted through the create form, valid)
CASES: list[tuple[str, str, str, dict[str, Any], bool]] = [
    ("customer-good-minimal", "customer", "admin", {"name": "Initech"}, True),
    ("customer-good-full", "customer", "admin", FULL["customer"], True),
    # JSON Schema counts 250.0 an integer; so do ajv and the server
    ("customer-good-integral-float-employees", "customer", "admin", {"name": "Initech", "employees": 250.0}, True),
    ("customer-missing-name", "customer", "admin", {"short_name": "Initech"}, False),
    ("customer-empty-name", "customer", "admin", {"name": ""}, False),
    ("customer-name-too-long", "customer", "admin", {"name": "x" * 201}, False),
    ("customer-employees-wrong-type", "customer", "admin", {"name": "Initech", "employees": "many"}, False),
    ("customer-employees-fraction", "customer", "admin", {"name": "Initech", "employees": 12.5}, False),
    ("customer-employees-below-min", "customer", "admin", {"name": "Initech", "employees": -1}, False),
    ("customer-bad-enum-industry", "customer", "admin", {"name": "Initech", "industry": "mining"}, False),
    ("customer-money-missing-currency", "customer", "admin", {"name": "Initech", "annual_revenue": {"amount": 100}}, False),
    ("customer-money-unknown-currency", "customer", "admin",
     {"name": "Initech", "annual_revenue": {"amount": 100, "currency": "USD"}}, False),
    ("customer-money-negative", "customer", "admin",
     {"name": "Initech", "annual_revenue": {"amount": -5, "currency": CNY}}, False),
    ("customer-money-amount-as-string", "customer", "admin",
     {"name": "Initech", "annual_revenue": {"amount": "100", "currency": CNY}}, False),
    ("customer-money-above-max", "customer", "admin",
     {"name": "Initech", "annual_revenue": {"amount": 10**16, "currency": CNY}}, False),
    ("customer-money-extra-key", "customer", "admin",
     {"name": "Initech", "annual_revenue": {"amount": 1, "currency": CNY, "note": "approx."}}, False),
    ("customer-region-province-only", "customer", "admin", {"name": "Initech", "region": {"province": "110000"}}, True),
    ("customer-region-city-of-another-province", "customer", "admin",
     {"name": "Initech", "region": {"province": "310000", "city": "110100"}}, False),
    ("customer-region-city-where-none-listed", "customer", "admin",
     {"name": "Initech", "region": {"province": "810000", "city": "810100"}}, False),
    ("customer-region-without-province", "customer", "admin", {"name": "Initech", "region": {"city": "310100"}}, False),
    ("customer-bad-pattern-tax-id", "customer", "admin",
     {"name": "Initech", "annual_revenue": REVENUE, "tax_id": "91310115MA1H7GQR3"}, False),
    # a tenant's own pattern: JavaScript's `$` does not match before a final newline, Python's does
    ("customer-tax-id-with-trailing-newline", "customer", "admin",
     {"name": "Initech", "annual_revenue": REVENUE, "tax_id": "91310115MA1H7GQR3K\n"}, False),
    ("customer-bad-url", "customer", "admin", {"name": "Initech", "website": "acme.example.com"}, False),
    # `format: uri` (RFC 3986) refuses "|", which the URL pattern lets through
    ("customer-website-not-a-uri", "customer", "admin", {"name": "Initech", "website": "https://acme.example.com/a|b"}, False),
    ("customer-unknown-property", "customer", "admin", {"name": "Initech", "colour": "red"}, False),
    ("customer-field-not-on-the-reps-form", "customer", "rep", {"name": "Initech", "level": "A"}, False),
    ("lead-good-minimal", "lead", "admin", LEAD, True),
    ("lead-good-full", "lead", "admin", FULL["lead"], True),
    ("lead-good-international-phone", "lead", "rep", {**LEAD, "phone": "+442071234567"}, True),
    ("lead-bad-pattern-phone", "lead", "admin", {**LEAD, "phone": "12345"}, False),
    ("lead-phone-with-trailing-newline", "lead", "admin", {**LEAD, "phone": "13812345678\n"}, False),
    ("lead-bad-email", "lead", "admin", {**LEAD, "email": "wang.example.com"}, False),
    # `format: email` (RFC 5321) refuses "..", which the email pattern lets through
    ("lead-email-with-consecutive-dots", "lead", "admin", {**LEAD, "email": "wang..wei@example.com"}, False),
    ("lead-bad-enum-source", "lead", "rep", {**LEAD, "source": "billboard"}, False),
    ("contact-good-full", "contact", "admin", FULL["contact"], True),
    ("contact-boolean-as-string", "contact", "admin",
     {"name": "Li Na", "customer": CUSTOMER, "is_decision_maker": "yes"}, False),
    ("contact-bad-date-month", "contact", "admin", {"name": "Li Na", "customer": CUSTOMER, "birthday": "1990-13-01"}, False),
    ("contact-missing-customer", "contact", "admin", {"name": "Li Na"}, False),
    ("opportunity-good-minimal", "opportunity", "admin", OPPORTUNITY, True),
    ("opportunity-good-full", "opportunity", "admin", FULL["opportunity"], True),
    ("opportunity-bad-date-format", "opportunity", "admin", {**OPPORTUNITY, "expected_close_date": "2027/01/31"}, False),
    ("opportunity-impossible-date", "opportunity", "admin", {**OPPORTUNITY, "expected_close_date": "2027-02-30"}, False),
    ("opportunity-reference-not-an-id", "opportunity", "admin", {**OPPORTUNITY, "customer": "acme"}, False),
    ("opportunity-missing-amount", "opportunity", "admin", {k: v for k, v in OPPORTUNITY.items() if k != "amount"}, False),
    ("opportunity-discount-above-max", "opportunity", "admin",
     {**OPPORTUNITY, "discount_percent": 150, "discount_reason": "Typo"}, False),
    ("opportunity-money-extra-key", "opportunity", "admin",
     {**OPPORTUNITY, "amount": {"amount": 1000, "currency": CNY, "tax_included": True}}, False),
    ("opportunity-duplicate-product-lines", "opportunity", "admin",
     {**OPPORTUNITY, "product_lines": ["software", "software"]}, False),
    ("opportunity-unknown-product-line", "opportunity", "admin", {**OPPORTUNITY, "product_lines": ["cloud"]}, False),
    ("activity-good-minimal", "activity", "admin", ACTIVITY, True),
    ("activity-good-full", "activity", "admin", FULL["activity"], True),
    # Date-times that RJSF 5's ajv-formats 2.x takes as `date-time` (ajv-validator/ajv-formats#54) and RFC 3339
    # refuses: the schema's `pattern` makes both refuse them.
    *[(f"activity-date-time-{name}", "activity", "admin", {**ACTIVITY, "happened_at": text}, False)
      for name, text in [("without-zone", "2026-03-01T10:00:00"), ("with-space", "2026-03-01 10:00:00Z"),
                         ("offset-without-colon", "2026-03-01T10:00:00+0800"), ("offset-hours-only", "2026-03-01T10:00:00+08"),
                         ("offset-out-of-range", "2026-03-01T10:00:00+24:00"), ("leap-second", "2016-12-31T23:59:60Z")]],
    ("activity-date-time-with-fraction", "activity", "admin", {**ACTIVITY, "happened_at": "2026-03-01T10:00:00.250Z"}, True),
    ("activity-date-time-with-offset", "activity", "admin", {**ACTIVITY, "happened_at": "2026-03-01T10:00:00+08:00"}, True),
    ("activity-date-as-date-time", "activity", "admin", {**ACTIVITY, "happened_at": "2026-03-01"}, False),
    ("activity-duration-fraction", "activity", "admin", {**ACTIVITY, "duration_minutes": 12.5}, False),
    ("activity-duration-above-max", "activity", "admin", {**ACTIVITY, "duration_minutes": 1441}, False),
    ("activity-bad-enum-type", "activity", "admin", {**ACTIVITY, "type": "fax"}, False),
    ("task-good", "task", "rep", TASK, True),
    ("task-good-done", "task", "admin", {**TASK, "status": "done"}, True),
    ("task-bad-enum-status", "task", "admin", {**TASK, "status": "closed"}, False),
    ("task-title-wrong-type", "task", "admin", {**TASK, "title": 42}, False),
]


# --- every form renders ------------------------------------------------------------------------------

def stored_records(tenant: Any) -> dict[str, str]:
    """One full record of each entity, owned by the manager: the rep sees them with pii masked."""
    ids: dict[str, str] = {}
    for entity in ("customer", "lead", "contact", "opportunity", "activity", "task"):
        ids[entity] = tenant.create(entity, fill(FULL[entity], ids), "boss")["id"]
    return ids


def render_problems(result: dict[str, Any]) -> list[str]:
    """What went wrong while RJSF rendered a form, each message cut to its first line."""
    found = ([f"React error: {e}" for e in result["reactErrors"]]
             + [f"console error: {e}" for e in result["consoleErrors"]]
             + [f"console warning: {e}" for e in result["consoleWarnings"]]
             + [f"Chromium: {e}" for e in result["pageErrors"]]
             + [f"ui:order field not on the page: {key}" for key in result["missing"]])
    if result["reactErrors"]:  # the form did not render: what follows from that is noise
        found = [f"React error: {e}" for e in result["reactErrors"]]
    return list(dict.fromkeys(line.splitlines()[0] for line in found))


@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize("user", ["admin", "rep"])
def test_rjsf_renders_every_form(rjsf: RJSF, template_tenant: Any, user: str, locale: str) -> None:
    """Every form the user may open renders in RJSF, blank and filled with a stored record, with no React
    error, console error or warning, and with every `ui:order` field on the page; a stored record is
    valid in RJSF against its edit and view forms."""
    ids = stored_records(template_tenant)
    items = get_json(template_tenant, "/api/v1/forms", user, locale)["items"]
    assert {item["entity"] for item in items} == set(ENTITIES)
    problems: dict[str, list[str]] = {}
    for item in items:
        path = f"/api/v1/forms/{item['entity']}/{item['purpose']}"
        opened = [path] if item["purpose"] == "create" else [path, f"{path}?id={ids[item['entity']]}"]
        for where in opened:
            document = get_json(template_tenant, where, user, locale)
            result = rjsf.render(document["schema"], document["uiSchema"], document.get("formData"))
            found = render_problems(result)
            if "?id=" in where and not result["reactErrors"] and result["valid"] is not True:
                found.append(f"the stored record is invalid in RJSF: {result['errors']}")
            if found:
                problems[where] = found
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)


# --- RJSF's verdict is the server's -------------------------------------------------------------------

VERDICT = {True: "accepts", False: "refuses", None: "cannot judge"}


def fields_of(pointer: str) -> str:
    """The top-level field a JSON pointer or an RJSF property path is about."""
    return pointer.lstrip("/.").replace(".", "/").split("/")[0]


def rjsf_fields(errors: list[dict[str, Any]]) -> set[str]:
    """The top-level fields RJSF's errors are about (an unknown property's error is its object's)."""
    found = set()
    for error in errors:
        extra = (error.get("params") or {}).get("additionalProperty")
        found.add(fields_of(error["property"] or "") or extra or "")
    return found


@pytest.mark.parametrize(("entity", "user", "data", "valid"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_rjsf_gives_the_servers_verdict(rjsf: RJSF, template_tenant: Any, entity: str, user: str,
                                        data: dict[str, Any], valid: bool) -> None:
    """RJSF's validator and the server (201 or 422) agree on a submission through a create form, and so does
    the rendered form's own `validateForm()`.

    The cases leave out what RJSF cannot know: the form's `conditions` (`visible_if`, `required_if` and
    `readonly_if` are platform extensions RJSF does not evaluate; each case holds what keeps them from
    deciding its verdict: a lead's phone, a task's due date, a call's duration, revenue beside a tax id),
    readOnly fields (RJSF accepts any valid value in them, the server refuses a changed one), and what no
    schema can say (that a referenced record exists, uniqueness): references point at real records.
    """
    tenant = template_tenant
    ids = {"customer": tenant.create("customer", {"name": "Existing customer"}, "admin")["id"]}
    ids["contact"] = tenant.create("contact", {"name": "Existing contact", "customer": ids["customer"]}, "admin")["id"]
    submitted = fill(data, ids)
    document = get_json(tenant, f"/api/v1/forms/{entity}/create", user)
    schema, ui_schema = document["schema"], document["uiSchema"]

    errors = rjsf.errors(schema, ui_schema, submitted)
    rendered = rjsf.render(schema, ui_schema, submitted)
    response = tenant.call("POST", f"/api/v1/records/{entity}?form=create", user, json=submitted)
    assert response.status_code in (201, 422), response.get_json()
    server_valid = response.status_code == 201
    server_errors = [] if server_valid else response.get_json()["errors"]
    report = json.dumps({"server": server_errors, "rjsf": [f"{e['property']}: {e['stack']}" for e in errors],
                         "rendered form": [f"{e['property']}: {e['stack']}" for e in rendered["errors"]]},
                        indent=1, ensure_ascii=False)

    assert server_valid is valid, f"the server {VERDICT[server_valid]} it\n{report}"
    assert (not errors) is valid, f"RJSF's validator {VERDICT[not errors]} it\n{report}"
    if render_problems(rendered):  # a form that fails blank too is test_rjsf_renders_every_form's to report
        assert render_problems(rjsf.render(schema, ui_schema)), f"the submission breaks the form: {render_problems(rendered)}"
    else:
        assert rendered["valid"] is valid, f"the rendered form's validateForm() {VERDICT[rendered['valid']]} it\n{report}"
    if not valid:
        assert {fields_of(e["pointer"]) for e in server_errors} == rjsf_fields(errors), f"they fault other fields\n{report}"
