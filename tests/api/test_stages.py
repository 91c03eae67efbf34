"""Stage pipelines through the API (both databases): where a record starts, moves through gates, lost and
reopened records, admin overrides, forecasts, permissions, stalled records and racing moves."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from lowcode_platform.api import records as records_api
from lowcode_platform.api import stages as stages_api
from lowcode_platform.api.context import caller
from lowcode_platform.records.service import RecordService
from lowcode_platform.records.stages import StageService
from lowcode_platform.storage import ids
from tests.configs import crm, label

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
GATE_MESSAGE = label("Qualify the deal first.", "请先确认商机。")
FILLED = {"amount": {"amount": 5000, "currency": "CNY"}, "close_date": "2026-04-30", "confirmed": True}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Records read and written through the API, and stage moves, see `clock.now` instead of the real time."""
    fake = Clock(T0)

    def records() -> RecordService:
        who = caller()
        return RecordService(who.session, who.config, who.actor, clock=fake)

    monkeypatch.setattr(records_api, "_service", records)
    monkeypatch.setattr(stages_api, "_stages", lambda: StageService(records()))
    return fake


def config(*automations: dict[str, Any], **pipeline: Any) -> dict[str, Any]:
    """The CRM config with deals (reps: their own; viewers: read only), their `call` activities and a
    `sales` pipeline: new -> qualified (needs a close date) -> proposal (amount, close date, a confirmed
    budget and a meeting logged in the stage) -> won (terminal); lost with a reason and a comment."""
    document = crm()
    document["roles"]["rep"]["permissions"]["deal"] = {"create": True, "read": True, "update": True, "scope": "own"}
    document["roles"]["rep"]["permissions"]["call"] = {"create": True, "read": True, "scope": "own"}
    document["roles"]["viewer"]["permissions"]["deal"] = {"read": True, "scope": "all"}
    document["entities"]["deal"] = {
        "label": label("Deal", "商机"), "title_field": "name",
        "fields": {
            "name": {"type": "text", "label": label("Name", "名称"), "required": True},
            "amount": {"type": "money", "label": label("Amount", "金额"), "currencies": ["CNY"], "min": 0},
            "close_date": {"type": "date", "label": label("Close date", "成交日期")},
            "confirmed": {"type": "boolean", "label": label("Budget confirmed", "预算已确认")},
            "notes": {"type": "long_text", "label": label("Notes")},
        },
    }
    document["entities"]["call"] = {
        "label": label("Call", "电话"), "activity_for": ["deal"],
        "fields": {
            "deal": {"type": "reference", "label": label("Deal"), "entity": "deal"},
            "kind": {"type": "enum", "label": label("Kind"), "default": "phone",
                     "options": [{"value": "phone", "label": label("Phone")},
                                 {"value": "meeting", "label": label("Meeting")}]},
        },
    }
    document["pipelines"] = {"sales": {
        "entity": "deal", "label": label("Sales", "销售"),
        "stages": [
            {"key": "new", "label": label("New"), "probability": 10, "rot_days": 7},
            {"key": "qualified", "label": label("Qualified"), "probability": 30, "gate": {"required": ["close_date"]}},
            {"key": "proposal", "label": label("Proposal"), "probability": 60,
             "gate": {"required": ["amount", "close_date"], "when": {"confirmed": True},
                      "activities": [{"entity": "call", "min": 1, "where": {"kind": "meeting"},
                                      "label": label("meeting", "会议")}],
                      "message": GATE_MESSAGE}},
            {"key": "won", "label": label("Won"), "probability": 100, "terminal": True},
        ],
        "won": ["won"],
        "lost": {"reasons": [{"value": "price", "label": label("Price")},
                             {"value": "timing", "label": label("Timing")}],
                 "comment": "required"},
        **pipeline,
    }}
    document["automations"] = list(automations)
    return document


def path_of(record: dict[str, Any]) -> str:
    return f"/api/v1/records/{record['entity']}/{record['id']}"


def move(tenant: Any, record: dict[str, Any], user: str = "admin", language: str = "en", **body: Any) -> Any:
    return tenant.call("POST", path_of(record) + "/stage", user, json=body, headers={"Accept-Language": language})


def moved(tenant: Any, record: dict[str, Any], to: str, user: str = "admin", **body: Any) -> dict[str, Any]:
    response = move(tenant, record, user, to=to, **body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def errors(response: Any) -> list[tuple[str, str]]:
    return [(e["pointer"], e["code"]) for e in response.get_json()["errors"]]


def stored(tenant: Any, record: dict[str, Any], user: str = "admin") -> dict[str, Any]:
    response = tenant.call("GET", path_of(record), user)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def stages(tenant: Any, record: dict[str, Any], user: str = "admin") -> list[dict[str, Any]]:
    response = tenant.call("GET", path_of(record) + "/stages", user)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def audit(tenant: Any, record: dict[str, Any]) -> list[dict[str, Any]]:
    return tenant.call("GET", path_of(record) + "/history").get_json()["items"]


def snapshot(tenant: Any, record: dict[str, Any]) -> tuple[Any, ...]:
    """Everything a refused move must leave as it was."""
    return stored(tenant, record), stages(tenant, record), audit(tenant, record)


def runs(tenant: Any, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = tenant.call("GET", f"/api/v1/automations/runs?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def sales(make_tenant: Any) -> Any:
    return make_tenant(config())


def qualified(tenant: Any, user: str = "admin", **data: Any) -> dict[str, Any]:
    """A deal moved to `qualified` (its gate met on creation)."""
    deal = tenant.create("deal", {"name": "acme", "close_date": "2026-04-30", **data}, user)
    return moved(tenant, deal, "qualified", user)


def meeting(tenant: Any, deal: dict[str, Any], user: str = "admin", kind: str = "meeting") -> dict[str, Any]:
    return tenant.create("call", {"deal": deal["id"], "kind": kind}, user)


# -- where a record starts -------------------------------------------------------------------------

def test_a_new_record_starts_in_the_first_stage(sales, clock):
    """A new deal is in the pipeline's first stage, with its probability, and has one history row."""
    deal = sales.create("deal", {"name": "acme"}, "rep1")
    assert deal["pipeline"] == {
        "key": "sales", "stage": "new", "stage_entered_at": "2026-03-10T12:00:00.000Z", "probability": 10,
        "forecast_category": "pipeline", "won_at": None, "lost_at": None, "stalled": False,
    }
    assert stored(sales, deal)["pipeline"] == deal["pipeline"]
    (row,) = stages(sales, deal)
    assert {k: row[k] for k in ("pipeline", "from", "to", "seconds_in_from", "actor_id", "reason", "override")} == {
        "pipeline": "sales", "from": None, "to": "new", "seconds_in_from": None, "actor_id": sales.user_ids["rep1"],
        "reason": None, "override": False}
    assert at(row["at"]) == T0


def test_a_record_starts_in_the_first_pipeline_of_its_entity(make_tenant):
    """With two pipelines of one entity, new records start in the first stage of the first one listed."""
    document = config()
    sales_pipeline = document["pipelines"].pop("sales")
    document["pipelines"]["renewals"] = {**sales_pipeline, "label": label("Renewals"), "stages": [
        {"key": "due", "label": label("Due"), "probability": 50}, *sales_pipeline["stages"][1:]]}
    document["pipelines"]["sales"] = sales_pipeline
    tenant = make_tenant(document)
    deal = tenant.create("deal", {"name": "acme"})
    assert (deal["pipeline"]["key"], deal["pipeline"]["stage"], deal["pipeline"]["probability"]) == \
        ("renewals", "due", 50)


def test_records_of_an_entity_without_a_pipeline_show_none(sales):
    """A lead has no `pipeline` part and no stage history."""
    lead = sales.create("lead", {"name": "ann"})
    assert "pipeline" not in lead and "pipeline" not in stored(sales, lead)
    assert stages(sales, lead) == []


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("POST", "/stage", {"to": "qualified"}),
    ("PATCH", "/forecast", {"probability": 50}),
])
def test_records_without_a_pipeline_answer_no_pipeline(sales, method, suffix, body):
    """Moving a lead or setting its forecast is 422 no_pipeline, and changes nothing."""
    lead = sales.create("lead", {"name": "ann"})
    response = sales.call(method, path_of(lead) + suffix, json=body)
    assert response.status_code == 422, response.get_json()
    assert errors(response) == [("", "no_pipeline")]
    assert stored(sales, lead)["version"] == 1


# -- gates -----------------------------------------------------------------------------------------

def test_an_unmet_gate_lists_every_requirement_and_writes_nothing(sales):
    """A move into a gate with nothing met is 422 with every requirement; stage, version, history, audit stay."""
    deal = moved(sales, sales.create("deal", {"name": "acme", "close_date": "2026-04-30"}), "qualified")
    sales.call("PATCH", path_of(deal), json={"version": deal["version"], "close_date": None})
    before = snapshot(sales, deal)
    response = move(sales, deal, to="proposal", data={"notes": "trying"})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["code"] == "invalid_record"
    assert errors(response) == [("/data/amount", "gate_required"), ("/data/close_date", "gate_required"),
                                ("/to", "gate_condition"), ("/to", "gate_activities")]
    assert all(GATE_MESSAGE["en"] in e["message"] for e in response.get_json()["errors"])
    assert snapshot(sales, deal) == before
    assert "notes" not in stored(sales, deal)["data"]


def test_gate_errors_are_in_the_request_language(sales):
    """The gate's message and the field's label come in Chinese to a Chinese request."""
    deal = qualified(sales, confirmed=True, amount={"amount": 1, "currency": "CNY"})
    meeting(sales, deal)
    sales.call("PATCH", path_of(deal), json={"version": stored(sales, deal)["version"], "amount": None})
    response = move(sales, deal, language="zh", to="proposal")
    assert response.status_code == 422
    ((pointer, code, message),) = [(e["pointer"], e["code"], e["message"]) for e in response.get_json()["errors"]]
    assert (pointer, code) == ("/data/amount", "gate_required")
    assert "金额" in message and GATE_MESSAGE["zh"] in message


def test_data_given_with_the_move_meets_the_gate_and_is_stored(sales):
    """A close date sent with the move satisfies the gate; the record keeps it, with one update audit row."""
    deal = sales.create("deal", {"name": "acme"})
    refused = move(sales, deal, to="qualified")
    assert errors(refused) == [("/data/close_date", "gate_required")]
    record = moved(sales, deal, "qualified", data={"close_date": "2026-04-30"})
    assert record["data"]["close_date"] == "2026-04-30" and record["pipeline"]["stage"] == "qualified"
    assert stored(sales, deal) == record
    rows = sorted(audit(sales, deal), key=lambda h: h["record_version"])  # order: see the test below
    assert [(h["action"], h["record_version"], h["changes"]) for h in rows] == [
        ("create", 1, {"name": [None, "acme"]}), ("update", 2, {"close_date": [None, "2026-04-30"]}),
        ("stage", 3, {"stage": ["new", "qualified"]})]


def test_the_audit_rows_of_a_move_with_data_are_listed_in_order(sales, monkeypatch):
    """The update and stage rows a move writes are listed oldest first even when their ids share a millisecond."""
    deal = sales.create("deal", {"name": "acme"})
    descending = itertools.count(2**80 - 1, -1)
    frozen = time.time_ns() + 1_000_000  # one millisecond on: after the create's ids, then standing still
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: frozen))
    monkeypatch.setattr(ids, "os", SimpleNamespace(urandom=lambda n: next(descending).to_bytes(n, "big")))
    moved(sales, deal, "qualified", data={"close_date": "2026-04-30"})
    monkeypatch.undo()
    history = audit(sales, deal)
    assert [(h["action"], h["record_version"]) for h in history] == [("create", 1), ("update", 2), ("stage", 3)]


@pytest.mark.parametrize(("data", "expected"), [
    ({"close_date": "30/04/2026"}, [("/data/close_date", "format")]),
    ({"close_date": "2026-04-30", "ghost": 1}, [("/data/ghost", "unknown_field")]),
    ({"close_date": "2026-04-30", "amount": {"amount": -1, "currency": "CNY"}}, [("/data/amount/amount", "minimum")]),
    ({"ghost": 1}, [("/data/ghost", "unknown_field"), ("/data/close_date", "gate_required")]),
    ([1], [("/data", "type")]),
])
def test_invalid_data_with_a_move_is_refused_at_its_pointer(sales, data, expected):
    """Bad data sent with a move is 422 at /data/..., together with the gate's requirements; nothing is written."""
    deal = sales.create("deal", {"name": "acme"})
    before = snapshot(sales, deal)
    response = move(sales, deal, to="qualified", data=data)
    assert response.status_code == 422, response.get_json()
    assert errors(response) == expected
    assert snapshot(sales, deal) == before


def test_activities_count_only_on_this_record_since_it_entered_its_stage(sales, clock):
    """An older meeting, a meeting on another deal and a phone call do not count; a new meeting does."""
    deal = sales.create("deal", {"name": "acme", "close_date": "2026-04-30", **FILLED})
    other = sales.create("deal", {"name": "other"})
    clock.advance(hours=1)
    meeting(sales, deal)  # logged in `new`: too early
    clock.advance(hours=1)
    moved(sales, deal, "qualified")
    clock.advance(hours=1)
    meeting(sales, other)
    meeting(sales, deal, kind="phone")  # not a meeting: the count's `where` leaves it out
    clock.advance(hours=1)
    response = move(sales, deal, to="proposal")
    assert errors(response) == [("/to", "gate_activities")]
    assert "(0 so far)" in response.get_json()["errors"][0]["message"]
    clock.advance(hours=1)
    meeting(sales, deal)
    record = moved(sales, deal, "proposal")
    assert record["pipeline"]["stage"] == "proposal"


def test_a_deleted_activity_does_not_count(sales, clock):
    """A meeting deleted after it was logged no longer meets the gate."""
    deal = qualified(sales, **FILLED)
    clock.advance(minutes=1)
    call = meeting(sales, deal)
    assert sales.call("DELETE", path_of(call)).status_code == 200
    assert errors(move(sales, deal, to="proposal")) == [("/to", "gate_activities")]


# -- successful moves ------------------------------------------------------------------------------

def test_a_move_updates_the_stage_and_writes_history_and_audit(sales, clock):
    """A move sets stage, its time, probability and category, and writes a history row and an audit row."""
    deal = sales.create("deal", {"name": "acme", "close_date": "2026-04-30"}, "rep1")
    clock.advance(hours=2)
    record = moved(sales, deal, "qualified", "rep1")
    assert record["pipeline"] == {
        "key": "sales", "stage": "qualified", "stage_entered_at": "2026-03-10T14:00:00.000Z", "probability": 30,
        "forecast_category": "pipeline", "won_at": None, "lost_at": None, "stalled": False}
    assert record["version"] == 2 and record["updated_by"] == sales.user_ids["rep1"]
    assert stored(sales, deal) == record
    first, second = stages(sales, deal)
    assert (first["from"], first["to"]) == (None, "new")
    assert {k: second[k] for k in ("from", "to", "actor_id", "seconds_in_from", "reason", "comment", "override")} == {
        "from": "new", "to": "qualified", "actor_id": sales.user_ids["rep1"], "seconds_in_from": 7200,
        "reason": None, "comment": None, "override": False}
    assert at(second["at"]) == T0 + timedelta(hours=2)
    last = audit(sales, deal)[-1]
    assert (last["action"], last["changes"], last["actor_id"], last["record_version"]) == \
        ("stage", {"stage": ["new", "qualified"]}, sales.user_ids["rep1"], 2)


def test_entering_a_won_stage_sets_won_at_and_closes_the_forecast(sales, clock):
    """Won: won_at is the move's time, probability 100, category closed; a terminal stage moves no further."""
    deal = qualified(sales, **FILLED)
    clock.advance(minutes=1)
    meeting(sales, deal)
    moved(sales, deal, "proposal")
    clock.advance(days=1)
    record = moved(sales, deal, "won")
    assert (record["pipeline"]["won_at"], record["pipeline"]["probability"], record["pipeline"]["forecast_category"]) \
        == ("2026-03-11T12:01:00.000Z", 100, "closed")
    assert errors(move(sales, deal, to="proposal")) == [("/to", "stage_terminal")]
    assert errors(move(sales, deal, to="lost", reason="price", comment="late")) == [("/to", "stage_terminal")]
    assert [r["to"] for r in stages(sales, deal)] == ["new", "qualified", "proposal", "won"]


@pytest.mark.parametrize(("to", "expected"), [
    ("proposal", [("/to", "stage_skipped")]),
    ("ghost", [("/to", "unknown_stage")]),
    ("new", [("/to", "same_stage")]),
])
def test_moves_against_the_pipeline_rules_are_refused(sales, to, expected):
    """Skipping, an unknown stage and the current stage are 422 at /to, and write nothing."""
    deal = sales.create("deal", {"name": "acme", "close_date": "2026-04-30", **FILLED})
    before = snapshot(sales, deal)
    response = move(sales, deal, to=to)
    assert response.status_code == 422
    assert errors(response) == expected
    assert snapshot(sales, deal) == before


def test_moving_back_is_allowed_unless_the_pipeline_forbids_it(make_tenant):
    """allow_back (true by default) lets a deal return to an earlier stage; allow_back false refuses it."""
    for allow_back, status in ((True, 200), (False, 422)):
        tenant = make_tenant(config(allow_back=allow_back))
        deal = qualified(tenant)
        response = move(tenant, deal, to="new")
        assert response.status_code == status, response.get_json()
        if status == 422:
            assert errors(response) == [("/to", "stage_back")]


def test_allow_skip_lets_a_record_jump_stages(make_tenant):
    """With allow_skip a deal may go from new straight to proposal, the target gate still applying."""
    tenant = make_tenant(config(allow_skip=True))
    deal = tenant.create("deal", {"name": "acme", **FILLED})
    assert errors(move(tenant, deal, to="proposal")) == [("/to", "gate_activities")]
    meeting(tenant, deal)
    assert moved(tenant, deal, "proposal")["pipeline"]["stage"] == "proposal"


@pytest.mark.parametrize("body", [{}, {"to": ""}, {"to": 3}, {"to": None}])
def test_a_move_needs_a_target(sales, body):
    """A move without a stage key in `to` is 422 /to required."""
    deal = sales.create("deal", {"name": "acme"})
    response = move(sales, deal, **body)
    assert response.status_code == 422
    assert errors(response) == [("/to", "required")]


def test_a_move_body_must_be_an_object(sales):
    """A move whose body is not a JSON object is 422."""
    deal = sales.create("deal", {"name": "acme"})
    response = sales.call("POST", path_of(deal) + "/stage", json=["qualified"])
    assert response.status_code == 422
    assert errors(response) == [("", "body_not_object")]


# -- automations -----------------------------------------------------------------------------------

def test_a_move_fires_stage_changed_automations(make_tenant):
    """stage.changed runs automations whose condition holds for the new stage: set and notify act, traced."""
    tenant = make_tenant(config(
        {"key": "confirm", "on": "stage.changed", "entity": "deal", "when": {"stage": "qualified"},
         "then": [{"set": {"confirmed": True}}]},
        {"key": "tell", "on": "stage.changed", "entity": "deal",
         "then": [{"notify": {"to": ["owner"], "message": label("Deal moved", "商机推进")}}]},
        {"key": "on_update", "on": "record.updated", "entity": "deal",
         "then": [{"notify": {"to": ["actor"], "message": label("Updated")}}]},
    ))
    deal = tenant.create("deal", {"name": "acme", "close_date": "2026-04-30"}, "rep1")
    assert runs(tenant) == []
    record = moved(tenant, deal, "qualified", "rep1")
    assert record["data"]["confirmed"] is True
    assert stored(tenant, deal)["data"]["confirmed"] is True
    found = sorted((r["automation"], r["event"], r["outcome"], r["record_id"]) for r in runs(tenant))
    assert found == [("confirm", "stage.changed", "done", deal["id"]),
                     ("on_update", "record.updated", "done", deal["id"]),
                     ("tell", "stage.changed", "done", deal["id"])]
    (tell,) = runs(tenant, automation="tell")
    assert tell["detail"] == {"actions": [{"notify": [tenant.user_ids["rep1"]]}]}
    outbox = tenant.call("GET", "/api/v1/automations/outbox").get_json()["items"]
    assert [m["payload"]["message"]["en"] for m in outbox].count("Deal moved") == 1


def test_a_refused_move_fires_no_automation(make_tenant):
    """A move refused by its gate runs no stage.changed automation."""
    tenant = make_tenant(config({"key": "tell", "on": "stage.changed", "entity": "deal",
                                 "then": [{"notify": {"to": ["owner"], "message": label("Deal moved")}}]}))
    deal = tenant.create("deal", {"name": "acme"})
    assert move(tenant, deal, to="qualified").status_code == 422
    assert runs(tenant) == []


# -- lost and reopened -----------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ({}, [("/reason", "required"), ("/comment", "required")]),
    ({"reason": "price"}, [("/comment", "required")]),
    ({"reason": "price", "comment": "   "}, [("/comment", "required")]),
    ({"reason": "mood", "comment": "sad"}, [("/reason", "invalid_option")]),
    ({"comment": "sad"}, [("/reason", "required")]),
    ({"reason": 7, "comment": "sad"}, [("/reason", "type")]),
])
def test_lost_needs_a_listed_reason_and_a_comment(sales, body, expected):
    """A move to lost without a configured reason, or without the required comment, is 422 and writes nothing."""
    deal = sales.create("deal", {"name": "acme"})
    before = snapshot(sales, deal)
    response = move(sales, deal, to="lost", **body)
    assert response.status_code == 422
    assert errors(response) == expected
    assert snapshot(sales, deal) == before


def test_a_lost_record_has_lost_at_and_an_omitted_forecast(sales, clock):
    """Lost: stage `lost`, lost_at set, probability 0, category omitted; history keeps reason and comment."""
    deal = qualified(sales)
    clock.advance(hours=1)
    record = moved(sales, deal, "lost", reason="price", comment="Too expensive")
    assert record["pipeline"] == {
        "key": "sales", "stage": "lost", "stage_entered_at": "2026-03-10T13:00:00.000Z", "probability": 0,
        "forecast_category": "omitted", "won_at": None, "lost_at": "2026-03-10T13:00:00.000Z", "stalled": False}
    last = stages(sales, deal)[-1]
    assert (last["from"], last["to"], last["reason"], last["comment"], last["seconds_in_from"]) == \
        ("qualified", "lost", "price", "Too expensive", 3600)


def test_a_lost_record_can_be_reopened(sales, clock):
    """A lost deal moved back to a stage is open again: lost_at cleared, the stage's probability and category."""
    deal = qualified(sales)
    clock.advance(hours=1)
    moved(sales, deal, "lost", reason="timing", comment="next year")
    clock.advance(days=2)
    record = moved(sales, deal, "qualified")
    assert record["pipeline"] == {
        "key": "sales", "stage": "qualified", "stage_entered_at": "2026-03-12T13:00:00.000Z", "probability": 30,
        "forecast_category": "pipeline", "won_at": None, "lost_at": None, "stalled": False}
    assert [(r["from"], r["to"], r["seconds_in_from"]) for r in stages(sales, deal)][2:] == [
        ("qualified", "lost", 3600), ("lost", "qualified", 2 * 86400)]


def test_reopening_is_moving_back(make_tenant):
    """With allow_back false a lost record cannot be reopened."""
    tenant = make_tenant(config(allow_back=False))
    deal = tenant.create("deal", {"name": "acme"})
    moved(tenant, deal, "lost", reason="price", comment="no")
    response = move(tenant, deal, to="new")
    assert errors(response) == [("/to", "stage_back")]
    assert stored(tenant, deal)["pipeline"]["stage"] == "lost"


# -- admin override --------------------------------------------------------------------------------

def test_an_admin_override_passes_the_rules_and_the_gate(sales, clock):
    """An admin's override skips stages past an unmet gate; history says override with the reason; audited."""
    deal = sales.create("deal", {"name": "acme"}, "rep1")
    clock.advance(minutes=5)
    record = moved(sales, deal, "won", override={"reason": "signed on paper"})
    assert (record["pipeline"]["stage"], record["pipeline"]["won_at"]) == ("won", "2026-03-10T12:05:00.000Z")
    last = stages(sales, deal)[-1]
    assert {k: last[k] for k in ("from", "to", "override", "override_reason", "reason", "actor_id",
                                 "seconds_in_from")} == {
        "from": "new", "to": "won", "override": True, "override_reason": "signed on paper", "reason": None,
        "actor_id": sales.user_ids["admin"], "seconds_in_from": 300}
    entry = audit(sales, deal)[-1]
    assert (entry["action"], entry["changes"], entry["actor_id"]) == (
        "stage", {"stage": ["new", "won"], "override": [None, "signed on paper"]}, sales.user_ids["admin"])


def test_an_override_leaves_a_terminal_stage(sales):
    """An admin may take a record out of a terminal stage with an override."""
    deal = sales.create("deal", {"name": "acme"})
    moved(sales, deal, "won", override={"reason": "entered by mistake"})
    assert moved(sales, deal, "new", override={"reason": "undo"})["pipeline"]["won_at"] is None


@pytest.mark.parametrize("user", ["boss", "rep1"])
def test_only_admins_may_override(sales, user):
    """A manager or rep who may update the deal gets 403 for an override, and nothing is written."""
    deal = sales.create("deal", {"name": "acme"}, "rep1")
    before = snapshot(sales, deal)
    response = move(sales, deal, user, to="qualified", override={"reason": "because"})
    assert response.status_code == 403, response.get_json()
    assert errors(response) == [("/override", "override_forbidden")]
    assert snapshot(sales, deal) == before


@pytest.mark.parametrize("override", [{}, {"reason": ""}, {"reason": "  "}, {"reason": 5}, True, "why not"])
def test_an_override_needs_a_reason(sales, override):
    """An override without a reason is 422 at /override/reason."""
    deal = sales.create("deal", {"name": "acme"})
    response = move(sales, deal, to="won", override=override)
    assert response.status_code == 422, response.get_json()
    assert errors(response) == [("/override/reason", "required")]
    assert stored(sales, deal)["pipeline"]["stage"] == "new"


def test_an_override_reason_too_long_to_store_is_refused(sales):
    """An override reason beyond the 200 characters history keeps is 422 at /override/reason, not a 500."""
    deal = sales.create("deal", {"name": "acme"})
    response = move(sales, deal, to="won", override={"reason": "x" * 201})
    assert response.status_code == 422, (response.status_code, response.get_json())
    assert [p for p, code in errors(response) if code in ("type", "max_length")] == ["/override/reason"]
    assert stored(sales, deal)["pipeline"]["stage"] == "new"


def test_an_override_does_not_reach_an_unknown_stage(sales):
    """Even an override cannot move a record to a stage the pipeline does not have."""
    deal = sales.create("deal", {"name": "acme"})
    response = move(sales, deal, to="ghost", override={"reason": "sure"})
    assert errors(response) == [("/to", "unknown_stage")]


def test_an_override_to_lost_keeps_the_lost_reason(sales):
    """An admin overriding a move to lost still gives a lost reason, and the history keeps it."""
    deal = sales.create("deal", {"name": "acme"})
    moved(sales, deal, "lost", reason="price", comment="cheaper elsewhere", override={"reason": "cleanup"})
    last = stages(sales, deal)[-1]
    assert (last["to"], last["override"], last["comment"]) == ("lost", True, "cheaper elsewhere")
    assert last["reason"] == "price", "the lost reason is replaced by the override reason"


# -- forecast --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ({"probability": 101}, [("/probability", "type")]),
    ({"probability": -1}, [("/probability", "type")]),
    ({"probability": "50"}, [("/probability", "type")]),
    ({"probability": True}, [("/probability", "type")]),
    ({"probability": None}, [("/probability", "type")]),
    ({"forecast_category": "maybe"}, [("/forecast_category", "invalid_option")]),
    ({"forecast_category": None}, [("/forecast_category", "invalid_option")]),
    ({"colour": "red"}, [("/colour", "unknown_field")]),
    ({}, [("", "required")]),
    ({"probability": 101, "forecast_category": "maybe"},
     [("/probability", "type"), ("/forecast_category", "invalid_option")]),
])
def test_forecast_is_validated(sales, body, expected):
    """A probability outside 0..100 or not a number, an unknown category or key is 422; nothing is written."""
    deal = sales.create("deal", {"name": "acme"})
    response = sales.call("PATCH", path_of(deal) + "/forecast", json=body)
    assert response.status_code == 422, response.get_json()
    assert errors(response) == expected
    assert stored(sales, deal) == deal


@pytest.mark.parametrize(("body", "probability", "category"), [
    ({"probability": 0}, 0, "pipeline"),
    ({"probability": 100}, 100, "pipeline"),
    ({"probability": 55.5}, 55.5, "pipeline"),
    ({"forecast_category": "best_case"}, 10, "best_case"),
    ({"probability": 45, "forecast_category": "commit"}, 45, "commit"),
])
def test_forecast_is_set(sales, body, probability, category):
    """A valid forecast is stored and shown, and audited as a forecast change."""
    deal = sales.create("deal", {"name": "acme"})
    response = sales.call("PATCH", path_of(deal) + "/forecast", json=body)
    assert response.status_code == 200, response.get_json()
    shown = response.get_json()["pipeline"]
    assert (shown["probability"], shown["forecast_category"], shown["stage"]) == (probability, category, "new")
    assert stored(sales, deal)["pipeline"] == shown
    assert audit(sales, deal)[-1]["action"] == "forecast"


def test_the_next_stage_change_resets_the_forecast(sales):
    """A rep's probability and category hold until the next move, which sets the new stage's own."""
    deal = sales.create("deal", {"name": "acme", "close_date": "2026-04-30"})
    sales.call("PATCH", path_of(deal) + "/forecast", json={"probability": 80, "forecast_category": "commit"})
    record = moved(sales, deal, "qualified")
    assert (record["pipeline"]["probability"], record["pipeline"]["forecast_category"]) == (30, "pipeline")


# -- permissions -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("POST", "/stage", {"to": "qualified"}),
    ("PATCH", "/forecast", {"probability": 50}),
])
def test_a_role_without_update_gets_403(sales, method, suffix, body):
    """A viewer who may read deals may not move them or set their forecast."""
    deal = sales.create("deal", {"name": "acme", "close_date": "2026-04-30"})
    assert stages(sales, deal, "viewer")
    response = sales.call(method, path_of(deal) + suffix, "viewer", json=body)
    assert response.status_code == 403, response.get_json()
    assert stored(sales, deal)["version"] == 1


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("POST", "/stage", {"to": "qualified"}),
    ("PATCH", "/forecast", {"probability": 50}),
    ("GET", "/stages", None),
])
def test_another_owners_record_is_not_found_for_an_own_scope(sales, method, suffix, body):
    """A rep whose deal scope is `own` gets 404 for another rep's deal: moves, forecast and history."""
    deal = sales.create("deal", {"name": "acme", "close_date": "2026-04-30"}, "rep2")
    response = sales.call(method, path_of(deal) + suffix, "rep1", json=body)
    assert response.status_code == 404, response.get_json()
    assert stored(sales, deal)["version"] == 1


def test_the_owner_moves_their_own_record(sales):
    """A rep moves their own deal."""
    deal = sales.create("deal", {"name": "acme", "close_date": "2026-04-30"}, "rep1")
    assert moved(sales, deal, "qualified", "rep1")["pipeline"]["stage"] == "qualified"


# -- stalled ---------------------------------------------------------------------------------------

def test_a_record_idle_beyond_rot_days_is_stalled_until_an_activity(sales, clock):
    """After rot_days with no move or activity a deal is stalled; logging an activity resets the clock."""
    deal = sales.create("deal", {"name": "acme"})
    clock.advance(days=7)
    assert stored(sales, deal)["pipeline"]["stalled"] is False  # exactly rot_days: not yet
    clock.advance(seconds=1)
    assert stored(sales, deal)["pipeline"]["stalled"] is True
    listed = sales.call("GET", "/api/v1/records/deal").get_json()["items"]
    assert [r["pipeline"]["stalled"] for r in listed] == [True]
    meeting(sales, deal, kind="phone")
    assert stored(sales, deal)["pipeline"]["stalled"] is False
    clock.advance(days=7, seconds=1)
    assert stored(sales, deal)["pipeline"]["stalled"] is True


def test_a_move_resets_stalled_and_stages_without_rot_days_never_stall(sales, clock):
    """A stalled deal moved on is fresh; `qualified` has no rot_days, so it never stalls; lost records do not."""
    deal = sales.create("deal", {"name": "acme", "close_date": "2026-04-30"})
    clock.advance(days=30)
    assert stored(sales, deal)["pipeline"]["stalled"] is True
    assert moved(sales, deal, "qualified")["pipeline"]["stalled"] is False
    clock.advance(days=365)
    assert stored(sales, deal)["pipeline"]["stalled"] is False
    other = sales.create("deal", {"name": "other"})
    moved(sales, other, "lost", reason="price", comment="no")
    clock.advance(days=30)
    assert stored(sales, other)["pipeline"]["stalled"] is False


# -- racing moves ----------------------------------------------------------------------------------

def test_exactly_one_of_two_racing_moves_wins(sales):
    """Of two racing moves of a deal one wins, the other is 409 (PostgreSQL) or 422 same_stage; one history row."""
    deal = sales.create("deal", {"name": "acme", "close_date": "2026-04-30"})
    barrier = threading.Barrier(2)
    responses: list[Any] = [None, None]

    def run(i: int) -> None:
        client = sales.client.application.test_client()
        barrier.wait()
        responses[i] = client.post(path_of(deal) + "/stage", headers=sales.headers("admin"), json={"to": "qualified"})

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200 and statuses[1] in (409, 422), [r.get_json() for r in responses]
    loser = next(r for r in responses if r.status_code != 200)
    assert errors(loser) in ([("/version", "stale_version")], [("/to", "same_stage")])
    assert [(r["from"], r["to"]) for r in stages(sales, deal)] == [(None, "new"), ("new", "qualified")]
    assert [h["action"] for h in audit(sales, deal)] == ["create", "stage"]
    assert stored(sales, deal)["version"] == 2


def test_a_fractional_probability_is_kept_exactly(make_tenant):
    """A stage probability of 12.5 is stored and shown as 12.5, on creation and after a move back."""
    document = config()
    document["pipelines"]["sales"]["stages"][0]["probability"] = Decimal("12.5")
    tenant = make_tenant(document)
    deal = tenant.create("deal", {"name": "acme", "close_date": "2026-04-30"})
    assert deal["pipeline"]["probability"] == 12.5
    assert stored(tenant, deal)["pipeline"]["probability"] == 12.5
    moved(tenant, deal, "qualified")
    assert moved(tenant, deal, "new")["pipeline"]["probability"] == 12.5
