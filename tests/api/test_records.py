"""The records API: every status code it promises, audit rows, soft delete, optimistic locking."""

from __future__ import annotations

from typing import Any

import pytest

LEAD = {"name": "Zhang Wei", "phone": "13812345678", "budget": {"amount": 1200.5, "currency": "CNY"}}


def problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json", response.data
    return response.get_json()


def pointers(response: Any) -> set[tuple[str, str]]:
    return {(e.get("pointer", e.get("parameter")), e["code"]) for e in problem(response)["errors"]}


def test_create_returns_201_with_location_etag_defaults_and_audit(tenant):
    """A create answers 201 with the stored record, fills defaults, and writes one audit row."""
    response = tenant.call("POST", "/api/v1/records/lead", json=LEAD)
    assert response.status_code == 201
    record = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/records/lead/{record['id']}")
    assert response.headers["ETag"] == '"1"'
    assert record["version"] == 1 and record["owner_id"] == tenant.user_ids["admin"]
    assert record["data"]["status"] == "new"  # the field's default
    assert record["config_version"] == 1
    history = tenant.call("GET", f"/api/v1/records/lead/{record['id']}/history").get_json()["items"]
    assert [h["action"] for h in history] == ["create"]
    assert history[0]["changes"]["name"] == [None, "Zhang Wei"]
    assert history[0]["actor_id"] == tenant.user_ids["admin"]


def test_money_and_decimals_stay_exact(tenant):
    """Money amounts and decimals round-trip digit for digit (never through a float)."""
    body = {"name": "Exact", "budget": {"amount": 0.1, "currency": "USD"}, "score": 99.99}
    created = tenant.call("POST", "/api/v1/records/lead", data='{"name": "Exact", "budget": {"amount": '
                          '1234567890123.45, "currency": "USD"}, "score": 99.99}',
                          content_type="application/json")
    assert created.status_code == 201, created.data
    assert b'"amount": 1234567890123.45' in created.data and b'"score": 99.99' in created.data
    fetched = tenant.call("GET", f"/api/v1/records/lead/{created.get_json()['id']}")
    assert b'"amount": 1234567890123.45' in fetched.data
    assert tenant.call("POST", "/api/v1/records/lead", json=body).status_code == 201


def test_malformed_json_is_400(tenant):
    """A body that is not JSON answers 400 problem+json."""
    response = tenant.call("POST", "/api/v1/records/lead", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert pointers(response) == {("", "malformed_json")}


def test_body_must_be_an_object(tenant):
    """A JSON array body answers 422 at the root pointer."""
    response = tenant.call("POST", "/api/v1/records/lead", json=[1, 2])
    assert response.status_code == 422
    assert pointers(response) == {("", "body_not_object")}


def test_unknown_entity_is_404(tenant):
    """An entity the config does not define answers 404."""
    response = tenant.call("POST", "/api/v1/records/spaceship", json={"name": "x"})
    assert response.status_code == 404
    assert problem(response)["code"] == "not_found"


def test_invalid_fields_answer_422_with_every_pointer(tenant):
    """Unknown fields, wrong types and failed constraints are all reported at once, each at its pointer."""
    response = tenant.call("POST", "/api/v1/records/lead", json={
        "name": "", "bogus": 1, "employees": "many", "score": 101, "phone": "12345",
        "region": {"province": "310000", "city": "320100"}, "budget": {"amount": 1, "currency": "EUR"},
        "tags": ["hot", "hot"], "due": "2026-02-30",
    })
    assert response.status_code == 422
    assert pointers(response) == {
        ("/name", "required"), ("/bogus", "unknown_field"), ("/employees", "type"), ("/score", "maximum"),
        ("/phone", "pattern"), ("/region/city", "invalid_option"), ("/budget/currency", "invalid_option"),
        ("/tags", "duplicate_items"), ("/due", "format"),
    }


def test_missing_required_field_is_422(tenant):
    """A required field left out answers 422 pointing at it."""
    response = tenant.call("POST", "/api/v1/records/lead", json={"phone": "13812345678"})
    assert response.status_code == 422
    assert pointers(response) == {("/name", "required")}


def test_messages_follow_accept_language(tenant):
    """Error messages are Chinese when the request asks for zh."""
    response = tenant.call("POST", "/api/v1/records/lead", json={}, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert problem(response)["errors"][0]["message"] == "为必填项"
    response = tenant.call("POST", "/api/v1/records/lead", json={}, headers={"Accept-Language": "en-US"})
    assert problem(response)["errors"][0]["message"] == "is required"


def test_body_over_one_mebibyte_is_413(tenant):
    """A body over 1 MiB answers 413 problem+json and writes nothing."""
    big = '{"name": "x", "notes": "' + "a" * (1024 * 1024) + '"}'
    response = tenant.call("POST", "/api/v1/records/lead", data=big, content_type="application/json")
    assert response.status_code == 413
    assert problem(response)["status"] == 413
    assert tenant.call("GET", "/api/v1/records/lead").get_json()["items"] == []


def test_missing_or_bad_token_is_401(tenant):
    """No token, or a wrong one, answers 401 with WWW-Authenticate."""
    assert tenant.client.get("/api/v1/records/lead").status_code == 401
    response = tenant.client.get("/api/v1/records/lead", headers={"Authorization": "Bearer lc_nope"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert problem(response)["code"] == "unauthenticated"


def test_role_without_permission_is_403(tenant):
    """A role that may not create an entity's records answers 403; one that may not read it too."""
    assert tenant.call("POST", "/api/v1/records/lead", "viewer", json=LEAD).status_code == 403
    assert tenant.call("GET", "/api/v1/records/customer", "viewer").status_code == 403


def test_get_patch_and_stale_version_409(tenant):
    """PATCH with the current version applies; the same version again answers 409 and changes nothing."""
    record = tenant.create("lead", LEAD)
    path = f"/api/v1/records/lead/{record['id']}"
    first = tenant.call("PATCH", path, json={"version": 1, "vip": True})
    assert first.status_code == 200 and first.get_json()["version"] == 2
    assert first.get_json()["data"]["vip"] is True
    stale = tenant.call("PATCH", path, json={"version": 1, "vip": False})
    assert stale.status_code == 409
    assert pointers(stale) == {("/version", "stale_version")}
    assert tenant.call("GET", path).get_json()["data"]["vip"] is True


def test_patch_with_if_match_and_merge_patch_null_removes(tenant):
    """If-Match carries the version; null removes a field; the audit row holds the diff."""
    record = tenant.create("lead", LEAD)
    path = f"/api/v1/records/lead/{record['id']}"
    response = tenant.call("PATCH", path, json={"phone": None, "employees": 12}, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.get_json()
    assert "phone" not in response.get_json()["data"]
    history = tenant.call("GET", f"{path}/history").get_json()["items"]
    assert history[-1]["action"] == "update"
    assert history[-1]["changes"] == {"employees": [None, 12], "phone": ["13812345678", None]}
    assert tenant.call("PATCH", path, json={"employees": 13}, headers={"If-Match": '"1"'}).status_code == 409


def test_patch_without_version_is_428(tenant):
    """A PATCH that does not say which version it edits answers 428."""
    record = tenant.create("lead", LEAD)
    response = tenant.call("PATCH", f"/api/v1/records/lead/{record['id']}", json={"vip": True})
    assert response.status_code == 428
    assert pointers(response) == {("/version", "version_required")}


def test_patch_validates_the_merged_record(tenant):
    """Removing a required field or sending a bad value answers 422 and keeps the record."""
    record = tenant.create("lead", LEAD)
    path = f"/api/v1/records/lead/{record['id']}"
    response = tenant.call("PATCH", path, json={"version": 1, "name": None, "employees": -3})
    assert response.status_code == 422
    assert pointers(response) == {("/name", "required"), ("/employees", "minimum")}
    assert tenant.call("GET", path).get_json()["version"] == 1


def test_soft_delete_restore_and_history(tenant):
    """A deleted record leaves lists and GET (404) but can be restored; every step is audited."""
    record = tenant.create("lead", LEAD)
    path = f"/api/v1/records/lead/{record['id']}"
    deleted = tenant.call("DELETE", path)
    assert deleted.status_code == 200 and deleted.get_json()["deleted_at"] is not None
    assert tenant.call("GET", path).status_code == 404
    assert tenant.call("GET", "/api/v1/records/lead").get_json()["items"] == []
    listed = tenant.call("GET", "/api/v1/records/lead?include_deleted=true").get_json()["items"]
    assert [r["id"] for r in listed] == [record["id"]]
    assert tenant.call("POST", f"{path}/restore").status_code == 200
    again = tenant.call("POST", f"{path}/restore")
    assert again.status_code == 409 and pointers(again) == {("", "not_deleted")}
    assert tenant.call("GET", path).get_json()["deleted_at"] is None
    actions = [h["action"] for h in tenant.call("GET", f"{path}/history").get_json()["items"]]
    assert actions == ["create", "delete", "restore"]


def test_delete_with_stale_if_match_is_409(tenant):
    """DELETE with an If-Match of an old version answers 409."""
    record = tenant.create("lead", LEAD)
    path = f"/api/v1/records/lead/{record['id']}"
    tenant.call("PATCH", path, json={"version": 1, "vip": True})
    assert tenant.call("DELETE", path, headers={"If-Match": '"1"'}).status_code == 409
    assert tenant.call("DELETE", path, headers={"If-Match": '"2"'}).status_code == 200


def test_unique_values_are_refused_and_freed_by_delete(tenant):
    """A taken unique value answers 422 at its pointer; deleting the holder frees it; restoring then conflicts."""
    first = tenant.create("lead", LEAD)
    duplicate = tenant.call("POST", "/api/v1/records/lead", json={"name": "Other", "phone": "13812345678"})
    assert duplicate.status_code == 422
    assert pointers(duplicate) == {("/phone", "not_unique")}
    assert tenant.call("DELETE", f"/api/v1/records/lead/{first['id']}").status_code == 200
    second = tenant.create("lead", {"name": "Other", "phone": "13812345678"})
    restore = tenant.call("POST", f"/api/v1/records/lead/{first['id']}/restore")
    assert restore.status_code == 409
    assert pointers(restore) == {("/phone", "not_unique")}
    assert tenant.call("GET", f"/api/v1/records/lead/{second['id']}").status_code == 200


def test_unique_text_ignores_case_and_surrounding_space(tenant):
    """Unique text values collide regardless of case and surrounding white space."""
    tenant.create("customer", {"name": "Acme Ltd"})
    response = tenant.call("POST", "/api/v1/records/customer", json={"name": "  acme ltd "})
    assert response.status_code == 422 and pointers(response) == {("/name", "not_unique")}


def test_references_and_users_must_exist_in_the_tenant(tenant, make_tenant):
    """A reference to a missing (or other tenant's) record, or an unknown user, answers 422."""
    customer = tenant.create("customer", {"name": "Acme"})
    ok = tenant.call("POST", "/api/v1/records/lead", json={
        "name": "Ref", "customer": customer["id"], "assignee": tenant.user_ids["rep1"]})
    assert ok.status_code == 201, ok.get_json()
    other = make_tenant()
    foreign = other.create("customer", {"name": "Foreign"})
    bad = tenant.call("POST", "/api/v1/records/lead", json={
        "name": "Ref", "customer": foreign["id"], "assignee": other.user_ids["rep1"]})
    assert bad.status_code == 422
    assert pointers(bad) == {("/customer", "reference_not_found"), ("/assignee", "user_not_found")}


def test_pii_is_masked_for_roles_that_may_not_see_it(tenant):
    """A rep sees pii of their own records but masked on a team mate's; a manager sees all."""
    mine = tenant.create("lead", {"name": "Mine", "phone": "13812345678", "email": "zhang@example.com"}, "rep1")
    as_owner = tenant.call("GET", f"/api/v1/records/lead/{mine['id']}", "rep1").get_json()
    assert as_owner["data"]["phone"] == "13812345678" and as_owner["masked"] == []
    as_mate = tenant.call("GET", f"/api/v1/records/lead/{mine['id']}", "rep2").get_json()
    assert as_mate["data"]["phone"] == "138****5678"
    assert as_mate["data"]["email"] == "z***@example.com"
    assert sorted(as_mate["masked"]) == ["email", "phone"]
    history = tenant.call("GET", f"/api/v1/records/lead/{mine['id']}/history", "rep2").get_json()["items"]
    assert history[0]["changes"]["phone"] == [None, "138****5678"]
    as_boss = tenant.call("GET", f"/api/v1/records/lead/{mine['id']}", "boss").get_json()
    assert as_boss["data"]["phone"] == "13812345678"


def test_patching_back_a_masked_value_keeps_the_real_one(tenant):
    """A rep editing a team mate's record sends the masked phone back unchanged; the real phone stays."""
    mine = tenant.create("lead", {"name": "Mine", "phone": "13812345678"}, "rep1")
    path = f"/api/v1/records/lead/{mine['id']}"
    shown = tenant.call("GET", path, "rep2").get_json()
    response = tenant.call("PATCH", path, "rep2", json={**shown["data"], "vip": True, "version": shown["version"]})
    assert response.status_code == 200, response.get_json()
    assert tenant.call("GET", path, "rep1").get_json()["data"]["phone"] == "13812345678"


def test_data_scope_own_team_all(tenant):
    """Reps see their team's records, not another team's; own-scope entities only the owner's; admins all."""
    r1 = tenant.create("lead", {"name": "by rep1"}, "rep1")
    out = tenant.create("lead", {"name": "by outsider"}, "outsider")
    names = lambda user: {r["data"]["name"] for r in tenant.call("GET", "/api/v1/records/lead", user).get_json()["items"]}  # noqa: E731
    assert names("rep2") == {"by rep1"}
    assert names("boss") == {"by rep1"}
    assert names("outsider") == {"by outsider"}
    assert names("admin") == {"by rep1", "by outsider"}
    assert tenant.call("GET", f"/api/v1/records/lead/{out['id']}", "rep1").status_code == 404
    assert tenant.call("PATCH", f"/api/v1/records/lead/{r1['id']}", "outsider", json={"version": 1}).status_code == 404
    c = tenant.create("customer", {"name": "own-scope"}, "rep1")
    assert tenant.call("GET", f"/api/v1/records/customer/{c['id']}", "rep2").status_code == 404
    assert tenant.call("GET", f"/api/v1/records/customer/{c['id']}", "rep1").status_code == 200


def test_fields_removed_from_the_config_are_kept_but_not_shown(tenant):
    """Data of a field the config no longer defines stays stored and survives later updates."""
    from sqlalchemy import select

    from lowcode_platform.storage.tables import Record

    record = tenant.create("lead", LEAD)
    platform = tenant.client.application.extensions["lowcode"]
    with platform.open_session(write=True) as session:
        row = session.scalar(select(Record).where(Record.id == record["id"]))
        session.execute(Record.__table__.update().where(Record.id == row.id).values(
            data={**row.data, "legacy_code": "L-1"}))
        session.commit()
    path = f"/api/v1/records/lead/{record['id']}"
    assert "legacy_code" not in tenant.call("GET", path).get_json()["data"]
    assert tenant.call("PATCH", path, json={"version": 1, "vip": True}).status_code == 200
    with platform.open_session() as session:
        assert session.scalar(select(Record.data).where(Record.id == record["id"]))["legacy_code"] == "L-1"


@pytest.mark.parametrize("method", ["PUT"])
def test_wrong_method_is_405_problem(tenant, method):
    """A method the resource does not have answers 405 problem+json with Allow."""
    response = tenant.call(method, "/api/v1/records/lead", json={})
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert problem(response)["status"] == 405


def test_patch_refuses_unknown_fields_and_keeps_dropped_data(tenant):
    """A PATCH naming a field the entity lacks answers 422 unknown_field and stores nothing."""
    record = tenant.create("lead", LEAD)
    path = f"/api/v1/records/lead/{record['id']}"
    response = tenant.call("PATCH", path, json={"version": 1, "bogus": "x", "legacy": None})
    assert response.status_code == 422
    assert pointers(response) == {("/bogus", "unknown_field"), ("/legacy", "unknown_field")}
    assert tenant.call("GET", path).get_json()["version"] == 1


def test_references_must_be_visible_to_the_caller(tenant):
    """A reference to a record outside the caller's scope is refused as if it did not exist."""
    theirs = tenant.create("customer", {"name": "Outsider Co"}, "outsider")
    response = tenant.call("POST", "/api/v1/records/lead", "rep1", json={"name": "x", "customer": theirs["id"]})
    assert response.status_code == 422
    assert pointers(response) == {("/customer", "reference_not_found")}


def test_unique_message_names_the_entity_in_the_request_language(tenant):
    """The not_unique message uses the entity's label in the caller's language."""
    tenant.create("customer", {"name": "Acme"})
    response = tenant.call("POST", "/api/v1/records/customer", json={"name": "Acme"},
                           headers={"Accept-Language": "zh"})
    assert problem(response)["errors"][0]["message"] == "已有其他客户使用了此值"


@pytest.mark.parametrize("path", ["/api/v1/records/lead/a%00b", "/api/v1/records/lead?name=a%00b",
                                  "/api/v1/records/lead/x/history?%00=1"])
def test_nul_in_path_or_query_is_400(tenant, path):
    """A NUL character in the path or the query answers 400, never a database error."""
    response = tenant.call("GET", path)
    assert response.status_code == 400
    assert pointers(response) == {("", "unsafe_text")}


def test_team_scope_reaches_reports_in_other_teams_and_below(make_tenant):
    """A manager sees records of direct and indirect reports, whatever their team; a cycle does no harm."""
    users = (("admin", "admin", None, None), ("vp", "manager", None, "hq"), ("lead", "manager", "vp", "north"),
             ("rep", "rep", "lead", "south"), ("peer", "rep", None, "west"))
    tenant = make_tenant(users=users)
    tenant.create("lead", {"name": "by rep"}, "rep")
    tenant.create("lead", {"name": "by peer"}, "peer")
    names = lambda user: {r["data"]["name"] for r in tenant.call("GET", "/api/v1/records/lead", user).get_json()["items"]}  # noqa: E731
    assert names("vp") == {"by rep"}
    assert names("lead") == {"by rep"}
    assert names("peer") == {"by peer"}
    from sqlalchemy import update

    from lowcode_platform.storage.tables import User

    platform = tenant.client.application.extensions["lowcode"]
    with platform.open_session(write=True) as session:  # vp now reports to rep: a cycle
        session.execute(update(User).where(User.id == tenant.user_ids["vp"]).values(manager_id=tenant.user_ids["rep"]))
        session.commit()
    assert names("lead") == {"by rep"}


def test_users_without_a_team_are_not_each_others_team_mates(make_tenant):
    """Team scope of a user with no team shows their own records (and reports'), not other team-less users'."""
    users = (("admin", "admin", None, None), ("solo1", "rep", None, None), ("solo2", "rep", None, None))
    tenant = make_tenant(users=users)
    tenant.create("lead", {"name": "by solo2"}, "solo2")
    assert tenant.call("GET", "/api/v1/records/lead", "solo1").get_json()["items"] == []
