"""The web conversion dialog (`/web/<entity>/<id>/convert/<key>`) and what conversion shows elsewhere: the
lineage section and lock of an edit page, the form checks of conversion overrides, and stage moves of a
converted lead.

Pages are posted the way a browser posts them without JavaScript: every enabled input of the rendered
dialog, with the user's changes laid over it (`form_pairs` of tests/web/test_pages.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from lowcode_platform.records.conversions import ConversionService
from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.configs import label
from tests.conversion.test_definitions import conversion_config
from tests.conversion.test_templates import LEADS
from tests.web.test_pages import csrf_of, form_pairs
from tests.web.test_stage_pages import pipeline_config

# sales_rep scope is team: rep2 sees rep1's records, westrep (team west) does not
USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
         ("rep1", "sales_rep", "boss", "east"), ("rep2", "sales_rep", "boss", "east"),
         ("westrep", "sales_rep", None, "west"))
LEAD = {"name": "Wang Wei", "company": "Acme Robotics Ltd", "phone": "13812345678", "industry": "manufacturing",
        "budget": {"amount": 800000, "currency": "CNY"}, "expected_purchase_date": "2027-03-31",
        "source": "exhibition"}
KEY = "lead_to_customer"
SCRIPT = "<script>alert(1)</script>"
NOT_SEEN = "a record you may not see"


def b2b() -> dict[str, Any]:
    return load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document


def crm_conversion(on_match: str = "link", customer_scope: str = "team") -> dict[str, Any]:
    """The CRM test config's `qualify` conversion (customer, contact, optional deal) for reps in a team,
    with customer names that need not be unique (so that "create new" can create one beside a match)."""
    document = conversion_config()
    permissions = document["roles"]["rep"]["permissions"]
    for entity in ("contact", "deal", "customer"):
        permissions[entity] = {"create": True, "read": True, "update": True, "scope": "team"}
    permissions["customer"]["scope"] = customer_scope
    del document["entities"]["customer"]["fields"]["name"]["unique"]
    document["entities"]["contact"]["title_field"] = "name"
    document["conversions"]["qualify"]["targets"]["customer"]["dedupe"]["on_match"] = on_match
    return document


def dialog(entity_id: str, key: str = KEY, entity: str = "lead") -> str:
    return f"/web/{entity}/{entity_id}/convert/{key}"


def dialog_pairs(html: str) -> MultiDict[str, str]:
    """What a browser posts for the conversion form of a dialog page. (`form_pairs` reads a checked radio
    with `value=""` as "on", the value of a radio without one; a browser posts "", the "create new" choice.)"""
    pairs = form_pairs(html, lambda a: "convert-form" in (a.get("class") or ""))
    return MultiDict([(k, "" if k.startswith("link.") and v == "on" else v) for k, v in pairs.items(multi=True)])


def post_dialog(client: Any, path: str, changes: dict[str, Any] | None = None,
                drop: tuple[str, ...] = ()) -> Any:
    """GET the dialog, then post it with `changes` laid over its inputs and the names in `drop` left out."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    pairs = dialog_pairs(page.text)
    for name, value in (changes or {}).items():
        pairs.setlist(name, value if isinstance(value, list) else [value])
    for name in drop:
        pairs.poplist(name)
    return client.post(path, data=pairs)


def section(html: str, target: str) -> str:
    """The HTML of one target's section of the dialog."""
    match = re.search(rf'<section class="target card[^"]*" id="target-{target}".*?</section>', html, re.S)
    assert match, f"no section for {target}"
    return match.group(0)


def field_errors(html: str) -> dict[str, list[str]]:
    """The messages next to each target's fields: `<p class="error" id="err-t.<target>.<field>">`, by
    `<target>.<field>`."""
    found: dict[str, list[str]] = {}
    for key, message in re.findall(r'<p class="error" id="err-t\.([a-z0-9_]+\.[a-z0-9_]+)">([^<]*)</p>', html):
        found.setdefault(key, []).append(message)
    return found


def count(tenant: Any, entity: str) -> int:
    return len(tenant.call("GET", f"/api/v1/records/{entity}").get_json()["items"])


def lineage(tenant: Any, entity: str, record_id: str, user: str = "admin") -> dict[str, Any]:
    response = tenant.call("GET", f"/api/v1/records/{entity}/{record_id}/lineage", user)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def made(tenant: Any, lead_id: str) -> dict[str, dict[str, Any]]:
    """What the lead was converted into, by target: `{target: {"id", "action", "entity"}}`."""
    return {x["target"]: x for x in lineage(tenant, "lead", lead_id)["converted_into"]}


def record(tenant: Any, entity: str, record_id: str) -> dict[str, Any]:
    response = tenant.call("GET", f"/api/v1/records/{entity}/{record_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def b2b_tenant(make_tenant: Any) -> Any:
    return make_tenant(b2b(), USERS)


# -- the dialog --------------------------------------------------------------------------------------------------

def test_dialog_shows_each_target_prefilled_from_the_lead(make_tenant: Any, browser: Any) -> None:
    """Each target has its section with its create form, its inputs prefixed and prefilled by the mapping;
    the link fields the conversion sets and the fields hidden for the role are absent; only the optional
    opportunity has an include box, ticked."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    page = browser(tenant, "rep1").get(dialog(lead["id"]) + "?lang=en")
    assert page.status_code == 200
    assert re.findall(r'<section class="target card" id="target-([a-z]+)" data-lowcode-form\s+data-prefix="([^"]+)"',
                      page.text) == [("customer", "t.customer."), ("contact", "t.contact."),
                                     ("opportunity", "t.opportunity.")]
    pairs = dialog_pairs(page.text)
    assert pairs["t.customer.f.name"] == "Acme Robotics Ltd"
    assert pairs["t.customer.f.industry"] == "manufacturing"
    assert pairs["t.customer.f.notes"] == "Converted from lead Wang Wei (Acme Robotics Ltd)."
    assert (pairs["t.contact.f.name"], pairs["t.contact.f.phone"]) == ("Wang Wei", "13812345678")
    assert pairs["t.opportunity.f.name"] == "Acme Robotics Ltd: first project"
    assert (pairs["t.opportunity.f.amount.amount"], pairs["t.opportunity.f.amount.currency"]) == ("800000", "CNY")
    assert pairs["t.opportunity.f.expected_close_date"] == "2027-03-31"
    assert pairs["t.opportunity.f.source"] == "exhibition"
    assert pairs.getlist("include.opportunity") == ["1"]
    assert "include.customer" not in page.text and "include.contact" not in page.text
    for linked in ("t.contact.f.customer", "t.opportunity.f.customer", "t.opportunity.f.contact"):
        assert f'name="{linked}"' not in page.text, linked
    assert 'name="t.customer.f.level"' not in page.text  # hidden_for sales_rep on the customer create form
    assert 'id="f-t.customer.name"' in section(page.text, "customer")
    assert 'id="f-t.contact.name"' in section(page.text, "contact")
    for target in ("customer", "contact", "opportunity"):
        assert f'<script type="application/json" id="target-data-{target}">' in page.text
    assert csrf_of(page.text) == pairs["csrf_token"]


def test_an_adjusted_value_is_kept_and_untouched_values_follow_the_mapping(make_tenant: Any, browser: Any) -> None:
    """A changed customer name and contact title are stored; every other value of every target is the
    mapping's (as the API preview gives it); the targets are linked to each other; 303 to the lead's page."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    preview = tenant.call("GET", f"/api/v1/conversions/{KEY}/{lead['id']}", "rep1").get_json()["targets"]
    client = browser(tenant, "rep1")
    response = post_dialog(client, dialog(lead["id"]), {"t.customer.f.name": "Acme Robotics Group",
                                                        "t.contact.f.title": "CTO"})
    assert response.status_code == 303, field_errors(response.text)
    assert response.headers["Location"].endswith(f"/web/lead/{lead['id']}/edit")
    results = made(tenant, lead["id"])
    assert {k: v["action"] for k, v in results.items()} == {"customer": "created", "contact": "created",
                                                             "opportunity": "created"}
    customer = record(tenant, "customer", results["customer"]["id"])["data"]
    contact = record(tenant, "contact", results["contact"]["id"])["data"]
    opportunity = record(tenant, "opportunity", results["opportunity"]["id"])["data"]
    assert customer["name"] == "Acme Robotics Group" and contact["title"] == "CTO"
    for key, value in preview["customer"]["values"].items():
        if key != "name":
            assert customer[key] == value, key
    for key, value in preview["contact"]["values"].items():
        assert contact[key] == value, key
    for key, value in preview["opportunity"]["values"].items():
        assert opportunity[key] == value, key
    assert contact["customer"] == results["customer"]["id"]
    assert (opportunity["customer"], opportunity["contact"]) == (results["customer"]["id"], results["contact"]["id"])
    assert record(tenant, "lead", lead["id"])["data"]["status"] == "converted"


def test_only_changed_values_are_sent_as_overrides(make_tenant: Any, browser: Any, monkeypatch: Any) -> None:
    """Posting the dialog untouched but for one field sends that field alone as an override: the prefilled
    values (a money, a date, a template text, an unticked box over a mapped false) are not overrides."""
    sent: list[Any] = []
    real = ConversionService.convert

    def spy(self: Any, key: str, lead_id: str, body: Any) -> Any:
        sent.append(json.loads(json.dumps(body, default=str)))
        return real(self, key, lead_id, body)

    monkeypatch.setattr(ConversionService, "convert", spy)
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    response = post_dialog(browser(tenant, "rep1"), dialog(lead["id"]), {"t.contact.f.title": "CTO"})
    assert response.status_code == 303, field_errors(response.text)
    assert sent == [{"targets": {"customer": {}, "contact": {"title": "CTO"}, "opportunity": {}}}]


def test_the_optional_opportunity_can_be_skipped(make_tenant: Any, browser: Any) -> None:
    """Unticking the opportunity converts into a customer and a contact only; what its section holds, even
    an emptied required amount, does not matter."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    response = post_dialog(browser(tenant, "rep1"), dialog(lead["id"]), {"t.opportunity.f.amount.amount": ""},
                           drop=("include.opportunity",))
    assert response.status_code == 303, field_errors(response.text)
    assert set(made(tenant, lead["id"])) == {"customer", "contact"}
    assert (count(tenant, "customer"), count(tenant, "contact"), count(tenant, "opportunity")) == (1, 1, 0)


# -- dedupe matches ------------------------------------------------------------------------------------------------

def test_a_visible_match_is_offered_and_linked(make_tenant: Any, browser: Any) -> None:
    """A teammate's customer whose name equals the lead's company but for case and spaces is offered as a
    radio, chosen by default (on_match link); converting links it, fills only its empty fields, and the
    contact points at it."""
    tenant = b2b_tenant(make_tenant)
    existing = tenant.create("customer", {"name": "  ACME robotics LTD ", "address": "Old Street 1"}, "rep2")
    lead = tenant.create("lead", LEAD, "rep1")
    client = browser(tenant, "rep1")
    page = client.get(dialog(lead["id"]) + "?lang=en")
    customer = section(page.text, "customer")
    assert re.search(rf'<input type="radio" name="link.customer" value="{existing["id"]}" checked>', customer)
    assert '<input type="radio" name="link.customer" value="" >' in customer  # create new: offered, not chosen
    assert "<strong>  ACME robotics LTD </strong>" in customer
    assert f'href="/web/customer/{existing["id"]}/edit"' in customer
    assert "hidden-match" not in page.text
    response = post_dialog(client, dialog(lead["id"]))
    assert response.status_code == 303, field_errors(response.text)
    results = made(tenant, lead["id"])
    assert (results["customer"]["id"], results["customer"]["action"]) == (existing["id"], "linked")
    assert count(tenant, "customer") == 1
    kept = record(tenant, "customer", existing["id"])["data"]
    assert kept["name"] == "  ACME robotics LTD " and kept["address"] == "Old Street 1"  # fill: empty
    assert kept["industry"] == "manufacturing"
    assert record(tenant, "contact", results["contact"]["id"])["data"]["customer"] == existing["id"]


def test_with_on_match_create_the_user_picks_link_or_create_new(make_tenant: Any, browser: Any) -> None:
    """With on_match create, "create new" is the default; picking the match links it, keeping the default
    creates a second customer beside it."""
    tenant = make_tenant(crm_conversion(on_match="create"))
    existing = tenant.create("customer", {"name": "acme robotics"}, "rep2")
    first = tenant.create("lead", {"name": "Acme Robotics", "email": "a@acme.example"}, "rep1")
    second = tenant.create("lead", {"name": "ACME Robotics", "email": "b@acme.example"}, "rep1")
    client = browser(tenant, "rep1")
    page = client.get(dialog(first["id"], "qualify"))
    customer = section(page.text, "customer")
    assert f'name="link.customer" value="{existing["id"]}" >' in customer
    assert '<input type="radio" name="link.customer" value="" checked>' in customer
    linked = post_dialog(client, dialog(first["id"], "qualify"), {"link.customer": existing["id"]})
    assert linked.status_code == 303, field_errors(linked.text)
    assert made(tenant, first["id"])["customer"]["id"] == existing["id"]
    assert count(tenant, "customer") == 1
    created = post_dialog(client, dialog(second["id"], "qualify"))
    assert created.status_code == 303, field_errors(created.text)
    result = made(tenant, second["id"])["customer"]
    assert result["action"] == "created" and result["id"] != existing["id"]
    assert count(tenant, "customer") == 2


def test_choosing_create_new_when_on_match_is_link_creates_a_new_record(make_tenant: Any, browser: Any) -> None:
    """The dialog offers "Create a new record" beside a match under on_match link too; choosing it must
    create a customer, not link the match the user turned down."""
    tenant = make_tenant(crm_conversion(on_match="link"))
    existing = tenant.create("customer", {"name": "acme robotics"}, "rep2")
    lead = tenant.create("lead", {"name": "Acme Robotics", "email": "a@acme.example"}, "rep1")
    client = browser(tenant, "rep1")
    page = client.get(dialog(lead["id"], "qualify"))
    assert '<input type="radio" name="link.customer" value="" >' in section(page.text, "customer")
    response = post_dialog(client, dialog(lead["id"], "qualify"), {"link.customer": ""})
    assert response.status_code == 303, field_errors(response.text)
    result = made(tenant, lead["id"])["customer"]
    assert (result["action"], count(tenant, "customer")) == ("created", 2)
    assert result["id"] != existing["id"]


def test_an_invisible_match_shows_only_a_notice_and_blocks(make_tenant: Any, browser: Any) -> None:
    """A customer of another team matching the lead shows as a notice without its id or any of its values;
    converting answers 409 with the message in the customer's section, and writes nothing."""
    tenant = b2b_tenant(make_tenant)
    theirs = tenant.create("customer", {"name": "ACME ROBOTICS LTD", "short_name": "WestSecretShort",
                                        "address": "9 Hidden Road", "website": "https://west-secret.example"},
                           "westrep")
    lead = tenant.create("lead", LEAD, "rep1")
    client = browser(tenant, "rep1")
    page = client.get(dialog(lead["id"]) + "?lang=en")
    customer = section(page.text, "customer")
    assert '<p class="match hidden-match">A matching record exists that you may not see' in customer
    assert theirs["id"] not in page.text
    for secret in ("ACME ROBOTICS LTD", "WestSecretShort", "9 Hidden Road", "west-secret"):
        assert secret not in page.text, secret
    assert not re.search(r'name="link.customer" value="[^"]+"', page.text)  # nothing to link
    response = post_dialog(client, dialog(lead["id"]), {"t.contact.f.title": "Typed title"})
    assert response.status_code == 409
    assert "a matching record exists (visible to you: False)" in section(response.text, "customer")
    assert 'value="Typed title"' in section(response.text, "contact")
    assert theirs["id"] not in response.text and "WestSecretShort" not in response.text
    assert (count(tenant, "customer"), count(tenant, "contact")) == (1, 0)
    assert made(tenant, lead["id"]) == {}


def test_a_posted_id_of_an_invisible_match_is_refused(make_tenant: Any, browser: Any) -> None:
    """Posting the id of a match the user may not see as `link.customer` links nothing: 422 with the message
    in the customer's section, none of that customer's values on the page, nothing written."""
    tenant = b2b_tenant(make_tenant)
    theirs = tenant.create("customer", {"name": "ACME ROBOTICS LTD", "address": "9 Hidden Road"}, "westrep")
    lead = tenant.create("lead", LEAD, "rep1")
    response = post_dialog(browser(tenant, "rep1"), dialog(lead["id"]) + "?lang=en", {"link.customer": theirs["id"]})
    assert response.status_code == 422
    assert "is not a match you may link" in section(response.text, "customer")
    assert "9 Hidden Road" not in response.text and "ACME ROBOTICS LTD" not in response.text
    assert (count(tenant, "customer"), count(tenant, "contact")) == (1, 0)
    assert record(tenant, "customer", theirs["id"])["version"] == 1


def test_a_lead_out_of_scope_has_no_dialog(make_tenant: Any, browser: Any) -> None:
    """A rep of another team cannot open or post the dialog of a lead they may not see: 404, nothing written."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    client = browser(tenant, "westrep")
    assert client.get(dialog(lead["id"])).status_code == 404
    response = client.post(dialog(lead["id"]), data={"csrf_token": csrf_of(client.get("/web/").text)})
    assert response.status_code == 404
    assert count(tenant, "customer") == 0 and made(tenant, lead["id"]) == {}


def test_refuse_mode_offers_no_create_new_and_answers_409(make_tenant: Any, browser: Any) -> None:
    """With on_match refuse, a visible match is offered without "create new"; a match only another team
    sees refuses the conversion: the page again with 409, what was typed kept, nothing written."""
    tenant = make_tenant(crm_conversion(on_match="refuse"))
    mine = tenant.create("customer", {"name": "Visible Co"}, "rep2")
    tenant.create("customer", {"name": "Hidden Co"}, "outsider")
    client = browser(tenant, "rep1")
    visible = tenant.create("lead", {"name": "visible co", "email": "v@example.com"}, "rep1")
    customer = section(client.get(dialog(visible["id"], "qualify")).text, "customer")
    assert re.search(rf'name="link.customer" value="{mine["id"]}" checked>', customer)
    assert 'name="link.customer" value=""' not in customer
    hidden = tenant.create("lead", {"name": "Hidden Co", "email": "h@example.com"}, "rep1")
    response = post_dialog(client, dialog(hidden["id"], "qualify"), {"t.contact.f.name": "Typed contact"})
    assert response.status_code == 409
    assert "a matching record exists" in section(response.text, "customer")
    assert 'value="Typed contact"' in section(response.text, "contact")
    assert (count(tenant, "customer"), count(tenant, "contact"), count(tenant, "deal")) == (2, 0, 0)
    assert made(tenant, hidden["id"]) == {}


# -- errors --------------------------------------------------------------------------------------------------------

def test_an_emptied_required_field_shows_its_error_in_its_section(make_tenant: Any, browser: Any) -> None:
    """Emptying the customer's name answers 422: "is required" next to that field inside the customer's
    section only, what was typed in every section (and the unticked opportunity) kept, and nothing written."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    response = post_dialog(browser(tenant, "rep1"), dialog(lead["id"]) + "?lang=en",
                           {"t.customer.f.name": "", "t.customer.f.short_name": "Acme",
                            "t.contact.f.title": "Typed title"}, drop=("include.opportunity",))
    assert response.status_code == 422
    assert field_errors(response.text) == {"customer.name": ["is required"]}
    assert '<p class="error" id="err-t.customer.name">is required</p>' in section(response.text, "customer")
    assert 'id="convert-errors"' not in response.text
    pairs = dialog_pairs(response.text)
    assert (pairs["t.customer.f.name"], pairs["t.customer.f.short_name"]) == ("", "Acme")
    assert pairs["t.contact.f.title"] == "Typed title" and pairs["t.contact.f.name"] == "Wang Wei"
    assert "include.opportunity" not in pairs
    assert '<section class="target card skipped" id="target-opportunity"' in response.text
    assert (count(tenant, "customer"), count(tenant, "contact"), count(tenant, "opportunity")) == (0, 0, 0)
    assert made(tenant, lead["id"]) == {}
    assert record(tenant, "lead", lead["id"])["version"] == 1


def test_an_unreadable_value_shows_its_error_in_its_section(make_tenant: Any, browser: Any) -> None:
    """An amount that is no number answers 422 with the message next to the opportunity's amount; the
    typed text is shown again; nothing is written."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    response = post_dialog(browser(tenant, "rep1"), dialog(lead["id"]) + "?lang=en",
                           {"t.opportunity.f.amount.amount": "lots"})
    assert response.status_code == 422
    assert field_errors(response.text) == {"opportunity.amount": ["is not a valid number"]}
    assert "err-t.opportunity.amount" in section(response.text, "opportunity")
    assert dialog_pairs(response.text)["t.opportunity.f.amount.amount"] == "lots"
    assert (count(tenant, "customer"), count(tenant, "opportunity")) == (0, 0)


@pytest.mark.parametrize("sent", [None, "forged"])
def test_a_post_without_the_csrf_token_is_refused(make_tenant: Any, browser: Any, sent: str | None) -> None:
    """A dialog post without the session's CSRF token answers 400 and converts nothing."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    client = browser(tenant, "rep1")
    pairs = dialog_pairs(client.get(dialog(lead["id"]) + "?lang=en").text)
    pairs.poplist("csrf_token")
    if sent is not None:
        pairs["csrf_token"] = sent
    response = client.post(dialog(lead["id"]), data=pairs)
    assert response.status_code == 400
    assert "The form expired or was not sent by this site" in response.text
    assert (count(tenant, "customer"), count(tenant, "contact")) == (0, 0)
    assert made(tenant, lead["id"]) == {}


def test_a_converted_lead_shows_the_already_converted_page(make_tenant: Any, browser: Any) -> None:
    """Once converted, the dialog shows no form but links to each result; posting a dialog opened before
    the conversion answers 409 and converts nothing more."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    client = browser(tenant, "rep1")
    stale = client.get(dialog(lead["id"]))
    done = tenant.call("POST", f"/api/v1/conversions/{KEY}/{lead['id']}", "rep1", json={})
    assert done.status_code == 201
    results = done.get_json()["targets"]
    page = client.get(dialog(lead["id"]) + "?lang=en")
    assert page.status_code == 200
    assert '<p class="notice" id="already-converted">This record was converted already into:' in page.text
    for target in results.values():
        assert f'href="/web/{target["entity"]}/{target["id"]}/edit"' in page.text
    assert "convert-form" not in page.text and 't.customer.f.' not in page.text
    again = client.post(dialog(lead["id"]), data=dialog_pairs(stale.text))
    assert again.status_code == 409
    assert 'id="already-converted"' in again.text and 'id="convert-errors"' in again.text
    assert (count(tenant, "customer"), count(tenant, "contact"), count(tenant, "opportunity")) == (1, 1, 1)


def test_a_lead_not_meeting_when_shows_no_form(make_tenant: Any, browser: Any) -> None:
    """A lead without phone or email does not meet the conversion's `when`: the dialog says so, offers no
    form, and a post converts nothing."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", {"name": "No Reach", "company": "Quiet Co"}, "rep1")
    client = browser(tenant, "rep1")
    page = client.get(dialog(lead["id"]) + "?lang=en")
    assert page.status_code == 200
    assert 'id="not-convertible"' in page.text and "convert-form" not in page.text
    response = client.post(dialog(lead["id"]), data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 422
    assert count(tenant, "customer") == 0 and made(tenant, lead["id"]) == {}


def test_markup_in_the_lead_shows_as_text_in_the_dialog(make_tenant: Any, browser: Any) -> None:
    """A lead whose name and company are a <script> payload, and a matching customer named so, show the
    payload escaped in the heading, the inputs and the match; the embedded JSON still parses to it."""
    tenant = b2b_tenant(make_tenant)
    tenant.create("customer", {"name": SCRIPT}, "rep2")
    lead = tenant.create("lead", {**LEAD, "name": SCRIPT, "company": SCRIPT}, "rep1")
    page = browser(tenant, "rep1").get(dialog(lead["id"]) + "?lang=en")
    assert page.status_code == 200
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"<h1>Convert lead: {escaped}</h1>" in page.text
    assert f'value="{escaped}"' in section(page.text, "customer")
    assert f"<strong>{escaped}</strong>" in section(page.text, "customer")
    assert "<script>alert" not in page.text
    assert page.text.count("</script>") == page.text.count("<script")
    start = page.text.index('<script type="application/json" id="target-data-customer">')
    body = page.text[start:].split(">", 1)[1]
    assert json.loads(body[:body.index("</script>")])["conditions"]["facts"]["name"] == SCRIPT
    assert dialog_pairs(page.text)["t.contact.f.name"] == SCRIPT


def test_the_dialog_in_chinese(make_tenant: Any, browser: Any) -> None:
    """`?lang=zh` shows the dialog's own texts, labels and errors in Chinese, the hidden-match notice too."""
    tenant = b2b_tenant(make_tenant)
    tenant.create("customer", {"name": LEADS["b2b_solution_sales"]["company"]}, "westrep")
    lead = tenant.create("lead", LEADS["b2b_solution_sales"], "rep1")
    client = browser(tenant, "rep1")
    page = client.get(dialog(lead["id"]) + "?lang=zh")
    assert '<html lang="zh-CN">' in page.text
    assert "<h1>线索转化: 张伟</h1>" in page.text and "返回线索" in page.text
    assert "同时创建或关联商机" in page.text and "将关联到本次转化的客户。" in section(page.text, "contact")
    assert "存在一条您无权查看的匹配记录" in section(page.text, "customer")
    assert '<label for="f-t.customer.name">客户名称' in page.text
    assert '<button type="submit">转化</button>' in page.text
    response = post_dialog(client, dialog(lead["id"]), {"t.customer.f.name": ""})
    assert response.status_code == 422
    assert field_errors(response.text) == {"customer.name": ["为必填项"]}


def test_a_condition_of_a_target_form_is_checked_in_its_section(make_tenant: Any, browser: Any) -> None:
    """Ticking the contact as decision maker makes its department required (required_if of the contact
    create form): 422 with the error next to the contact's department; with one it converts."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    client = browser(tenant, "rep1")
    ticked = {"t.contact.f.is_decision_maker": ["false", "true"]}
    response = post_dialog(client, dialog(lead["id"]) + "?lang=en", ticked)
    assert response.status_code == 422
    assert field_errors(response.text) == {"contact.department": ["is required"]}
    assert "err-t.contact.department" in section(response.text, "contact")
    assert not re.search(r'data-field="notes"[^>]*hidden', section(response.text, "contact"))  # visible_if holds
    done = post_dialog(client, dialog(lead["id"]), {**ticked, "t.contact.f.department": "IT"})
    assert done.status_code == 303, field_errors(done.text)
    contact = record(tenant, "contact", made(tenant, lead["id"])["contact"]["id"])["data"]
    assert (contact["is_decision_maker"], contact["department"]) == (True, "IT")


def test_the_dialog_uses_a_targets_convert_form(make_tenant: Any, browser: Any) -> None:
    """A customer `convert` form shapes the customer's section: its fields only, a field read-only for the
    role shown disabled with its mapped value, a field the form requires marked and checked."""
    tenant = make_tenant(form_config())
    lead = tenant.create("lead", {"name": "Acme", "email": "a@acme.example"}, "rep1")
    client = browser(tenant, "rep1")
    page = client.get(dialog(lead["id"], "qualify"))
    customer = section(page.text, "customer")
    assert re.findall(r'data-field="([a-z_]+)"', customer) == ["name", "level", "industry"]
    assert re.search(r'<select id="f-t.customer.level" name="t.customer.f.level"[^>]*disabled', customer)
    assert '<option value="a" selected>' in customer
    assert re.search(r'<label for="f-t.customer.industry">Industry<span class="required-mark" [^>]*title="required" >',
                     customer)
    assert re.findall(r'data-field="([a-z_]+)"', section(page.text, "contact")) == ["name"]
    response = post_dialog(client, dialog(lead["id"], "qualify"))
    assert response.status_code == 422
    assert field_errors(response.text) == {"customer.industry": ["is required"]}
    assert count(tenant, "customer") == 0
    done = post_dialog(client, dialog(lead["id"], "qualify"), {"t.customer.f.industry": "Robots"})
    assert done.status_code == 303, field_errors(done.text)
    customer_data = record(tenant, "customer", made(tenant, lead["id"])["customer"]["id"])["data"]
    assert (customer_data["level"], customer_data["industry"]) == ("a", "Robots")


# -- the edit pages: lineage and lock ------------------------------------------------------------------------------

def test_lineage_is_shown_on_both_sides_with_links(make_tenant: Any, browser: Any) -> None:
    """Before: the lead's page links to the dialog. After a web conversion: the lead lists the customer and
    contact by title with links (and no convert link), and the customer links back to the lead."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    client = browser(tenant, "rep1")
    before = client.get(f"/web/lead/{lead['id']}/edit?lang=en")
    assert re.search(rf'<a class="button convert" href="{re.escape(dialog(lead["id"]))}">Convert lead</a>', before.text)
    assert "converted_into" not in before.text
    response = post_dialog(client, dialog(lead["id"]), {"t.customer.f.name": "Acme Robotics Group"},
                           drop=("include.opportunity",))
    assert response.status_code == 303, field_errors(response.text)
    results = made(tenant, lead["id"])
    page = client.get(response.headers["Location"])
    into = re.search(r'<p class="converted_into">(.*?)</p>', page.text, re.S)
    assert into, page.text
    assert f'<a href="/web/customer/{results["customer"]["id"]}/edit">Acme Robotics Group</a>' in into.group(1)
    assert f'<a href="/web/contact/{results["contact"]["id"]}/edit">Wang Wei</a>' in into.group(1)
    assert "button convert" not in page.text
    back = client.get(f"/web/customer/{results['customer']['id']}/edit")
    assert back.status_code == 200
    came = re.search(r'<p class="converted_from">(.*?)</p>', back.text, re.S)
    assert came, back.text
    assert f'<a href="/web/lead/{lead["id"]}/edit">Wang Wei</a>' in came.group(1)
    assert "converted-locked" not in back.text  # only the lead is read-only


@pytest.mark.parametrize(("lang", "hidden"), [("en", NOT_SEEN), ("zh", "您无权查看的记录")])
def test_lineage_names_no_record_the_user_may_not_see(make_tenant: Any, browser: Any, lang: str,
                                                      hidden: str) -> None:
    """rep2 may see rep1's lead and contact (team scope) but not rep1's customer (own scope): the lead's
    page shows the customer only as "a record you may not see", without its name or a link; the lineage
    API says `visible: false` and gives no title."""
    tenant = make_tenant(crm_conversion(customer_scope="own"))
    lead = tenant.create("lead", {"name": "Secret Customer Inc", "email": "s@example.com"}, "rep1")
    done = tenant.call("POST", f"/api/v1/conversions/qualify/{lead['id']}", "rep1", json={"targets": {"deal": None}})
    assert done.status_code == 201, done.get_json()
    results = done.get_json()["targets"]
    page = browser(tenant, "rep2").get(f"/web/lead/{lead['id']}/edit?lang={lang}")
    assert page.status_code == 200
    into = re.search(r'<p class="converted_into">(.*?)</p>', page.text, re.S)
    assert into, page.text
    assert f"<em>{hidden}</em>" in into.group(1)
    assert results["customer"]["id"] not in page.text
    assert f'<a href="/web/contact/{results["contact"]["id"]}/edit">Contact at Secret Customer Inc</a>' in into.group(1)
    entries = {x["target"]: x for x in lineage(tenant, "lead", lead["id"], "rep2")["converted_into"]}
    assert entries["customer"]["visible"] is False and "title" not in entries["customer"]
    assert (entries["contact"]["visible"], entries["contact"]["title"]) == (True, "Contact at Secret Customer Inc")
    mine = {x["target"]: x for x in lineage(tenant, "lead", lead["id"], "rep1")["converted_into"]}
    assert (mine["customer"]["visible"], mine["customer"]["title"], mine["customer"]["deleted"]) == (
        True, "Secret Customer Inc", False)


def test_lineage_marks_a_deleted_result(make_tenant: Any) -> None:
    """A result deleted after the conversion stays in the lead's lineage, marked `deleted: true`, and the
    result's own lineage still names the lead."""
    tenant = make_tenant(crm_conversion())
    lead = tenant.create("lead", {"name": "Gone Co", "email": "g@example.com"}, "rep1")
    results = tenant.call("POST", f"/api/v1/conversions/qualify/{lead['id']}", "rep1", json={}).get_json()["targets"]
    assert tenant.call("DELETE", f"/api/v1/records/contact/{results['contact']['id']}").status_code == 200
    entries = {x["target"]: x for x in lineage(tenant, "lead", lead["id"])["converted_into"]}
    assert (entries["contact"]["visible"], entries["contact"]["deleted"]) == (True, True)
    assert entries["customer"]["deleted"] is False
    back = lineage(tenant, "customer", results["customer"]["id"])["converted_from"]
    assert [(x["id"], x["title"], x["visible"]) for x in back] == [(lead["id"], "Gone Co", True)]


def test_a_converted_lead_is_locked_on_its_edit_page(make_tenant: Any, browser: Any) -> None:
    """A lead converted read-only shows the lock notice, every input disabled and no Save button; a post
    of the page anyway changes nothing."""
    tenant = b2b_tenant(make_tenant)
    lead = tenant.create("lead", LEAD, "rep1")
    assert tenant.call("POST", f"/api/v1/conversions/{KEY}/{lead['id']}", "rep1", json={}).status_code == 201
    client = browser(tenant, "rep1")
    page = client.get(f"/web/lead/{lead['id']}/edit?lang=en")
    assert page.status_code == 200
    assert '<p class="notice" id="converted-locked">This record was converted and is read-only.</p>' in page.text
    assert sorted(form_pairs(page.text)) == ["csrf_token", "version"]  # no enabled field input
    assert re.search(r'<input id="f-name" name="f.name"[^>]*disabled', page.text, re.S)
    form = re.search(r'<form method="post" class="record-form".*?</form>', page.text, re.S)
    assert form and "<button" not in form.group(0)
    stored = record(tenant, "lead", lead["id"])
    pairs = form_pairs(page.text)
    pairs["f.name"] = "Renamed"
    response = client.post(f"/web/lead/{lead['id']}/edit", data=pairs)
    assert response.status_code != 303
    assert '<p class="error">the record was converted and is read-only</p>' in response.text
    assert record(tenant, "lead", lead["id"]) == stored


def staged_conversion_config() -> dict[str, Any]:
    """The stage-page config (leads in a pipeline) with the CRM `qualify` conversion of a lead."""
    document = pipeline_config()
    converting = crm_conversion()
    document["entities"].update({k: converting["entities"][k] for k in ("contact", "deal")})
    document["roles"]["rep"]["permissions"].update(
        {k: converting["roles"]["rep"]["permissions"][k] for k in ("contact", "deal", "customer")})
    document["conversions"] = converting["conversions"]
    return document


def test_stage_moves_of_a_converted_lead_answer_409(make_tenant: Any, browser: Any) -> None:
    """A converted read-only lead offers no stage move on its page; a move through the API or the web stage
    form answers 409 converted_readonly and the stage stays."""
    tenant = make_tenant(staged_conversion_config())
    lead = tenant.create("lead", {"name": "Staged", "email": "s@example.com", "employees": 30}, "rep1")
    client = browser(tenant, "rep1")
    assert 'class="stage-move"' in client.get(f"/web/lead/{lead['id']}/edit").text
    assert tenant.call("POST", f"/api/v1/conversions/qualify/{lead['id']}", "rep1", json={}).status_code == 201
    page = client.get(f"/web/lead/{lead['id']}/edit")
    assert 'class="stage-move"' not in page.text and 'id="converted-locked"' in page.text
    response = tenant.call("POST", f"/api/v1/records/lead/{lead['id']}/stage", "rep1",
                           json={"to": "lost", "reason": "price"})
    assert response.status_code == 409
    assert response.get_json()["errors"][0]["code"] == "converted_readonly"
    web = client.post(f"/web/lead/{lead['id']}/stage",
                      data={"csrf_token": csrf_of(page.text), "to": "lost", "reason": "price"})
    assert web.status_code == 409
    stored = record(tenant, "lead", lead["id"])
    assert stored["pipeline"]["stage"] == "new"
    history = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/stages").get_json()["items"]
    assert [(h["from"], h["to"]) for h in history] == [(None, "new")]


# -- the API: overrides pass through the target's form -------------------------------------------------------------

def form_config() -> dict[str, Any]:
    """The CRM conversion with a `convert` form for customers (level read-only for reps, an industry the
    form requires) and a contact create form without the email the mapping fills."""
    document = crm_conversion()
    document["entities"]["customer"]["fields"]["industry"] = {"type": "text", "label": label("Industry")}
    document["forms"] = {
        "customer": {"convert": {"label": label("Customer from a lead", "线索客户"), "sections": [{"fields": [
            "name", {"field": "level", "readonly_for": ["rep"]}, {"field": "industry", "required": True}]}]}},
        "contact": {"create": {"sections": [{"fields": ["name", "customer"]}]}},
    }
    return document


def convert(tenant: Any, lead_id: str, targets: dict[str, Any], user: str = "rep1") -> Any:
    return tenant.call("POST", f"/api/v1/conversions/qualify/{lead_id}", user, json={"targets": targets})


def codes(response: Any) -> list[tuple[str, str]]:
    return [(e["pointer"], e["code"]) for e in response.get_json()["errors"]]


def test_preview_names_each_targets_form_and_its_document(make_tenant: Any) -> None:
    """The preview gives per target the form it is adjusted through (`convert` when the entity has one,
    else `create`) and that form's JSON with the mapped values of the form's fields as formData."""
    tenant = make_tenant(form_config())
    lead = tenant.create("lead", {"name": "Acme", "email": "a@acme.example",
                                  "budget": {"amount": 5, "currency": "CNY"}}, "rep1")
    preview = tenant.call("GET", f"/api/v1/conversions/qualify/{lead['id']}", "rep1",
                          headers={"Accept-Language": "en"}).get_json()["targets"]
    assert {k: v["form"] for k, v in preview.items()} == {"customer": "convert", "contact": "create",
                                                          "deal": "create"}
    assert preview["customer"]["document"]["schema"]["title"] == "Customer from a lead"
    assert list(preview["customer"]["document"]["uiSchema"]["ui:order"]) == ["name", "level", "industry"]
    assert "email" not in preview["contact"]["document"]["schema"]["properties"]
    for target in preview.values():
        form_data = target["document"]["formData"]
        on_form = target["document"]["schema"]["properties"]
        for key, value in target["values"].items():
            if key in on_form:
                assert form_data[key] == value, key
    assert preview["customer"]["document"]["formData"]["name"] == "Acme"
    assert preview["deal"]["document"]["formData"]["amount"] == {"amount": 5, "currency": "CNY"}


def test_an_override_of_a_field_not_on_the_form_is_refused(make_tenant: Any) -> None:
    """Overriding the contact's email, which its form does not show, answers 422 not_on_form at
    /targets/contact/email, and nothing is written."""
    tenant = make_tenant(form_config())
    lead = tenant.create("lead", {"name": "Acme", "email": "a@acme.example"}, "rep1")
    response = convert(tenant, lead["id"], {"customer": {"industry": "robots"}, "contact": {"email": "x@y.example"}})
    assert response.status_code == 422
    assert codes(response) == [("/targets/contact/email", "not_on_form")]
    assert (count(tenant, "customer"), count(tenant, "contact")) == (0, 0)
    fine = convert(tenant, lead["id"], {"customer": {"industry": "robots"}})  # the mapped email is no override
    assert fine.status_code == 201, fine.get_json()
    contact = record(tenant, "contact", fine.get_json()["targets"]["contact"]["id"])
    assert contact["data"]["email"] == "a@acme.example"


def test_a_readonly_field_may_keep_its_mapped_value_but_not_change(make_tenant: Any) -> None:
    """Level is read-only for reps on the customer's convert form: a different level answers 422
    readonly_field; sending the mapped level back is no change and converts."""
    tenant = make_tenant(form_config())
    lead = tenant.create("lead", {"name": "Acme", "email": "a@acme.example"}, "rep1")
    changed = convert(tenant, lead["id"], {"customer": {"industry": "robots", "level": "b"}})
    assert changed.status_code == 422
    assert codes(changed) == [("/targets/customer/level", "readonly_field")]
    assert count(tenant, "customer") == 0
    kept = convert(tenant, lead["id"], {"customer": {"industry": "robots", "level": "a"}})
    assert kept.status_code == 201, kept.get_json()
    customer = record(tenant, "customer", kept.get_json()["targets"]["customer"]["id"])
    assert customer["data"]["level"] == "a" and customer["data"]["industry"] == "robots"


def test_a_form_required_field_is_required_only_when_creating(make_tenant: Any) -> None:
    """The convert form requires an industry the mapping does not fill: creating a customer without one
    answers 422 required at its pointer; linking a matching customer does not need it."""
    tenant = make_tenant(form_config())
    lead = tenant.create("lead", {"name": "Acme", "email": "a@acme.example"}, "rep1")
    refused = convert(tenant, lead["id"], {})
    assert refused.status_code == 422
    assert codes(refused) == [("/targets/customer/industry", "required")]
    assert count(tenant, "customer") == 0
    existing = tenant.create("customer", {"name": "ACME"}, "rep2")
    linked = convert(tenant, lead["id"], {})
    assert linked.status_code == 201, linked.get_json()
    assert linked.get_json()["targets"]["customer"] == {"entity": "customer", "id": existing["id"], "action": "linked"}
    assert "industry" not in record(tenant, "customer", existing["id"])["data"]


def test_linking_a_match_needs_no_create_permission(make_tenant: Any) -> None:
    """A rep who may read and update customers but not create them can still convert a lead whose company
    matches a customer they see: the customer is linked, not created, so no create permission is needed."""
    document = crm_conversion()
    document["roles"]["rep"]["permissions"]["customer"] = {"read": True, "update": True, "scope": "team"}
    tenant = make_tenant(document)
    existing = tenant.create("customer", {"name": "acme"}, "boss")
    lead = tenant.create("lead", {"name": "Acme", "email": "a@acme.example"}, "rep1")
    response = convert(tenant, lead["id"], {"deal": None})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["targets"]["customer"] == {"entity": "customer", "id": existing["id"],
                                                          "action": "linked"}
    assert count(tenant, "customer") == 1


def test_creating_a_target_needs_the_create_permission(make_tenant: Any) -> None:
    """A rep who may read and update contacts but not create them cannot convert into a new contact: 403,
    and nothing (not even the customer made before the contact) is written."""
    document = crm_conversion()
    document["roles"]["rep"]["permissions"]["contact"] = {"read": True, "update": True, "scope": "team"}
    tenant = make_tenant(document)
    lead = tenant.create("lead", {"name": "Acme", "email": "a@acme.example"}, "rep1")
    response = convert(tenant, lead["id"], {"deal": None})
    assert response.status_code == 403
    assert (count(tenant, "customer"), count(tenant, "contact")) == (0, 0)
    assert made(tenant, lead["id"]) == {}
