"""Forms at runtime: a form's JSON for the caller, and writes submitted through a form.

The form decides what the caller may send and what it requires (`forms.submission`); the record
service then checks and writes the record as for any other write, in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lowcode_platform.errors import (
    MalformedRequestError,
    NotFoundError,
    RecordInvalidError,
    detail,
    field_of,
    parameter_error,
)
from lowcode_platform.forms.definition import PURPOSES, FormDef
from lowcode_platform.forms.output import form_document
from lowcode_platform.forms.submission import FieldState, Submission, check_submission, field_state
from lowcode_platform.records.derive import normalized, system_values
from lowcode_platform.records.service import RecordService, RecordView
from lowcode_platform.records.views import sees_pii, visible_data
from lowcode_platform.rules.python import Facts
from lowcode_platform.rules.scope import DAYS
from lowcode_platform.schema import EntityDef
from lowcode_platform.storage.tables import Record

ACTIONS = {"create": "create", "edit": "update", "convert": "create"}  # the permission each purpose needs; any other needs read
DAY = timedelta(days=1)


def derived_values(system: Mapping[str, Any], now: datetime, timezone: str) -> dict[str, Any]:
    """The system names and derived day counts a condition may read, as plain values for a client."""
    values: dict[str, Any] = {k: system.get(k) for k in ("owner", "owner_team", "stage", "pool")}
    for name, columns in DAYS.items():
        moments = [system[c] for c in columns if system.get(c) is not None]
        if moments:
            values[name] = (now - max(moments)) // DAY
    created = system.get("created_at")
    if created is not None:
        values["created_on"] = created.astimezone(ZoneInfo(timezone)).date().isoformat()
    return {k: v for k, v in values.items() if v is not None}


class FormService:
    """The forms of one tenant as one actor uses them."""

    def __init__(self, records: RecordService) -> None:
        self.records = records
        self.config = records.config
        self.actor = records.actor

    def purposes(self) -> list[FormDef]:
        """Every form the caller's role may open, by entity in config order."""
        role = self.actor.role
        return [form for entity in self.config.entities for form in self.config.forms.of(entity)
                if role.permission(entity).allows(ACTIONS.get(form.purpose, "read"))]

    def form(self, entity_key: str, purpose: str) -> tuple[EntityDef, FormDef]:
        """The entity and its form for `purpose`, if the caller's role may use it (else 403 or 404)."""
        self.records.allowed(entity_key, ACTIONS.get(purpose, "read"))
        return self.definition(entity_key, purpose)

    def definition(self, entity_key: str, purpose: str) -> tuple[EntityDef, FormDef]:
        """The entity and its form for `purpose`, whoever asks (a feature that checked its own permission)."""
        entity = self.config.entities.get(entity_key)
        form = self.config.forms.get(entity_key, purpose) if entity is not None else None
        if entity is None or form is None:
            raise NotFoundError(f"{entity_key} has no form {purpose!r}", [detail("", "unknown_form", form=purpose)])
        return entity, form

    def document(self, entity_key: str, purpose: str, locale: str, record_id: str | None = None, *,
                 prefill: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The form's `{schema, uiSchema, layout, conditions}`, with the record's values when `record_id` is
        given, else the defaults under `prefill` (a new record's values, e.g. mapped by a conversion, whose
        service decides who may see it)."""
        entity, form = self.form(entity_key, purpose) if prefill is None else self.definition(entity_key, purpose)
        now = self.records.clock()
        if record_id is None:
            system = self._new_system(now)
            masked: frozenset[str] = frozenset()
            values = entity.with_defaults(dict(prefill or {}))
        else:
            row = self._record(entity_key, purpose, record_id)
            system = system_values(row)
            system["owner_team"] = self.records.team_of(row.owner_id)
            values, masked_keys = visible_data(entity, row.data, sees_pii(self.actor, row.owner_id))
            masked = frozenset(masked_keys)
        withheld = masked | {f.key for f in form.fields.values() if self.actor.role.key in f.hidden_for}
        facts = {**{k: v for k, v in values.items() if k not in withheld},
                 **derived_values(system, now, self.config.timezone)}
        return form_document(form, entity, self.config.rules.scopes[entity_key], self.actor.role.key, locale,
                             masked=masked, facts=facts, values=values)

    def field_states(self, entity_key: str, purpose: str, submitted: Mapping[str, Any] | None,
                     record_id: str | None = None) -> dict[str, FieldState]:
        """Whether each field the caller sees is visible, read-only and required, on the record (or a new
        one) with `submitted` laid over it (the page that shows them checked the caller's permission)."""
        entity, form = self.definition(entity_key, purpose)
        if record_id is None:
            before, system, masked = entity.with_defaults({}), self._new_system(self.records.clock()), frozenset()
        else:
            row = self._record(entity_key, purpose, record_id)
            before, system = dict(row.data), system_values(row)
            masked = frozenset(visible_data(entity, row.data, sees_pii(self.actor, row.owner_id))[1])
        after = {k: v for k, v in {**before, **(submitted or {})}.items() if v is not None}
        facts = self._facts(entity, after, system)
        now = self.records.clock()
        return {f.key: field_state(form, f, entity, self.actor.role.key, facts, now, masked)
                for f in form.visible_to(self.actor.role.key)}

    def check(self, entity_key: str, purpose: str, body: Any, record_id: str | None = None) -> Submission:
        """What the form makes of `body` (a create, or an edit of `record_id`), without writing anything."""
        entity, form = self._submittable(entity_key, purpose, "create" if record_id is None else "edit")
        body = self.records.as_object(body)
        now = self.records.clock()
        role = self.actor.role.key
        if record_id is None:
            system = self._new_system(now)
            submission = check_submission(form, entity, role, body, before=None,
                                          facts_of=lambda data: self._facts(entity, data, system), now=now)
            before: dict[str, Any] = {}
        else:
            row = self._record(entity_key, purpose, record_id)
            shown, masked = visible_data(entity, row.data, sees_pii(self.actor, row.owner_id))
            stored = system_values(row)
            submission = check_submission(form, entity, role, body, before=row.data,
                                          facts_of=lambda data: self._facts(entity, data, stored), now=now,
                                          masked=frozenset(masked), shown=shown)
            before = dict(row.data)
        if not submission.errors:
            return submission
        # the record's own schema errors too, so that one answer lists everything to correct
        after = {k: v for k, v in {**before, **submission.data}.items() if v is not None}
        seen = {field_of(e.pointer) for e in submission.errors}  # one field, one kind of complaint
        extra = [e for e in entity.iter_record_errors(normalized(entity, entity.with_defaults(after)))
                 if field_of(e.pointer) not in seen]
        return Submission(submission.data, submission.errors + extra)

    def check_prefilled(self, entity_key: str, purpose: str, body: Any, prefilled: Mapping[str, Any]) -> Submission:
        """What the form makes of `body` sent over a new record the platform prefilled (a conversion's
        mapping): the prefilled values stand as if stored, so a read-only field may only keep its value."""
        entity, form = self.definition(entity_key, purpose)
        body = self.records.as_object(body)
        now = self.records.clock()
        system = self._new_system(now)
        return check_submission(form, entity, self.actor.role.key, body, before=entity.with_defaults(dict(prefilled)),
                                facts_of=lambda data: self._facts(entity, data, system), now=now)

    def create(self, entity_key: str, purpose: str, body: Any, pipeline: str | None = None) -> RecordView:
        """Create a record from what was submitted through a create form."""
        submission = self.check(entity_key, purpose, body)
        if submission.errors:
            raise RecordInvalidError("the record is invalid", submission.errors)
        return self.records.create(entity_key, submission.data, pipeline)

    def update(self, entity_key: str, purpose: str, record_id: str, body: Any, expected_version: int) -> RecordView:
        """Change a record with what was submitted through an edit form."""
        submission = self.check(entity_key, purpose, body, record_id)
        if submission.errors:
            raise RecordInvalidError("the record is invalid", submission.errors)
        return self.records.update(entity_key, record_id, submission.data, expected_version)

    def _submittable(self, entity_key: str, purpose: str, kind: str) -> tuple[EntityDef, FormDef]:
        if purpose in PURPOSES and purpose != kind:
            raise MalformedRequestError(f"a {purpose} form cannot be submitted to {kind} a record",
                                        [detail("", "form_purpose", form=purpose, purpose=kind)])
        entity, form = self.form(entity_key, purpose)
        self.records.allowed(entity_key, ACTIONS[kind])
        return entity, form

    def _record(self, entity_key: str, purpose: str, record_id: str) -> Record:
        """A record the form shows: the caller must be allowed to read it and to do what the purpose does."""
        self.records.allowed(entity_key, "read")
        if purpose == "create":
            raise MalformedRequestError("a create form shows no record", [parameter_error("id", "create_form_id")])
        self.records.load(*self.records.allowed(entity_key, "read"), record_id)
        entity, permission = self.records.allowed(entity_key, ACTIONS.get(purpose, "read"))
        return self.records.load(entity, permission, record_id)

    def _new_system(self, now: datetime) -> dict[str, Any]:
        return {"owner": self.actor.user_id, "owner_team": self.actor.team_id, "stage": None, "pool": None,
                "created_at": now, "last_activity_at": None, "stage_entered_at": None, "won_at": None,
                "owned_at": now, "deal_at": None}

    def _facts(self, entity: EntityDef, data: Mapping[str, Any], system: Mapping[str, Any]) -> Facts:
        return self.records.facts(entity, normalized(entity, data), system)
