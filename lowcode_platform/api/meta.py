"""Meta endpoints: the config meta-schema, the tenant's config, entity schemas, the caller."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from lowcode_platform.api.context import caller, json_body, json_response, platform, request_locale
from lowcode_platform.api.envelopes import (
    ConfigDocumentSchema,
    EntityListSchema,
    MeSchema,
    ProblemSchema,
)
from lowcode_platform.errors import NotFoundError, PermissionDeniedError, detail
from lowcode_platform.schema import meta_schema_text
from lowcode_platform.schema.config import ACTIONS
from lowcode_platform.schema.openapi import build_tenant_openapi

blp = Blueprint("meta", __name__, url_prefix="/api/v1/meta", description="The platform's and the tenant's schemas")


@blp.route("/config-schema")
class ConfigSchema(MethodView):
    @blp.response(200, description="JSON Schema 2020-12 of tenant config documents")
    def get(self) -> Any:
        """The meta-schema of tenant config documents (no token needed; editors fetch it via `$schema`)."""
        response = current_app.response_class(meta_schema_text(), mimetype="application/schema+json")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response


@blp.route("/config")
class ConfigDocument(MethodView):
    @blp.response(200, ConfigDocumentSchema)
    @blp.alt_response(403, schema=ProblemSchema)
    def get(self) -> Any:
        """The tenant's active config document, merged, with its version (admins only)."""
        who = caller()
        if not who.actor.role.admin:
            raise PermissionDeniedError("only tenant admins may read the config")
        return json_response({"version": who.config.version, "document": who.config.document})


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self) -> Any:
        """Who the bearer token stands for."""
        who = caller()
        return json_response({
            "user_id": who.actor.user_id, "name": who.actor.name, "role": who.actor.role.key,
            "tenant_id": who.actor.tenant_id, "config_version": who.config.version, "locale": request_locale(),
        })


@blp.route("/entities")
class Entities(MethodView):
    @blp.response(200, EntityListSchema)
    def get(self) -> Any:
        """The entities the caller may read, with labels and the caller's permissions."""
        who = caller()
        locale = request_locale()
        items = []
        for entity in who.config.entities.values():
            permission = who.actor.role.permission(entity.key)
            if permission.read:
                items.append({
                    "key": entity.key, "label": entity.label.get(locale), "plural": entity.plural.get(locale),
                    "permissions": {**{a: permission.allows(a) for a in ACTIONS}, "scope": permission.scope},
                })
        return json_response({"items": items})


@blp.route("/entities/<entity>/schema")
class EntitySchema(MethodView):
    @blp.response(200, description="The entity's JSON Schema (2020-12), titled in the request's language")
    @blp.alt_response(403, schema=ProblemSchema)
    @blp.alt_response(404, schema=ProblemSchema)
    def get(self, entity: str) -> Any:
        """The JSON Schema the server validates the entity's records with (roles that may read them)."""
        who = caller()
        compiled = who.config.entities.get(entity)
        if compiled is None:
            raise NotFoundError(f"unknown entity {entity!r}", [detail("", "unknown_entity", entity=entity)])
        if not who.actor.role.permission(entity).read:
            raise PermissionDeniedError(f"your role may not read {entity} records")
        return current_app.response_class(compiled.schema_text(request_locale()), mimetype="application/schema+json")


@blp.route("/openapi.json")
class TenantOpenAPI(MethodView):
    @blp.response(200, description="OpenAPI 3.1 of the tenant's records, typed per entity")
    def get(self) -> Any:
        """The tenant's own OpenAPI document: every entity the caller may read, with its JSON Schema."""
        who = caller()
        readable = [k for k in who.config.entities if who.actor.role.permission(k).read]
        return json_response(build_tenant_openapi(who.config, readable, request_locale()))


def echo() -> Any:
    """Parse the JSON body and send it back: the HTTP floor the record benchmark measures against."""
    return json_response(json_body(), status=201)


def register_echo() -> None:
    if platform().settings.echo_endpoint:
        current_app.add_url_rule("/api/v1/meta/echo", "echo", echo, methods=["POST"])

