"""Validation rules of an entity (`validations`): every create and update must meet them.

A rule fails a write when its `when` holds (or it has none) and its `assert` does not; the answer is 422
with one `rule_failed` error per broken rule, at the rule's pointer, in the rule's words and the request
language. Tested on a custom CRM config and on the b2b_solution_sales template.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lowcode_platform.api import records as records_api
from lowcode_platform.api.context import caller
from lowcode_platform.records.service import RecordService
from lowcode_platform.schema import load_config
from tests.approvals.support import approve_through
from tests.configs import crm, label

TEMPLATE = load_config(Path(__file__).resolve().parents[2] / "tenant_configs" / "b2b_solution_sales").document
TEMPLATE_USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
                  ("rep1", "sales_rep", "boss", "east"))
VIP_NEEDS_BUDGET = {"en": "A VIP lead needs a budget.", "zh": "VIP 线索必须填写预算。"}
SCORE_WITHIN = {"en": "The score cannot exceed the number of employees.", "zh": "评分不能超过员工人数。"}
WON_NEEDS_DUE = {"en": "A won lead needs a due date.", "zh": "赢单线索必须有截止日期。"}
CLOSE_MESSAGE = {"en": "The expected close date cannot be before the opportunity was created.",
                 "zh": "预计成交日期不能早于商机的创建日期。"}
DISCOUNT_MESSAGE = {"en": "A discount above 20% needs a reason.", "zh": "折扣超过 20% 时必须填写折扣原因。"}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Records written through the API see `clock.now` instead of the real time."""
    fake = Clock(datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc))

    def service() -> RecordService:
        who = caller()
        return RecordService(who.session, who.config, who.actor, clock=fake)

    monkeypatch.setattr(records_api, "_service", service)
    return fake


def rules_config() -> dict[str, Any]:
    document = crm()
    document["entities"]["lead"]["validations"] = [
        {"key": "vip_needs_budget", "when": {"vip": True}, "assert": {"$ex": {"budget": 1}},
         "message": VIP_NEEDS_BUDGET, "pointer": "/budget"},
        {"key": "score_within_employees",
         "assert": {"$or": [{"$nex": {"score": 1}}, {"$lte": {"score": {"$m": "employees"}}}]},
         "message": SCORE_WITHIN, "pointer": "/score"},
        {"key": "won_needs_due", "when": {"status": "won"}, "assert": {"$ex": {"due": 1}}, "message": WON_NEEDS_DUE},
    ]
    return document


def errors(response: Any) -> list[tuple[str, str, str]]:
    return [(e["pointer"], e["code"], e["message"]) for e in response.get_json()["errors"]]


def lead_names(tenant: Any) -> list[str]:
    return sorted(r["data"]["name"] for r in tenant.call("GET", "/api/v1/records/lead").get_json()["items"])


@pytest.fixture
def ruled(make_tenant: Any) -> Any:
    return make_tenant(rules_config())


# -- a custom config --------------------------------------------------------------------------------

def test_create_breaking_a_rule_is_422_at_the_rules_pointer(ruled):
    """A VIP lead without a budget is refused at /budget with the rule's message; nothing is stored."""
    response = ruled.call("POST", "/api/v1/records/lead", json={"name": "v", "vip": True},
                          headers={"Accept-Language": "en"})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["code"] == "invalid_record"
    assert errors(response) == [("/budget", "rule_failed", VIP_NEEDS_BUDGET["en"])]
    assert lead_names(ruled) == []


@pytest.mark.parametrize(("language", "locale"), [("zh", "zh"), ("zh-CN,zh;q=0.9", "zh"), ("en-US", "en"),
                                                   ("de", "en")])
def test_rule_messages_follow_accept_language(ruled, language, locale):
    """The message is the rule's own text in the request language (the tenant default, en, otherwise)."""
    response = ruled.call("POST", "/api/v1/records/lead", json={"name": "v", "vip": True},
                          headers={"Accept-Language": language})
    assert response.status_code == 422
    assert errors(response) == [("/budget", "rule_failed", VIP_NEEDS_BUDGET[locale])]


def test_rule_message_without_chinese_falls_back_to_english(make_tenant):
    """A rule message given only in English is shown in English to a Chinese request."""
    document = crm()
    document["entities"]["lead"]["validations"] = [
        {"key": "named", "assert": {"$mt": {"name": "[a-z]+"}}, "message": {"en": "Lower-case names only."},
         "pointer": "/name"}]
    tenant = make_tenant(document)
    response = tenant.call("POST", "/api/v1/records/lead", json={"name": "Upper"}, headers={"Accept-Language": "zh"})
    assert response.status_code == 422
    assert errors(response) == [("/name", "rule_failed", "Lower-case names only.")]


def test_rule_whose_when_is_false_is_not_enforced(ruled):
    """`when` false (vip false or missing, status not won) leaves the rule out."""
    ruled.create("lead", {"name": "ann", "vip": False})
    ruled.create("lead", {"name": "b"})
    ruled.create("lead", {"name": "c", "status": "new"})
    ruled.create("lead", {"name": "d", "vip": True, "budget": {"amount": 0, "currency": "CNY"}})
    assert lead_names(ruled) == ["ann", "b", "c", "d"]


def test_every_broken_rule_is_reported_together(ruled):
    """Three broken rules answer three errors, in config order; a rule without a pointer is at the record ('')."""
    response = ruled.call("POST", "/api/v1/records/lead", headers={"Accept-Language": "zh"},
                          json={"name": "x", "vip": True, "status": "won", "score": 50, "employees": 10})
    assert response.status_code == 422
    assert errors(response) == [("/budget", "rule_failed", VIP_NEEDS_BUDGET["zh"]),
                                ("/score", "rule_failed", SCORE_WITHIN["zh"]),
                                ("", "rule_failed", WON_NEEDS_DUE["zh"])]


def test_rules_compare_fields_with_each_other(ruled):
    """score <= employees: equal passes, above fails, a missing employees count fails the assert."""
    ruled.create("lead", {"name": "eq", "score": 10, "employees": 10})
    for body in ({"name": "above", "score": 10.5, "employees": 10}, {"name": "no_count", "score": 1}):
        response = ruled.call("POST", "/api/v1/records/lead", json=body)
        assert response.status_code == 422, body
        assert [(p, c) for p, c, _ in errors(response)] == [("/score", "rule_failed")]
    assert lead_names(ruled) == ["eq"]


def test_schema_errors_come_before_rules(ruled):
    """A record that breaks the field schema is refused for that alone (rules see only well-formed records)."""
    response = ruled.call("POST", "/api/v1/records/lead", json={"name": "x", "vip": True, "employees": -1})
    assert response.status_code == 422
    assert [(p, c) for p, c, _ in errors(response)] == [("/employees", "minimum")]


def test_update_breaking_a_rule_is_refused_and_changes_nothing(ruled):
    """A patch making the record break a rule is 422; the record keeps its version and values."""
    lead = ruled.create("lead", {"name": "u", "employees": 5, "budget": {"amount": 10, "currency": "CNY"}})
    path = f"/api/v1/records/lead/{lead['id']}"
    response = ruled.call("PATCH", path, json={"version": 1, "score": 6}, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert errors(response) == [("/score", "rule_failed", SCORE_WITHIN["en"])]
    response = ruled.call("PATCH", path, json={"version": 1, "vip": True, "budget": None})
    assert response.status_code == 422
    assert [(p, c) for p, c, _ in errors(response)] == [("/budget", "rule_failed")]
    stored = ruled.call("GET", path).get_json()
    assert stored["version"] == 1
    assert stored["data"] == {"name": "u", "employees": 5, "budget": {"amount": 10, "currency": "CNY"},
                              "status": "new"}
    response = ruled.call("PATCH", path, json={"version": 1, "vip": True, "score": 5})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == 2


def test_update_that_does_not_touch_the_rules_fields_still_rechecks(make_tenant, clock):
    """Rules are checked on the whole record at every update, not only on the fields the patch changes.

    Observed: a record that came to break a rule (here because time passed) cannot be updated at all,
    not even a field the rule does not read, until it meets the rule again.
    """
    document = crm()
    document["entities"]["lead"]["validations"] = [
        {"key": "due_after_a_week", "when": {"$gte": {"days_since_created": 7}}, "assert": {"$ex": {"due": 1}},
         "message": label("Leads older than a week need a due date."), "pointer": "/due"}]
    tenant = make_tenant(document)
    lead = tenant.create("lead", {"name": "old"})
    path = f"/api/v1/records/lead/{lead['id']}"
    clock.now += timedelta(days=6, hours=23)
    assert tenant.call("PATCH", path, json={"version": 1, "notes": "still fine"}).status_code == 200
    clock.now += timedelta(hours=1)
    response = tenant.call("PATCH", path, json={"version": 2, "notes": "too late"})
    assert response.status_code == 422
    assert [(p, c) for p, c, _ in errors(response)] == [("/due", "rule_failed")]
    response = tenant.call("PATCH", path, json={"version": 2})  # an empty patch is checked too
    assert response.status_code == 422
    response = tenant.call("PATCH", path, json={"version": 2, "notes": "now", "due": "2026-04-01"})
    assert response.status_code == 200, response.get_json()
    # reading and deleting are not writes of the data: not checked
    assert tenant.call("GET", path).status_code == 200
    assert tenant.call("DELETE", path).status_code == 200


def test_rules_see_computed_fields(make_tenant):
    """A rule may read a computed field: it sees the value computed for this write."""
    document = crm()
    fields = document["entities"]["lead"]["fields"]
    fields["size"] = {"type": "integer", "label": label("Size"), "computed": {
        "cases": [{"when": {"$ex": {"employees": 1}}, "value": {"$mul": {"$l": {"$m": "employees"}, "$r": 2}}}]}}
    document["entities"]["lead"]["validations"] = [
        {"key": "small", "assert": {"$or": [{"$nex": {"size": 1}}, {"$lt": {"size": 100}}]},
         "message": label("Too big"), "pointer": "/employees"}]
    tenant = make_tenant(document)
    tenant.create("lead", {"name": "ok", "employees": 49})
    response = tenant.call("POST", "/api/v1/records/lead", json={"name": "big", "employees": 50})
    assert response.status_code == 422
    assert [(p, c) for p, c, _ in errors(response)] == [("/employees", "rule_failed")]


# -- the template -----------------------------------------------------------------------------------

@pytest.fixture
def sales(make_tenant: Any) -> Any:
    return make_tenant(TEMPLATE, TEMPLATE_USERS)


def opportunity(customer_id: str, **data: Any) -> dict[str, Any]:
    return {"name": "Deal", "customer": customer_id, "amount": {"amount": 100000, "currency": "CNY"},
            "expected_close_date": "2099-12-31", **data}


@pytest.mark.parametrize(("moment", "close", "accepted"), [
    # 12:00 UTC is 20:00 in Shanghai, the same day
    ("2026-03-10T12:00:00+00:00", "2026-03-10", True),
    ("2026-03-10T12:00:00+00:00", "2026-03-09", False),
    # 17:00 UTC on the 10th is 01:00 on the 11th in Shanghai: created_on is the 11th
    ("2026-03-10T17:00:00+00:00", "2026-03-10", False),
    ("2026-03-10T17:00:00+00:00", "2026-03-11", True),
    # 15:59 UTC is 23:59 in Shanghai: still the 10th
    ("2026-03-10T15:59:59+00:00", "2026-03-10", True),
    ("2026-03-10T16:00:00+00:00", "2026-03-10", False),
])
def test_template_close_date_not_before_the_creation_date_in_shanghai(sales, clock, moment, close, accepted):
    """close_not_before_creation compares with `created_on`, the creation date in Asia/Shanghai."""
    clock.now = datetime.fromisoformat(moment)
    customer = sales.create("customer", {"name": "ACME"}, "rep1")
    response = sales.call("POST", "/api/v1/records/opportunity", "rep1",
                          json=opportunity(customer["id"], expected_close_date=close))
    if accepted:
        assert response.status_code == 201, response.get_json()
    else:
        assert response.status_code == 422, response.get_json()
        assert errors(response) == [("/expected_close_date", "rule_failed", CLOSE_MESSAGE["zh"])]  # default zh


def test_template_close_date_rule_on_update_uses_the_creation_date(sales, clock):
    """Weeks later, the close date may still be moved to the creation date but not before it."""
    clock.now = datetime(2026, 3, 10, 17, 0, tzinfo=timezone.utc)  # 2026-03-11 in Shanghai
    customer = sales.create("customer", {"name": "ACME"}, "rep1")
    deal = sales.create("opportunity", opportunity(customer["id"]), "rep1")
    path = f"/api/v1/records/opportunity/{deal['id']}"
    clock.now += timedelta(days=30)
    response = sales.call("PATCH", path, "rep1", json={"version": 1, "expected_close_date": "2026-03-10"},
                          headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert errors(response) == [("/expected_close_date", "rule_failed", CLOSE_MESSAGE["en"])]
    response = sales.call("PATCH", path, "rep1", json={"version": 1, "expected_close_date": "2026-03-11"})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(("extra", "broken"), [
    ({"discount_percent": 20}, []),
    ({"discount_percent": 20.01}, ["/discount_reason"]),
    ({"discount_percent": 35, "discount_reason": "strategic account"}, []),
    ({"discount_percent": 100}, ["/discount_reason"]),
    ({"discount_reason": "no discount at all"}, []),
    ({}, []),
])
def test_template_discount_above_20_needs_a_reason(sales, extra, broken):
    """discount_needs_reason: a discount over 20 % needs `discount_reason`; 20 % exactly does not."""
    customer = sales.create("customer", {"name": "ACME"}, "rep1")
    response = sales.call("POST", "/api/v1/records/opportunity", "rep1", json=opportunity(customer["id"], **extra),
                          headers={"Accept-Language": "en"})
    if broken:
        assert response.status_code == 422, response.get_json()
        assert errors(response) == [("/discount_reason", "rule_failed", DISCOUNT_MESSAGE["en"])]
    else:
        assert response.status_code == 201, response.get_json()


def test_template_both_rules_broken_together(sales):
    """Both template rules broken in one write: two errors, in config order, in Chinese by default."""
    customer = sales.create("customer", {"name": "ACME"}, "rep1")
    response = sales.call("POST", "/api/v1/records/opportunity", "rep1",
                          json=opportunity(customer["id"], expected_close_date="2000-01-01", discount_percent=50))
    assert response.status_code == 422
    assert errors(response) == [("/expected_close_date", "rule_failed", CLOSE_MESSAGE["zh"]),
                                ("/discount_reason", "rule_failed", DISCOUNT_MESSAGE["zh"])]


def test_template_discount_rule_on_update(sales):
    """Raising the discount, or removing the reason of a high discount, is refused; with a reason it passes."""
    customer = sales.create("customer", {"name": "ACME"}, "rep1")
    deal = sales.create("opportunity", opportunity(customer["id"], discount_percent=10), "rep1")
    path = f"/api/v1/records/opportunity/{deal['id']}"
    response = sales.call("PATCH", path, "rep1", json={"version": 1, "discount_percent": 25})
    assert response.status_code == 422
    assert [(p, c) for p, c, _ in errors(response)] == [("/discount_reason", "rule_failed")]
    response = sales.call("PATCH", path, "rep1", json={"version": 1, "discount_percent": 25, "discount_reason": "why"})
    assert response.status_code == 202, response.get_json()  # a valid change, waiting for the discount approval
    request = approve_through(sales, response.get_json()["approval"]["id"], ("boss", "admin"))
    assert request["status"] == "approved"
    response = sales.call("PATCH", path, "rep1", json={"version": 2, "discount_reason": None})
    assert response.status_code == 422
    assert [(p, c) for p, c, _ in errors(response)] == [("/discount_reason", "rule_failed")]
    response = sales.call("PATCH", path, "rep1", json={"version": 2, "discount_reason": None, "discount_percent": 20})
    assert response.status_code == 202, response.get_json()
    approve_through(sales, response.get_json()["approval"]["id"], ("boss", "admin"))
    response = sales.call("GET", path, "rep1")
    assert "discount_reason" not in response.get_json()["data"]
