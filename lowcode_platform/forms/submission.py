"""The check of a submission through a form: what the form lets one role send, and what it then requires.

A submission is read against the record as it would be after it (the stored record with the submitted
values laid over it, for an edit), the way a browser evaluates the form while it is being filled in:
- a field the role does not see on the form, or that is not on it, may not be sent;
- a field whose `visible_if` is false is hidden: its submitted value is dropped and it is never required;
- a read-only field (by role, `readonly_if`, computed, masked pii or a view form) may be sent only
  unchanged, and is then dropped;
- a field the form requires (`required`, or `required_if` true) must hold a value.
The entity's own schema and rules are checked afterwards by the record service.
Pure: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.forms.definition import FormDef, FormField, FormRule, is_readonly
from lowcode_platform.rules.python import Facts
from lowcode_platform.schema import EntityDef

EMPTY = (None, "", [], {})


@dataclass(frozen=True)
class Submission:
    """What to write (a body to create or a patch to apply) and every error found."""

    data: dict[str, Any]
    errors: list[ErrorDetail]


@dataclass(frozen=True)
class FieldState:
    """How a field shows on a record: whether it is visible, read-only and required."""

    visible: bool
    readonly: bool
    required: bool


def _holds(rule: FormRule | None, facts: Facts, now: datetime) -> bool:
    return rule is not None and rule.test(facts, now)


def field_state(form: FormDef, field: FormField, entity: EntityDef, role: str, facts: Facts, now: datetime,
                masked: frozenset[str] = frozenset()) -> FieldState:
    """Whether `field` is visible, read-only and required for `role` on a record with these facts."""
    visible = field.visible_if is None or field.visible_if.test(facts, now)
    readonly = is_readonly(form, field, role, masked) or _holds(field.readonly_if, facts, now)
    field_def = entity.fields[field.key]
    needed = field.required or (field_def.required and not field_def.has_default) or _holds(field.required_if, facts, now)
    return FieldState(visible, readonly, visible and not readonly and needed)


def check_submission(form: FormDef, entity: EntityDef, role: str, data: Mapping[str, Any], *,
                     before: Mapping[str, Any] | None, facts_of: Callable[[Mapping[str, Any]], Facts],
                     now: datetime, masked: frozenset[str] = frozenset(),
                     shown: Mapping[str, Any] | None = None) -> Submission:
    """Check `data` sent through `form` by `role`.

    `before` is the stored record (None when creating); `facts_of` turns record data into the facts
    conditions read (adding system values); `shown` is the record as the role sees it, masked values
    included, so that a masked value sent back unchanged counts as unchanged.
    """
    errors: list[ErrorDetail] = []
    fields = {f.key: f for f in form.visible_to(role)}
    for key in data:
        if key not in fields:
            errors.append(detail(f"/{escape_pointer_token(key)}", "not_on_form", field=key))
    current = dict(before or entity.with_defaults({}))
    after = {k: v for k, v in {**current, **data}.items() if v is not None and k in entity.fields}
    facts = facts_of(after)
    kept: dict[str, Any] = {}
    for key, field in fields.items():
        state = field_state(form, field, entity, role, facts, now, masked)
        pointer = f"/{escape_pointer_token(key)}"
        if key in data and state.visible:
            normalize = entity.fields[key].kind.normalize  # the same moment at another offset is unchanged
            unchanged = (normalize(data[key]) == normalize(current.get(key))
                         or (shown is not None and data[key] == shown.get(key)))
            if not state.readonly:
                kept[key] = data[key]
            elif not unchanged:
                errors.append(detail(pointer, "readonly_field"))
        value = after.get(key) if state.visible else None
        if state.required and value in EMPTY and not field.computed:
            errors.append(detail(pointer, "required"))
    return Submission(kept, errors)
