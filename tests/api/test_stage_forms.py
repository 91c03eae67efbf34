"""A stage's own form (`forms.<entity>.stage_<key>`) decides what a move may fill on the way."""

from __future__ import annotations

from typing import Any

from tests.web.test_stage_pages import pipeline_config


def config_with_stage_form() -> dict[str, Any]:
    document = pipeline_config()
    gate = document["pipelines"]["sales"]["stages"][1]["gate"]
    gate["activities"] = []
    document["forms"] = {"lead": {"stage_qualified": {"sections": [{"fields": [
        {"field": "employees", "required": True}, {"field": "notes", "required_if": {"$gt": {"employees": 100}}},
    ]}]}}}
    return document


def test_the_stage_form_limits_and_requires_what_is_filled_on_the_way(make_tenant: Any) -> None:
    """Fields off the stage form are refused and its requirements apply, at /data pointers, before the gate."""
    tenant = make_tenant(config_with_stage_form())
    lead = tenant.create("lead", {"name": "A"}, "rep1")
    path = f"/api/v1/records/lead/{lead['id']}/stage"
    refused = tenant.call("POST", path, "rep1", json={"to": "qualified", "data": {"employees": 500, "vip": True}})
    assert refused.status_code == 422
    assert sorted((e["pointer"], e["code"]) for e in refused.get_json()["errors"]) == [
        ("/data/notes", "required"), ("/data/vip", "not_on_form")]
    moved = tenant.call("POST", path, "rep1", json={"to": "qualified", "data": {"employees": 500, "notes": "big"}})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["data"]["notes"] == "big" and moved.get_json()["pipeline"]["stage"] == "qualified"


def test_the_stage_form_is_served_like_any_form(make_tenant: Any) -> None:
    """GET /api/v1/forms/lead/stage_qualified?id= gives the form with the record's values."""
    tenant = make_tenant(config_with_stage_form())
    lead = tenant.create("lead", {"name": "A", "employees": 7}, "rep1")
    document = tenant.call("GET", f"/api/v1/forms/lead/stage_qualified?id={lead['id']}", "rep1").get_json()
    assert document["uiSchema"]["ui:order"] == ["employees", "notes"] and document["formData"] == {"employees": 7}
    assert document["schema"]["required"] == ["employees"]


def test_a_refused_move_lists_the_records_broken_rules_with_the_gate(make_tenant: Any) -> None:
    """One refusal names both the gate's missing field and a validation rule the data on the way breaks."""
    document = config_with_stage_form()
    del document["forms"]
    document["entities"]["lead"]["validations"] = [{
        "key": "score_needs_employees", "when": {"$gt": {"score": 0}}, "assert": {"$lt": {"score": 10}},
        "message": {"en": "A score is below 10.", "zh": "评分须小于 10。"}, "pointer": "/score"}]
    tenant = make_tenant(document)
    lead = tenant.create("lead", {"name": "A"}, "rep1")
    response = tenant.call("POST", f"/api/v1/records/lead/{lead['id']}/stage", "rep1",
                           json={"to": "qualified", "data": {"score": 50}})
    assert response.status_code == 422
    assert sorted((e["pointer"], e["code"]) for e in response.get_json()["errors"]) == [
        ("/data/employees", "gate_required"), ("/data/score", "rule_failed")]
