"""Conversion analytics: which sources and owners convert their leads, computed in SQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.conversion.test_convert import config, convert


def test_conversion_rate_by_source_and_owner(make_tenant: Any) -> None:
    """Four leads, two converted: counts, rates and days to convert per status value and per owner."""
    tenant = make_tenant(config())
    made = []
    for user, status in (("rep1", "new"), ("rep1", "new"), ("rep2", "won"), ("rep2", "new")):
        made.append(tenant.create("lead", {"name": f"L{len(made)}", "email": "a@b.example", "status": status}, user))
    assert convert(tenant, made[0]["id"]).status_code == 201
    assert convert(tenant, made[2]["id"], user="rep2").status_code == 201
    report = tenant.call("GET", "/api/v1/analytics/conversion/qualify?source_field=status", "admin").get_json()
    assert (report["leads"], report["converted"], report["rate"]) == (4, 2, 0.5)
    by_source = {r["value"]: (r["leads"], r["converted"], r["rate"]) for r in report["by_source"]}
    # grouped by the value a lead holds now: this conversion sets the status of what it converts to "won"
    assert by_source == {"new": (2, 0, 0.0), "won": (2, 2, 1.0)}
    by_owner = {r["value"]: (r["leads"], r["converted"]) for r in report["by_owner"]}
    assert by_owner == {tenant.user_ids["rep1"]: (2, 1), tenant.user_ids["rep2"]: (2, 1)}
    assert all(Decimal(str(r["avg_days"])) >= 0 for r in report["by_owner"])


def test_a_rep_sees_only_the_leads_they_may_read(make_tenant: Any) -> None:
    """The outsider (another team) counts only their own leads."""
    tenant = make_tenant(config())
    tenant.create("lead", {"name": "mine", "email": "a@b.example"}, "outsider")
    tenant.create("lead", {"name": "theirs", "email": "a@b.example"}, "rep1")
    report = tenant.call("GET", "/api/v1/analytics/conversion/qualify", "outsider").get_json()
    assert (report["leads"], report["converted"], report["by_source"]) == (1, 0, None)


def test_bad_parameters_are_400(make_tenant: Any) -> None:
    """An unknown parameter, a bad date or a non-enum source field answers 400 naming it; an unknown key 404."""
    tenant = make_tenant(config())
    response = tenant.call("GET", "/api/v1/analytics/conversion/qualify?from=yesterday&source_field=name&x=1")
    assert response.status_code == 400
    assert sorted(e["parameter"] for e in response.get_json()["errors"]) == ["from", "source_field", "x"]
    assert tenant.call("GET", "/api/v1/analytics/conversion/ghost").status_code == 404
