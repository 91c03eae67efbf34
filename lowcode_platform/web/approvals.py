"""Approval pages: the inbox with approve and reject, and the requests panel of a record's page (with
recall for the submitter). Posts go through the same service as the API (`records/approvals.py`)."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from lowcode_platform.errors import PlatformError
from lowcode_platform.records.approvals import ApprovalService
from lowcode_platform.records.service import RecordService
from lowcode_platform.web.context import WebCaller, check_csrf, page_locale, web_caller
from lowcode_platform.web.views import bp, entities_of


def _service(who: WebCaller) -> ApprovalService:
    return ApprovalService(RecordService(who.session, who.config, who.actor))


def _inbox_page(errors: list[str], status: int = 200) -> Any:
    who = web_caller()
    locale = page_locale()
    approvals = _service(who)
    items = []
    for item in approvals.inbox():
        flow = who.config.approvals.get(item["flow"])
        entity = who.config.entities[item["entity"]]
        items.append({**item, "flow_label": flow.label.get(locale) if flow else item["flow"],
                      "entity_label": entity.label.get(locale),
                      "title": _title(approvals, entity.key, item["record_id"]),
                      "steps": [(s.key, s.label.get(locale)) for s in (flow.steps if flow else ())],
                      "summary": _summary(who, item["request"], entity.key, locale)})
    return render_template("web/inbox.html", locale=locale, who=who, entities=entities_of(who), items=items,
                           errors=errors), status


def _title(approvals: ApprovalService, entity: str, record_id: str) -> str:
    row = approvals.records.load_any(approvals.config.entities[entity], record_id)
    title = row.data.get(approvals.config.entities[entity].title_field or "")
    return record_id if title is None else str(title)


def _summary(who: WebCaller, request_: dict[str, Any], entity: str, locale: str) -> str:
    """What the request asks, in words: the stage it would enter, or the fields it would change."""
    if request_["kind"] == "stage":
        for pipeline in who.config.pipelines.of(entity):
            stage = pipeline.stage(request_["to"])
            if stage is not None:
                return stage.label.get(locale)
        return str(request_["to"])
    if request_["kind"] == "fields":
        fields = who.config.entities[entity].fields
        return ", ".join(f"{fields[k].label.get(locale) if k in fields else k}: {v}" for k, v in request_["patch"].items())
    return ""


@bp.route("/approvals")
def inbox_page() -> Any:
    return _inbox_page([])


@bp.route("/approvals/tasks/<task_id>/<decision>", methods=["POST"])
def decide(task_id: str, decision: str) -> Any:
    """Approve or reject a task (a rejection needs a comment); the inbox again, with any error."""
    who = web_caller()
    check_csrf()
    body: dict[str, Any] = {"comment": request.form.get("comment", "")}
    if request.form.get("back_to"):
        body["back_to"] = request.form["back_to"]
    approvals = _service(who)
    try:
        if decision == "approve":
            approvals.approve(task_id, body)
        elif decision == "reject":
            approvals.reject(task_id, body)
        else:
            return _inbox_page([], 404)
    except PlatformError as error:
        locale = page_locale()
        return _inbox_page([e.message_in(locale) for e in error.details] or [error.message], error.status)
    return redirect(url_for("web.inbox_page"), 303)


@bp.route("/approvals/<instance_id>/recall", methods=["POST"])
def recall(instance_id: str) -> Any:
    who = web_caller()
    check_csrf()
    shown = _service(who).recall(instance_id)
    return redirect(url_for("web.edit_page", entity=shown["entity"], record_id=shown["record_id"]), 303)
