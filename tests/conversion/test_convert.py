"""Converting a lead through the API: preview, all-or-nothing conversion, dedupe, lineage, 409 on repeat."""

from __future__ import annotations

import copy
from typing import Any

from tests.conversion.test_definitions import conversion_config


def config() -> dict[str, Any]:
    document = conversion_config()
    for entity in ("contact", "deal", "customer"):
        document["roles"]["rep"]["permissions"][entity] = {"create": True, "read": True, "update": True, "scope": "team"}
    return document


def lead(tenant: Any, **data: Any) -> dict[str, Any]:
    return tenant.create("lead", {"name": "Acme Robotics", "email": "li@acme.example", **data}, "rep1")


def convert(tenant: Any, lead_id: str, body: Any = None, user: str = "rep1") -> Any:
    return tenant.call("POST", f"/api/v1/conversions/qualify/{lead_id}", user, json=body or {})


def count(tenant: Any, entity: str) -> int:
    return len(tenant.call("GET", f"/api/v1/records/{entity}").get_json()["items"])


def test_preview_prefills_each_target(make_tenant: Any) -> None:
    """The preview maps the lead onto each target and says it is convertible."""
    tenant = make_tenant(config())
    found = lead(tenant, budget={"amount": 5000, "currency": "CNY"})
    preview = tenant.call("GET", f"/api/v1/conversions/qualify/{found['id']}", "rep1").get_json()
    assert preview["convertible"] is True and preview["converted"] == []
    targets = preview["targets"]
    assert targets["customer"]["values"] == {"name": "Acme Robotics", "level": "a"}
    assert targets["contact"]["values"] == {"name": "Contact at Acme Robotics", "email": "li@acme.example"}
    assert targets["deal"]["values"] == {"title": "Acme Robotics deal", "amount": {"amount": 5000, "currency": "CNY"}}


def test_convert_creates_links_and_records_lineage(make_tenant: Any) -> None:
    """One conversion creates customer, contact and deal, links them, sets the lead and locks it."""
    tenant = make_tenant(config())
    found = lead(tenant)
    response = convert(tenant, found["id"])
    assert response.status_code == 201, response.get_json()
    made = response.get_json()["targets"]
    assert {k: v["action"] for k, v in made.items()} == {"customer": "created", "contact": "created", "deal": "created"}
    contact = tenant.call("GET", f"/api/v1/records/contact/{made['contact']['id']}").get_json()
    deal = tenant.call("GET", f"/api/v1/records/deal/{made['deal']['id']}").get_json()
    assert contact["data"]["customer"] == made["customer"]["id"]
    assert (deal["data"]["customer"], deal["data"]["contact"]) == (made["customer"]["id"], made["contact"]["id"])
    stored = tenant.call("GET", f"/api/v1/records/lead/{found['id']}").get_json()
    assert stored["data"]["status"] == "won" and stored["data"]["email"] == "li@acme.example"
    locked = tenant.call("PATCH", f"/api/v1/records/lead/{found['id']}", "rep1", json={"name": "x", "version": stored["version"]})
    assert locked.status_code == 409 and locked.get_json()["errors"][0]["code"] == "converted_readonly"
    again = convert(tenant, found["id"])
    assert again.status_code == 409 and again.get_json()["errors"][0]["code"] == "already_converted"
    preview = tenant.call("GET", f"/api/v1/conversions/qualify/{found['id']}", "rep1").get_json()
    assert sorted(c["target"] for c in preview["converted"]) == ["contact", "customer", "deal"]


def test_an_optional_target_may_be_skipped_but_not_a_required_one(make_tenant: Any) -> None:
    """null skips the optional deal; null for the customer is refused at its pointer, and nothing is written."""
    tenant = make_tenant(config())
    found = lead(tenant)
    refused = convert(tenant, found["id"], {"targets": {"customer": None}})
    assert refused.status_code == 422
    assert [(e["pointer"], e["code"]) for e in refused.get_json()["errors"]] == [("/targets/customer", "required")]
    assert count(tenant, "customer") == 0
    done = convert(tenant, found["id"], {"targets": {"deal": None}})
    assert done.status_code == 201 and set(done.get_json()["targets"]) == {"customer", "contact"}


def test_a_failing_target_leaves_no_trace(make_tenant: Any) -> None:
    """An invalid override of the last target answers 422 at its pointer; no customer or contact was kept."""
    tenant = make_tenant(config())
    found = lead(tenant)
    response = convert(tenant, found["id"], {"targets": {"deal": {"title": ""}}})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["pointer"].startswith("/targets/deal/title")
    assert (count(tenant, "customer"), count(tenant, "contact"), count(tenant, "deal")) == (0, 0, 0)
    assert tenant.call("GET", f"/api/v1/records/lead/{found['id']}").get_json()["version"] == 1


def test_dedupe_links_an_existing_customer_matched_after_normalizing(make_tenant: Any) -> None:
    """A customer named the same but for case, spaces and full-width letters is linked, not duplicated."""
    tenant = make_tenant(config())
    existing = tenant.create("customer", {"name": "acme robotics", "level": "b"}, "rep1")
    found = lead(tenant, name="  ＡＣＭＥ Robotics ")
    preview = tenant.call("GET", f"/api/v1/conversions/qualify/{found['id']}", "rep1").get_json()
    assert [m["id"] for m in preview["targets"]["customer"]["matches"]] == [existing["id"]]
    made = convert(tenant, found["id"]).get_json()["targets"]
    assert made["customer"] == {"entity": "customer", "id": existing["id"], "action": "linked"}
    assert count(tenant, "customer") == 1
    kept = tenant.call("GET", f"/api/v1/records/customer/{existing['id']}").get_json()
    assert kept["data"]["level"] == "b"  # fill: empty keeps what the customer had


def test_refuse_and_invisible_matches(make_tenant: Any) -> None:
    """on_match refuse answers 409; a match the user may not read is not shown and blocks the conversion."""
    document = config()
    document["conversions"]["qualify"]["targets"]["customer"]["dedupe"]["on_match"] = "refuse"
    tenant = make_tenant(document)
    tenant.create("customer", {"name": "Acme Robotics"}, "outsider")
    found = lead(tenant)
    preview = tenant.call("GET", f"/api/v1/conversions/qualify/{found['id']}", "rep1").get_json()
    assert preview["targets"]["customer"]["matches"] == [{"id": None, "visible": False}]
    refused = convert(tenant, found["id"])
    assert refused.status_code == 409 and refused.get_json()["errors"][0]["code"] == "duplicate_match"


def test_a_lead_that_does_not_meet_when_is_refused(make_tenant: Any) -> None:
    """A lead without an email (the conversion's `when`) is not convertible."""
    tenant = make_tenant(config())
    found = tenant.create("lead", {"name": "No mail"}, "rep1")
    response = convert(tenant, found["id"])
    assert response.status_code == 422 and response.get_json()["errors"][0]["code"] == "not_convertible"


def test_unknown_conversion_is_404(make_tenant: Any) -> None:
    """A conversion key the config does not have answers 404."""
    tenant = make_tenant(copy.deepcopy(config()))
    found = lead(tenant)
    assert tenant.call("GET", f"/api/v1/conversions/ghost/{found['id']}", "rep1").status_code == 404


def test_of_two_users_converting_one_lead_at_once_exactly_one_succeeds(make_tenant: Any) -> None:
    """Two racing conversions of one lead: one 201, the other 409; one customer, one set of lineage rows."""
    import threading

    tenant = make_tenant(config())
    found = lead(tenant)
    barrier = threading.Barrier(2)
    responses: list[Any] = [None, None]

    def run(i: int, user: str) -> None:
        client = tenant.client.application.test_client()
        barrier.wait()
        responses[i] = client.post(f"/api/v1/conversions/qualify/{found['id']}", headers=tenant.headers(user),
                                   json={})

    threads = [threading.Thread(target=run, args=(i, user)) for i, user in enumerate(("rep1", "rep2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in responses) == [201, 409], [r.get_json() for r in responses]
    assert count(tenant, "customer") == 1 and count(tenant, "contact") == 1
    preview = tenant.call("GET", f"/api/v1/conversions/qualify/{found['id']}", "rep1").get_json()
    assert len(preview["converted"]) == 3


def test_a_fault_after_the_first_target_leaves_no_trace(make_tenant: Any, monkeypatch: Any) -> None:
    """An unexpected error once the customer is inserted rolls everything back: no record, no lineage."""
    from lowcode_platform.records.service import RecordService

    tenant = make_tenant(config())
    found = lead(tenant)
    real_insert = RecordService.insert
    calls = {"n": 0}

    def failing_insert(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the disk caught fire")
        return real_insert(self, *args, **kwargs)

    monkeypatch.setattr(RecordService, "insert", failing_insert)
    response = convert(tenant, found["id"])
    assert response.status_code == 500 and calls["n"] == 2
    monkeypatch.setattr(RecordService, "insert", real_insert)
    assert (count(tenant, "customer"), count(tenant, "contact"), count(tenant, "deal")) == (0, 0, 0)
    preview = tenant.call("GET", f"/api/v1/conversions/qualify/{found['id']}", "rep1").get_json()
    assert preview["converted"] == [] and convert(tenant, found["id"]).status_code == 201


def test_conversion_emits_record_converted_and_audits_the_lead(make_tenant: Any) -> None:
    """An automation on record.converted runs in the conversion; the lead's history has a convert row."""
    document = config()
    document["automations"] = [{"key": "tell_owner", "label": {"en": "Tell", "zh": "通知"}, "entity": "lead",
                                "on": "record.converted",
                                "then": [{"notify": {"to": ["owner"], "message": {"en": "Converted", "zh": "已转化"}}}]}]
    tenant = make_tenant(document)
    found = lead(tenant)
    made = convert(tenant, found["id"]).get_json()["targets"]
    outbox = tenant.call("GET", "/api/v1/automations/outbox").get_json()["items"]
    assert [m["payload"]["record_id"] for m in outbox] == [found["id"]]
    history = tenant.call("GET", f"/api/v1/records/lead/{found['id']}/history").get_json()["items"]
    [converted] = [h for h in history if h["action"] == "convert"]
    assert converted["changes"]["converted"][1] == {k: v["id"] for k, v in made.items()}


def test_lineage_is_visible_from_both_sides(make_tenant: Any) -> None:
    """The lead lists what it was converted into; each result names the lead it was converted from."""
    tenant = make_tenant(config())
    found = lead(tenant)
    made = convert(tenant, found["id"]).get_json()["targets"]
    into = tenant.call("GET", f"/api/v1/records/lead/{found['id']}/lineage", "rep1").get_json()["converted_into"]
    assert sorted((x["target"], x["id"]) for x in into) == sorted((k, v["id"]) for k, v in made.items())
    back = tenant.call("GET", f"/api/v1/records/customer/{made['customer']['id']}/lineage", "rep1").get_json()
    assert [(x["entity"], x["id"], x["action"]) for x in back["converted_from"]] == [("lead", found["id"], "created")]
    assert back["converted_into"] == []
