"""`where=`: list requests filtered by a condition (docs/conditions.md), on SQLite and PostgreSQL.

The tests check the exact set of records a condition selects (most on five leads made once per module), the 400/422
answers for bad conditions (with pointers into the condition), pii and record scope, and that no garbage
condition makes the server fail.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask

from lowcode_platform.accounts.service import create_tenant, create_user
from lowcode_platform.api import records as records_api
from lowcode_platform.api.context import caller
from lowcode_platform.records.service import RecordService
from lowcode_platform.schema import load_config
from tests.configs import crm
from tests.conftest import DEFAULT_USERS, TenantHandle

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
TEMPLATE = load_config(Path(__file__).resolve().parents[2] / "tenant_configs" / "b2b_solution_sales").document
TEMPLATE_USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
                  ("rep1", "sales_rep", "boss", "east"))


class Clock:
    """The time the record service sees, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Records created and listed through the API see `clock.now` instead of the real time."""
    fake = Clock(T0)

    def service() -> RecordService:
        who = caller()
        return RecordService(who.session, who.config, who.actor, clock=fake)

    monkeypatch.setattr(records_api, "_service", service)
    return fake


def cid(value: Any) -> str | None:
    """A readable test id for a condition."""
    text = json.dumps(value) if isinstance(value, dict) else value if isinstance(value, str) else ""
    return text if text.startswith("{") and len(text) <= 100 else None


def where_url(condition: Any, entity: str = "lead", extra: str = "") -> str:
    text = condition if isinstance(condition, str) else json.dumps(condition, ensure_ascii=False)
    return f"/api/v1/records/{entity}?where={quote(text, safe='')}{extra}"


def listed(tenant: Any, condition: Any, user: str = "admin", entity: str = "lead", extra: str = "") -> list[str]:
    """The names of the records a condition selects (sorted unless `extra` gives a sort)."""
    response = tenant.call("GET", where_url(condition, entity, extra), user)
    assert response.status_code == 200, response.get_json()
    names = [r["data"]["name"] for r in response.get_json()["items"]]
    return names if "sort=" in extra else sorted(names)


def problems(response: Any) -> list[tuple[str | None, str, str]]:
    """(parameter, pointer, code) of each error; a missing pointer reads as the root ''."""
    return [(e.get("parameter"), e.get("pointer", ""), e["code"]) for e in response.get_json()["errors"]]


_slugs = itertools.count(1)


def module_tenant(app: Flask) -> TenantHandle:
    """A tenant with the CRM config and the default users, made once for a module's read-only tests."""
    platform = app.extensions["lowcode"]
    slug = f"w{os.getpid()}-{next(_slugs)}"
    now = datetime.now(timezone.utc)
    with platform.open_session(write=True) as session:
        create_tenant(session, slug=slug, document=crm(), author="tests", now=now)
    handle = TenantHandle(slug, app.test_client())
    for name, role, manager, team in DEFAULT_USERS:
        with platform.open_session(write=True) as session:
            user, token = create_user(session, platform.config_cache, tenant_slug=slug, name=name, role=role,
                                      manager=manager, team=team, now=now)
        handle.tokens[name] = token
        handle.user_ids[name] = user.id
    return handle


@pytest.fixture(scope="module")
def leads(app: Flask) -> Iterator[TenantHandle]:
    """Five leads with every kind of value, owned by the admin; the tests using it only list."""
    tenant = module_tenant(app)
    tenant.create("lead", {"name": "apple", "employees": 7, "score": 3, "vip": True, "status": "won",
                           "tags": ["hot"], "budget": {"amount": 1000, "currency": "CNY"}, "due": "2026-01-31",
                           "met_at": "2026-03-01T00:00:00+08:00", "site": "https://apple.example"})
    tenant.create("lead", {"name": "Zeta", "employees": 10, "score": 3.5, "vip": False,
                           "tags": ["hot", "cold"], "budget": {"amount": 999.99, "currency": "USD"},
                           "due": "2026-02-01", "met_at": "2026-02-28T15:59:59Z", "notes": "tab\t1"})
    tenant.create("lead", {"name": "ERP-2026", "employees": 0, "score": 0.3, "tags": ["cold"]})
    tenant.create("lead", {"name": "éclair", "tags": [], "notes": "line1\nabc $^\\"})
    tenant.create("lead", {"name": "中文客户", "employees": 100, "score": 100, "status": "won"})
    yield tenant


@pytest.mark.parametrize(("condition", "expected"), ids=cid, argvalues=[
    ({"$gt": {"employees": 7}}, ["Zeta", "中文客户"]),
    ({"$lte": {"employees": 7}}, ["ERP-2026", "apple"]),
    ({"employees": 10}, ["Zeta"]),
    ({"$neq": {"employees": 10}}, ["ERP-2026", "apple", "中文客户"]),  # missing: false, $neq included
    ('{"score": 3.50}', ["Zeta"]),  # decimals compare exactly: 3.5 == 3.50 (JSON text: a float would drop the 0)
    ('{"$lt": {"score": 0.30000}}', []),
    ({"$gte": {"score": 0.3}}, ["ERP-2026", "Zeta", "apple", "中文客户"]),
    ({"vip": False}, ["Zeta"]),
    ({"$neq": {"vip": True}}, ["Zeta"]),
    ({"status": "won"}, ["apple", "中文客户"]),
    ({"$neq": {"status": "won"}}, ["ERP-2026", "Zeta", "éclair"]),  # the default "new" is stored
])
def test_numbers_booleans_and_enums(leads, condition, expected):
    """Comparisons select exactly the records whose value passes; a missing value fails every comparison."""
    assert listed(leads, condition) == expected


@pytest.mark.parametrize(("condition", "expected"), ids=cid, argvalues=[
    ({"$lt": {"name": "a"}}, ["ERP-2026", "Zeta"]),  # "Z" < "a": code points, not a case-folding collation
    ({"$gte": {"name": "a"}}, ["apple", "éclair", "中文客户"]),
    ({"$gt": {"name": "z"}}, ["éclair", "中文客户"]),  # é (U+00E9) and 中 sort after every ASCII letter
    ({"$gt": {"name": "é"}}, ["éclair", "中文客户"]),
    ({"$lt": {"name": "apple"}}, ["ERP-2026", "Zeta"]),
    ({"$lte": {"name": "apple"}}, ["ERP-2026", "Zeta", "apple"]),
    ({"$gt": {"name": "中"}}, ["中文客户"]),
])
def test_strings_compare_by_code_point(leads, condition, expected):
    """Text order is binary (Unicode code point) on both databases."""
    assert listed(leads, condition) == expected


@pytest.mark.parametrize(("condition", "expected"), ids=cid, argvalues=[
    ({"$lt": {"due": "2026-02-01"}}, ["apple"]),
    ({"$gte": {"due": "2026-02-01"}}, ["Zeta"]),
    # apple met at 2026-02-28T16:00:00Z exactly, Zeta one second earlier
    ({"$gte": {"met_at": "2026-03-01T00:00:00+08:00"}}, ["apple"]),
    ({"$lt": {"met_at": "2026-02-28T16:00:00Z"}}, ["Zeta"]),
    ({"met_at": "2026-02-28T16:00:00.000Z"}, ["apple"]),
])
def test_dates_and_date_times(leads, condition, expected):
    """Dates compare as dates; date-times are converted to UTC before comparing."""
    assert listed(leads, condition) == expected


@pytest.mark.parametrize(("condition", "expected"), ids=cid, argvalues=[
    ({"$or": [{"employees": 0}, {"status": "won"}]}, ["ERP-2026", "apple", "中文客户"]),
    ({"$and": [{"status": "won"}, {"$lt": {"employees": 50}}]}, ["apple"]),
    ({"$or": [{"$and": [{"vip": True}, {"status": "won"}]}, {"$nex": {"employees": 1}}]}, ["apple", "éclair"]),
    ({"$ex": {"due": 1}}, ["Zeta", "apple"]),
    ({"$nex": {"due": 1}}, ["ERP-2026", "éclair", "中文客户"]),
    ({"$ex": {"budget": 1}}, ["Zeta", "apple"]),
    ({"$nex": {"budget": 1}}, ["ERP-2026", "éclair", "中文客户"]),
    ({"$ex": {"tags": 1}}, ["ERP-2026", "Zeta", "apple", "éclair"]),  # an empty list is a value
    ({"$iany": {"tags": {"$i": "hot"}}}, ["Zeta", "apple"]),
    ({"$iany": {"tags": {"$neq": {"$i": "hot"}}}}, ["ERP-2026", "Zeta"]),
    ({"$iall": {"tags": {"$i": "hot"}}}, ["apple"]),  # [] fails $iall: not vacuously true
    ({"$iall": {"tags": {"$or": [{"$i": "hot"}, {"$i": "cold"}]}}}, ["ERP-2026", "Zeta", "apple"]),
    ({"$mt": {"name": "ERP-%d{4}"}}, ["ERP-2026"]),
    ({"$mt": {"name": "ERP"}}, []),  # the whole value must match
    ({"$mt": {"name": "[a-z]+"}}, ["apple"]),
    ({"$imt": {"name": "zeta"}}, ["Zeta"]),
    ({"$imt": {"name": "Éclair"}}, []),  # only A-Z fold
    ({"$mt": {"name": "中.*"}}, ["中文客户"]),
    ({"$mt": {"site": "https://.*%.example"}}, ["apple"]),
    # `.` matches a line break; ^, $ and \ are ordinary characters
    ({"$mt": {"notes": "line1.abc $^\\"}}, ["éclair"]),
    ({"$mt": {"notes": "line1"}}, []),
    # a control character in the pattern stands for itself, whatever follows it
    ({"$mt": {"notes": "line1\nabc.*"}}, ["éclair"]),
    ({"$imt": {"notes": "line1\nabc.*"}}, ["éclair"]),
    ({"$mt": {"notes": "tab\t1"}}, ["Zeta"]),
    ({"$mt": {"notes": "tab\t%d"}}, ["Zeta"]),
    # patterns on dates (stored text), date-times (UTC text), created_on, system fields and list items
    ({"$mt": {"due": "2026-01-.*"}}, ["apple"]),
    ({"$mt": {"met_at": "2026-02-28T16:.*Z"}}, ["apple"]),
    ({"$mt": {"created_on": "%d{4}-%d%d-%d%d"}}, ["ERP-2026", "Zeta", "apple", "éclair", "中文客户"]),
    ({"$mt": {"owner": "[0-9a-z]{26}"}}, ["ERP-2026", "Zeta", "apple", "éclair", "中文客户"]),
    ({"$iany": {"tags": {"$gt": {"$i": "cold"}}}}, ["Zeta", "apple"]),
    ({"$iany": {"tags": {"$imt": {"$i": "c.*"}}}}, ["ERP-2026", "Zeta"]),
])
def test_logic_existence_lists_and_patterns(leads, condition, expected):
    """$and/$or nest; $ex/$nex see missing values; $iany/$iall test the chosen options; $mt matches wholly."""
    assert listed(leads, condition) == expected


@pytest.mark.parametrize(("condition", "expected"), ids=cid, argvalues=[
    ({"$gte": {"budget.amount": 1000}}, ["apple"]),
    ({"$lt": {"budget.amount": 1000}}, ["Zeta"]),
    ({"budget.amount": 999.990}, ["Zeta"]),
    ({"budget.currency": "USD"}, ["Zeta"]),
    ({"$and": [{"budget.currency": "CNY"}, {"$gte": {"budget.amount": 500}}]}, ["apple"]),
    # exact decimals (written as JSON text: a Python float would round them): 999.99 is not 999.99000000000000001
    ('{"budget.amount": 999.99000000000000001}', []),
    ('{"$lt": {"budget.amount": 999.99000000000000001}}', ["Zeta"]),
    ('{"$gt": {"budget.amount": 999.98999999999999999}}', ["Zeta", "apple"]),
    ('{"$lte": {"budget.amount": 999.98999999999999999}}', []),
])
def test_money_parts(leads, condition, expected):
    """A money field is compared through its parts."""
    assert listed(leads, condition) == expected


@pytest.mark.parametrize(("condition", "expected"), ids=cid, argvalues=[
    # 7 / 2 truncates to 3 (both whole numbers); 10 / 2 = 5; 0 / 2 = 0; 100 / 2 = 50
    ({"score": {"$div": {"$l": {"$m": "employees"}, "$r": 2}}}, ["apple"]),
    # with 2.0 the division is decimal: 7 / 2.0 = 3.5, which is not apple's score
    ({"score": {"$div": {"$l": {"$m": "employees"}, "$r": 2.0}}}, []),
    ({"$gt": {"score": {"$div": {"$l": {"$m": "employees"}, "$r": 4.0}}}}, ["ERP-2026", "Zeta", "apple", "中文客户"]),
    ({"$gt": {"score": {"$mul": {"$l": {"$m": "employees"}, "$r": 0.5}}}}, ["ERP-2026", "中文客户"]),
    ({"$lt": {"score": {"$mul": {"$l": {"$m": "employees"}, "$r": 0.5}}}}, ["Zeta", "apple"]),
    ({"score": {"$add": {"$l": {"$m": "score"}, "$r": 0}}}, ["ERP-2026", "Zeta", "apple", "中文客户"]),
    # 0.1 + 0.2 is exactly 0.3
    ({"score": {"$add": {"$l": {"$sub": {"$l": {"$m": "score"}, "$r": 0.2}}, "$r": 0.2}}},
     ["ERP-2026", "Zeta", "apple", "中文客户"]),
    # 0.1 + 0.3 / 1.5 is exactly 0.3 (ERP-2026's score); in floating point it would not be
    ({"$eq": {"score": {"$add": {"$l": 0.1, "$r": {"$div": {"$l": {"$m": "score"}, "$r": 1.5}}}}}}, ["ERP-2026"]),
    # 1 / employees truncates to 0; division by zero is false, not an error: ERP-2026 has 0 employees
    ({"$gt": {"score": {"$div": {"$l": 1, "$r": {"$m": "employees"}}}}}, ["Zeta", "apple", "中文客户"]),
    ({"$gt": {"employees": {"$m": "score"}}}, ["Zeta", "apple"]),
    ({"$lte": {"employees": {"$m": "score"}}}, ["ERP-2026", "中文客户"]),
])
def test_arithmetic_and_field_references(leads, condition, expected):
    """$m reads another field; arithmetic is exact, whole-number division truncates, x / 0 is false."""
    assert listed(leads, condition) == expected


@pytest.mark.parametrize("depth", [1, 5, 8])
def test_nested_arithmetic_is_answered(leads, depth):
    """employees * 1 * 1 ... (nested `depth` times) is just employees."""
    value: Any = {"$m": "employees"}
    for _ in range(depth):
        value = {"$mul": {"$l": value, "$r": 1}}
    assert listed(leads, {"$gt": {"score": value}}) == ["ERP-2026"]


@pytest.mark.parametrize("depth", [9, 20, 31])
def test_arithmetic_nested_too_deep_is_422(leads, depth):
    """Arithmetic nests at most 8 operations deep (deeper once crashed SQLite's parser: a 500);
    the error points at the first operation too deep."""
    value: Any = {"$m": "employees"}
    for _ in range(depth):
        value = {"$mul": {"$l": value, "$r": 1}}
    response = leads.call("GET", where_url({"$gt": {"score": value}}))
    assert response.status_code == 422, response.get_json()
    assert problems(response) == [("where", "/$gt/score/$mul" + "/$l/$mul" * 8, "condition_arithmetic_depth")]


def test_decimal_division_matches_exactly(tenant):
    """7 / 2.0 is 3.5 exactly, and 7 / 2 is 3."""
    tenant.create("lead", {"name": "half", "employees": 7, "score": 3.5})
    tenant.create("lead", {"name": "trunc", "employees": 7, "score": 3})
    assert listed(tenant, {"score": {"$div": {"$l": {"$m": "employees"}, "$r": 2.0}}}) == ["half"]
    assert listed(tenant, {"score": {"$div": {"$l": {"$m": "employees"}, "$r": 2}}}) == ["trunc"]


def test_system_field_owner_and_owner_team(tenant):
    """`owner` is the owner's user id; `owner_team` compares with the owner's team."""
    tenant.create("lead", {"name": "r1"}, "rep1")
    tenant.create("lead", {"name": "r2"}, "rep2")
    tenant.create("lead", {"name": "out"}, "outsider")
    tenant.create("lead", {"name": "adm"}, "admin")
    assert listed(tenant, {"owner": tenant.user_ids["rep1"]}) == ["r1"]
    assert listed(tenant, {"$neq": {"owner": tenant.user_ids["rep1"]}}) == ["adm", "out", "r2"]
    assert listed(tenant, {"$or": [{"owner": tenant.user_ids["rep2"]}, {"owner": tenant.user_ids["outsider"]}]}) \
        == ["out", "r2"]
    assert listed(tenant, {"$nex": {"owner_team": 1}}) == ["adm"]
    assert listed(tenant, {"$ex": {"owner_team": 1}}) == ["out", "r1", "r2"]


def test_days_since_created_with_a_clock(tenant, clock):
    """Day counts are whole 24-hour periods from creation to the moment of the list request."""
    tenant.create("lead", {"name": "ten"})
    clock.now = T0 + timedelta(days=5)
    tenant.create("lead", {"name": "five"})
    clock.now = T0 + timedelta(days=9, hours=13)
    tenant.create("lead", {"name": "zero"})  # 23 hours before the list: 0 days
    clock.now = T0 + timedelta(days=10, hours=12)
    assert listed(tenant, {"$gte": {"days_since_created": 0}}) == ["five", "ten", "zero"]
    assert listed(tenant, {"$gt": {"days_since_created": 0}}) == ["five", "ten"]
    assert listed(tenant, {"days_since_created": 0}) == ["zero"]
    assert listed(tenant, {"$eq": {"days_since_created": 5}}) == ["five"]
    assert listed(tenant, {"$neq": {"days_since_created": 5}}) == ["ten", "zero"]
    assert listed(tenant, {"$gte": {"days_since_created": 10}}) == ["ten"]
    assert listed(tenant, {"$gt": {"days_since_created": 10}}) == []
    assert listed(tenant, {"$lt": {"days_since_created": 5}}) == ["zero"]
    assert listed(tenant, {"$lte": {"days_since_created": 5}}) == ["five", "zero"]
    # no activity was logged: the count runs from creation
    assert listed(tenant, {"$gte": {"days_since_last_activity": 5}}) == ["five", "ten"]
    assert listed(tenant, {"$ex": {"days_since_won": 1}}) == []
    clock.now = T0 + timedelta(days=10) - timedelta(seconds=1)  # "ten" turns 10 days old at T0 + 10 days
    assert listed(tenant, {"$gte": {"days_since_created": 10}}) == []
    assert listed(tenant, {"days_since_created": 9}) == ["ten"]
    clock.now = T0 + timedelta(days=10)
    assert listed(tenant, {"days_since_created": 10}) == ["ten"]


@pytest.mark.parametrize(("moment", "day"), [("2026-03-10T15:59:59+00:00", "2026-03-10"),
                                             ("2026-03-10T16:00:00+00:00", "2026-03-11")])
def test_created_on_is_the_creation_date_in_the_tenant_time_zone(tenant, clock, moment, day):
    """`created_on` is the creation date in Asia/Shanghai (the default time zone), compared as a date."""
    clock.now = datetime.fromisoformat(moment)
    tenant.create("lead", {"name": "x", "due": "2026-03-10"})
    assert listed(tenant, {"created_on": day}) == ["x"]
    assert listed(tenant, {"$lt": {"created_on": day}}) == []
    assert listed(tenant, {"$lte": {"due": {"$m": "created_on"}}}) == ["x"]
    assert listed(tenant, {"$gte": {"due": {"$m": "created_on"}}}) == (["x"] if day == "2026-03-10" else [])


def test_days_since_last_activity_falls_back_to_creation(make_tenant, clock):
    """Template: a logged activity restarts the count; a customer without one counts from creation."""
    tenant = make_tenant(TEMPLATE, TEMPLATE_USERS)
    visited = tenant.create("customer", {"name": "visited"}, "rep1")
    tenant.create("customer", {"name": "ignored"}, "rep1")
    clock.now = T0 + timedelta(days=3)
    tenant.create("activity", {"subject": "Visit", "type": "visit", "related_customer": visited["id"],
                               "happened_at": "2026-03-13T09:00:00+08:00"}, "rep1")
    clock.now = T0 + timedelta(days=5, hours=1)
    assert listed(tenant, {"$gte": {"days_since_last_activity": 3}}, entity="customer") == ["ignored"]
    assert listed(tenant, {"days_since_last_activity": 2}, entity="customer") == ["visited"]
    assert listed(tenant, {"days_since_created": 5}, entity="customer") == ["ignored", "visited"]


def test_days_since_created_without_a_clock(tenant):
    """Records created just now are 0 days old."""
    tenant.create("lead", {"name": "new"})
    assert listed(tenant, {"$gte": {"days_since_created": 0}}) == ["new"]
    assert listed(tenant, {"$gt": {"days_since_created": 0}}) == []
    assert listed(tenant, {"$lt": {"days_since_created": 1}}) == ["new"]


def test_where_combines_with_filters_sort_and_cursor(tenant):
    """`where` narrows the exact-match filters; the sort and cursor pages walk exactly the matches."""
    for i in range(9):
        tenant.create("lead", {"name": f"n{i}", "employees": i, "status": "won" if i % 2 else "new"})
    condition = {"$gte": {"employees": 2}}
    assert listed(tenant, condition, extra="&status=won&sort=-name") == ["n7", "n5", "n3"]
    seen: list[str] = []
    cursor = None
    while True:
        extra = "&sort=employees&limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = tenant.call("GET", where_url(condition, extra=extra))
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        assert len(page["items"]) <= 2
        seen += [r["data"]["name"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"n{i}" for i in range(2, 9)]


def test_where_excludes_deleted_unless_asked(tenant):
    """`where` applies to deleted records only with include_deleted=true."""
    gone = tenant.create("lead", {"name": "gone", "employees": 5})
    tenant.create("lead", {"name": "kept", "employees": 5})
    assert tenant.call("DELETE", f"/api/v1/records/lead/{gone['id']}").status_code == 200
    assert listed(tenant, {"employees": 5}) == ["kept"]
    assert listed(tenant, {"employees": 5}, extra="&include_deleted=true") == ["gone", "kept"]


@pytest.mark.parametrize("text", ["{", "not json", "{'status': 'new'}", '{"status": "new"', "", "[1,]"])
def test_where_that_is_not_json_is_400(leads, text):
    """A `where` that is not JSON answers 400 naming the parameter, code malformed_condition."""
    response = leads.call("GET", where_url(text))
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert [(e["parameter"], e["code"]) for e in body["errors"]] == [("where", "malformed_condition")]


@pytest.mark.parametrize(("condition", "errors"), ids=cid, argvalues=[
    ({"$and": [{"status": "new"}, {"$gt": {"nope": 1}}]}, [("/$and/1/$gt/nope", "unknown_field")]),
    ({"$gt": {"employees": "10"}}, [("/$gt/employees", "condition_mismatch")]),
    ({"status": "new", "vip": True}, [("", "condition_one_key")]),
    ({"status": None}, [("/status", "condition_null")]),
    ({"$or": [{"status": "lost"}, {"$gt": {"budget": 1}}, {"$lt": {"vip": True}}]},
     [("/$or/0/status", "condition_option"), ("/$or/1/$gt/budget", "condition_not_comparable"),
      ("/$or/2/$lt/vip", "condition_operator_type")]),
    ([{"status": "new"}], [("", "condition_type")]),
    ({"$and": []}, [("/$and", "condition_list")]),
    ({"$not": {"status": "new"}}, [("/$not", "condition_operator")]),
    ({"$gte": {"due": "2026/03/31"}}, [("/$gte/due", "condition_format")]),
    ({"$gte": {"met_at": "2026-03-31T09:00:00"}}, [("/$gte/met_at", "condition_format")]),
    ({"$gte": {"days_since_created": 1.5}}, [("/$gte/days_since_created", "condition_days")]),
    ({"$gt": {"score": {"$m": "days_since_created"}}}, [("/$gt/score/$m", "condition_days_reference")]),
    ({"$gt": {"score": {"$m": "name"}}}, [("/$gt/score/$m", "condition_mismatch")]),
    ({"$gt": {"score": {"$add": {"$l": 1, "$r": 2}}}}, [("/$gt/score/$add", "condition_constant_arithmetic")]),
    ({"$gt": {"score": {"$mul": {"$l": {"$m": "score"}}}}}, [("/$gt/score/$mul", "condition_arithmetic")]),
    ({"$iany": {"tags": {"$i": "warm"}}}, [("/$iany/tags/$i", "condition_option")]),
    ({"$iany": {"tags": {"name": "x"}}}, [("/$iany/tags/name", "unknown_field")]),
    ({"$mt": {"name": "[^0-9]+"}}, [("/$mt/name", "condition_regex")]),
    ({"$mt": {"name": "(a*)*"}}, [("/$mt/name", "condition_regex")]),
    ({"$mt": {"employees": "1"}}, [("/$mt/employees", "condition_operator_type")]),
    ({"$or": [{"status": "new"}] * 501}, [("/$or", "condition_too_many_items")]),
])
def test_invalid_condition_is_422_with_pointers_into_it(leads, condition, errors):
    """Every problem of the condition is reported, with parameter `where` and a pointer into the condition."""
    response = leads.call("GET", where_url(condition))
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "invalid_condition"
    assert problems(response) == [("where", pointer, code) for pointer, code in errors]


def test_invalid_condition_messages_follow_accept_language(leads):
    """The messages of a 422 `where` are in the request language."""
    url = where_url({"$gt": {"nope": 1}})
    en = leads.call("GET", url, headers={"Accept-Language": "en"}).get_json()["errors"][0]["message"]
    zh = leads.call("GET", url, headers={"Accept-Language": "zh-CN"}).get_json()["errors"][0]["message"]
    assert en == "unknown field 'nope' in entity 'lead'"
    assert zh == "未知的字段 'nope'（实体 'lead'）"


def test_bad_where_and_bad_other_parameters(leads):
    """A bad ordinary parameter is reported (400) before the condition is read."""
    response = leads.call("GET", where_url({"$gt": {"nope": 1}}, extra="&limit=0"))
    assert response.status_code == 400
    assert problems(response) == [("limit", "", "bad_parameter")]


@pytest.mark.parametrize(("condition", "expected"), ids=cid, argvalues=[
    ({"$ex": {"email": 1}}, ["ann", "b@example.com"]),
    ({"$mt": {"email": "a@example%.com"}}, ["ann"]),
    ({"$or": [{"name": "zzz"}, {"phone": "13812345678"}]}, ["ann"]),
    ({"$and": [{"$ex": {"name": 1}}, {"$eq": {"name": {"$m": "email"}}}]}, ["b@example.com"]),
])
def test_pii_in_where_is_refused_unless_the_role_sees_all_pii(tenant, condition, expected):
    """A rep (pii: own) may not filter on pii through `where` (not even by a $m reference); the manager may."""
    tenant.create("lead", {"name": "ann", "email": "a@example.com", "phone": "13812345678"}, "rep1")
    tenant.create("lead", {"name": "b@example.com", "email": "b@example.com"}, "rep1")
    tenant.create("lead", {"name": "c"}, "rep1")
    response = tenant.call("GET", where_url(condition), "rep1")
    assert response.status_code == 400, response.get_json()
    assert [(e["parameter"], e["code"]) for e in response.get_json()["errors"]] == [("where", "pii_hidden")]
    assert listed(tenant, condition, "boss") == expected


def test_where_respects_the_record_scope(tenant):
    """A rep sees through `where` only the records their role may read (team scope)."""
    tenant.create("lead", {"name": "east1", "employees": 1}, "rep1")
    tenant.create("lead", {"name": "east2", "employees": 1}, "rep2")
    tenant.create("lead", {"name": "west", "employees": 1}, "outsider")
    condition = {"employees": 1}
    assert listed(tenant, condition, "rep1") == ["east1", "east2"]
    assert listed(tenant, condition, "outsider") == ["west"]
    assert listed(tenant, {"owner": tenant.user_ids["outsider"]}, "rep1") == []
    assert listed(tenant, condition, "admin") == ["east1", "east2", "west"]
    # customer: scope own for reps
    tenant.create("customer", {"name": "mine"}, "rep1")
    tenant.create("customer", {"name": "theirs"}, "rep2")
    assert listed(tenant, {"$ex": {"name": 1}}, "rep1", entity="customer") == ["mine"]


def test_where_needs_read_permission(tenant):
    """A role that may not read the entity gets 403 whatever the condition."""
    response = tenant.call("GET", where_url({"$ex": {"name": 1}}, entity="customer"), "viewer")
    assert response.status_code == 403


def _nested(depth: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"status": "new"}
    for _ in range(depth):
        condition = {"$and": [condition]}
    return condition


def _nested_arithmetic(depth: int) -> dict[str, Any]:
    value: Any = {"$m": "employees"}
    for _ in range(depth):
        value = {"$mul": {"$l": value, "$r": 9223372036854775807}}
    return {"$gt": {"score": value}}


GARBAGE = {
    "14 nested $and": json.dumps(_nested(14)),
    "40 nested $and": json.dumps(_nested(40)),
    "20000 nested arrays": "[" * 20000 + "]" * 20000,
    "5000 nested $and (text)": '{"$and": ' * 5000 + '{"status": "new"}' + "}" * 5000,
    "$or of 500": json.dumps({"$or": [{"employees": i} for i in range(500)]}),
    "$or of 5000": json.dumps({"$or": [{"employees": i} for i in range(5000)]}),
    "regex (a*)*": json.dumps({"$mt": {"name": "(a*)*"}}),
    "regex (a|a)*b": json.dumps({"$mt": {"name": "(a|a)*b"}}),
    "regex a{100}{100}": json.dumps({"$mt": {"name": "a{100}{100}"}}),
    "regex of 20000 chars": json.dumps({"$mt": {"name": "x" * 20000}}),
    "regex 6 nested groups": json.dumps({"$mt": {"name": "((((((a))))))"}}),
    "regex [z-a]": json.dumps({"$mt": {"name": "[z-a]"}}),
    "regex lone %": json.dumps({"$mt": {"name": "%"}}),
    "regex sql": json.dumps({"$mt": {"name": "'; DROP TABLE records; --"}}),
    "$imt NUL": json.dumps({"$imt": {"name": "\u0000"}}),
    "lone surrogate": '{"name": "\\ud800"}',
    "NUL": '{"name": "\\u0000"}',
    "20000-char constant": json.dumps({"name": "x" * 20000}),
    "1e30": json.dumps({"$gt": {"employees": 10 ** 30}}),
    "-1e30": json.dumps({"$gt": {"employees": -10 ** 30}}),
    "1e400": '{"$gt": {"score": 1e400}}',
    "NaN": '{"$gt": {"score": NaN}}',
    "Infinity": '{"$gt": {"score": Infinity}}',
    "tiny decimal": '{"$gt": {"score": 0.00000000000000000000000001}}',
    "int64 max": json.dumps({"$gt": {"employees": 9223372036854775807}}),
    "30 nested $mul": json.dumps(_nested_arithmetic(30)),
    "divide by 1e-7": json.dumps({"$gt": {"score": {"$div": {"$l": {"$m": "score"}, "$r": 0.0000001}}}}),
    "int64 max / score": json.dumps({"$gt": {"score": {"$div": {"$l": 9223372036854775807, "$r": {"$m": "score"}}}}}),
    "int64 min - employees": json.dumps(
        {"$lt": {"employees": {"$sub": {"$l": -9223372036854775808, "$r": {"$m": "employees"}}}}}),
    "days 36500": json.dumps({"$gt": {"days_since_created": 36500}}),
    "days -36500": json.dumps({"$lt": {"days_since_created": -36500}}),
    "days 1e20": json.dumps({"$gt": {"days_since_created": 10 ** 20}}),
    "datetime -23:59": json.dumps({"$gte": {"met_at": "9999-12-31T23:59:59-23:59"}}),
    "datetime year 1 +14:00": json.dumps({"$gte": {"met_at": "0001-01-01T00:00:00+14:00"}}),
    "date year 0": json.dumps({"$gte": {"due": "0000-01-01"}}),
    "nested $iany": json.dumps({"$iany": {"tags": {"$iany": {"tags": {"$i": "hot"}}}}}),
    "$iall $mt": json.dumps({"$iall": {"tags": {"$mt": {"$i": "h.*"}}}}),
    "$iany $ex $i": json.dumps({"$iany": {"tags": {"$ex": {"$i": 1}}}}),
    "three-part name": json.dumps({"$ex": {"budget.amount.x": 1}}),
    "$ex empty name": json.dumps({"$ex": {"": 1}}),
    "empty name": json.dumps({"": 1}),
    "bare $m": json.dumps({"$m": "name"}),
    "$m self": json.dumps({"name": {"$m": "name"}}),
    "$m of $m": json.dumps({"name": {"$m": {"$m": "name"}}}),
    "owner_team $m owner": json.dumps({"$eq": {"owner_team": {"$m": "owner"}}}),
    "created_on": json.dumps({"$gt": {"created_on": "2026-01-01"}}),
    "$and of empty": json.dumps({"$and": [{}]}),
    "$and of object": json.dumps({"$and": {"status": "new"}}),
    "bare $i": json.dumps({"$i": "hot"}),
    "id": json.dumps({"id": "x"}),
    "data": json.dumps({"data": "x"}),
    "__proto__": json.dumps({"__proto__": "x"}),
    "null": "null",
    "true": "true",
    "1": "1",
    "string": '"x"',
    "empty array": "[]",
    "empty object": "{}",
}


@pytest.mark.parametrize("case", GARBAGE, ids=list(GARBAGE))
def test_no_garbage_makes_the_server_fail(leads, case):
    """Whatever `where` holds, the answer is 200, 400 or 422 (problem+json), never a 500."""
    response = leads.call("GET", where_url(GARBAGE[case]))
    assert response.status_code in (200, 400, 422), (response.status_code, response.get_json())
    if response.status_code != 200:
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["errors"], response.get_json()
