"""A tenant's own OpenAPI 3.1 document: the records endpoints typed with each entity's JSON Schema.

Tenant entities exist only at runtime, so the platform's OpenAPI document describes a record's `data`
as an open object; this one, built from a compiled config, lets a tenant's developers generate typed
clients. Pure: plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from lowcode_platform import jsonutil
from lowcode_platform.schema.entities import EntityDef
from lowcode_platform.schema.labels import Label

PROBLEM = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "code", "errors"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "code": {"type": "string"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["code", "message"],
            "properties": {"pointer": {"type": "string"}, "parameter": {"type": "string"},
                           "code": {"type": "string"}, "message": {"type": "string"}}}},
    },
}


def _pascal(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))


def _envelope(data_ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "entity", "version", "created_at", "updated_at", "config_version", "data", "masked"],
        "properties": {
            "id": {"type": "string"}, "entity": {"type": "string"}, "version": {"type": "integer"},
            "owner_id": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "deleted_at": {"type": ["string", "null"], "format": "date-time"},
            "created_by": {"type": ["string", "null"]}, "updated_by": {"type": ["string", "null"]},
            "config_version": {"type": "integer"}, "data": {"$ref": data_ref},
            "masked": {"type": "array", "items": {"type": "string"}},
        },
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _problems(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "problem", "content": {"application/problem+json": {"schema": PROBLEM}}}
            for s in statuses}


class CompiledConfig(Protocol):
    """What the document is built from (a compiled tenant config)."""

    version: int
    name: Label
    entities: Mapping[str, EntityDef]


def build_tenant_openapi(config: CompiledConfig, entities: Iterable[str], locale: str) -> dict[str, Any]:
    """OpenAPI 3.1 for the records of `entities` (those the caller may read), titled in `locale`."""
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, Any] = {}
    for key in entities:
        entity = config.entities[key]
        name = _pascal(key)
        data = jsonutil.loads(entity.schema_text(locale))
        data.pop("$schema", None)
        schemas[f"{name}Data"] = data
        schemas[name] = _envelope(f"#/components/schemas/{name}Data")
        record = {"$ref": f"#/components/schemas/{name}"}
        one = {"200": {"description": entity.label.get(locale), **_json(record)}}
        paths[f"/api/v1/records/{key}"] = {
            "get": {"operationId": f"list_{key}", "summary": entity.plural.get(locale),
                    "responses": {"200": {"description": "a page", **_json({
                        "type": "object", "required": ["items", "next_cursor"],
                        "properties": {"items": {"type": "array", "items": record},
                                       "next_cursor": {"type": ["string", "null"]}}})}, **_problems(400)}},
            "post": {"operationId": f"create_{key}", "requestBody": {"required": True, **_json(
                {"$ref": f"#/components/schemas/{name}Data"})},
                "responses": {"201": {"description": "created", **_json(record)}, **_problems(400, 413, 422)}},
        }
        item = f"/api/v1/records/{key}/{{id}}"
        id_parameter = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
        paths[item] = {
            "parameters": id_parameter,
            "get": {"operationId": f"get_{key}", "responses": {**one, **_problems(404)}},
            "patch": {"operationId": f"update_{key}", "requestBody": {"required": True, **_json({"type": "object"})},
                      "responses": {**one, **_problems(404, 409, 422, 428)}},
            "delete": {"operationId": f"delete_{key}", "responses": {**one, **_problems(404, 409)}},
        }
        paths[f"{item}/restore"] = {"parameters": id_parameter, "post": {
            "operationId": f"restore_{key}", "responses": {**one, **_problems(404, 409)}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": config.name.get(locale), "version": str(config.version)},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
