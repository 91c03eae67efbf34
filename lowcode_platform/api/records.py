"""Records endpoints: create, read, list, patch, soft delete, restore, history of any tenant entity."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from lowcode_platform.api.context import caller, json_body, json_response
from lowcode_platform.api.envelopes import OBJECT_BODY, HistorySchema, ProblemSchema, RecordPageSchema, RecordSchema
from lowcode_platform.errors import MalformedRequestError, PreconditionRequiredError, RecordInvalidError, detail
from lowcode_platform.records.forms import FormService
from lowcode_platform.records.service import RecordService, RecordView

blp = Blueprint("records", __name__, url_prefix="/api/v1/records", description="Records of the tenant's entities")

LIST_PARAMETERS = [
    {"in": "query", "name": "sort", "schema": {"type": "string"},
     "description": "a field or created_at/updated_at; prefix - for descending (default -created_at)"},
    {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    {"in": "query", "name": "cursor", "schema": {"type": "string"}, "description": "next_cursor of the previous page"},
    {"in": "query", "name": "include_deleted", "schema": {"type": "boolean", "default": False}},
    {"in": "query", "name": "where", "schema": {"type": "string"},
     "description": "a condition (JSON, docs/conditions.md) the records must meet, e.g. "
                    '{"$and": [{"$gte": {"amount": 100000}}, {"$gt": {"days_in_stage": 14}}]}; '
                    "400 when it is not JSON, 422 (with pointers into it) when it is not a valid condition"},
]
ETAG = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')


FORM_PARAMETER = {"in": "query", "name": "form", "schema": {"type": "string"},
                  "description": "submit through this form of the entity (GET /api/v1/forms/{entity}/{form}): "
                                 "only its fields may be sent, hidden fields are dropped, read-only fields must "
                                 "be unchanged, and its required fields are required"}


PIPELINE_PARAMETER = {"in": "query", "name": "pipeline", "schema": {"type": "string"},
                      "description": "the pipeline a record of a pipeline's entity starts in (default: the "
                                     "entity's first); 400 when it is not one of the entity's pipelines"}


def _service() -> RecordService:
    who = caller()
    return RecordService(who.session, who.config, who.actor)


def _record_response(view: RecordView, status: int = 200, location: bool = False) -> Any:
    """The record; 202 when the change became a request for approval (`approval` in the body)."""
    if view.approval is not None:
        status = 202
    headers = {"ETag": f'"{view.row.version}"'}
    if location:
        headers["Location"] = f"{request.script_root}/api/v1/records/{view.row.entity}/{view.row.id}"
    return json_response(view.to_json(), status, headers)


def _expected_version(body: dict[str, Any] | None, required: bool) -> int | None:
    """The version the client edited: `version` in the body or an If-Match header."""
    header = request.headers.get("If-Match")
    from_header = None
    if header:
        match = ETAG.match(header)
        if match is None:
            raise MalformedRequestError("If-Match must be a record version such as \"3\"")
        from_header = int(match.group(1))
    from_body = None
    if body is not None and "version" in body:
        from_body = body.pop("version")
        if not isinstance(from_body, int) or isinstance(from_body, bool):
            raise RecordInvalidError("version must be an integer", [detail("/version", "type", expected="an integer")])
    if from_header is not None and from_body is not None and from_header != from_body:
        raise MalformedRequestError("the body's version and If-Match disagree")
    version = from_body if from_body is not None else from_header
    if version is None and required:
        raise PreconditionRequiredError("the version you edited is required", [detail("/version", "version_required")])
    return version


@blp.route("/<entity>")
class Records(MethodView):
    @blp.doc(parameters=LIST_PARAMETERS)
    @blp.response(200, RecordPageSchema)
    @blp.alt_response(400, schema=ProblemSchema)
    @blp.alt_response(422, schema=ProblemSchema)
    def get(self, entity: str) -> Any:
        """List records; any other query parameter is an exact-match filter on a field (or owner_id)."""
        page = _service().list(entity, request.args.to_dict())
        return json_response({"items": [v.to_json() for v in page.items], "next_cursor": page.next_cursor})

    @blp.doc(requestBody=OBJECT_BODY, parameters=[FORM_PARAMETER, PIPELINE_PARAMETER])
    @blp.response(201, RecordSchema)
    @blp.alt_response(422, schema=ProblemSchema)
    def post(self, entity: str) -> Any:
        """Create a record; the body holds the entity's fields."""
        service = _service()
        form, pipeline = request.args.get("form"), request.args.get("pipeline")
        if form:
            return _record_response(FormService(service).create(entity, form, json_body(), pipeline), 201,
                                    location=True)
        return _record_response(service.create(entity, json_body(), pipeline), 201, location=True)


@blp.route("/<entity>/<record_id>")
class Record(MethodView):
    @blp.response(200, RecordSchema)
    @blp.alt_response(404, schema=ProblemSchema)
    def get(self, entity: str, record_id: str) -> Any:
        """One record (404 for a deleted one unless include_deleted=true)."""
        include_deleted = request.args.get("include_deleted") == "true"
        return _record_response(_service().get(entity, record_id, include_deleted=include_deleted))

    @blp.doc(requestBody=OBJECT_BODY, parameters=[FORM_PARAMETER])
    @blp.response(200, RecordSchema)
    @blp.alt_response(202, schema=RecordSchema, description="The change waits for approval: see `approval`")
    @blp.alt_response(409, schema=ProblemSchema)
    @blp.alt_response(422, schema=ProblemSchema)
    @blp.alt_response(428, schema=ProblemSchema)
    def patch(self, entity: str, record_id: str) -> Any:
        """Change fields (JSON merge patch: null removes a field); send `version` or If-Match."""
        service = _service()
        body = json_body()
        version = _expected_version(body if isinstance(body, dict) else None, required=True)
        assert version is not None
        form = request.args.get("form")
        if form:
            return _record_response(FormService(service).update(entity, form, record_id, body, version))
        return _record_response(service.update(entity, record_id, body, version))

    @blp.response(200, RecordSchema)
    @blp.alt_response(409, schema=ProblemSchema)
    def delete(self, entity: str, record_id: str) -> Any:
        """Soft-delete a record (If-Match optional); it can be restored."""
        service = _service()
        return _record_response(service.delete(entity, record_id, _expected_version(None, required=False)))


@blp.route("/<entity>/<record_id>/restore")
class Restore(MethodView):
    @blp.response(200, RecordSchema)
    @blp.alt_response(409, schema=ProblemSchema)
    def post(self, entity: str, record_id: str) -> Any:
        """Undo a soft delete."""
        return _record_response(_service().restore(entity, record_id))


@blp.route("/<entity>/<record_id>/history")
class History(MethodView):
    @blp.response(200, HistorySchema)
    def get(self, entity: str, record_id: str) -> Any:
        """The record's audit rows, oldest first."""
        return json_response({"items": _service().history(entity, record_id)})
