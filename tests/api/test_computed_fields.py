"""Computed fields: `{cases: [{when, value}], default?}`, stored with the record on every write.

The value is the first case whose `when` holds, else the default, else no value (the field is absent).
Computed fields may read each other (evaluated in dependency order, whatever the field order); a client
may send a computed field only with the value it computes to.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from lowcode_platform.schema import load_config
from tests.configs import crm, label

TEMPLATE = load_config(Path(__file__).resolve().parents[2] / "tenant_configs" / "b2b_solution_sales").document
TEMPLATE_USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
                  ("rep1", "sales_rep", "boss", "east"))


def computed_config() -> dict[str, Any]:
    """Leads with `amount` and `probability`, a computed `weighted` (amount * probability / 100), a computed
    `tier` read from `weighted` (declared before it) with a default, and a computed copy of the name."""
    document = crm()
    fields = document["entities"]["lead"]["fields"]
    fields["tier"] = {
        "type": "enum", "label": label("Tier"), "indexed": True,
        "options": [{"value": "big", "label": label("Big")}, {"value": "medium", "label": label("Medium")},
                    {"value": "small", "label": label("Small")}],
        "computed": {"cases": [{"when": {"$gte": {"weighted": 1000}}, "value": "big"},
                               {"when": {"$gte": {"weighted": 100}}, "value": "medium"}],
                     "default": "small"},
    }
    fields["amount"] = {"type": "decimal", "label": label("Amount"), "min": 0}
    fields["probability"] = {"type": "integer", "label": label("Probability"), "min": 0, "max": 100}
    fields["weighted"] = {
        "type": "decimal", "label": label("Weighted amount"), "max": 1000000,
        "computed": {"cases": [{"when": {"$and": [{"$ex": {"amount": 1}}, {"$ex": {"probability": 1}}]},
                                "value": {"$div": {"$l": {"$mul": {"$l": {"$m": "amount"}, "$r": {"$m": "probability"}}},
                                                   "$r": 100}}}]},
    }
    fields["title"] = {"type": "text", "label": label("Title"),
                       "computed": {"cases": [{"when": {"status": "won"}, "value": {"$m": "name"}}]}}
    fields["hot"] = {"type": "boolean", "label": label("Hot"),
                     "computed": {"cases": [{"when": {"$iany": {"tags": {"$i": "hot"}}}, "value": True}],
                                  "default": False}}
    return document


@pytest.fixture
def tenant(make_tenant: Any) -> Any:
    return make_tenant(computed_config())


def path_of(record: dict[str, Any]) -> str:
    return f"/api/v1/records/{record['entity']}/{record['id']}"


def raw(response: Any) -> dict[str, Any]:
    """The response body with numbers as written (no float rounding)."""
    return json.loads(response.get_data(as_text=True), parse_float=Decimal)


def names(tenant: Any, query: str) -> list[str]:
    response = tenant.call("GET", f"/api/v1/records/lead?{query}")
    assert response.status_code == 200, response.get_json()
    return sorted(r["data"]["name"] for r in response.get_json()["items"])


def test_values_are_computed_and_stored_on_create(tenant):
    """weighted = amount * probability / 100 exactly; tier reads weighted although declared before it."""
    response = tenant.call("POST", "/api/v1/records/lead", json={"name": "ann", "amount": 2500, "probability": 40})
    assert response.status_code == 201, response.get_json()
    data = raw(response)["data"]
    assert data["weighted"] == 1000 and data["tier"] == "big" and data["hot"] is False
    stored = raw(tenant.call("GET", path_of(response.get_json())))["data"]
    assert stored == {"name": "ann", "amount": 2500, "probability": 40, "weighted": 1000, "tier": "big",
                      "hot": False, "status": "new"}


def test_decimal_arithmetic_is_exact(tenant):
    """0.1 * 30 / 100 is 0.03 exactly, and 33.33 * 3 / 100 is 0.9999."""
    one = tenant.call("POST", "/api/v1/records/lead", json={"name": "ann", "amount": 0.1, "probability": 30})
    two = tenant.call("POST", "/api/v1/records/lead", json={"name": "b", "amount": 33.33, "probability": 3})
    assert Decimal(str(raw(one)["data"]["weighted"])) == Decimal("0.03")
    assert Decimal(str(raw(two)["data"]["weighted"])) == Decimal("0.9999")
    assert raw(one)["data"]["tier"] == "small"


def test_without_a_default_the_field_is_absent(tenant):
    """No case holds and no default: the field is not stored; with a default the default is stored."""
    record = tenant.create("lead", {"name": "ann", "amount": 100})
    assert "weighted" not in record["data"] and "title" not in record["data"]
    assert record["data"]["tier"] == "small" and record["data"]["hot"] is False


def test_values_are_recomputed_on_update(tenant):
    """Changing an input recomputes every computed field that depends on it, transitively; history shows it."""
    record = tenant.create("lead", {"name": "ann", "amount": 2000, "probability": 10})
    assert record["data"]["weighted"] == 200 and record["data"]["tier"] == "medium"
    response = tenant.call("PATCH", path_of(record), json={"version": 1, "probability": 60})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["weighted"] == 1200 and response.get_json()["data"]["tier"] == "big"
    response = tenant.call("PATCH", path_of(record), json={"version": 2, "amount": None})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert "weighted" not in data and data["tier"] == "small"
    response = tenant.call("PATCH", path_of(record), json={"version": 3, "status": "won", "tags": ["hot"]})
    assert response.get_json()["data"]["title"] == "ann" and response.get_json()["data"]["hot"] is True
    response = tenant.call("PATCH", path_of(record), json={"version": 4, "name": "renamed"})
    assert response.get_json()["data"]["title"] == "renamed"
    history = tenant.call("GET", path_of(record) + "/history").get_json()["items"]
    assert history[1]["changes"] == {"probability": [10, 60], "weighted": [200, 1200], "tier": ["medium", "big"]}
    assert history[2]["changes"] == {"amount": [2000, None], "weighted": [1200, None], "tier": ["big", "small"]}
    assert history[4]["changes"] == {"name": ["ann", "renamed"], "title": ["ann", "renamed"]}


def test_computed_fields_are_filterable(tenant):
    """Stored values answer the exact-match filter and `where`, like any field."""
    tenant.create("lead", {"name": "big", "amount": 5000, "probability": 50})
    tenant.create("lead", {"name": "medium", "amount": 500, "probability": 50})
    tenant.create("lead", {"name": "small"})
    assert names(tenant, "tier=big") == ["big"]
    assert names(tenant, "tier=small") == ["small"]
    assert names(tenant, "weighted=250") == ["medium"]
    assert names(tenant, "weighted=2500.00") == ["big"]
    where = quote(json.dumps({"$gte": {"weighted": 250}}))
    assert names(tenant, f"where={where}") == ["big", "medium"]
    where = quote(json.dumps({"$nex": {"weighted": 1}}))
    assert names(tenant, f"where={where}") == ["small"]
    where = quote(json.dumps({"$or": [{"tier": "big"}, {"tier": "small"}]}))
    assert names(tenant, f"where={where}&sort=-weighted") == ["big", "small"]


@pytest.mark.parametrize(("body", "pointers"), [
    ({"name": "ann", "amount": 2500, "probability": 40, "weighted": 999}, ["/weighted"]),
    ({"name": "ann", "amount": 2500, "probability": 40, "tier": "small"}, ["/tier"]),
    ({"name": "ann", "weighted": 1}, ["/weighted"]),  # computes to nothing
    ({"name": "ann", "amount": 2500, "probability": 40, "weighted": 5, "tier": "small", "hot": True},
     ["/weighted", "/tier", "/hot"]),
])
def test_sending_a_different_value_is_422(tenant, body, pointers):
    """A client value for a computed field that differs from the computed one: 422 `computed_field` at the field."""
    response = tenant.call("POST", "/api/v1/records/lead", json=body)
    assert response.status_code == 422, response.get_json()
    assert sorted((e["pointer"], e["code"]) for e in response.get_json()["errors"]) == \
        sorted((p, "computed_field") for p in pointers)
    assert names(tenant, "") == []


def test_sending_the_same_value_is_accepted(tenant):
    """A client may send a computed field with the value it computes to (1000.0 equals 1000)."""
    body = {"name": "ann", "amount": 2500, "probability": 40, "weighted": 1000.0, "tier": "big", "hot": False}
    record = tenant.create("lead", body)
    assert record["data"]["weighted"] == 1000
    response = tenant.call("PATCH", path_of(record), json={"version": 1, "tier": "big", "notes": "n"})
    assert response.status_code == 200, response.get_json()
    response = tenant.call("PATCH", path_of(record), json={"version": 2, "probability": 10, "tier": "big"})
    assert response.status_code == 422  # probability 10 makes the tier medium
    assert [(e["pointer"], e["code"]) for e in response.get_json()["errors"]] == [("/tier", "computed_field")]
    response = tenant.call("PATCH", path_of(record), json={"version": 2, "probability": 10, "tier": "medium"})
    assert response.status_code == 200, response.get_json()


def test_computed_value_must_fit_the_field(tenant):
    """A computed value breaking the field's own limits (max 1,000,000) refuses the write at the field."""
    response = tenant.call("POST", "/api/v1/records/lead", json={"name": "ann", "amount": 2000001, "probability": 50})
    assert response.status_code == 422, response.get_json()
    assert [(e["pointer"], e["code"]) for e in response.get_json()["errors"]] == [("/weighted", "maximum")]


def test_chain_of_computed_fields_in_dependency_order(make_tenant):
    """c reads b, b reads a, a reads an input; declared c, b, a: each sees the value computed this write."""
    document = crm()
    fields = document["entities"]["lead"]["fields"]

    def plus_one(source: str) -> dict[str, Any]:
        return {"cases": [{"when": {"$ex": {source: 1}}, "value": {"$add": {"$l": {"$m": source}, "$r": 1}}}]}

    fields["c"] = {"type": "integer", "label": label("C"), "computed": plus_one("b")}
    fields["b"] = {"type": "integer", "label": label("B"), "computed": plus_one("a")}
    fields["a"] = {"type": "integer", "label": label("A"), "computed": plus_one("employees")}
    tenant = make_tenant(document)
    record = tenant.create("lead", {"name": "x", "employees": 10})
    assert (record["data"]["a"], record["data"]["b"], record["data"]["c"]) == (11, 12, 13)
    response = tenant.call("PATCH", path_of(record), json={"version": 1, "employees": 20})
    data = response.get_json()["data"]
    assert (data["a"], data["b"], data["c"]) == (21, 22, 23)
    response = tenant.call("PATCH", path_of(record), json={"version": 2, "employees": None})
    assert not {"a", "b", "c"} & set(response.get_json()["data"])


# -- the template -----------------------------------------------------------------------------------

@pytest.fixture
def sales(make_tenant: Any) -> Any:
    return make_tenant(TEMPLATE, TEMPLATE_USERS)


def revenue(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "CNY"}


@pytest.mark.parametrize(("data", "segment"), [
    ({"annual_revenue": revenue(10000000), "potential": "high"}, "A+"),
    ({"annual_revenue": revenue(10000000), "potential": "medium"}, "A"),
    ({"annual_revenue": revenue(20000000)}, "A"),
    ({"annual_revenue": revenue(9999999), "potential": "high"}, "B"),
    ({"potential": "high"}, "B"),
    ({"annual_revenue": revenue(9999999), "potential": "low"}, "C"),
    ({}, "C"),
])
def test_template_customer_segment(sales, data, segment):
    """segment: A+ high revenue (>= 10M) and high potential, A high revenue, B high potential, C the rest."""
    customer = sales.create("customer", {"name": "ACME", **data}, "rep1")
    assert customer["data"]["segment"] == segment
    listed = sales.call("GET", f"/api/v1/records/customer?segment={quote(segment)}", "rep1").get_json()["items"]
    assert [c["id"] for c in listed] == [customer["id"]]


def test_template_customer_segment_moves_with_updates(sales):
    """The segment follows revenue and potential through updates."""
    customer = sales.create("customer", {"name": "ACME"}, "rep1")
    steps = [({"potential": "high"}, "B"), ({"annual_revenue": revenue(10000000)}, "A+"),
             ({"potential": None}, "A"), ({"annual_revenue": None}, "C")]
    for version, (patch, segment) in enumerate(steps, start=1):
        response = sales.call("PATCH", path_of(customer), "rep1", json={"version": version, **patch})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["data"]["segment"] == segment, patch


def test_template_customer_segment_cannot_be_set(sales):
    """Sending another segment is 422 at /segment; sending the computed one is accepted."""
    response = sales.call("POST", "/api/v1/records/customer", "rep1", json={"name": "ACME", "segment": "A"})
    assert response.status_code == 422
    assert [(e["pointer"], e["code"]) for e in response.get_json()["errors"]] == [("/segment", "computed_field")]
    sales.create("customer", {"name": "ACME", "segment": "C"}, "rep1")


BUDGET_A = {"amount": 500000, "currency": "CNY"}
BUDGET_B = {"amount": 100000, "currency": "CNY"}


@pytest.mark.parametrize(("data", "grade"), [
    ({"budget": BUDGET_A, "authority": "decision_maker", "need": "urgent", "timing": "within_3_months"}, "A"),
    ({"budget": BUDGET_A, "authority": "influencer", "need": "urgent", "timing": "within_3_months"}, "B"),
    ({"budget": BUDGET_B, "authority": "decision_maker", "need": "clear", "timing": "within_6_months"}, "B"),
    ({"budget": {"amount": 99999.99, "currency": "CNY"}, "authority": "decision_maker", "need": "urgent",
      "timing": "within_3_months"}, "C"),
    ({"budget": BUDGET_A, "authority": "unknown", "need": "urgent", "timing": "within_3_months"}, "C"),
    ({"budget": BUDGET_A, "authority": "decision_maker", "need": "urgent", "timing": "later"}, "C"),
    ({"budget": {"amount": 0, "currency": "CNY"}}, "C"),
    ({"need": "clear"}, "C"),
    ({"need": "vague", "authority": "decision_maker", "timing": "within_3_months"}, "D"),
    ({}, "D"),
])
def test_template_lead_grade(sales, data, grade):
    """grade (BANT): A, B, C (any budget or a clear need), D otherwise."""
    lead = sales.create("lead", {"name": "Li", "company": "ACME", **data}, "rep1")
    assert lead["data"]["grade"] == grade
    where = quote(json.dumps({"grade": grade}))
    listed = sales.call("GET", f"/api/v1/records/lead?where={where}", "rep1").get_json()["items"]
    assert [r["id"] for r in listed] == [lead["id"]]
