"""Meta endpoints and the OpenAPI document."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from lowcode_platform.schema import meta_schema
from tests.configs import crm


def test_config_schema_is_public_and_is_the_meta_schema(client):
    """The meta-schema is served without a token, as a valid 2020-12 schema."""
    response = client.get("/api/v1/meta/config-schema")
    assert response.status_code == 200
    assert response.mimetype == "application/schema+json"
    served = json.loads(response.data)
    Draft202012Validator.check_schema(served)
    assert served == meta_schema()
    assert Draft202012Validator(served).is_valid(crm())


def test_config_document_is_for_admins_only(tenant):
    """Admins read the active config and its version; other roles get 403."""
    response = tenant.call("GET", "/api/v1/meta/config")
    assert response.status_code == 200
    body = response.get_json()
    assert body["version"] == 1
    assert body["document"]["entities"]["lead"]["fields"]["name"]["max_length"] == 50
    assert tenant.call("GET", "/api/v1/meta/config", "rep1").status_code == 403


def test_entity_schema_is_localized_and_validates_like_the_server(tenant):
    """The served entity schema carries titles in the request's language."""
    en = tenant.call("GET", "/api/v1/meta/entities/lead/schema", headers={"Accept-Language": "en"})
    zh = tenant.call("GET", "/api/v1/meta/entities/lead/schema", headers={"Accept-Language": "zh-CN"})
    assert en.status_code == zh.status_code == 200
    en_schema, zh_schema = json.loads(en.data), json.loads(zh.data)
    assert en_schema["title"] == "Lead" and zh_schema["title"] == "线索"
    assert zh_schema["properties"]["status"]["oneOf"][1] == {"const": "won", "title": "赢单"}
    assert en_schema["required"] == ["name"]  # status has a default, so the server fills it in
    assert en_schema["additionalProperties"] is False


def test_unknown_entity_schema_is_404(tenant):
    """Asking for the schema of an entity the tenant lacks answers 404 problem+json."""
    response = tenant.call("GET", "/api/v1/meta/entities/spaceship/schema")
    assert response.status_code == 404
    assert response.get_json()["errors"][0]["code"] == "unknown_entity"


def test_me_and_entities_reflect_the_role(tenant):
    """`me` names the caller; `entities` lists only what the role may read, with its permissions."""
    me = tenant.call("GET", "/api/v1/meta/me", "rep1").get_json()
    assert me["name"] == "rep1" and me["role"] == "rep"
    items = tenant.call("GET", "/api/v1/meta/entities", "viewer").get_json()["items"]
    assert [i["key"] for i in items] == ["lead"]
    assert items[0]["permissions"] == {"create": False, "read": True, "update": False, "delete": False, "scope": "all"}


def test_openapi_document_is_valid_openapi_3(client):
    """/api/openapi.json validates as OpenAPI 3 and documents the records and meta endpoints."""
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"].startswith("3.")
    assert "/api/v1/records/{entity}/{record_id}" in document["paths"]
    assert "patch" in document["paths"]["/api/v1/records/{entity}/{record_id}"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_docs_page_and_its_assets_are_served_locally(client):
    """The docs page loads Swagger UI from the server itself, not from a CDN."""
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"swagger-ui-bundle.js" in page.data
    assert b"/api/docs/assets/" in page.data
    asset = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000
    asset.close()


def test_unknown_path_is_404_problem(client):
    """A path the API does not have answers 404 problem+json."""
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_echo_returns_the_body_it_parsed(client):
    """The benchmark floor endpoint parses JSON and sends it back unchanged."""
    response = client.post("/api/v1/meta/echo", data='{"a": 1.10, "b": ["x"]}', content_type="application/json")
    assert response.status_code == 201
    assert response.data == b'{"a": 1.10, "b": ["x"]}'


def test_tenant_openapi_embeds_each_readable_entity_schema(tenant):
    """The tenant's OpenAPI 3.1 document validates and types records with the served entity schemas."""
    document = tenant.call("GET", "/api/v1/meta/openapi.json").get_json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    served = json.loads(tenant.call("GET", "/api/v1/meta/entities/lead/schema").data)
    served.pop("$schema")
    assert document["components"]["schemas"]["LeadData"] == served
    assert "/api/v1/records/customer/{id}" in document["paths"]
    viewer = tenant.call("GET", "/api/v1/meta/openapi.json", "viewer").get_json()
    assert [p for p in viewer["paths"] if p.count("/") == 4] == ["/api/v1/records/lead"]


def test_entity_schema_needs_read_permission(tenant):
    """A role that may not read an entity gets 403 for its schema."""
    assert tenant.call("GET", "/api/v1/meta/entities/customer/schema", "viewer").status_code == 403
    assert tenant.call("GET", "/api/v1/meta/entities/lead/schema", "viewer").status_code == 200


def test_responses_match_their_documented_envelopes(tenant):
    """Records, pages and history as sent load cleanly through the marshmallow schemas the OpenAPI documents."""
    from lowcode_platform.api.envelopes import HistorySchema, RecordPageSchema, RecordSchema

    record = tenant.create("lead", {"name": "Envelope", "budget": {"amount": 1.5, "currency": "CNY"}})
    RecordSchema().load(record)
    RecordSchema().load(tenant.call("GET", f"/api/v1/records/lead/{record['id']}").get_json())
    RecordPageSchema().load(tenant.call("GET", "/api/v1/records/lead").get_json())
    HistorySchema().load(tenant.call("GET", f"/api/v1/records/lead/{record['id']}/history").get_json())
