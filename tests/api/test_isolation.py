"""Tenant isolation: another tenant's records are 404 everywhere, never 403 and never their data."""

from __future__ import annotations

from sqlalchemy import func, select

from lowcode_platform.storage.engine import scope_to_tenant
from lowcode_platform.storage.tables import AuditEntry, Record


def test_other_tenants_record_is_404_for_every_verb(make_tenant):
    """GET, PATCH, DELETE, restore and history of a foreign record all answer 404 and leak nothing."""
    ours, theirs = make_tenant(), make_tenant()
    record = theirs.create("lead", {"name": "Secret Corp", "phone": "13900001111"})
    path = f"/api/v1/records/lead/{record['id']}"
    responses = [
        ours.call("GET", path), ours.call("PATCH", path, json={"version": 1, "name": "hijack"}),
        ours.call("DELETE", path), ours.call("POST", f"{path}/restore"), ours.call("GET", f"{path}/history"),
    ]
    for response in responses:
        assert response.status_code == 404
        assert b"Secret" not in response.data and b"13900001111" not in response.data
    assert ours.call("GET", "/api/v1/records/lead").get_json()["items"] == []
    assert theirs.call("GET", path).get_json()["data"]["name"] == "Secret Corp"


def test_unique_values_are_per_tenant(make_tenant):
    """The same unique value may exist once in each tenant."""
    one, two = make_tenant(), make_tenant()
    one.create("lead", {"name": "a", "phone": "13812345678"})
    two.create("lead", {"name": "b", "phone": "13812345678"})


def test_tenant_scoped_session_filters_every_orm_query(make_tenant, app):
    """A session scoped to a tenant sees only that tenant's rows, even in a query with no tenant filter."""
    one, two = make_tenant(), make_tenant()
    mine = f"a of {one.slug}"  # other tests' tenants share the database
    one.create("lead", {"name": mine})
    two.create("lead", {"name": "b"})
    two.create("lead", {"name": "c"})
    platform = app.extensions["lowcode"]
    with platform.open_session() as session:
        tenant_id = session.scalar(select(Record.tenant_id).where(Record.data["name"].as_string() == mine))
        scope_to_tenant(session, tenant_id)
        names = {r.data["name"] for r in session.scalars(select(Record))}
        assert names == {mine}
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
