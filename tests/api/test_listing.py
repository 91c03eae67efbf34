"""Lists: exact-match filters, sorting on fields and system columns, and cursors stable under inserts."""

from __future__ import annotations

from typing import Any

import pytest


def ids(page: dict[str, Any]) -> list[str]:
    return [r["id"] for r in page["items"]]


def walk(tenant: Any, query: str, limit: int) -> list[dict[str, Any]]:
    """Every record of a list, page by page."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"/api/v1/records/lead?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = tenant.call("GET", url)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_exact_match_filters_by_type(tenant):
    """Filters compare exactly, parsed by the field's type (text, enum, integer, boolean, decimal, date)."""
    a = tenant.create("lead", {"name": "A", "status": "won", "employees": 10, "vip": True, "score": 12.5, "due": "2026-01-02"})
    tenant.create("lead", {"name": "B", "employees": 11, "vip": False, "score": 12.25})
    for query in ("status=won", "employees=10", "vip=true", "score=12.50", "due=2026-01-02", "name=A"):
        page = tenant.call("GET", f"/api/v1/records/lead?{query}").get_json()
        assert ids(page) == [a["id"]], query
    both = tenant.call("GET", "/api/v1/records/lead?status=won&vip=false").get_json()
    assert ids(both) == []


def test_filter_by_owner(tenant):
    """owner_id filters on the system column."""
    mine = tenant.create("lead", {"name": "mine"}, "rep1")
    tenant.create("lead", {"name": "theirs"}, "rep2")
    page = tenant.call("GET", f"/api/v1/records/lead?owner_id={tenant.user_ids['rep1']}", "boss").get_json()
    assert ids(page) == [mine["id"]]


@pytest.mark.parametrize(
    ("query", "parameter", "code"),
    [
        ("nope=1", "nope", "unknown_field"),
        ("employees=ten", "employees", "type"),
        ("vip=yes", "vip", "type"),
        ("budget=1", "budget", "bad_parameter"),
        ("sort=budget", "sort", "bad_parameter"),
        ("limit=0", "limit", "bad_parameter"),
        ("limit=201", "limit", "bad_parameter"),
        ("cursor=garbage", "cursor", "bad_parameter"),
        ("include_deleted=maybe", "include_deleted", "type"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_parameter(tenant, query, parameter, code):
    """A bad filter, sort, limit or cursor answers 400 naming the parameter."""
    response = tenant.call("GET", f"/api/v1/records/lead?{query}")
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert [(e["parameter"], e["code"]) for e in errors] == [(parameter, code)]


def test_cursor_of_another_sort_is_refused(tenant):
    """A cursor only continues the sort it was made for."""
    for i in range(3):
        tenant.create("lead", {"name": f"n{i}"})
    cursor = tenant.call("GET", "/api/v1/records/lead?limit=1").get_json()["next_cursor"]
    response = tenant.call("GET", f"/api/v1/records/lead?limit=1&sort=name&cursor={cursor}")
    assert response.status_code == 400


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "name", "-name", "employees", "-employees",
                                  "score", "-vip", "due", "-updated_at"])
def test_pages_cover_every_record_once_in_order(tenant, sort):
    """Walking all pages yields every record exactly once, in the sort's order, nulls last ascending."""
    values = [3, None, 1, 3, 2, None, 5, 3]
    for i, v in enumerate(values):
        data: dict[str, Any] = {"name": f"n{v if v is not None else 'x'}{i % 2}"}
        if v is not None:
            data.update(employees=v, score=v / 4, vip=v > 2, due=f"2026-01-0{v}")
        tenant.create("lead", data)
    rows = walk(tenant, f"sort={sort}", limit=3)
    assert len(rows) == len(values) and len({r["id"] for r in rows}) == len(values)
    key = sort.lstrip("-")
    descending = sort.startswith("-")

    def sort_value(row: dict[str, Any]) -> tuple[Any, ...]:
        value = row[key] if key in ("created_at", "updated_at") else row["data"].get(key)
        missing = value is None
        return (missing, value if not missing else 0, row["id"])

    expected = sorted(rows, key=sort_value, reverse=descending)
    assert [r["id"] for r in rows] == [r["id"] for r in expected]


def test_cursor_is_stable_under_concurrent_inserts(tenant):
    """Records inserted between page reads never make a page repeat or skip an existing record."""
    existing = [tenant.create("lead", {"name": f"old{i}", "employees": i})["id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    for step in range(10):
        url = "/api/v1/records/lead?limit=2&sort=employees" + (f"&cursor={cursor}" if cursor else "")
        page = tenant.call("GET", url).get_json()
        seen.extend(ids(page))
        tenant.create("lead", {"name": f"new{step}", "employees": 3})  # lands before and after the cursor
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert set(existing) <= set(seen)


def test_pii_fields_cannot_be_filtered_or_sorted_by_roles_that_see_them_masked(tenant):
    """A rep (pii own) may not filter or sort on a pii field, which would reveal masked values; a manager may."""
    tenant.create("lead", {"name": "a", "phone": "13812345678"}, "rep1")
    for query, parameter in (("phone=13812345678", "phone"), ("sort=phone", "sort"), ("sort=-email", "sort")):
        response = tenant.call("GET", f"/api/v1/records/lead?{query}", "rep2")
        assert response.status_code == 400, query
        assert [(e["parameter"], e["code"]) for e in response.get_json()["errors"]] == [(parameter, "pii_hidden")]
    found = tenant.call("GET", "/api/v1/records/lead?phone=13812345678&sort=phone", "boss").get_json()["items"]
    assert [r["data"]["name"] for r in found] == ["a"]


def _cursor(payload: list[Any]) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("sort", "payload"), [
    ("employees", ["employees", 0, "abc", "0" * 26]),
    ("employees", ["employees", 0, True, "0" * 26]),
    ("score", ["score", 0, "1.5", "0" * 26]),
    ("vip", ["vip", 0, "yes", "0" * 26]),
    ("name", ["name", 0, 5, "0" * 26]),
    ("name", ["name", 1, "x", "0" * 26]),
    ("created_at", ["created_at", 0, "2020-01-01", "0" * 26]),
    ("created_at", ["created_at", 0, "not a time", "0" * 26]),
    ("created_at", ["created_at", 1, None, "0" * 26]),
])
def test_crafted_cursors_are_400(tenant, sort, payload):
    """A cursor whose value does not fit its sort key answers 400, never a server error."""
    response = tenant.call("GET", f"/api/v1/records/lead?sort={sort}&cursor={_cursor(payload)}")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["parameter"] == "cursor"


@pytest.mark.parametrize("query", ["score=1e999999", "score=NaN", "score=Infinity", "status=lost",
                                   "due=2026-02-30", "due=tomorrow", "met_at=2026-01-01T10:00:00"])
def test_filter_values_must_fit_their_field(tenant, query):
    """Filter values outside the field's type (huge or non-finite numbers, unknown options, bad dates) are 400."""
    response = tenant.call("GET", f"/api/v1/records/lead?{query}")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["code"] == "type"


def test_datetime_filter_matches_any_offset_of_the_same_instant(tenant):
    """A datetime filter compares instants: +08:00 finds the record stored in UTC."""
    record = tenant.create("lead", {"name": "t", "met_at": "2026-01-02T03:04:05Z"})
    page = tenant.call("GET", "/api/v1/records/lead?met_at=2026-01-02T11:04:05%2B08:00").get_json()
    assert ids(page) == [record["id"]]
