"""Approval endpoints: the inbox, decisions (approve, reject, delegate, batch approve), recall, a request
with its trail, manual submits, a record's requests and the timeout sweep."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from lowcode_platform.api.context import caller, json_body, json_response
from lowcode_platform.api.envelopes import OBJECT_BODY, ProblemSchema
from lowcode_platform.errors import PermissionDeniedError
from lowcode_platform.records.approval_sweep import sweep_approvals
from lowcode_platform.records.approvals import ApprovalService
from lowcode_platform.records.service import RecordService

blp = Blueprint("approvals", __name__, url_prefix="/api/v1/approvals",
                description="Approval flows: inbox, decisions, recall, delegation, timeouts")
record_blp = Blueprint("record_approvals", __name__, url_prefix="/api/v1/records",
                       description="A record's approval requests")


def _approvals() -> ApprovalService:
    who = caller()
    return ApprovalService(RecordService(who.session, who.config, who.actor))


@blp.route("/inbox")
class Inbox(MethodView):
    @blp.response(200)
    def get(self) -> Any:
        """Your open tasks, oldest first, each with the request it belongs to."""
        return json_response({"items": _approvals().inbox()})


@blp.route("/tasks/<task_id>/approve")
class Approve(MethodView):
    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(200)
    @blp.alt_response(403, schema=ProblemSchema)
    @blp.alt_response(409, schema=ProblemSchema)
    def post(self, task_id: str) -> Any:
        """Approve `{"comment"}`: 409 when the task was decided meanwhile (another approver was first)."""
        return json_response(_approvals().approve(task_id, json_body(optional=True)))


@blp.route("/tasks/<task_id>/reject")
class Reject(MethodView):
    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(200)
    @blp.alt_response(409, schema=ProblemSchema)
    @blp.alt_response(422, schema=ProblemSchema)
    def post(self, task_id: str) -> Any:
        """Reject `{"comment", "back_to"}`: a comment is required; `back_to` (a step key) sends the request
        back to that step instead of ending it."""
        return json_response(_approvals().reject(task_id, json_body()))


@blp.route("/tasks/<task_id>/delegate")
class Delegate(MethodView):
    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(200)
    @blp.alt_response(409, schema=ProblemSchema)
    def post(self, task_id: str) -> Any:
        """Hand the task to `{"to"}` (a user id), who decides in your place."""
        return json_response(_approvals().delegate(task_id, json_body()))


@blp.route("/tasks/approve")
class ApproveMany(MethodView):
    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(200)
    def post(self) -> Any:
        """Approve `{"ids": [...], "comment"}`, each task on its own; the outcome of each."""
        return json_response(_approvals().approve_many(json_body()))


@blp.route("/<instance_id>")
class Instance(MethodView):
    @blp.response(200)
    @blp.alt_response(404, schema=ProblemSchema)
    def get(self, instance_id: str) -> Any:
        """A request with its full trail: every task, its approver, decision, comment and dates."""
        return json_response(_approvals().get(instance_id))


@blp.route("/<instance_id>/recall")
class Recall(MethodView):
    @blp.response(200)
    @blp.alt_response(403, schema=ProblemSchema)
    @blp.alt_response(409, schema=ProblemSchema)
    def post(self, instance_id: str) -> Any:
        """The submitter withdraws a pending request; the record stays as it was."""
        return json_response(_approvals().recall(instance_id))


@blp.route("/flows/<key>/submit")
class Submit(MethodView):
    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(201)
    @blp.alt_response(409, schema=ProblemSchema)
    def post(self, key: str) -> Any:
        """Submit record `{"id"}` to a manual flow."""
        return json_response(_approvals().submit(key, json_body()), 201)


@blp.route("/sweep")
class Sweep(MethodView):
    @blp.response(200)
    @blp.alt_response(403, schema=ProblemSchema)
    def post(self) -> Any:
        """Tenant admins: apply the timeouts due now (escalate, approve or reject)."""
        who = caller()
        if not who.actor.role.admin:
            raise PermissionDeniedError("only tenant admins may sweep the approvals")
        records = RecordService(who.session, who.config, who.actor)
        return json_response(sweep_approvals(records, records.clock()))


@record_blp.route("/<entity>/<record_id>/approvals")
class RecordApprovals(MethodView):
    @record_blp.response(200)
    @record_blp.alt_response(404, schema=ProblemSchema)
    def get(self, entity: str, record_id: str) -> Any:
        """The record's approval requests, newest first, with their trails."""
        return json_response({"items": _approvals().of_record(entity, record_id)})
