"""Automation traces and the outbox, for tenant admins."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from lowcode_platform.api.context import caller, json_response
from lowcode_platform.api.envelopes import AutomationRunPageSchema, OutboxPageSchema, ProblemSchema
from lowcode_platform.errors import MalformedRequestError, PermissionDeniedError, parameter_error
from lowcode_platform.records.automations import list_outbox, list_runs

blp = Blueprint("automations", __name__, url_prefix="/api/v1/automations",
                description="What automations did: one trace per automation and record, and the messages they sent")

PAGE_PARAMETERS = [
    {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    {"in": "query", "name": "before", "schema": {"type": "string"}, "description": "the last id of the previous page"},
]


def _admin_page() -> tuple[Any, int, str | None]:
    who = caller()
    if not who.actor.role.admin:
        raise PermissionDeniedError("only tenant admins may read automation traces")
    try:
        limit = int(request.args.get("limit", 50))
        if not 1 <= limit <= 200:
            raise ValueError
    except ValueError:
        raise MalformedRequestError("invalid query parameters", [parameter_error(
            "limit", "bad_parameter", error="limit must be an integer from 1 to 200")]) from None
    return who, limit, request.args.get("before") or None


def _page(items: list[dict[str, Any]], limit: int) -> Any:
    return json_response({"items": items, "next_before": items[-1]["id"] if len(items) == limit else None})


@blp.route("/runs")
class Runs(MethodView):
    @blp.doc(parameters=[
        {"in": "query", "name": "record_id", "schema": {"type": "string"}},
        {"in": "query", "name": "automation", "schema": {"type": "string"}},
        *PAGE_PARAMETERS,
    ])
    @blp.response(200, AutomationRunPageSchema)
    @blp.alt_response(403, schema=ProblemSchema)
    def get(self) -> Any:
        """Automation runs, newest first: outcome `done`, `failed` (the write was rolled back) or `depth_limit`."""
        who, limit, before = _admin_page()
        return _page(list_runs(who.session, who.actor.tenant_id, record_id=request.args.get("record_id"),
                               automation=request.args.get("automation"), before=before, limit=limit), limit)


@blp.route("/outbox")
class Outbox(MethodView):
    @blp.doc(parameters=PAGE_PARAMETERS)
    @blp.response(200, OutboxPageSchema)
    @blp.alt_response(403, schema=ProblemSchema)
    def get(self) -> Any:
        """Notifications automations queued, newest first."""
        who, limit, before = _admin_page()
        return _page(list_outbox(who.session, who.actor.tenant_id, before=before, limit=limit), limit)
