"""Form definitions compiled from config: layout, widgets, conditions and role restrictions per entity and purpose.

`compile_forms` reads the `forms` part of a config whose structure is already checked (sections name
known fields, roles exist) and checks what needs the entities and the condition language: widgets fit
their fields, conditions are valid, and a create form shows every field a record cannot do without.
Every entity gets a form for `create`, `edit` and `view` even when its config defines none.
Pure: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.forms.widgets import WIDGETS, default_widget, fits
from lowcode_platform.rules.python import Predicate
from lowcode_platform.rules.scope import Scope
from lowcode_platform.rules.syntax import Condition
from lowcode_platform.rules.validations import compile_condition
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.labels import Label

PURPOSES = ("create", "edit", "view")  # the purposes every entity has a form for
CONDITIONS = ("visible_if", "required_if", "readonly_if")
DEFAULT_COLUMNS = 2


@dataclass(frozen=True)
class FormRule:
    """A condition on a form field: the JSON clients evaluate, and the server's predicate for it."""

    source: Any
    condition: Condition
    test: Predicate


@dataclass(frozen=True)
class FormField:
    key: str
    widget: str
    span: int = 1
    placeholder: Label | None = None
    help: Label | None = None
    required: bool = False  # required on this form, besides the field's own `required`
    visible_if: FormRule | None = None
    required_if: FormRule | None = None
    readonly_if: FormRule | None = None
    hidden_for: frozenset[str] = frozenset()
    readonly_for: frozenset[str] = frozenset()
    computed: bool = False  # computed fields are always read-only

    def rules(self) -> Iterator[tuple[str, FormRule]]:
        """(`visible_if` | `required_if` | `readonly_if`, rule) for each condition the field has."""
        for name in CONDITIONS:
            rule = getattr(self, name)
            if rule is not None:
                yield name, rule


@dataclass(frozen=True)
class Section:
    title: Label | None
    columns: int
    fields: tuple[FormField, ...]


@dataclass(frozen=True)
class Tab:
    title: Label | None
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class FormDef:
    """One form of an entity. A form without tabs has one tab without a title."""

    entity: str
    purpose: str
    label: Label | None
    tabs: tuple[Tab, ...]
    tabbed: bool
    readonly: bool = False  # a view form: nothing on it can be changed
    fields: Mapping[str, FormField] = field(default_factory=dict)  # every field, in form order
    # JSON documents of the form already built, by (role, locale, masked fields): a compiled config never
    # changes, so they never go stale (see forms.output)
    documents: dict[tuple[str, str, frozenset[str]], Any] = field(default_factory=dict, init=False, compare=False,
                                                                  repr=False)

    def visible_to(self, role: str) -> list[FormField]:
        """The fields `role` sees on this form, in order."""
        return [f for f in self.fields.values() if role not in f.hidden_for]


def is_readonly(form: FormDef, field: FormField, role: str, masked: frozenset[str]) -> bool:
    """Whether `role` may never change `field` on this form (its `readonly_if` aside)."""
    return form.readonly or field.computed or role in field.readonly_for or field.key in masked


@dataclass(frozen=True)
class TenantForms:
    """Every form of a tenant by (entity, purpose); `create`, `edit` and `view` exist for every entity."""

    forms: Mapping[tuple[str, str], FormDef] = field(default_factory=dict)

    def get(self, entity: str, purpose: str) -> FormDef | None:
        """The form of `entity` for `purpose`, or None."""
        return self.forms.get((entity, purpose))

    def of(self, entity: str) -> list[FormDef]:
        """Every form of `entity`: those its config defines, in their order, then the defaults it lacked."""
        return [f for (e, _), f in self.forms.items() if e == entity]


class _Compiler:
    def __init__(self, entity: EntityDef, scope: Scope, computed: frozenset[str], errors: list[ErrorDetail]) -> None:
        self.entity = entity
        self.scope = scope
        self.computed = computed
        self.errors = errors

    def form(self, purpose: str, spec: Mapping[str, Any], base: str) -> FormDef:
        if "tabs" in spec:
            tabs = tuple(
                Tab(Label.parse(tab["title"]), self.sections(tab["sections"], f"{base}/tabs/{t}/sections"))
                for t, tab in enumerate(spec["tabs"])
            )
        else:
            tabs = (Tab(None, self.sections(spec["sections"], f"{base}/sections")),)
        form = _assembled(FormDef(self.entity.key, purpose, _label(spec.get("label")), tabs, "tabs" in spec,
                                  readonly=purpose == "view"))
        if purpose == "create":
            self.errors.extend(_uncovered(form, self.entity, base))
        return form

    def sections(self, specs: list[Any], base: str) -> tuple[Section, ...]:
        return tuple(
            Section(_label(s.get("title")), s.get("columns", DEFAULT_COLUMNS),
                    tuple(self.field(item, f"{base}/{i}/fields/{j}") for j, item in enumerate(s["fields"])))
            for i, s in enumerate(specs)
        )

    def field(self, item: Any, pointer: str) -> FormField:
        spec = {"field": item} if isinstance(item, str) else item
        key = spec["field"]
        field_def = self.entity.fields[key]
        widget = spec.get("widget", default_widget(field_def.type))
        if not fits(widget, field_def.type):
            self.errors.append(detail(f"{pointer}/widget", "widget_unfit", widget=widget, type=field_def.type,
                                      allowed=", ".join(WIDGETS[field_def.type])))
        computed = key in self.computed
        if computed:
            for name in ("required", "required_if"):
                if spec.get(name):
                    self.errors.append(detail(f"{pointer}/{name}", "computed_field_on_form", field=key,
                                              what="required"))
        rules = {}
        for name in CONDITIONS:
            if name in spec:
                compiled = compile_condition(spec[name], f"{pointer}/{name}", self.scope, self.errors)
                rules[name] = FormRule(spec[name], *compiled) if compiled else None
        return FormField(
            key=key, widget=widget, span=spec.get("span", 1), placeholder=_label(spec.get("placeholder")),
            help=_label(spec.get("help")), required=bool(spec.get("required", False)),
            hidden_for=frozenset(spec.get("hidden_for", ())), readonly_for=frozenset(spec.get("readonly_for", ())),
            computed=computed, **rules,
        )


def _label(value: Any) -> Label | None:
    return Label.parse(value) if value else None


def _assembled(form: FormDef) -> FormDef:
    fields = {f.key: f for tab in form.tabs for section in tab.sections for f in section.fields}
    return replace(form, fields=MappingProxyType(fields))


def _uncovered(form: FormDef, entity: EntityDef, base: str) -> Iterator[ErrorDetail]:
    """A create form must show, to every role and unconditionally, each field a new record needs."""
    for key, field_def in entity.fields.items():
        if not field_def.required or field_def.has_default:
            continue
        placed = form.fields.get(key)
        if placed is None or placed.visible_if or placed.hidden_for or placed.readonly_for or placed.readonly_if:
            yield detail(base, "required_field_off_form", field=key)


def default_form(entity: EntityDef, purpose: str, computed: frozenset[str]) -> FormDef:
    """The form an entity gets when its config defines none: every field in order, with default widgets."""
    fields = tuple(
        FormField(key=f.key, widget=default_widget(f.type), computed=f.key in computed)
        for f in entity.fields.values() if not (purpose == "create" and f.key in computed)
    )
    return _assembled(FormDef(entity.key, purpose, None, (Tab(None, (Section(None, DEFAULT_COLUMNS, fields),)),),
                              False, readonly=purpose == "view"))


def compile_forms(document: Mapping[str, Any], entities: Mapping[str, EntityDef], scopes: Mapping[str, Scope],
                  computed: Mapping[str, frozenset[str]]) -> tuple[TenantForms, list[ErrorDetail]]:
    """The tenant's forms and every error found in them, each with a pointer into the config."""
    errors: list[ErrorDetail] = []
    forms: dict[tuple[str, str], FormDef] = {}
    specs = document.get("forms", {})
    for entity_key, entity in entities.items():
        compiler = _Compiler(entity, scopes[entity_key], computed.get(entity_key, frozenset()), errors)
        for purpose, spec in specs.get(entity_key, {}).items():
            base = f"/forms/{escape_pointer_token(entity_key)}/{escape_pointer_token(purpose)}"
            forms[(entity_key, purpose)] = compiler.form(purpose, spec, base)
        # a purpose without a form takes the layout of the one before it (edit: create's, view: edit's)
        fallback: FormDef | None = None
        for purpose in PURPOSES:
            if purpose in specs.get(entity_key, {}):
                fallback = forms[(entity_key, purpose)]
            elif fallback is None:
                forms[(entity_key, purpose)] = default_form(entity, purpose, computed.get(entity_key, frozenset()))
            else:
                forms[(entity_key, purpose)] = replace(fallback, purpose=purpose, label=None, readonly=purpose == "view")
    return TenantForms(MappingProxyType(forms)), errors
