"""Form endpoints: the forms a caller may open, and each as `{schema, uiSchema, layout, conditions}`."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from lowcode_platform.api.context import caller, json_response, request_locale
from lowcode_platform.api.envelopes import FormDocumentSchema, FormListSchema, ProblemSchema
from lowcode_platform.records.forms import FormService
from lowcode_platform.records.service import RecordService

blp = Blueprint("forms", __name__, url_prefix="/api/v1/forms",
                description="Forms generated from the tenant config, for clients that render them")


def form_service() -> FormService:
    who = caller()
    return FormService(RecordService(who.session, who.config, who.actor))


@blp.route("")
class Forms(MethodView):
    @blp.response(200, FormListSchema)
    def get(self) -> Any:
        """The forms the caller's role may open."""
        locale = request_locale()
        items = [{"entity": f.entity, "purpose": f.purpose, "label": f.label.get(locale) if f.label else None}
                 for f in form_service().purposes()]
        return json_response({"items": items})


@blp.route("/<entity>/<purpose>")
class Form(MethodView):
    @blp.doc(parameters=[{"in": "query", "name": "id", "schema": {"type": "string"},
                          "description": "a record to fill the form with (its values as `formData`)"}])
    @blp.response(200, FormDocumentSchema)
    @blp.alt_response(403, schema=ProblemSchema)
    @blp.alt_response(404, schema=ProblemSchema)
    def get(self, entity: str, purpose: str) -> Any:
        """A form localized by Accept-Language; submit it with `POST /records/{entity}?form=create` or
        `PATCH /records/{entity}/{id}?form=edit`."""
        return json_response(form_service().document(entity, purpose, request_locale(), request.args.get("id")))
