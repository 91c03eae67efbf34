"""The stage panel of an edit page: the record's pipeline and stage, and moves through the same gates as the API."""

from __future__ import annotations

import re
from typing import Any

from tests.configs import crm, label
from tests.web.test_pages import csrf_of

VISIT = {"entity": "call", "where": {"kind": "visit"}, "min": 1, "label": label("visit")}


def pipeline_config() -> dict[str, Any]:
    document = crm()
    document["entities"]["call"] = {
        "label": label("Call"), "activity_for": ["lead"],
        "fields": {"subject": {"type": "text", "label": label("Subject")},
                   "kind": {"type": "enum", "label": label("Kind"),
                            "options": [{"value": "visit", "label": label("Visit")}, {"value": "call", "label": label("Call")}]},
                   "lead": {"type": "reference", "entity": "lead", "label": label("Lead")}},
    }
    document["roles"]["rep"]["permissions"]["call"] = {"create": True, "read": True, "scope": "team"}
    document["pipelines"] = {"sales": {
        "entity": "lead", "label": {"en": "Sales", "zh": "销售"}, "won": ["won"],
        "lost": {"reasons": [{"value": "price", "label": {"en": "Price", "zh": "价格"}}], "comment": "optional"},
        "stages": [
            {"key": "new", "label": {"en": "New", "zh": "新建"}, "probability": 0},
            {"key": "qualified", "label": {"en": "Qualified", "zh": "已确认"}, "probability": 30,
             "gate": {"required": ["employees"], "activities": [VISIT],
                      "message": {"en": "Qualify first.", "zh": "请先确认。"}}},
            {"key": "won", "label": {"en": "Won", "zh": "赢单"}, "probability": 100, "terminal": True},
        ]}}
    return document


def move(client: Any, lead_id: str, **form: str) -> Any:
    page = client.get(f"/web/lead/{lead_id}/edit")
    return client.post(f"/web/lead/{lead_id}/stage", data={"csrf_token": csrf_of(page.text), **form})


def stage_errors(html: str) -> list[str]:
    block = re.search(r'<div class="errors" role="alert" id="stage-errors">(.*?)</div>', html, re.S)
    return re.findall(r'<p class="error">([^<]*)</p>', block.group(1)) if block else []


def test_edit_page_shows_the_pipeline_and_current_stage(make_tenant: Any, browser: Any) -> None:
    """A pipeline record's edit page names its pipeline, its stage with probability, and offers the moves."""
    tenant = make_tenant(pipeline_config())
    lead = tenant.create("lead", {"name": "A"}, "rep1")
    page = browser(tenant, "rep1").get(f"/web/lead/{lead['id']}/edit")
    assert '<span class="current-stage">New</span>' in page.text
    assert '<option value="qualified">Qualified</option>' in page.text and '<option value="lost">' in page.text


def test_a_move_with_an_unmet_gate_lists_every_requirement_and_changes_nothing(make_tenant: Any, browser: Any) -> None:
    """The web move answers 422 with each unmet requirement in the user's language; the stage stays."""
    tenant = make_tenant(pipeline_config())
    lead = tenant.create("lead", {"name": "A"}, "rep1")
    client = browser(tenant, "rep1")
    response = move(client, lead["id"], to="qualified")
    assert response.status_code == 422
    errors = stage_errors(response.text)
    assert len(errors) == 2 and all("Qualify first." in e for e in errors)
    client.get("/web/?lang=zh")
    assert all("请先确认。" in e for e in stage_errors(move(client, lead["id"], to="qualified").text))
    stored = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}").get_json()
    assert stored["pipeline"]["stage"] == "new" and stored["version"] == 1


def test_a_move_that_meets_the_gate_goes_through(make_tenant: Any, browser: Any) -> None:
    """With the fields and the visit the gate asks for, the move succeeds and the page shows the new stage."""
    tenant = make_tenant(pipeline_config())
    lead = tenant.create("lead", {"name": "A", "employees": 30}, "rep1")
    tenant.create("call", {"subject": "Visit", "kind": "visit", "lead": lead["id"]}, "rep1")
    client = browser(tenant, "rep1")
    response = move(client, lead["id"], to="qualified")
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert '<span class="current-stage">Qualified</span>' in page.text
    history = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/stages").get_json()["items"]
    assert [(h["from"], h["to"]) for h in history] == [(None, "new"), ("new", "qualified")]


def test_lost_from_the_page_needs_a_reason(make_tenant: Any, browser: Any) -> None:
    """Marking a record lost without a reason is refused; with one it is lost."""
    tenant = make_tenant(pipeline_config())
    lead = tenant.create("lead", {"name": "A"}, "rep1")
    client = browser(tenant, "rep1")
    assert move(client, lead["id"], to="lost").status_code == 422
    assert move(client, lead["id"], to="lost", reason="price", comment="too dear").status_code == 303
    stored = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}").get_json()
    assert stored["pipeline"]["stage"] == "lost" and stored["pipeline"]["lost_at"] is not None


def test_the_stage_form_needs_the_csrf_token(make_tenant: Any, browser: Any) -> None:
    """A stage move posted without the session's CSRF token is refused."""
    tenant = make_tenant(pipeline_config())
    lead = tenant.create("lead", {"name": "A", "employees": 30}, "rep1")
    client = browser(tenant, "rep1")
    assert client.post(f"/web/lead/{lead['id']}/stage", data={"to": "lost", "reason": "price"}).status_code == 400


def test_the_list_shows_each_records_stage(make_tenant: Any, browser: Any) -> None:
    """A pipeline entity's list has a stage column naming each record's stage."""
    tenant = make_tenant(pipeline_config())
    lead = tenant.create("lead", {"name": "A"}, "rep1")
    tenant.call("POST", f"/api/v1/records/lead/{lead['id']}/stage", "rep1", json={"to": "lost", "reason": "price"})
    page = browser(tenant, "rep1").get("/web/lead")
    assert '<td class="stage-cell">Lost</td>' in page.text
