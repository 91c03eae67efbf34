"""The shipped tenant templates: each one validates, and a deal walks its whole stage pipeline through the API.

`b2b_solution_sales` runs the seven-step enterprise funnel on its opportunities (discover 0, qualify 10,
develop 20, solution 40, proof 60, close 80, deploy 100 won and terminal). `health_checkup_sales` sells
corporate health checkups (团体体检): lead 5, opportunity 15, bid 35, negotiation 60, then contract, service
and revisit, all three won at 100, revisit terminal. For each, the walk shows that a gate refuses with the
list of what it lacks, that the requirements are filled on the way (the move's `data`, activities logged in
the stage), and checks probabilities, forecast categories, won and lost dates and the stage history. The
clock of the record and stage services is fixed and moved by hand, so that "logged since the deal entered its
stage" and the seconds spent in each stage are exact on both backends.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lowcode_platform.api import approvals as approvals_api
from lowcode_platform.api import records as records_api
from lowcode_platform.api import stages as stages_api
from lowcode_platform.api.context import caller
from lowcode_platform.configuration import iter_config_errors
from lowcode_platform.records.approvals import ApprovalService
from lowcode_platform.records.service import RecordService
from lowcode_platform.records.stages import StageService
from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from tests.approvals.support import approve_through

TEMPLATES = ("b2b_solution_sales", "health_checkup_sales")
USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
         ("rep", "sales_rep", "boss", "east"))
T0 = datetime(2026, 3, 10, 1, 0, tzinfo=timezone.utc)
CNY = "CNY"


def template(name: str) -> dict[str, Any]:
    return copy.deepcopy(load_config(PROJECT_TEMPLATES / name).document)


class Clock:
    """The time the services see; it moves only when a test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Records written, read and moved through the API see `clock.now`."""
    fake = Clock(T0)

    def records() -> RecordService:
        who = caller()
        return RecordService(who.session, who.config, who.actor, clock=fake)

    monkeypatch.setattr(records_api, "_service", records)
    monkeypatch.setattr(stages_api, "_stages", lambda: StageService(records()))
    monkeypatch.setattr(approvals_api, "_approvals", lambda: ApprovalService(records()))
    return fake


def errors(response: Any) -> list[tuple[str, str]]:
    return [(e.get("pointer", ""), e["code"]) for e in response.get_json()["errors"]]


def move(tenant: Any, entity: str, record: dict[str, Any], to: str, user: str = "rep", locale: str = "en",
         **body: Any) -> Any:
    return tenant.call("POST", f"/api/v1/records/{entity}/{record['id']}/stage", user,
                       json={"to": to, **body}, headers={"Accept-Language": locale})


def moved(tenant: Any, entity: str, record: dict[str, Any], to: str, **body: Any) -> dict[str, Any]:
    response = move(tenant, entity, record, to, **body)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    assert result["pipeline"]["stage"] == to
    return result


def refused(tenant: Any, entity: str, record: dict[str, Any], to: str, **body: Any) -> list[tuple[str, str]]:
    """The move is refused with 422; the pointers and codes of what it lacks."""
    response = move(tenant, entity, record, to, **body)
    assert response.status_code == 422, response.get_json()
    return errors(response)


def history(tenant: Any, entity: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    response = tenant.call("GET", f"/api/v1/records/{entity}/{record['id']}/stages", "rep")
    assert response.status_code == 200, response.get_json()
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def stage_of(tenant: Any, entity: str, record: dict[str, Any]) -> dict[str, Any]:
    response = tenant.call("GET", f"/api/v1/records/{entity}/{record['id']}", "rep")
    assert response.status_code == 200, response.get_json()
    shown: dict[str, Any] = response.get_json()["pipeline"]
    return shown


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- the templates are valid ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", TEMPLATES)
def test_template_is_valid(name: str) -> None:
    """The folder loads without file errors and the merged document has no config error."""
    loaded = load_config(PROJECT_TEMPLATES / name)
    assert [e.format() for e in loaded.errors] == []
    assert [(e.pointer, e.code) for e in iter_config_errors(loaded.document)] == []


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_is_bilingual(name: str) -> None:
    """Every label of the template (any object of just `en` and `zh`), pipelines included, has both texts."""
    missing: list[str] = []

    def walk(value: Any, pointer: str) -> None:
        if isinstance(value, dict) and value and set(value) <= {"en", "zh"}:  # a label
            if not (value.get("en") and value.get("zh")):
                missing.append(pointer)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{pointer}/{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{pointer}/{i}")

    document = template(name)
    walk(document, "")
    assert missing == []
    assert document["pipelines"], "the template has a pipeline"


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("user", ["admin", "boss", "rep"])
def test_every_form_opens(make_tenant: Any, name: str, user: str) -> None:
    """Each role gets a create and an edit form for every entity, in both languages."""
    tenant = make_tenant(template(name), USERS)
    items = tenant.call("GET", "/api/v1/forms", user).get_json()["items"]
    entities = set(template(name)["entities"])
    assert {(i["entity"], i["purpose"]) for i in items} >= {(e, p) for e in entities for p in ("create", "edit")}
    for item in items:
        for locale in ("en", "zh"):
            response = tenant.call("GET", f"/api/v1/forms/{item['entity']}/{item['purpose']}", user,
                                   headers={"Accept-Language": locale})
            assert response.status_code == 200, (item, response.get_json())


@pytest.mark.parametrize("user", ["admin", "rep"])
def test_health_pages_render(make_tenant: Any, app: Any, user: str) -> None:
    """The /web list, create and edit pages of every entity of the health template render for the role
    (the RJSF interop test covers b2b_solution_sales' forms in a browser)."""
    tenant = make_tenant(template("health_checkup_sales"), USERS)
    customer = tenant.create("customer", {"name": "Huaxin", "has_provider": True, "current_provider": "Meinian"}, user)
    contact = tenant.create("contact", {"name": "Zhou Min", "customer": customer["id"], "phone": "13912345678",
                                        "role_in_deal": "decision_maker"}, user)
    ids = {"customer": customer["id"], "contact": contact["id"],
           "lead": tenant.create("lead", {"company": "Huaxin", "name": "Zhou Min"}, user)["id"],
           "opportunity": tenant.create("opportunity", {
               "name": "Huaxin checkups", "customer": customer["id"], "expected_close_date": "2099-01-31",
               "package_tier": "custom", "custom_items": "Thyroid ultrasound", "bid_required": True}, user)["id"]}
    ids["activity"] = tenant.create("activity", {"subject": "Visit", "type": "visit", "next_follow_up": "2099-02-01",
                                                 "happened_at": "2026-03-01T10:00:00+08:00",
                                                 "related_opportunity": ids["opportunity"]}, user)["id"]
    browser = app.test_client()
    page = browser.get("/web/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text
    assert browser.post("/web/sign-in", data={"token": tenant.tokens[user], "csrf_token": csrf.group(1)}).status_code == 303
    for entity, record_id in ids.items():
        for path in (f"/web/{entity}", f"/web/{entity}/new", f"/web/{entity}/{record_id}/edit"):
            for lang in ("en", "zh"):
                response = browser.get(f"{path}?lang={lang}")
                assert response.status_code == 200, (path, response.text[:2000])
    assert "体检方案" in browser.get("/web/opportunity/new?lang=zh").text
    assert "Contract and service" in browser.get(f"/web/opportunity/{ids['opportunity']}/edit?lang=en").text


# --- b2b_solution_sales: the enterprise funnel -----------------------------------------------------------

B2B_STAGES = [("discover", 0), ("qualify", 10), ("develop", 20), ("solution", 40), ("proof", 60), ("close", 80),
              ("deploy", 100)]


@pytest.fixture
def b2b(make_tenant: Any, clock: Clock) -> Any:
    return make_tenant(template("b2b_solution_sales"), USERS)


def b2b_deal(tenant: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    customer = tenant.create("customer", {"name": "Acme Robotics"}, "rep")
    deal = tenant.create("opportunity", {
        "name": "Acme line 2 automation", "customer": customer["id"], "amount": {"amount": 1250000, "currency": CNY},
        "expected_close_date": "2026-09-30"}, "rep")
    return customer, deal


def test_b2b_pipeline_is_the_seven_step_funnel() -> None:
    """The stages, probabilities, won and terminal stages and lost reasons the template ships."""
    pipeline = template("b2b_solution_sales")["pipelines"]["enterprise_sales"]
    assert pipeline["entity"] == "opportunity"
    assert [(s["key"], s["probability"]) for s in pipeline["stages"]] == B2B_STAGES
    assert pipeline["won"] == ["deploy"]
    assert [s["key"] for s in pipeline["stages"] if s.get("terminal")] == ["deploy"]
    assert all(s.get("rot_days") for s in pipeline["stages"][:-1])
    assert [r["value"] for r in pipeline["lost"]["reasons"]] == [
        "price", "competitor", "no_budget", "no_decision", "timing", "other"]
    assert pipeline["lost"]["comment"] == "required"


def test_b2b_deal_walks_every_stage(b2b: Any, clock: Clock) -> None:
    """From discover to deploy, each gate first refusing with what it lacks, then passing once it is filled."""
    customer, deal = b2b_deal(b2b)
    chen = b2b.create("contact", {"name": "Chen Jie", "customer": customer["id"], "is_decision_maker": True,
                                  "department": "Board"}, "rep")
    liu = b2b.create("contact", {"name": "Liu Yang", "customer": customer["id"]}, "rep")
    assert deal["pipeline"]["key"] == "enterprise_sales"
    assert (deal["pipeline"]["stage"], deal["pipeline"]["probability"]) == ("discover", 0)
    assert deal["pipeline"]["forecast_category"] == "pipeline"
    assert deal["pipeline"]["stage_entered_at"] == at(T0)

    # qualify: the first gate lists all four requirements, in English and in Chinese
    qualify = {"key_need": "Line 2 loses 6% of output to manual changeovers.", "decision_maker": chen["id"],
               "budget": {"amount": 1500000, "currency": CNY}, "decision_timeline": "within_6_months"}
    clock.tick(days=2)
    response = move(b2b, "opportunity", deal, "qualify")
    assert response.status_code == 422
    assert errors(response) == [("/data/key_need", "gate_required"), ("/data/decision_maker", "gate_required"),
                                ("/data/budget", "gate_required"), ("/data/decision_timeline", "gate_required")]
    assert response.get_json()["errors"][0]["message"].startswith("Key need must be filled in to enter this stage.")
    assert "decision timeline" in response.get_json()["errors"][0]["message"]
    chinese = move(b2b, "opportunity", deal, "qualify", locale="zh").get_json()["errors"]
    assert chinese[1]["message"].startswith("进入此阶段前必须填写关键人（决策人）。")
    # stages are not skipped, and what is sent is checked with the record
    assert refused(b2b, "opportunity", deal, "develop") == [("/to", "stage_skipped")]
    assert refused(b2b, "opportunity", deal, "qualify", data={**qualify, "decision_timeline": "someday"}) == [
        ("/data/decision_timeline", "invalid_option")]
    # half of it: only the rest is listed, and nothing is stored
    half = {k: qualify[k] for k in ("key_need", "budget")}
    assert refused(b2b, "opportunity", deal, "qualify", data=half) == [
        ("/data/decision_maker", "gate_required"), ("/data/decision_timeline", "gate_required")]
    assert "key_need" not in b2b.call("GET", f"/api/v1/records/opportunity/{deal['id']}", "rep").get_json()["data"]
    deal = moved(b2b, "opportunity", deal, "qualify", data=qualify)
    assert deal["data"]["decision_maker"] == chen["id"] and deal["data"]["budget"]["amount"] == 1500000
    assert deal["pipeline"]["probability"] == 10

    # develop: a sponsor inside the customer
    clock.tick(days=5)
    assert refused(b2b, "opportunity", deal, "develop") == [("/data/sponsor", "gate_required")]
    deal = moved(b2b, "opportunity", deal, "develop", data={"sponsor": liu["id"]})
    # a visit while developing does not count for proof, two stages on
    clock.tick(days=1)
    b2b.create("activity", {"subject": "Site visit", "type": "visit", "happened_at": "2026-03-18T10:00:00+08:00",
                            "related_opportunity": deal["id"], "next_follow_up": "2026-03-25"}, "rep")

    # solution: a summary or a proposal document; the document alone will do
    clock.tick(days=7)
    assert refused(b2b, "opportunity", deal, "solution") == [("/to", "gate_condition")]
    deal = moved(b2b, "opportunity", deal, "solution",
                 data={"proposal_url": "https://files.example.com/acme/proposal-v1.pdf"})

    # proof: a visit or demo meeting logged while in solution; a call does not count
    clock.tick(days=3)
    response = move(b2b, "opportunity", deal, "proof")
    assert errors(response) == [("/to", "gate_activities")]
    assert "at least 1 customer visit or demo meeting in the current stage (0 so far)" in \
        response.get_json()["errors"][0]["message"]
    b2b.create("activity", {"subject": "Pricing call", "type": "call", "happened_at": "2026-03-24T10:00:00+08:00",
                            "related_opportunity": deal["id"]}, "rep")
    assert refused(b2b, "opportunity", deal, "proof") == [("/to", "gate_activities")]
    b2b.create("activity", {"subject": "Demo on site", "type": "meeting", "happened_at": "2026-03-24T14:00:00+08:00",
                            "related_opportunity": deal["id"]}, "rep")
    clock.tick(hours=1)
    deal = moved(b2b, "opportunity", deal, "proof")

    # close: the decision maker's verbal approval
    clock.tick(days=14)
    assert refused(b2b, "opportunity", deal, "close") == [("/to", "gate_condition")]
    assert refused(b2b, "opportunity", deal, "close", data={"verbal_approval": False}) == [("/to", "gate_condition")]
    # a deal of a million or more enters close once the manager and a vice president (here: the admin) approve
    response = move(b2b, "opportunity", deal, "close", data={"verbal_approval": True, "verbal_approval_on": "2026-04-08"})
    assert response.status_code == 202 and response.get_json()["approval"]["flow"] == "big_deal"
    assert response.get_json()["pipeline"]["stage"] == "proof"
    assert approve_through(b2b, response.get_json()["approval"]["id"], ("boss", "admin"))["status"] == "approved"
    deal = b2b.call("GET", f"/api/v1/records/opportunity/{deal['id']}", "rep").get_json()
    assert deal["pipeline"]["stage"] == "close" and deal["data"]["verbal_approval"] is True
    assert deal["pipeline"]["won_at"] is None and deal["pipeline"]["forecast_category"] == "pipeline"

    # deploy: won once the contract is signed, and final
    clock.tick(days=10)
    assert refused(b2b, "opportunity", deal, "deploy") == [("/data/contract_signed_on", "gate_required")]
    deal = moved(b2b, "opportunity", deal, "deploy", data={"contract_signed_on": "2026-04-18"})
    won = deal["pipeline"]
    assert (won["probability"], won["forecast_category"], won["won_at"], won["lost_at"]) == (
        100, "closed", at(clock.now), None)
    assert refused(b2b, "opportunity", deal, "close") == [("/to", "stage_terminal")]
    assert refused(b2b, "opportunity", deal, "lost", reason="price", comment="Too late") == [("/to", "stage_terminal")]

    rows = history(b2b, "opportunity", deal)
    assert [(r["from"], r["to"]) for r in rows] == [
        (None, "discover"), *zip([s for s, _ in B2B_STAGES], [s for s, _ in B2B_STAGES[1:]], strict=False)]
    assert [r["seconds_in_from"] for r in rows] == [None, *(round(timedelta(days=d).total_seconds())
                                                            for d in (2, 5, 8, 3 + 1 / 24, 14, 10))]
    assert {r["actor_id"] for r in rows} == {b2b.user_ids["rep"]}
    assert not any(r["override"] for r in rows)


def test_b2b_probabilities_follow_the_stages(b2b: Any, clock: Clock) -> None:
    """Each stage sets its probability; moving back is allowed and takes the earlier stage's probability."""
    customer, deal = b2b_deal(b2b)
    deal = moved(b2b, "opportunity", deal, "qualify", data={
        "key_need": "ERP", "decision_maker": b2b.create("contact", {"name": "Chen", "customer": customer["id"]}, "rep")["id"],
        "budget": {"amount": 1, "currency": CNY}, "decision_timeline": "within_3_months"})
    assert deal["pipeline"]["probability"] == 10
    back = moved(b2b, "opportunity", deal, "discover")
    assert back["pipeline"]["probability"] == 0
    again = moved(b2b, "opportunity", deal, "qualify")  # the data stays: the gate holds without any
    assert again["pipeline"]["probability"] == 10


def test_b2b_lost_needs_a_listed_reason_and_a_comment(b2b: Any, clock: Clock) -> None:
    """Losing a deal names one of the six reasons and says why in a comment; it is then omitted from the forecast."""
    _, deal = b2b_deal(b2b)
    assert refused(b2b, "opportunity", deal, "lost") == [("/reason", "required"), ("/comment", "required")]
    assert refused(b2b, "opportunity", deal, "lost", reason="weather", comment="x") == [("/reason", "invalid_option")]
    assert refused(b2b, "opportunity", deal, "lost", reason="competitor", comment="  ") == [("/comment", "required")]
    clock.tick(days=1)
    lost = moved(b2b, "opportunity", deal, "lost", reason="competitor", comment="Initech bundled hardware.")
    assert (lost["pipeline"]["probability"], lost["pipeline"]["forecast_category"]) == (0, "omitted")
    assert (lost["pipeline"]["lost_at"], lost["pipeline"]["won_at"]) == (at(clock.now), None)
    last = history(b2b, "opportunity", deal)[-1]
    assert (last["from"], last["to"], last["reason"], last["comment"]) == (
        "discover", "lost", "competitor", "Initech bundled hardware.")


def test_b2b_deal_rots_after_its_stage_rot_days(b2b: Any, clock: Clock) -> None:
    """Discover has 14 rot days: an idle deal is stalled on the 15th day, and an activity revives it."""
    _, deal = b2b_deal(b2b)
    clock.tick(days=14)
    assert stage_of(b2b, "opportunity", deal)["stalled"] is False
    clock.tick(days=1)
    assert stage_of(b2b, "opportunity", deal)["stalled"] is True
    b2b.create("activity", {"subject": "Call", "type": "call", "happened_at": "2026-03-25T10:00:00+08:00",
                            "related_opportunity": deal["id"]}, "rep")
    assert stage_of(b2b, "opportunity", deal)["stalled"] is False


def test_b2b_forms_show_the_gate_fields(b2b: Any) -> None:
    """The opportunity create form takes the qualification fields; the edit form the later stages' fields too."""
    def fields(purpose: str) -> list[str]:
        document = b2b.call("GET", f"/api/v1/forms/opportunity/{purpose}", "rep").get_json()
        order: list[str] = document["uiSchema"]["ui:order"]
        return order

    qualification = ["key_need", "decision_maker", "budget", "decision_timeline"]
    assert set(qualification) <= set(fields("create"))
    assert set(qualification + ["sponsor", "solution_summary", "proposal_url", "verbal_approval",
                                "verbal_approval_on", "contract_signed_on"]) <= set(fields("edit"))


# --- health_checkup_sales: corporate health checkups --------------------------------------------------------

HEALTH_STAGES = [("lead", 5), ("opportunity", 15), ("bid", 35), ("negotiation", 60), ("contract", 100),
                 ("service", 100), ("revisit", 100)]


@pytest.fixture
def health(make_tenant: Any, clock: Clock) -> Any:
    return make_tenant(template("health_checkup_sales"), USERS)


def health_deal(tenant: Any, **data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    customer = tenant.create("customer", {"name": "Huaxin Precision Manufacturing", "employees": 1200,
                                          "industry": "manufacturing", "region": {"province": "320000", "city": "320500"}},
                             "rep")
    deal = tenant.create("opportunity", {"name": "Huaxin 2026 annual checkups", "customer": customer["id"],
                                         "expected_close_date": "2026-05-31", **data}, "rep")
    return customer, deal


def test_health_pipeline_stages() -> None:
    """Lead to revisit; contract, service and revisit all count as won; revisit is final."""
    document = template("health_checkup_sales")
    assert document["tenant"]["currency"] == CNY and document["tenant"]["timezone"] == "Asia/Shanghai"
    assert set(document["roles"]) == {"admin", "sales_manager", "sales_rep"}
    pipeline = document["pipelines"]["group_checkup"]
    assert [(s["key"], s["probability"]) for s in pipeline["stages"]] == HEALTH_STAGES
    assert pipeline["won"] == ["contract", "service", "revisit"]
    assert [s["key"] for s in pipeline["stages"] if s.get("terminal")] == ["revisit"]
    assert pipeline["lost"]["comment"] == "required"


def test_health_deal_walks_every_stage(health: Any, clock: Clock) -> None:
    """A tendered deal from lead to revisit, each gate first refusing with what it lacks."""
    customer, deal = health_deal(health, bid_required=True, bid_deadline="2026-04-15")
    hr = health.create("contact", {"name": "Zhou Min", "customer": customer["id"], "department": "hr",
                                   "role_in_deal": "coordinator", "phone": "13912345678"}, "rep")
    assert (deal["pipeline"]["key"], deal["pipeline"]["stage"], deal["pipeline"]["probability"]) == (
        "group_checkup", "lead", 5)

    # opportunity: the HR contact and when the checkups should start
    clock.tick(days=3)
    response = move(health, "opportunity", deal, "opportunity")
    assert errors(response) == [("/data/contact", "gate_required"), ("/data/checkup_window_start", "gate_required")]
    assert response.get_json()["errors"][0]["message"].startswith("HR / admin contact must be filled in")
    chinese = move(health, "opportunity", deal, "opportunity", locale="zh").get_json()["errors"]
    assert chinese[1]["message"].startswith("进入此阶段前必须填写期望体检开始日期。")
    assert refused(health, "opportunity", deal, "bid") == [("/to", "stage_skipped")]
    # a window that ends before it starts breaks the opportunity's own rule
    assert refused(health, "opportunity", deal, "opportunity", data={
        "contact": hr["id"], "checkup_window_start": "2026-06-01", "checkup_window_end": "2026-05-01"}) == [
        ("/data/checkup_window_end", "rule_failed")]
    deal = moved(health, "opportunity", deal, "opportunity", data={
        "contact": hr["id"], "checkup_window_start": "2026-06-01", "checkup_window_end": "2026-07-31"})
    assert deal["pipeline"]["probability"] == 15

    # bid: headcount and package
    clock.tick(days=7)
    assert refused(health, "opportunity", deal, "bid") == [("/data/headcount", "gate_required"),
                                                          ("/data/package_tier", "gate_required")]
    assert refused(health, "opportunity", deal, "bid", data={"headcount": 0, "package_tier": "premium"}) == [
        ("/data/headcount", "minimum")]
    deal = moved(health, "opportunity", deal, "bid", data={"headcount": 1150, "package_tier": "premium"})
    health.create("activity", {"subject": "Site survey of the canteen", "type": "site_survey",
                               "happened_at": "2026-03-21T09:00:00+08:00", "related_opportunity": deal["id"],
                               "related_customer": customer["id"], "duration_minutes": 90}, "rep")

    # negotiation: a price per head, and for a tender the bid document
    clock.tick(days=14)
    assert refused(health, "opportunity", deal, "negotiation") == [("/data/price_per_head", "gate_required"),
                                                                  ("/to", "gate_condition")]
    price = {"price_per_head": {"amount": 680, "currency": CNY}}
    assert refused(health, "opportunity", deal, "negotiation", data=price) == [("/to", "gate_condition")]
    deal = moved(health, "opportunity", deal, "negotiation",
                 data={**price, "bid_document": "https://files.example.com/huaxin/bid-2026.pdf"})
    assert deal["pipeline"]["probability"] == 60
    assert deal["data"]["estimated_total"] == 782000  # 1,150 × 680

    # contract: won once signed
    clock.tick(days=10)
    assert refused(health, "opportunity", deal, "contract") == [("/data/contract_signed_on", "gate_required")]
    deal = moved(health, "opportunity", deal, "contract", data={
        "contract_signed_on": "2026-04-20", "contract_number": "HX-2026-017",
        "contract_amount": {"amount": 750000, "currency": CNY}})
    signed = deal["pipeline"]
    assert (signed["probability"], signed["forecast_category"], signed["won_at"]) == (100, "closed", at(clock.now))

    # service: the checkups are scheduled
    clock.tick(days=30)
    assert refused(health, "opportunity", deal, "service") == [("/data/checkup_date", "gate_required")]
    deal = moved(health, "opportunity", deal, "service", data={"checkup_date": "2026-06-08"})
    assert (deal["pipeline"]["probability"], deal["pipeline"]["forecast_category"]) == (100, "closed")
    assert deal["pipeline"]["won_at"] == signed["won_at"]  # after-sale stages keep the date the deal was won

    # revisit: a revisit logged during the service, and the satisfaction score; then final
    clock.tick(days=45)
    assert refused(health, "opportunity", deal, "revisit") == [("/data/satisfaction_score", "gate_required"),
                                                              ("/to", "gate_activities")]
    health.create("activity", {"subject": "Follow-up call", "type": "call", "happened_at": "2026-07-20T10:00:00+08:00",
                               "related_opportunity": deal["id"]}, "rep")
    assert refused(health, "opportunity", deal, "revisit", data={"satisfaction_score": 9}) == [
        ("/to", "gate_activities")]
    health.create("activity", {"subject": "Service revisit with HR", "type": "revisit",
                               "happened_at": "2026-07-22T15:00:00+08:00", "related_opportunity": deal["id"],
                               "contact": hr["id"]}, "rep")
    clock.tick(hours=2)
    deal = moved(health, "opportunity", deal, "revisit", data={"satisfaction_score": 9, "renewal_intent": "yes"})
    assert (deal["pipeline"]["probability"], deal["pipeline"]["forecast_category"]) == (100, "closed")
    assert deal["pipeline"]["won_at"] == signed["won_at"]
    assert refused(health, "opportunity", deal, "service") == [("/to", "stage_terminal")]

    rows = history(health, "opportunity", deal)
    keys = [s for s, _ in HEALTH_STAGES]
    assert [(r["from"], r["to"]) for r in rows] == [(None, "lead"), *zip(keys, keys[1:], strict=False)]
    assert [r["seconds_in_from"] for r in rows] == [None, *(round(timedelta(days=d).total_seconds())
                                                            for d in (3, 7, 14, 10, 30, 45 + 1 / 12))]


def test_health_negotiation_without_a_tender_needs_only_the_price(health: Any, clock: Clock) -> None:
    """Without a public tender (the default), the price per head opens negotiation."""
    customer, deal = health_deal(health, headcount=80, package_tier="standard")
    assert deal["data"]["bid_required"] is False
    contact = health.create("contact", {"name": "Wu Lei", "customer": customer["id"]}, "rep")
    moved(health, "opportunity", deal, "opportunity", data={"contact": contact["id"], "checkup_window_start": "2026-09-01"})
    moved(health, "opportunity", deal, "bid")
    deal = moved(health, "opportunity", deal, "negotiation", data={"price_per_head": {"amount": 450, "currency": CNY}})
    assert deal["data"]["estimated_total"] == 36000


def test_health_lost_tender(health: Any, clock: Clock) -> None:
    """A lost tender names its reason and a comment, and leaves the forecast."""
    customer, deal = health_deal(health)
    assert refused(health, "opportunity", deal, "lost", reason="bid_lost") == [("/comment", "required")]
    lost = moved(health, "opportunity", deal, "lost", reason="bid_lost", comment="Scored second on price.")
    assert (lost["pipeline"]["probability"], lost["pipeline"]["forecast_category"]) == (0, "omitted")
    assert history(health, "opportunity", deal)[-1]["reason"] == "bid_lost"


def test_health_after_sale_stages_keep_the_won_date(health: Any, clock: Clock) -> None:
    """Moving from contract (won) to service (won) keeps the moment the deal was won."""
    customer, deal = health_deal(health, headcount=50, package_tier="basic")
    contact = health.create("contact", {"name": "Wu Lei", "customer": customer["id"]}, "rep")
    moved(health, "opportunity", deal, "opportunity", data={"contact": contact["id"], "checkup_window_start": "2026-09-01"})
    moved(health, "opportunity", deal, "bid")
    moved(health, "opportunity", deal, "negotiation", data={"price_per_head": {"amount": 300, "currency": CNY}})
    won = moved(health, "opportunity", deal, "contract", data={"contract_signed_on": "2026-03-10"})["pipeline"]["won_at"]
    clock.tick(days=20)
    service = moved(health, "opportunity", deal, "service", data={"checkup_date": "2026-04-01"})
    assert service["pipeline"]["won_at"] == won
    # a deal taken back out of the won stages is no longer won; signing again wins it anew
    back = moved(health, "opportunity", deal, "negotiation")["pipeline"]
    assert (back["won_at"], back["probability"], back["forecast_category"]) == (None, 60, "pipeline")
    clock.tick(days=1)
    again = moved(health, "opportunity", deal, "contract")["pipeline"]
    assert again["won_at"] == at(clock.now)


def test_health_forms_apply_their_conditions(health: Any) -> None:
    """Through the create forms: a custom package needs its items, a tender its deadline, a rep cannot set a
    lead's status or a discount, and a contact needs a mobile number."""
    customer = health.create("customer", {"name": "Jinqiao Logistics"}, "rep")
    body = {"name": "Jinqiao checkups", "customer": customer["id"], "expected_close_date": "2026-06-30",
            "package_tier": "custom", "bid_required": True}
    response = health.call("POST", "/api/v1/records/opportunity?form=create", "rep", json=body)
    assert sorted(errors(response)) == [("/bid_deadline", "required"), ("/custom_items", "required")]
    response = health.call("POST", "/api/v1/records/opportunity?form=create", "rep",
                           json={**body, "custom_items": "Bone density, thyroid ultrasound", "bid_deadline": "2026-05-01"})
    assert response.status_code == 201, response.get_json()
    response = health.call("POST", "/api/v1/records/opportunity?form=create", "rep",
                           json={**body, "package_tier": "basic", "bid_required": False, "discount_percent": 5})
    assert errors(response) == [("/discount_percent", "readonly_field")]
    lead = {"company": "Jinqiao Logistics", "name": "Qian Li", "phone": "13612345678", "status": "qualified"}
    response = health.call("POST", "/api/v1/records/lead?form=create", "rep", json=lead)
    assert errors(response) == [("/status", "not_on_form")]
    assert health.call("POST", "/api/v1/records/lead?form=create", "boss", json=lead).status_code == 201
    response = health.call("POST", "/api/v1/records/contact?form=create", "rep",
                           json={"name": "Qian Li", "customer": customer["id"]})
    assert errors(response) == [("/phone", "required")]
