"""Automations: event -> condition -> actions, run inside the write that triggered them, with traces.

Covers every matching automation firing, `when`, `field.changed` and its `fields`, the actions (`set`,
`assign_owner`, `notify` to each kind of recipient, `create_task`), `activity.logged` on the template,
failing actions rolling the whole write back with a `failed` trace, chains stopped at the depth limit,
and the admin-only runs and outbox API.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from lowcode_platform.api import records as records_api
from lowcode_platform.api.context import caller
from lowcode_platform.records.service import RecordService
from lowcode_platform.schema import load_config
from tests.configs import crm, label

TEMPLATE = load_config(Path(__file__).resolve().parents[2] / "tenant_configs" / "b2b_solution_sales").document
TEMPLATE_USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
                  ("rep1", "sales_rep", "boss", "east"))
MESSAGE = {"en": "Look at this lead", "zh": "请查看此线索"}
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Records written through the API (and the automations they trigger) see `clock.now`."""
    fake = Clock(T0)

    def service() -> RecordService:
        who = caller()
        return RecordService(who.session, who.config, who.actor, clock=fake)

    monkeypatch.setattr(records_api, "_service", service)
    return fake


def config(*automations: dict[str, Any]) -> dict[str, Any]:
    """The CRM config with integer fields x and y on leads, a user field on customers, a task entity,
    and `automations`."""
    document = crm()
    fields = document["entities"]["lead"]["fields"]
    fields["x"] = {"type": "integer", "label": label("X")}
    fields["y"] = {"type": "integer", "label": label("Y")}
    document["entities"]["customer"]["fields"]["account_manager"] = {"type": "user", "label": label("Account manager")}
    document["entities"]["task"] = {
        "label": label("Task", "任务"), "title_field": "title",
        "fields": {
            "title": {"type": "text", "label": label("Title"), "required": True, "max_length": 20},
            "due": {"type": "date", "label": label("Due")},
            "lead": {"type": "reference", "label": label("Lead"), "entity": "lead"},
            "customer": {"type": "reference", "label": label("Customer"), "entity": "customer"},
            "status": {"type": "enum", "label": label("Status"), "default": "open",
                       "options": [{"value": "open", "label": label("Open")}, {"value": "done", "label": label("Done")}]},
        },
    }
    document["automations"] = list(automations)
    return document


def automation(key: str, on: str, *then: dict[str, Any], entity: str = "lead", **extra: Any) -> dict[str, Any]:
    return {"key": key, "on": on, "entity": entity, **extra, "then": list(then)}


def notify(*to: Any) -> dict[str, Any]:
    return {"notify": {"to": list(to), "message": MESSAGE}}


def path_of(record: dict[str, Any]) -> str:
    return f"/api/v1/records/{record['entity']}/{record['id']}"


def runs(tenant: Any, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = tenant.call("GET", f"/api/v1/automations/runs?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def outcomes(tenant: Any, **params: str) -> list[tuple[str, str, int, str]]:
    """(automation, event, depth, outcome) of the runs, ordered by depth then automation."""
    return sorted((r["automation"], r["event"], r["depth"], r["outcome"]) for r in runs(tenant, **params))


def outbox(tenant: Any) -> list[dict[str, Any]]:
    response = tenant.call("GET", "/api/v1/automations/outbox")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def stored(tenant: Any, record: dict[str, Any]) -> dict[str, Any]:
    response = tenant.call("GET", path_of(record))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def listed(tenant: Any, entity: str) -> list[dict[str, Any]]:
    return tenant.call("GET", f"/api/v1/records/{entity}").get_json()["items"]


def test_every_matching_automation_fires(make_tenant):
    """Two automations on record.created both run; a third whose `when` is false does not."""
    tenant = make_tenant(config(
        automation("note_new", "record.created", {"set": {"notes": "from automation"}}),
        automation("tell_owner", "record.created", notify("owner")),
        automation("vip_when_won", "record.created", {"set": {"vip": True}}, when={"status": "won"}),
    ))
    lead = tenant.create("lead", {"name": "ann"}, "rep1")
    data = stored(tenant, lead)["data"]
    assert data["notes"] == "from automation" and "vip" not in data
    assert [m["recipients"] for m in outbox(tenant)] == [[tenant.user_ids["rep1"]]]
    assert outcomes(tenant, record_id=lead["id"]) == [("note_new", "record.created", 0, "done"),
                                                      ("tell_owner", "record.created", 0, "done")]
    won = tenant.create("lead", {"name": "b", "status": "won"}, "rep1")
    data = stored(tenant, won)["data"]
    assert data["notes"] == "from automation" and data["vip"] is True
    assert [r["automation"] for r in runs(tenant, record_id=won["id"], automation="vip_when_won")] == ["vip_when_won"]


def test_create_response_shows_what_automations_did(make_tenant):
    """The 201 answer (body and ETag) is the record as stored, after the automations' changes.

    Otherwise a client editing the version it was given gets a 409 for its very next write.
    """
    tenant = make_tenant(config(automation("note_new", "record.created", {"set": {"notes": "from automation"}})))
    response = tenant.call("POST", "/api/v1/records/lead", "rep1", json={"name": "ann"})
    assert response.status_code == 201
    now = stored(tenant, response.get_json())
    assert now["version"] == 2
    assert response.get_json()["version"] == now["version"]
    assert response.headers["ETag"] == f'"{now["version"]}"'
    assert response.get_json()["data"] == now["data"]


def test_update_response_shows_what_automations_did(make_tenant):
    """The 200 answer of a PATCH includes the automations' changes and the final version."""
    tenant = make_tenant(config(
        automation("vip_when_won", "field.changed", {"set": {"vip": True}}, fields=["status"], when={"status": "won"})))
    lead = tenant.create("lead", {"name": "ann"}, "rep1")
    response = tenant.call("PATCH", path_of(lead), "rep1", json={"version": 1, "status": "won"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == 3
    assert response.headers["ETag"] == '"3"'
    assert response.get_json()["data"]["vip"] is True


def test_field_changed_fires_only_when_a_listed_field_changed(make_tenant):
    """field.changed with fields [status, vip]: not on create, not for other fields, not for a same-value patch."""
    tenant = make_tenant(config(automation("watch", "field.changed", notify("owner"), fields=["status", "vip"])))
    lead = tenant.create("lead", {"name": "ann", "status": "new"}, "rep1")
    assert outbox(tenant) == []
    responses = [tenant.call("PATCH", path_of(lead), "rep1", json={"version": 1, "notes": "n"}),
                 tenant.call("PATCH", path_of(lead), "rep1", json={"version": 2, "status": "new"})]
    assert [r.status_code for r in responses] == [200, 200]
    assert outbox(tenant) == [] and runs(tenant) == []
    assert tenant.call("PATCH", path_of(lead), "rep1", json={"version": 2, "status": "won"}).status_code == 200
    assert tenant.call("PATCH", path_of(lead), "rep1", json={"version": 3, "vip": True, "notes": "m"}).status_code == 200
    assert len(outbox(tenant)) == 2
    assert outcomes(tenant) == [("watch", "field.changed", 0, "done")] * 2


def test_record_updated_fires_on_every_change(make_tenant):
    """record.updated fires on any change, and `when` reads the record after the change."""
    tenant = make_tenant(config(automation("on_update", "record.updated", notify("actor"),
                                           when={"$gte": {"employees": 10}})))
    lead = tenant.create("lead", {"name": "ann", "employees": 5}, "rep1")
    tenant.call("PATCH", path_of(lead), "rep1", json={"version": 1, "notes": "x"})
    assert outbox(tenant) == []
    tenant.call("PATCH", path_of(lead), "rep2", json={"version": 2, "employees": 10})
    assert [m["recipients"] for m in outbox(tenant)] == [[tenant.user_ids["rep2"]]]


def test_set_changes_the_record_and_its_history_shows_it(make_tenant):
    """`set` (a constant, a field reference, arithmetic) writes an update row in the audit history."""
    tenant = make_tenant(config(automation(
        "derive", "field.changed",
        {"set": {"x": {"$mul": {"$l": {"$m": "employees"}, "$r": 2}}, "notes": {"$m": "name"}, "vip": True}},
        fields=["employees"])))
    lead = tenant.create("lead", {"name": "ann", "employees": 1}, "rep1")
    assert tenant.call("PATCH", path_of(lead), "rep1", json={"version": 1, "employees": 21}).status_code == 200
    record = stored(tenant, lead)
    assert record["version"] == 3
    assert {k: record["data"].get(k) for k in ("employees", "x", "notes", "vip")} == \
        {"employees": 21, "x": 42, "notes": "ann", "vip": True}
    history = tenant.call("GET", path_of(lead) + "/history", "rep1").get_json()["items"]
    assert [(h["action"], h["record_version"], h["changes"]) for h in history] == [
        ("create", 1, {"name": [None, "ann"], "employees": [None, 1], "status": [None, "new"]}),
        ("update", 2, {"employees": [1, 21]}),
        ("update", 3, {"x": [None, 42], "notes": [None, "ann"], "vip": [None, True]}),
    ]
    assert {h["actor_id"] for h in history} == {tenant.user_ids["rep1"]}
    (run,) = runs(tenant, automation="derive")
    assert run["detail"] == {"actions": [{"set": {"x": 42, "notes": "ann", "vip": True}}]}


def test_assign_owner_from_a_user_field(make_tenant):
    """assign_owner {"field": "assignee"} gives the record to the assignee."""
    tenant = make_tenant(config(automation("route", "field.changed", {"assign_owner": {"field": "assignee"}},
                                           fields=["assignee"])))
    lead = tenant.create("lead", {"name": "ann"}, "admin")
    assert stored(tenant, lead)["owner_id"] == tenant.user_ids["admin"]
    response = tenant.call("PATCH", path_of(lead), json={"version": 1, "assignee": tenant.user_ids["rep2"]})
    assert response.status_code == 200, response.get_json()
    record = stored(tenant, lead)
    assert record["owner_id"] == tenant.user_ids["rep2"] and record["version"] == 3
    history = tenant.call("GET", path_of(lead) + "/history").get_json()["items"]
    assert history[-1]["changes"] == {"owner_id": [tenant.user_ids["admin"], tenant.user_ids["rep2"]]}
    (run,) = runs(tenant)
    assert run["detail"] == {"actions": [{"assign_owner": tenant.user_ids["rep2"]}]}
    # the new owner's team mates see it; the old owner (admin) still does
    assert [r["id"] for r in listed(tenant, "lead")] == [lead["id"]]


def test_assign_owner_recomputes_fields_that_read_the_owner(make_tenant):
    """A computed field reading the system field `owner` follows an owner change made by assign_owner."""
    document = config(automation("route", "field.changed", {"assign_owner": {"field": "assignee"}},
                                 fields=["assignee"]))
    document["entities"]["lead"]["fields"]["owned_by"] = {
        "type": "user", "label": label("Owned by"),
        "computed": {"cases": [{"when": {"$ex": {"owner": 1}}, "value": {"$m": "owner"}}]}}
    tenant = make_tenant(document)
    lead = tenant.create("lead", {"name": "ann"}, "admin")
    assert lead["data"]["owned_by"] == tenant.user_ids["admin"]
    response = tenant.call("PATCH", path_of(lead), json={"version": 1, "assignee": tenant.user_ids["rep2"]})
    assert response.status_code == 200, response.get_json()
    record = stored(tenant, lead)
    assert record["owner_id"] == tenant.user_ids["rep2"]
    assert record["data"]["owned_by"] == tenant.user_ids["rep2"]


def test_notify_resolves_every_kind_of_recipient(make_tenant):
    """owner_manager is the owner's manager; creator, actor, a user field and a role; duplicates once."""
    tenant = make_tenant(config(automation(
        "tell", "record.created", notify("owner_manager", "creator", "actor", "owner", {"field": "assignee"},
                                         {"role": "manager"}))))
    lead = tenant.create("lead", {"name": "ann", "assignee": tenant.user_ids["outsider"]}, "rep1")
    (message,) = outbox(tenant)
    ids = tenant.user_ids
    assert message["recipients"] == sorted({ids["boss"], ids["rep1"], ids["outsider"]})
    assert message["kind"] == "notification" and message["sent_at"] is None
    assert message["payload"] == {"message": MESSAGE, "entity": "lead", "record_id": lead["id"]}


def test_notify_owner_manager_when_the_actor_is_not_the_owner(make_tenant):
    """Recipients are resolved from the record: the manager of rep2 (boss), not of the admin who acts."""
    tenant = make_tenant(config(automation("tell", "field.changed", notify("owner_manager", "actor"),
                                           fields=["status"])))
    lead = tenant.create("lead", {"name": "ann"}, "rep2")
    tenant.call("PATCH", path_of(lead), "admin", json={"version": 1, "status": "won"})
    (message,) = outbox(tenant)
    assert message["recipients"] == sorted([tenant.user_ids["boss"], tenant.user_ids["admin"]])


def test_notify_nobody_writes_an_empty_recipient_list(make_tenant):
    """Observed: a recipient resolving to nobody (a manager-less owner, an empty user field) is left out."""
    tenant = make_tenant(config(automation("tell", "record.created", notify("owner_manager", {"field": "assignee"}))))
    tenant.create("lead", {"name": "ann"}, "outsider")  # outsider has no manager
    assert [m["recipients"] for m in outbox(tenant)] == [[]]


def test_create_task_makes_a_linked_record_with_due_date_and_owner(make_tenant, clock):
    """create_task: a task linked to the lead, due in 3 days (tenant time zone), owned by the lead's owner."""
    tenant = make_tenant(config(automation(
        "follow_up", "field.changed",
        {"create_task": {"entity": "task", "values": {"title": "Call back"}, "link_field": "lead",
                         "due_field": "due", "due_in_days": 3, "assign_to": "owner"}},
        fields=["status"], when={"status": "won"})))
    lead = tenant.create("lead", {"name": "ann"}, "rep1")
    assert tenant.call("PATCH", path_of(lead), "rep2", json={"version": 1, "status": "won"}).status_code == 200
    (task,) = listed(tenant, "task")
    assert task["data"] == {"title": "Call back", "lead": lead["id"], "due": "2026-03-13", "status": "open"}
    assert task["owner_id"] == tenant.user_ids["rep1"]
    assert task["created_by"] == tenant.user_ids["rep2"]
    (run,) = runs(tenant, automation="follow_up")
    assert run["detail"] == {"actions": [{"create_task": {"entity": "task", "id": task["id"]}}]}
    assert run["record_id"] == lead["id"] and run["event"] == "field.changed"


def test_create_task_assigned_to_a_user_field(make_tenant, clock):
    """assign_to {"field": "assignee"} owns the task by the assignee; values may read the record."""
    tenant = make_tenant(config(automation(
        "follow_up", "record.created",
        {"create_task": {"entity": "task", "values": {"title": {"$m": "name"}}, "link_field": "lead",
                         "assign_to": {"field": "assignee"}}})))
    lead = tenant.create("lead", {"name": "Call Li", "assignee": tenant.user_ids["rep2"]}, "rep1")
    (task,) = listed(tenant, "task")
    assert task["data"] == {"title": "Call Li", "lead": lead["id"], "status": "open"}
    assert task["owner_id"] == tenant.user_ids["rep2"]


def test_create_task_on_a_record_the_actor_no_longer_sees(make_tenant):
    """Automations act for the tenant: a task may link to a record an earlier action gave to someone else.

    A rep (customer scope: own) creates a customer; the first action hands it to its account manager,
    the second creates a task linked to it. The write must succeed.
    """
    tenant = make_tenant(config(automation(
        "hand_over", "record.created", {"assign_owner": {"field": "account_manager"}},
        {"create_task": {"entity": "task", "values": {"title": "Welcome call"}, "link_field": "customer",
                         "assign_to": "owner"}},
        entity="customer")))
    response = tenant.call("POST", "/api/v1/records/customer", "rep1",
                           json={"name": "ACME", "account_manager": tenant.user_ids["rep2"]})
    assert response.status_code == 201, response.get_json()
    (task,) = listed(tenant, "task")
    assert task["owner_id"] == tenant.user_ids["rep2"] and task["data"]["customer"] == response.get_json()["id"]


def test_template_qualified_lead_gets_a_follow_up_task(make_tenant, clock):
    """follow_up_qualified_lead: due in two days in Asia/Shanghai, owned by the lead's owner."""
    clock.now = datetime(2026, 3, 10, 17, 0, tzinfo=timezone.utc)  # 2026-03-11 01:00 in Shanghai
    tenant = make_tenant(TEMPLATE, TEMPLATE_USERS)
    lead = tenant.create("lead", {"name": "Li", "company": "ACME", "status": "qualified"}, "rep1")
    assert listed(tenant, "task") == []  # field.changed does not fire on create
    lead = tenant.create("lead", {"name": "Wang", "company": "ACME"}, "rep1")
    response = tenant.call("PATCH", path_of(lead), "boss", json={"version": 1, "status": "qualified"})
    assert response.status_code == 200, response.get_json()
    (task,) = listed(tenant, "task")
    assert task["data"] == {"title": "Follow up the qualified lead / 跟进合格线索", "lead": lead["id"],
                            "due_date": "2026-03-13", "status": "open"}
    assert task["owner_id"] == tenant.user_ids["rep1"]


def test_template_big_deal_alert(make_tenant):
    """big_deal_alert: an opportunity of 1,000,000 or more notifies the owner and the owner's manager."""
    tenant = make_tenant(TEMPLATE, TEMPLATE_USERS)
    customer = tenant.create("customer", {"name": "ACME"}, "rep1")
    for amount in (999999.99, 1000000):
        tenant.create("opportunity", {"name": f"deal {amount}", "customer": customer["id"],
                                      "amount": {"amount": amount, "currency": "CNY"},
                                      "expected_close_date": "2099-01-01"}, "rep1")
    (message,) = outbox(tenant)
    assert message["recipients"] == sorted([tenant.user_ids["boss"], tenant.user_ids["rep1"]])
    assert message["payload"]["message"]["en"] == "A new opportunity of 1,000,000 or more was created."


def test_template_customer_becoming_a_plus_alerts_the_manager(make_tenant):
    """a_plus_customer_alert fires when the computed segment changes to A+ (not on create, not for A)."""
    tenant = make_tenant(TEMPLATE, TEMPLATE_USERS)
    tenant.create("customer", {"name": "Born A+", "potential": "high",
                               "annual_revenue": {"amount": 10000000, "currency": "CNY"}}, "rep1")
    customer = tenant.create("customer", {"name": "ACME", "potential": "high"}, "rep1")
    assert outbox(tenant) == []
    response = tenant.call("PATCH", path_of(customer), "rep1",
                           json={"version": 1, "annual_revenue": {"amount": 10000000, "currency": "CNY"}})
    assert response.status_code == 200 and response.get_json()["data"]["segment"] == "A+"
    (message,) = outbox(tenant)
    assert message["recipients"] == [tenant.user_ids["boss"]]
    assert message["payload"]["record_id"] == customer["id"]


def test_template_activity_revives_a_dormant_customer(make_tenant):
    """revive_dormant_customer: logging an activity on a dormant customer sets it active; others stay."""
    tenant = make_tenant(TEMPLATE, TEMPLATE_USERS)
    dormant = tenant.create("customer", {"name": "Sleepy", "status": "dormant"}, "rep1")
    lost = tenant.create("customer", {"name": "Gone", "status": "lost"}, "rep1")
    for customer in (dormant, lost):
        tenant.create("activity", {"subject": "Visit", "type": "visit", "related_customer": customer["id"],
                                   "happened_at": "2026-03-10T09:00:00+08:00"}, "rep1")
    revived = stored(tenant, dormant)
    assert revived["data"]["status"] == "active" and revived["version"] == 2
    assert stored(tenant, lost)["data"]["status"] == "lost"
    assert outcomes(tenant) == [("revive_dormant_customer", "activity.logged", 0, "done")]
    (run,) = runs(tenant)
    assert run["record_id"] == dormant["id"] and run["entity"] == "customer"
    history = tenant.call("GET", path_of(dormant) + "/history").get_json()["items"]
    assert history[-1]["changes"] == {"status": ["dormant", "active"]}


def test_failing_assign_owner_rolls_the_create_back(make_tenant):
    """assign_owner to an empty user field fails: 422 automation_failed, no record, a `failed` trace."""
    tenant = make_tenant(config(
        automation("note_first", "record.created", {"set": {"notes": "before"}}),
        automation("route", "record.created", {"assign_owner": {"field": "assignee"}}),
    ))
    response = tenant.call("POST", "/api/v1/records/lead", "rep1", json={"name": "orphan"},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "automation_failed"
    assert body["errors"][0]["pointer"] == "" and body["errors"][0]["code"] == "automation_failed"
    assert body["errors"][0]["message"].startswith("automation 'route' could not complete")
    assert listed(tenant, "lead") == []
    (run,) = runs(tenant)  # only the failed run: the done run of note_first was rolled back with the write
    assert (run["automation"], run["entity"], run["event"], run["outcome"], run["depth"]) == \
        ("route", "lead", "record.created", "failed", 0)
    assert run["actor_id"] == tenant.user_ids["rep1"]
    assert run["detail"]["done"] == [] and run["detail"]["error"]
    # the record id in the trace names nothing
    assert tenant.call("GET", f"/api/v1/records/lead/{run['record_id']}").status_code == 404
    response = tenant.call("POST", "/api/v1/records/lead", "rep1", json={"name": "orphan"},
                           headers={"Accept-Language": "zh"})
    assert response.get_json()["errors"][0]["message"].startswith("自动化 'route' 无法完成")
    # with an assignee the same write succeeds
    lead = tenant.create("lead", {"name": "routed", "assignee": tenant.user_ids["rep2"]}, "rep1")
    assert stored(tenant, lead)["owner_id"] == tenant.user_ids["rep2"]


def test_create_task_breaking_the_task_schema_rolls_back(make_tenant):
    """A task whose title (copied from the lead's name) is over 20 characters: nothing is written."""
    tenant = make_tenant(config(automation(
        "follow_up", "field.changed",
        {"set": {"vip": True}},
        {"create_task": {"entity": "task", "values": {"title": {"$m": "name"}}, "link_field": "lead"}},
        fields=["status"])))
    lead = tenant.create("lead", {"name": "a name far longer than twenty"}, "rep1")
    response = tenant.call("PATCH", path_of(lead), "rep1", json={"version": 1, "status": "won"})
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "automation_failed"
    assert [(e["pointer"], e["code"]) for e in body["errors"]] == [("", "automation_failed"), ("/title", "max_length")]
    record = stored(tenant, lead)
    assert record["version"] == 1 and record["data"]["status"] == "new" and "vip" not in record["data"]
    assert listed(tenant, "task") == []
    (run,) = runs(tenant, record_id=lead["id"])
    assert run["outcome"] == "failed" and run["automation"] == "follow_up"
    assert run["detail"]["done"] == [{"set": {"vip": True}}]
    # a short name passes
    short = tenant.create("lead", {"name": "short"}, "rep1")
    assert tenant.call("PATCH", path_of(short), "rep1", json={"version": 1, "status": "won"}).status_code == 200
    assert [t["data"]["title"] for t in listed(tenant, "task")] == ["short"]


def test_set_breaking_a_validation_rule_rolls_back(make_tenant):
    """An automation's write must meet the validation rules too; if not, the whole write is refused."""
    document = config(automation("flag", "record.created", {"set": {"vip": True}}, when={"status": "won"}))
    document["entities"]["lead"]["validations"] = [
        {"key": "vip_needs_budget", "when": {"vip": True}, "assert": {"$ex": {"budget": 1}},
         "message": label("A VIP lead needs a budget."), "pointer": "/budget"}]
    tenant = make_tenant(document)
    response = tenant.call("POST", "/api/v1/records/lead", "rep1", json={"name": "ann", "status": "won"})
    assert response.status_code == 422
    assert [(e["pointer"], e["code"]) for e in response.get_json()["errors"]] == \
        [("", "automation_failed"), ("/budget", "rule_failed")]
    assert listed(tenant, "lead") == []
    tenant.create("lead", {"name": "b", "status": "won", "budget": {"amount": 1, "currency": "CNY"}}, "rep1")


def test_chain_of_automations_stops_at_the_depth_limit(make_tenant):
    """A sets x = y + 1 when y changes, B sets y = x + 1 when x changes: 5 levels run, then `depth_limit`."""
    tenant = make_tenant(config(
        automation("a", "field.changed", {"set": {"x": {"$add": {"$l": {"$m": "y"}, "$r": 1}}}}, fields=["y"]),
        automation("b", "field.changed", {"set": {"y": {"$add": {"$l": {"$m": "x"}, "$r": 1}}}}, fields=["x"]),
    ))
    lead = tenant.create("lead", {"name": "loop"}, "rep1")
    response = tenant.call("PATCH", path_of(lead), "rep1", json={"version": 1, "y": 1})
    assert response.status_code == 200, response.get_json()
    record = stored(tenant, lead)
    assert (record["data"]["x"], record["data"]["y"], record["version"]) == (6, 5, 7)
    assert sorted((r["depth"], r["automation"], r["outcome"]) for r in runs(tenant, record_id=lead["id"])) == [
        (0, "a", "done"), (1, "b", "done"), (2, "a", "done"), (3, "b", "done"), (4, "a", "done"),
        (5, "b", "depth_limit")]
    (limit,) = [r for r in runs(tenant, automation="b", record_id=lead["id"]) if r["outcome"] == "depth_limit"]
    assert limit["detail"] == {"limit": 5} and limit["event"] == "field.changed"


def test_runs_list_automation_record_event_and_outcome(make_tenant):
    """Each trace names the automation, entity, record, event, depth, outcome, actor and time; filters work."""
    tenant = make_tenant(config(
        automation("tell", "record.created", notify("owner")),
        automation("watch", "field.changed", notify("owner"), fields=["status"]),
    ))
    one = tenant.create("lead", {"name": "one"}, "rep1")
    two = tenant.create("lead", {"name": "two"}, "rep2")
    tenant.call("PATCH", path_of(two), "rep2", json={"version": 1, "status": "won"})
    items = runs(tenant)
    assert len(items) == 3
    assert set(items[0]) == {"id", "automation", "entity", "record_id", "event", "depth", "outcome", "detail",
                             "actor_id", "at"}
    assert items[0]["automation"] == "watch"  # newest first
    assert [(r["automation"], r["record_id"], r["event"], r["outcome"], r["actor_id"]) for r in
            runs(tenant, record_id=two["id"])] == [
        ("watch", two["id"], "field.changed", "done", tenant.user_ids["rep2"]),
        ("tell", two["id"], "record.created", "done", tenant.user_ids["rep2"])]
    assert [r["record_id"] for r in runs(tenant, automation="tell")] == [two["id"], one["id"]]
    page = tenant.call("GET", "/api/v1/automations/runs?limit=2").get_json()
    assert len(page["items"]) == 2 and page["next_before"] == page["items"][-1]["id"]
    rest = tenant.call("GET", f"/api/v1/automations/runs?limit=2&before={page['next_before']}").get_json()
    assert [r["id"] for r in page["items"] + rest["items"]] == [r["id"] for r in items]
    assert rest["next_before"] is None


@pytest.mark.parametrize("user", ["boss", "rep1", "viewer"])
@pytest.mark.parametrize("path", ["/api/v1/automations/runs", "/api/v1/automations/outbox"])
def test_runs_and_outbox_are_for_admins_only(tenant, user, path):
    """Non-admins get 403 problem+json."""
    response = tenant.call("GET", path, user)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert tenant.call("GET", path, "admin").status_code == 200


def test_automations_of_other_tenants_and_entities_do_not_fire(make_tenant):
    """A customer automation ignores leads; another tenant's traces and outbox are not visible."""
    tenant = make_tenant(config(automation("tell", "record.created", notify("owner"), entity="customer")))
    other = make_tenant(config(automation("tell", "record.created", notify("owner"))))
    tenant.create("lead", {"name": "ann"}, "rep1")
    other.create("lead", {"name": "b"}, "rep1")
    assert outbox(tenant) == [] and runs(tenant) == []
    assert len(outbox(other)) == 1 and len(runs(other)) == 1
