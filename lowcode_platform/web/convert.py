"""The conversion dialog: a lead's targets prefilled by the mapping, each in its own form, with the dedupe
matches to link instead; one post converts everything through the same service as
`POST /api/v1/conversions/{key}/{id}`, or shows the page again with every error next to its field.

Each target's inputs are named `t.<target>.f.<field>`; `link.<target>` picks a match to link (empty: create
a new record) and `include.<target>` keeps an optional target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from lowcode_platform.conversion.definition import Target
from lowcode_platform.errors import ErrorDetail, NotFoundError, PlatformError, detail
from lowcode_platform.records.conversions import ConversionService
from lowcode_platform.records.forms import FormService
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.regions import load_regions
from lowcode_platform.web.context import WebCaller, check_csrf, page_locale, web_caller
from lowcode_platform.web.formdata import changed_values, input_values, posted_values, read_form
from lowcode_platform.web.views import bp, entities_of, errors_by_field, picker_choices, services


@dataclass
class TargetInput:
    """One target as the dialog shows it: what is typed over what the mapping gave, and its errors."""

    target: Target
    preview: dict[str, Any]
    values: dict[str, Any]  # as the inputs show them
    submitted: dict[str, Any]  # parsed, laid over the mapped values to decide which fields show
    include: bool = True
    link: str = ""
    errors: list[ErrorDetail] = field(default_factory=list)


def prefix_of(target: Target) -> str:
    return f"t.{target.key}."


def _posted(target: Target) -> MultiDict[str, str]:
    """The target's inputs, named as a lone form's would be."""
    prefix = prefix_of(target)
    return MultiDict([(k[len(prefix):], v) for k, v in request.form.items(multi=True) if k.startswith(prefix)])


def _fields(who: WebCaller, forms: FormService, target: Target, purpose: str) -> list[Any]:
    """The target's fields the user fills: those their form shows them, but the links the conversion sets."""
    entity, form = forms.definition(target.entity, purpose)
    return [entity.fields[f.key] for f in form.visible_to(who.actor.role.key) if f.key not in target.links]


def _default_link(preview: dict[str, Any]) -> str:
    """What dedupe would do: link the first match the user may see, unless it creates anyway."""
    if preview["on_match"] in ("link", "refuse"):
        return next((m["id"] for m in preview["matches"] if m["visible"]), "")
    return ""


def _render(who: WebCaller, conversions: ConversionService, source: EntityDef, lead_id: str, key: str,
            preview: dict[str, Any], inputs: list[TargetInput], general: list[str], status: int = 200) -> Any:
    locale = page_locale()
    forms = FormService(conversions.records)
    entities = {given.target.key: who.config.entities[given.target.entity] for given in inputs}
    sections = []
    for given in inputs:
        target = given.target
        entity = who.config.entities[target.entity]
        purpose = given.preview["form"]
        document = given.preview["document"]
        states = forms.field_states(target.entity, purpose, {**given.preview["values"], **given.submitted})
        shown = {k for k, state in states.items() if state.visible} - set(target.links)
        by_field, others = errors_by_field(given.errors, locale, shown)
        keys = [k for k in document["uiSchema"]["ui:order"] if k not in target.links]
        sections.append({
            "target": target, "entity": entity, "document": document, "states": states, "typed": given.values,
            "errors": by_field, "general": others, "include": given.include, "link": given.link,
            "matches": given.preview["matches"], "on_match": given.preview["on_match"],
            "prefix": prefix_of(target), "types": {k: entity.fields[k].type for k in keys},
            "choices": picker_choices(who, conversions.records, entity, keys),
            "needed": {f.key for f in forms.definition(target.entity, purpose)[1].fields.values() if f.required},
            "regions": load_regions() if any(entity.fields[k].type == "region" for k in keys) else (),
            "linked": sorted({entities[other].label.get(locale) for other in target.links.values()}),
        })
    return render_template(
        "web/convert.html", locale=locale, who=who, entities=entities_of(who), source=source, lead_id=lead_id,
        conversion=who.config.conversions.get(key), preview=preview, sections=sections, general_errors=general,
        lead_title=_lead_title(conversions, source, lead_id)), status


def _lead_title(conversions: ConversionService, source: EntityDef, lead_id: str) -> str:
    view = conversions.records.get(source.key, lead_id)
    title = view.data.get(source.title_field or "")
    return lead_id if title is None else str(title)


@bp.route("/<entity>/<record_id>/convert/<key>", methods=["GET", "POST"])
def convert_page(entity: str, record_id: str, key: str) -> Any:
    """GET: the dialog, each target prefilled. POST: convert, then show the lead with what it became."""
    who = web_caller()
    records, forms = services(who)
    conversions = ConversionService(records)
    conversion = who.config.conversions.get(key)
    if conversion is None or conversion.source != entity:
        raise NotFoundError(f"{entity} has no conversion {key!r}")
    source = who.config.entities[entity]
    locale = page_locale()
    preview = conversions.preview(key, record_id, locale)
    zone = who.config.timezone
    inputs = []
    for target in conversion.targets:
        shown = preview["targets"][target.key]
        fields = _fields(who, forms, target, shown["form"])
        inputs.append(TargetInput(target, shown, input_values(fields, shown["values"], zone), {},
                                  link=_default_link(shown)))
    if request.method == "GET":
        return _render(who, conversions, source, record_id, key, preview, inputs, [])
    check_csrf()
    body: dict[str, Any] = {}
    unreadable = False
    for given in inputs:
        target = given.target
        fields = _fields(who, forms, target, given.preview["form"])
        posted = _posted(target)
        given.include = not target.optional or request.form.get(f"include.{target.key}") == "1"
        given.link = request.form.get(f"link.{target.key}", "")
        data, errors = read_form(fields, posted, zone, editing=True)
        given.submitted = data
        given.values = {**given.values, **posted_values(fields, posted)}
        if not given.include:
            body[target.key] = None
            continue
        given.errors = errors
        unreadable = unreadable or bool(errors)
        chosen: dict[str, Any] = {}
        if given.link:
            chosen["link"] = given.link
        elif f"link.{target.key}" in request.form:  # "create a new record", among matches
            chosen["link"] = False
        body[target.key] = {**changed_values(fields, data, given.preview["values"]), **chosen}
    if not unreadable:
        try:
            conversions.convert(key, record_id, {"targets": body})
            return redirect(url_for("web.edit_page", entity=entity, record_id=record_id), 303)
        except PlatformError as exc:
            return _render(who, conversions, source, record_id, key, preview, inputs,
                           _place(exc.details or [detail("", "invalid", error=exc.message)], inputs, locale),
                           exc.status)
    return _render(who, conversions, source, record_id, key, preview, inputs, [], 422)


def _place(errors: list[ErrorDetail], inputs: list[TargetInput], locale: str) -> list[str]:
    """Give each target the errors pointing into it (`/targets/<name>/...`); the rest are the page's."""
    by_key = {given.target.key: given for given in inputs}
    general = []
    for error in errors:
        parts = error.pointer.split("/", 3)
        given = by_key.get(parts[2]) if len(parts) > 2 and parts[1] == "targets" else None
        if given is None:
            general.append(error.message_in(locale))
        else:
            given.errors.append(ErrorDetail("/" + parts[3] if len(parts) > 3 else "", error.code, error.params))
    return general
