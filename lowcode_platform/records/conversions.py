"""Converting a record (a lead) into the records its conversion config names, in one transaction.

`preview` shows each target prefilled by the mapping and the dedupe matches found; `convert` creates or
links every target, links them to each other, records lineage (`record_links`) and updates the lead, all
or nothing. A dedupe match the user may not read is never shown: it only blocks linking or creating.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from lowcode_platform.conversion.definition import Conversion, Target
from lowcode_platform.errors import (
    ConflictError,
    ErrorDetail,
    NotFoundError,
    RecordInvalidError,
    detail,
    escape_pointer_token,
)
from lowcode_platform.pipelines.gates import Move
from lowcode_platform.records.automations import Event
from lowcode_platform.records.derive import system_values
from lowcode_platform.records.forms import FormService
from lowcode_platform.records.service import RecordService
from lowcode_platform.records.stages import StageService
from lowcode_platform.records.views import sees_pii, visible_data
from lowcode_platform.rules.python import MISSING
from lowcode_platform.schema import EntityDef
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.json_fields import json_field
from lowcode_platform.storage.tables import Record, RecordLink

EMPTY = (None, "", [], {})
SEPARATORS = (" ", "-", "(", ")", "+", ".")


def normalize(value: Any, steps: tuple[str, ...]) -> str:
    """A dedupe key's value in comparable form (NFKC folds full-width forms when `width` is asked for)."""
    text = str(value)
    if "width" in steps:
        text = unicodedata.normalize("NFKC", text)
    if "trim" in steps:
        text = text.strip()
    if "case" in steps:
        text = text.lower()
    if "digits" in steps:
        text = "".join(c for c in text if c.isdigit())
    return text


def _column(key: str, steps: tuple[str, ...]) -> Any:
    """The stored value of `key` normalized in SQL as `normalize` does (but for width: stored text is kept)."""
    column = json_field(key, "text")
    if "trim" in steps:
        column = func.trim(column)
    if "case" in steps:
        column = func.lower(column)
    if "digits" in steps:
        for separator in SEPARATORS:
            column = func.replace(column, separator, "")
    return column


class ConversionService:
    """Conversions of one tenant's records, by one actor."""

    def __init__(self, records: RecordService) -> None:
        self.records = records
        self.config = records.config
        self.actor = records.actor
        self.session = records.session

    def _conversion(self, key: str) -> tuple[Conversion, EntityDef]:
        conversion = self.config.conversions.get(key)
        if conversion is None:
            raise NotFoundError(f"no conversion {key!r}")
        return conversion, self.config.entities[conversion.source]

    def _existing(self, conversion: Conversion, lead_id: str) -> list[dict[str, Any]]:
        rows = self.session.execute(select(RecordLink.target, RecordLink.to_entity, RecordLink.to_id, RecordLink.action)
                                    .where(RecordLink.tenant_id == self.actor.tenant_id,
                                           RecordLink.from_id == lead_id, RecordLink.conversion == conversion.key)
                                    .order_by(RecordLink.id))
        return [{"target": r.target, "entity": r.to_entity, "id": r.to_id, "action": r.action,
                 "href": f"/api/v1/records/{r.to_entity}/{r.to_id}"} for r in rows]

    def _values(self, target: Target, lead: Mapping[str, Any], facts: Any, now: datetime) -> dict[str, Any]:
        """The target's fields as the mapping fills them from the lead."""
        values: dict[str, Any] = {}
        for mapped in target.map:
            if mapped.template is not None:
                text = mapped.template
                for name, value in lead.items():
                    text = text.replace("{" + name + "}", "" if value is None else str(value))
                values[mapped.target] = text.strip()
            elif mapped.copy is not None:
                if lead.get(mapped.copy) not in EMPTY:
                    values[mapped.target] = lead[mapped.copy]
            elif mapped.value is not None:
                value = mapped.value(facts, now)
                if value is not MISSING:
                    values[mapped.target] = value
        return values

    def _matches(self, target: Target, values: Mapping[str, Any]) -> list[Record]:
        """Live records of the target's entity whose dedupe keys equal the values' (normalized), any owner."""
        dedupe = target.dedupe
        if dedupe is None or any(values.get(k) in EMPTY for k in dedupe.keys):
            return []
        clauses = [_column(k, dedupe.normalize) == normalize(values[k], dedupe.normalize) for k in dedupe.keys]
        return list(self.session.scalars(select(Record).where(
            Record.tenant_id == self.actor.tenant_id, Record.entity == target.entity, Record.deleted_at.is_(None),
            *clauses).order_by(Record.created_at, Record.id).limit(20)))

    def _readable(self, entity: EntityDef, row: Record) -> bool:
        permission = self.actor.role.permission(entity.key)
        if not permission.read:
            return False
        visible = select(Record.id).where(*self.records.visible(entity, permission), Record.id == row.id)
        return self.session.scalar(visible) is not None

    def _shown_match(self, entity: EntityDef, row: Record) -> dict[str, Any]:
        """A match as the user may see it: its values if they may read it, else only that it exists."""
        if not self._readable(entity, row):
            return {"id": None, "visible": False}
        data, masked = visible_data(entity, row.data, sees_pii(self.actor, row.owner_id))
        return {"id": row.id, "visible": True, "data": data, "masked": masked}

    def _lead(self, entity: EntityDef, lead_id: str, action: str) -> Record:
        _, permission = self.records.allowed(entity.key, action)
        return self.records.load(entity, permission, lead_id)

    def preview(self, key: str, lead_id: str, locale: str) -> dict[str, Any]:
        """Each target prefilled, with the form to adjust it (`form`, its JSON in `document`), the dedupe
        matches, whether the lead may be converted, and past conversions."""
        conversion, source = self._conversion(key)
        lead = self._lead(source, lead_id, "read")
        now = self.records.clock()
        facts = self.records.facts(source, lead.data, system_values(lead))
        targets = {}
        forms = FormService(self.records)
        for target in conversion.targets:
            entity = self.config.entities[target.entity]
            values = self._values(target, lead.data, facts, now)
            targets[target.key] = {
                "entity": target.entity, "optional": target.optional, "values": values,
                "links": dict(target.links),
                "matches": [self._shown_match(entity, m) for m in self._matches(target, values)],
                "on_match": target.dedupe.on_match if target.dedupe else None,
                "form": self.form_of(target),
                "document": forms.document(target.entity, self.form_of(target), locale, prefill=values),
            }
        return {"conversion": key, "lead_id": lead.id,
                "convertible": conversion.when is None or conversion.when(facts, now),
                "converted": self._existing(conversion, lead.id), "targets": targets}

    def convert(self, key: str, lead_id: str, body: Any) -> dict[str, Any]:
        """Convert the lead in one transaction; 422 with pointers into the failing target, 409 when converted."""
        conversion, source = self._conversion(key)
        body = self.records.as_object(body)
        overrides = body.get("targets", {})
        if not isinstance(overrides, dict):
            raise RecordInvalidError("targets must be an object", [detail("/targets", "type", expected="an object")])
        return self.records.transaction(lambda: self._convert_or_request(conversion, source, lead_id, overrides))

    def _convert_or_request(self, conversion: Conversion, source: EntityDef, lead_id: str,
                            overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Convert, or, when an approval flow is triggered by this conversion, check the conversion (run and
        rolled back) and make the request instead: it converts when approved."""
        flows = [f for f in self.config.approvals.of(source.key) if f.trigger.conversion == conversion.key]
        if not flows:
            return self._convert(conversion, source, lead_id, overrides)
        from lowcode_platform.records.approvals import ApprovalService  # approvals convert: a cycle at import

        approvals = ApprovalService(self.records)
        lead = self._lead(source, lead_id, "update")
        now = self.records.clock()
        flow = approvals.flow_for(flows, source.key, lead.data, lead, now)
        if flow is None:
            return self._convert(conversion, source, lead_id, overrides)
        trial = self.session.begin_nested()  # everything the conversion would check, then nothing of it kept
        try:
            self._convert(conversion, source, lead_id, overrides)
        finally:
            trial.rollback()
        self.session.expire_all()
        instance = approvals.start(flow, self._lead(source, lead_id, "update"),
                                   {"kind": "conversion", "conversion": conversion.key, "targets": dict(overrides)}, now)
        if instance.status != "pending":  # no step applied: converted at once
            return {"conversion": conversion.key, "lead_id": lead_id,
                    "targets": {d["target"]: {"entity": d["entity"], "id": d["id"], "action": d["action"]}
                                for d in self._existing(conversion, lead_id)}}
        return {"conversion": conversion.key, "lead_id": lead_id, "approval": approvals.shown(instance)}

    def run_approved(self, key: str, lead_id: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """The conversion an approved request asked for (in the deciding transaction)."""
        conversion, source = self._conversion(key)
        return self._convert(conversion, source, lead_id, overrides)

    def _convert(self, conversion: Conversion, source: EntityDef, lead_id: str,
                 overrides: Mapping[str, Any]) -> dict[str, Any]:
        lead = self._lead(source, lead_id, "update")
        self.session.execute(select(Record.id).where(Record.tenant_id == lead.tenant_id, Record.id == lead.id)
                             .with_for_update())  # one conversion of a lead at a time (PostgreSQL)
        done = self._existing(conversion, lead.id)
        if done:
            raise ConflictError("the record was converted already",
                                [detail("", "already_converted", links=", ".join(d["href"] for d in done))])
        now = self.records.clock()
        facts = self.records.facts(source, lead.data, system_values(lead))
        if conversion.when is not None and not conversion.when(facts, now):
            raise RecordInvalidError("the record cannot be converted", [detail("", "not_convertible")])
        made: dict[str, str] = {}
        results = {}
        for target in conversion.targets:
            here = f"/targets/{escape_pointer_token(target.key)}"
            given = overrides.get(target.key, {})
            if given is None:
                if not target.optional:
                    raise RecordInvalidError("a target is required", [detail(here, "required")])
                continue
            if not isinstance(given, dict):
                raise RecordInvalidError("a target's values are an object", [detail(here, "type", expected="an object")])
            entity = self.config.entities[target.entity]
            record_id, action = self._make(target, entity, self._values(target, lead.data, facts, now), given,
                                           made, here, now)
            made[target.key] = record_id
            results[target.key] = {"entity": target.entity, "id": record_id, "action": action}
            self.session.execute(insert(RecordLink).values(
                tenant_id=lead.tenant_id, id=new_id(), kind="converted", conversion=conversion.key,
                target=target.key, from_entity=source.key, from_id=lead.id, to_entity=target.entity,
                to_id=record_id, action=action, actor_id=self.actor.user_id, at=now))
        self._update_lead(conversion, source, lead, facts, now)
        self.records.audit(lead, "convert", {"converted": [None, {k: v["id"] for k, v in results.items()}]}, now)
        self.records.automations.run([Event("record.converted", source.key, lead.id, frozenset(), 0)])
        return {"conversion": conversion.key, "lead_id": lead.id, "targets": results}

    def form_of(self, target: Target) -> str:
        """The form a target is adjusted through: its entity's `convert` form, else its `create` form."""
        return "convert" if self.config.forms.get(target.entity, "convert") is not None else "create"

    def _make(self, target: Target, entity: EntityDef, mapped: dict[str, Any], given: Mapping[str, Any],
              made: Mapping[str, str], here: str, now: datetime) -> tuple[str, str]:
        """Create the target, or link the match the user chose or dedupe found; (its id, what was done)."""
        linked = {field: made[other] for field, other in target.links.items() if other in made}
        adjusted = {k: v for k, v in given.items() if k != "link"}
        submission = FormService(self.records).check_prefilled(target.entity, self.form_of(target), adjusted,
                                                               {**mapped, **linked})
        values = {**mapped, **submission.data, **linked}
        refused = [e for e in submission.errors if e.code != "required"]
        if refused:  # a field the form does not let this user set
            raise RecordInvalidError("the record is invalid", _under(here, refused))
        row = self._match_to_link(target, entity, values, given.get("link"), here)
        if row is not None:  # the matched record keeps what it holds: the form's required fields are the new one's
            return self._link(entity, row, values, target.dedupe.fill if target.dedupe else "empty", here, now), "linked"
        self.records.allowed(target.entity, "create")
        if submission.errors:
            raise RecordInvalidError("the record is invalid", _under(here, submission.errors))
        try:
            created, events = self.records.insert(entity, values, self.actor.user_id, now)
        except RecordInvalidError as exc:
            raise RecordInvalidError(exc.message, _under(here, exc.details)) from None
        self.records.automations.run(events)
        return created.id, "created"

    def _match_to_link(self, target: Target, entity: EntityDef, values: Mapping[str, Any], chosen: Any,
                       here: str) -> Record | None:
        """The record to link: the match the user chose, or what dedupe says of the matches; None to create."""
        matches = self._matches(target, values)
        dedupe = target.dedupe
        if chosen is False:  # a new record despite the matches the user saw; one they may not see still blocks
            if matches and dedupe is not None and dedupe.on_match != "create":
                hidden = [m for m in matches if not self._readable(entity, m)]
                if dedupe.on_match == "refuse" or hidden:
                    raise ConflictError("a matching record exists", [detail(here, "duplicate_match",
                                                                            visible=not hidden)])
            return None
        if chosen is not None:
            row = next((m for m in matches if m.id == chosen), None)
            if row is None or not self._readable(entity, row):
                raise RecordInvalidError("no such match", [detail(f"{here}/link", "unknown_match", id=chosen)])
            return row
        if matches and dedupe is not None and dedupe.on_match != "create":
            readable = [m for m in matches if self._readable(entity, m)]
            if dedupe.on_match == "refuse" or not readable:
                raise ConflictError("a matching record exists", [detail(here, "duplicate_match",
                                                                        visible=bool(readable))])
            return readable[0]
        return None

    def _link(self, entity: EntityDef, row: Record, values: Mapping[str, Any], fill: str, here: str,
              now: datetime) -> str:
        patch = {k: v for k, v in values.items() if fill == "overwrite" or row.data.get(k) in EMPTY}
        if patch:
            try:
                self.records.automations.run(self.records.change(entity, row, patch, now))
            except RecordInvalidError as exc:
                raise RecordInvalidError(exc.message, _under(here, exc.details)) from None
        return row.id

    def _update_lead(self, conversion: Conversion, source: EntityDef, lead: Record, facts: Any, now: datetime) -> None:
        patch = {}
        for name, value in conversion.lead_set:
            computed = value(facts, now)
            patch[name] = None if computed is MISSING else computed
        if patch:
            self.records.automations.run(self.records.change(source, lead, patch, now))
        if conversion.lead_stage is not None and lead.stage != conversion.lead_stage:
            events = StageService(self.records).apply(source, lead, Move(conversion.lead_stage), {}, None, now)
            self.records.automations.run(events)


def _under(here: str, errors: Iterable[ErrorDetail]) -> list[ErrorDetail]:
    """Errors about a target's record, pointed into the conversion's body (`/targets/<name>/<field>`)."""
    return [ErrorDetail(here + e.pointer, e.code, e.params) for e in errors]


def _title(records: RecordService, entity_key: str, record_id: str) -> dict[str, Any]:
    """`{"visible": true, "title": ...}` for a record the caller may read (its title masked as they see it),
    else `{"visible": false}`: lineage says a record exists, never what another user's record holds."""
    entity = records.config.entities.get(entity_key)
    permission = records.actor.role.permission(entity_key)
    if entity is None or not permission.read:
        return {"visible": False}
    row = records.session.scalar(select(Record).where(*records.visible(entity, permission), Record.id == record_id))
    if row is None:
        return {"visible": False}
    title = records.view(entity, row).data.get(entity.title_field or "")
    return {"visible": True, "title": record_id if title is None else str(title), "deleted": row.deleted_at is not None}


def record_lineage(records: RecordService, entity_key: str, record_id: str) -> dict[str, Any]:
    """What a record was converted from and what it was converted into (links the caller may follow)."""
    entity, permission = records.allowed(entity_key, "read")
    row = records.load(entity, permission, record_id)
    links = records.session.scalars(select(RecordLink).where(
        RecordLink.tenant_id == row.tenant_id, (RecordLink.from_id == row.id) | (RecordLink.to_id == row.id))
        .order_by(RecordLink.at, RecordLink.id))

    def shown(link: RecordLink, side: str) -> dict[str, Any]:
        other_entity, other_id = (link.to_entity, link.to_id) if side == "into" else (link.from_entity, link.from_id)
        return {"conversion": link.conversion, "target": link.target, "action": link.action, "at": link.at,
                "actor_id": link.actor_id, "entity": other_entity, "id": other_id,
                "href": f"/api/v1/records/{other_entity}/{other_id}", **_title(records, other_entity, other_id)}

    rows = list(links)
    return {"converted_into": [shown(link, "into") for link in rows if link.from_id == row.id],
            "converted_from": [shown(link, "from") for link in rows if link.to_id == row.id]}
