"""Automations move stages through the same gates: `move_stage` is no way around them."""

from __future__ import annotations

from typing import Any

import pytest

from lowcode_platform.configuration import iter_config_errors
from tests.configs import label
from tests.web.test_stage_pages import pipeline_config


def config_with_automation(to: str = "qualified", entity: str = "lead") -> dict[str, Any]:
    """The pipeline config with an automation moving a lead once it has more than 100 employees."""
    document = pipeline_config()
    automation: dict[str, Any] = {"key": "qualify_big", "label": label("Qualify big leads"), "entity": entity,
                                  "on": "record.updated", "then": [{"move_stage": {"to": to}}]}
    if entity == "lead":
        automation.update(on="field.changed", fields=["employees"], when={"$gt": {"employees": 100}})
    document["automations"] = [automation]
    return document


def test_an_automation_that_meets_the_gate_moves_the_record(make_tenant: Any) -> None:
    """With the gate met (a visit logged), the automation moves the lead and writes history as the actor."""
    tenant = make_tenant(config_with_automation())
    lead = tenant.create("lead", {"name": "A", "employees": 5}, "rep1")
    tenant.create("call", {"subject": "Visit", "kind": "visit", "lead": lead["id"]}, "rep1")
    response = tenant.call("PATCH", f"/api/v1/records/lead/{lead['id']}", "rep1",
                           json={"employees": 500, "version": 1})
    assert response.status_code == 200, response.get_json()
    stored = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}").get_json()
    assert stored["pipeline"]["stage"] == "qualified" and stored["pipeline"]["probability"] == 30
    history = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/stages").get_json()["items"]
    assert [(h["from"], h["to"], h["actor_id"]) for h in history][-1] == ("new", "qualified", tenant.user_ids["rep1"])


def test_an_automation_blocked_by_the_gate_fails_the_write(make_tenant: Any) -> None:
    """Without the visit, the gate stops the automation, and the update that triggered it is rolled back."""
    tenant = make_tenant(config_with_automation())
    lead = tenant.create("lead", {"name": "A", "employees": 5}, "rep1")
    response = tenant.call("PATCH", f"/api/v1/records/lead/{lead['id']}", "rep1",
                           json={"employees": 500, "version": 1})
    assert response.status_code == 422 and response.get_json()["code"] == "automation_failed"
    stored = tenant.call("GET", f"/api/v1/records/lead/{lead['id']}").get_json()
    assert stored["version"] == 1 and stored["data"]["employees"] == 5 and stored["pipeline"]["stage"] == "new"
    assert len(tenant.call("GET", f"/api/v1/records/lead/{lead['id']}/stages").get_json()["items"]) == 1


@pytest.mark.parametrize(("document", "pointer", "code"), [
    (config_with_automation(to="nowhere"), "/automations/0/then/0/move_stage/to", "unknown_stage"),
    (config_with_automation(entity="call"), "/automations/0/then/0/move_stage/to", "no_pipeline"),
])
def test_move_stage_names_a_stage_of_the_entitys_pipeline(document: dict[str, Any], pointer: str, code: str) -> None:
    """A `move_stage` to a stage no pipeline of the entity has, or on an entity without one, is a config error."""
    assert [(e.pointer, e.code) for e in iter_config_errors(document)] == [(pointer, code)]
