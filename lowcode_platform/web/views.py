"""The pages: sign in, the entities, a list per entity, and create and edit pages rendered from the forms.

A page renders the same form document the API serves (`GET /api/v1/forms/...`), and a post goes through
the same form check and record service as `POST /api/v1/records/{entity}?form=create`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from lowcode_platform import jsonutil
from lowcode_platform.accounts.service import list_users
from lowcode_platform.analytics.service import AnalyticsService
from lowcode_platform.errors import ErrorDetail, PlatformError, RecordInvalidError, detail, field_of
from lowcode_platform.records.conversions import record_lineage
from lowcode_platform.records.forms import FormService
from lowcode_platform.records.pools import PoolService
from lowcode_platform.records.service import RecordService
from lowcode_platform.records.stages import StageService
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.regions import load_regions
from lowcode_platform.web.charts import LEFT as CHART_LEFT
from lowcode_platform.web.charts import WIDTH as CHART_WIDTH
from lowcode_platform.web.charts import funnel_bars
from lowcode_platform.web.context import (
    CsrfError,
    SignInRequiredError,
    WebCaller,
    check_csrf,
    close_session,
    csrf_token,
    find_user,
    page_locale,
    sign_in,
    web_caller,
)
from lowcode_platform.web.display import list_columns, show_value
from lowcode_platform.web.formdata import changed_values, input_name, input_values, posted_values, read_form
from lowcode_platform.web.panels import approval_panel, pool_panel
from lowcode_platform.web.texts import text

bp = Blueprint("web", __name__, url_prefix="/web", template_folder="templates", static_folder="static")
bp.teardown_request(close_session)
bp.app_template_global("t")(text)
bp.app_template_global("csrf_token")(csrf_token)
bp.app_template_global("input_name")(input_name)
PAGE_SIZE = 50
FUNNEL_FILTERS = ("from", "to", "owner", "team", "source", "target_amount", "target_count")
VERSION = re.compile(r"[0-9]{1,18}")
PICKER_SIZE = 200


def _error_page(status: int, message: str) -> Any:
    return render_template("web/error.html", locale=page_locale(), message=message, status=status), status


@bp.errorhandler(SignInRequiredError)
def _signed_out(_error: SignInRequiredError) -> Any:
    return redirect(url_for("web.sign_in_page"), 303)


@bp.errorhandler(CsrfError)
def _csrf_error(_error: CsrfError) -> Any:
    return _error_page(400, text("bad_request", page_locale()))


@bp.errorhandler(PlatformError)
def _platform_error(error: PlatformError) -> Any:
    key = {403: "forbidden", 404: "not_found"}.get(error.status)
    locale = page_locale()
    message = text(key, locale) if key else "; ".join(e.message_in(locale) for e in error.details) or error.message
    return _error_page(error.status, message)


def services(who: WebCaller) -> tuple[RecordService, FormService]:
    records = RecordService(who.session, who.config, who.actor)
    return records, FormService(records)


def entities_of(who: WebCaller) -> list[EntityDef]:
    role = who.actor.role
    return [e for key, e in who.config.entities.items() if role.permission(key).allows("read")]


def script_json(value: Any) -> Markup:
    """JSON safe inside a <script> element: no `<`, `>` or `&` that could end it."""
    text = jsonutil.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


bp.app_template_global("script_json")(script_json)


def picker_choices(who: WebCaller, records: RecordService, entity: EntityDef, keys: list[str]) -> dict[str, list[Any]]:
    """Options of the user and reference pickers: the tenant's users, the records the caller may read."""
    found: dict[str, list[Any]] = {}
    for key in keys:
        field = entity.fields[key]
        if field.type == "user":
            found[key] = list_users(who.session, who.actor.tenant_id, PICKER_SIZE)
        elif field.type == "reference" and field.entity:
            if who.actor.role.permission(field.entity).allows("read"):
                found[key] = records.choices(field.entity, PICKER_SIZE)
    return found


def _other_errors(found: list[ErrorDetail], unreadable: list[ErrorDetail]) -> list[ErrorDetail]:
    """The form's errors about fields other than those whose input could not be read."""
    skip = {field_of(e.pointer) for e in unreadable}
    return [e for e in found if field_of(e.pointer) not in skip]


def errors_by_field(details: list[ErrorDetail], locale: str,
                     shown: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Messages by the shown field their pointer starts with; the rest (the record, the version, fields not
    on the page) for the top of the page."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for error in details:
        head = field_of(error.pointer)
        if head in shown:
            by_field.setdefault(head, []).append(error.message_in(locale))
        else:
            general.append(error.message_in(locale))
    return by_field, general


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in_page() -> Any:
    locale = page_locale()
    error = None
    if request.method == "POST":
        check_csrf()
        token = request.form.get("token", "").strip()
        if token and find_user(token) is not None:
            sign_in(token)
            return redirect(url_for("web.home"), 303)
        error = "invalid_token"
    return render_template("web/sign_in.html", locale=locale, error=error), 401 if error else 200


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> Response:
    check_csrf()
    session.clear()
    return redirect(url_for("web.sign_in_page"), 303)


@bp.route("/")
def home() -> Any:
    who = web_caller()
    pools = PoolService(RecordService(who.session, who.config, who.actor)).pools()
    return render_template("web/home.html", locale=page_locale(), who=who, entities=entities_of(who),
                           pipelines=_pipelines(who), pools=pools)


@bp.route("/analytics/funnel/<pipeline>")
def funnel_page(pipeline: str) -> Any:
    """The funnel of a pipeline: a chart (server-rendered SVG, numbers on it) and the stage table beside it."""
    who = web_caller()
    locale = page_locale()
    args = {k: v for k, v in request.args.items() if k in FUNNEL_FILTERS and v.strip()}
    funnel = AnalyticsService(who.session, who.config, who.actor).funnel(pipeline, args)
    bars, height = funnel_bars(funnel["stages"], locale)
    return render_template("web/funnel.html", locale=locale, who=who, entities=entities_of(who), funnel=funnel,
                           bars=bars, height=height, chart_width=CHART_WIDTH, left=CHART_LEFT, args=args,
                           pipelines=_pipelines(who))


def _stage_label(who: WebCaller, pipeline_key: str | None, stage: str | None, locale: str) -> str | None:
    """The name of a record's stage in its pipeline (None for a record without one)."""
    pipeline = who.config.pipelines.get(pipeline_key)
    if pipeline is None:
        return None
    found = pipeline.stage(stage or "")
    return (found.label if found else pipeline.lost_label).get(locale)


def _pipelines(who: WebCaller) -> list[Any]:
    """The pipelines whose records the user may read (their funnels)."""
    role = who.actor.role
    return [p for p in who.config.pipelines.pipelines.values() if role.permission(p.entity).allows("read")]


@bp.route("/<entity>")
def list_page(entity: str) -> Any:
    who = web_caller()
    records, _ = services(who)
    args = {k: v for k, v in request.args.items() if k in ("cursor", "sort")}
    page = records.list(entity, {**args, "limit": str(PAGE_SIZE)})
    definition = who.config.entities[entity]
    columns = list_columns(definition, who.actor.role.key)
    locale = page_locale()
    rows = [{"id": v.row.id, "cells": [show_value(definition.fields[c], v.data.get(c), locale) for c in columns],
             "stage": _stage_label(who, v.row.pipeline, v.row.stage, locale), "stalled": v.stalled}
            for v in page.items]
    return render_template("web/list.html", locale=page_locale(), who=who, entity=definition, columns=columns,
                           rows=rows, next_cursor=page.next_cursor, entities=entities_of(who),
                           can_create=who.actor.role.permission(entity).allows("create"),
                           can_edit=who.actor.role.permission(entity).allows("update"),
                           staged=bool(who.config.pipelines.of(entity)))


def _render_form(who: WebCaller, forms: FormService, entity: EntityDef, purpose: str, *, record_id: str | None,
                 values: dict[str, Any], errors: list[ErrorDetail], version: int | None,
                 submitted: dict[str, Any] | None = None, status: int = 200,
                 stage_errors: list[ErrorDetail] | None = None, pool_errors: list[str] | None = None) -> Any:
    """The form page; `values` fill the inputs, `submitted` (parsed) decide which fields show."""
    locale = page_locale()
    document = forms.document(entity.key, purpose, locale, record_id)
    states = forms.field_states(entity.key, purpose, submitted, record_id)
    by_field, general = errors_by_field(errors, locale, {k for k, state in states.items() if state.visible})
    keys = list(document["uiSchema"]["ui:order"])
    return render_template(
        "web/form.html", locale=locale, who=who, entity=entity, purpose=purpose, document=document,
        record_id=record_id, values=values, errors=by_field, general_errors=general, version=version,
        states=states, entities=entities_of(who), types={k: entity.fields[k].type for k in keys},
        choices=picker_choices(who, forms.records, entity, keys),
        needed={f.key for f in forms.form(entity.key, purpose)[1].fields.values() if f.required},
        regions=load_regions() if any(entity.fields[k].type == "region" for k in keys) else (),
        stage=_stage_panel(who, forms.records, entity, record_id, stage_errors or [], locale),
        **_conversion_panel(who, forms.records, entity, record_id, states),
        pool=pool_panel(who, forms.records, entity, record_id, pool_errors or [], locale),
        approvals=approval_panel(who, forms.records, entity, record_id, locale),
    ), status


def _conversion_panel(who: WebCaller, records: RecordService, entity: EntityDef, record_id: str | None,
                      states: dict[str, Any]) -> dict[str, Any]:
    """What the record was converted from and into, the conversions it may still go through, and whether a
    conversion made it read-only (then every field shows read-only and there is nothing to save)."""
    if record_id is None:
        return {"lineage": None, "conversions": [], "locked": False}
    lineage = record_lineage(records, entity.key, record_id)
    done = {link["conversion"] for link in lineage["converted_into"]}
    may = who.actor.role.permission(entity.key).allows("update")
    conversions = [c for c in who.config.conversions.conversions.values()
                   if c.source == entity.key and c.key not in done and may]
    locked = records.converted_readonly(entity, records.load(*records.allowed(entity.key, "read"), record_id))
    if locked:
        for key, state in states.items():
            states[key] = replace(state, readonly=True, required=False)
    shown = lineage if lineage["converted_into"] or lineage["converted_from"] else None
    return {"lineage": shown, "conversions": conversions, "locked": locked}


def _stage_panel(who: WebCaller, records: RecordService, entity: EntityDef, record_id: str | None,
                 errors: list[ErrorDetail], locale: str) -> dict[str, Any] | None:
    """The record's pipeline, current stage and the stages it may be moved to, for the stage form."""
    if record_id is None:
        return None
    row = records.get(entity.key, record_id)
    pipeline = who.config.pipelines.get(row.row.pipeline)
    if pipeline is None:
        return None
    current = pipeline.stage(row.row.stage or "")
    return {
        "pipeline": pipeline, "current": row.row.stage, "stalled": row.stalled,
        "current_label": current.label.get(locale) if current else pipeline.lost_label.get(locale),
        "probability": row.row.probability, "errors": [e.message_in(locale) for e in errors],
        "can_move": who.actor.role.permission(entity.key).allows("update"),
    }


def _form_page(entity: str, purpose: str, record_id: str | None) -> Any:
    """GET: the form, filled with the record (or the defaults). POST: check and save, or show it again with
    what was typed and every error next to its field."""
    who = web_caller()
    records, forms = services(who)
    definition, form = forms.form(entity, purpose)
    fields = [definition.fields[f.key] for f in form.visible_to(who.actor.role.key)]
    zone = who.config.timezone
    if record_id is None:
        stored, version = definition.with_defaults({}), None
    else:
        view = records.get(entity, record_id)
        stored, version = view.data, view.row.version
    shown = input_values(fields, stored, zone)
    if request.method == "GET":
        return _render_form(who, forms, definition, purpose, record_id=record_id, version=version, errors=[],
                            values=shown)
    check_csrf()
    posted_version = request.form.get("version", "")
    version = int(posted_version) if VERSION.fullmatch(posted_version) else None
    data, errors = read_form(fields, request.form, zone, editing=record_id is not None)
    if record_id is not None:
        data = changed_values(fields, data, stored)
    states = forms.field_states(entity, purpose, data, record_id)
    errors = [e for e in errors if (state := states.get(field_of(e.pointer))) is None or state.visible]  # a hidden field's input is not used
    if errors:
        errors += _other_errors(forms.check(entity, purpose, data, record_id).errors, errors)
    else:
        try:
            if record_id is None:
                forms.create(entity, purpose, data)
            else:
                forms.update(entity, purpose, record_id, data, version or 0)
            return redirect(url_for("web.list_page", entity=entity), 303)
        except PlatformError as exc:
            errors = list(exc.details) or [detail("", "invalid", error=exc.message)]
    # what was typed over what is stored: read-only inputs are not posted, and keep showing their values
    return _render_form(who, forms, definition, purpose, record_id=record_id, version=version, errors=errors,
                        values={**shown, **posted_values(fields, request.form)}, submitted=data, status=422)


@bp.route("/<entity>/new", methods=["GET", "POST"])
def create_page(entity: str) -> Any:
    return _form_page(entity, "create", None)


@bp.route("/<entity>/<record_id>/edit", methods=["GET", "POST"])
def edit_page(entity: str, record_id: str) -> Any:
    return _form_page(entity, "edit", record_id)


@bp.route("/<entity>/<record_id>/stage", methods=["POST"])
def stage_move(entity: str, record_id: str) -> Any:
    """Move the record to another stage through the same service as the API: gates hold here too."""
    who = web_caller()
    check_csrf()
    records, forms = services(who)
    body = {"to": request.form.get("to", "")}
    for key in ("reason", "comment"):
        if request.form.get(key, "").strip():
            body[key] = request.form[key].strip()
    try:
        StageService(records).move(entity, record_id, body)
        return redirect(url_for("web.edit_page", entity=entity, record_id=record_id), 303)
    except RecordInvalidError as exc:
        errors = list(exc.details) or [detail("", "invalid", error=exc.message)]
    return edit_with_errors(entity, record_id, stage_errors=errors, status=422)


def edit_with_errors(entity: str, record_id: str, *, stage_errors: list[ErrorDetail] | None = None,
                     pool_errors: list[str] | None = None, status: int) -> Any:
    """The record's edit page as stored, with the errors of a stage move or a pool action in their panel."""
    who = web_caller()
    records, forms = services(who)
    definition, form = forms.form(entity, "edit")
    fields = [definition.fields[f.key] for f in form.visible_to(who.actor.role.key)]
    view = records.get(entity, record_id)
    return _render_form(who, forms, definition, "edit", record_id=record_id, version=view.row.version, errors=[],
                        values=input_values(fields, view.data, who.config.timezone), status=status,
                        stage_errors=stage_errors, pool_errors=pool_errors)
