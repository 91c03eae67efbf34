"""Approval pages: the inbox with approve and reject, and the requests panel of a record's page (with
recall for the submitter). Posts go through the same service as the API (`records/approvals.py`)."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from lowcode_platform.errors import NotFoundError, PlatformError
from lowcode_platform.records.approvals import ApprovalService
from lowcode_platform.records.service import RecordService
from lowcode_platform.web.context import WebCaller, check_csrf, page_locale, web_caller
from lowcode_platform.web.display import show_value
from lowcode_platform.web.texts import text
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
                      "steps": [(s.key, s.label.get(locale)) for s in (flow.steps if flow else ())
                                ][: _index(flow, item["step"]) + 1],
                      "summary": _summary(who, item["request"], entity.key, locale)})
    return render_template("web/inbox.html", locale=locale, who=who, entities=entities_of(who), items=items,
                           errors=errors), status


def _index(flow: Any, step: str) -> int:
    """Where a step is in its flow: a request may be sent back to it or to an earlier one."""
    return next((i for i, s in enumerate(flow.steps) if s.key == step), 0) if flow else 0


def _title(approvals: ApprovalService, entity: str, record_id: str) -> str:
    definition = approvals.config.entities[entity]
    try:
        view = approvals.records.view(definition, approvals.records.load_any(definition, record_id))
    except NotFoundError:
        return record_id
    title = view.data.get(definition.title_field or "")  # masked as the approver sees it
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
        return ", ".join(f"{fields[k].label.get(locale)}: {show_value(fields[k], v, locale)}"
                         for k, v in request_["patch"].items() if k in fields)
    if request_["kind"] == "conversion":
        conversion = who.config.conversions.get(request_["conversion"])
        return conversion.label.get(locale) if conversion else str(request_["conversion"])
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
        messages = [f"{text('comment', locale)}: {e.message_in(locale)}" if e.pointer == "/comment"
                    else e.message_in(locale) for e in error.details]
        return _inbox_page(messages or [error.message], error.status)
    return redirect(url_for("web.inbox_page"), 303)


@bp.route("/approvals/<instance_id>/recall", methods=["POST"])
def recall(instance_id: str) -> Any:
    who = web_caller()
    check_csrf()
    shown = _service(who).recall(instance_id)
    return redirect(url_for("web.edit_page", entity=shown["entity"], record_id=shown["record_id"]), 303)
