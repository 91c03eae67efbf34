"""Moving records through their pipeline's stages, in one transaction with the record's own checks.

Every stage change goes through `StageService.move`: the pipeline's rules of movement and the target
stage's gate hold for everyone, but for an admin who overrides them explicitly, with a reason, and is
audited. A move writes the stage columns, a stage history row and an audit row, and emits
`stage.changed` for automations, in the transaction of the move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update

from lowcode_platform.errors import (
    ConflictError,
    ErrorDetail,
    PermissionDeniedError,
    RecordInvalidError,
    detail,
    escape_pointer_token,
)
from lowcode_platform.forms.submission import check_submission
from lowcode_platform.pipelines.definition import LOST, ActivityCount, Pipeline
from lowcode_platform.pipelines.gates import Move, check_gate, check_lost, check_movement
from lowcode_platform.records.automations import Event
from lowcode_platform.records.derive import broken_rules, normalized, system_values
from lowcode_platform.records.service import RecordService, RecordView
from lowcode_platform.records.stage_history import (
    FORECAST_CATEGORIES,
    forecast_category,
    list_stage_history,
    record_stage_change,
)
from lowcode_platform.records.views import sees_pii, visible_data
from lowcode_platform.rules.sql import to_sql
from lowcode_platform.schema import EntityDef
from lowcode_platform.storage.audit import diff
from lowcode_platform.storage.json_fields import json_field
from lowcode_platform.storage.tables import Record, StageChange


def _prefixed(errors: list[ErrorDetail], prefix: str) -> list[ErrorDetail]:
    return [ErrorDetail(prefix + e.pointer, e.code, e.params) for e in errors]


MOVE_KEYS = frozenset({"to", "data", "reason", "comment", "override"})


def _text(body: Mapping[str, Any], key: str, errors: list[ErrorDetail], limit: int, prefix: str = "") -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        errors.append(detail(f"{prefix}/{key}", "type", expected=f"text of at most {limit} characters"))
        return None
    return value


def _won_at(pipeline: Pipeline, row: Record, to: str, now: datetime) -> datetime | None:
    """When the record was won: kept while it moves between won stages (e.g. contract → service)."""
    if to not in pipeline.won:
        return None
    return row.won_at if row.stage in pipeline.won and row.won_at is not None else now


class StageService:
    """Stage moves and forecasts of one tenant's records, by one actor."""

    def __init__(self, records: RecordService) -> None:
        self.records = records
        self.config = records.config
        self.actor = records.actor
        self.session = records.session

    def move(self, entity_key: str, record_id: str, body: Any) -> RecordView:
        """Move a record to `body["to"]`, filling `body["data"]` on the way; 422 lists every unmet requirement."""
        entity, permission = self.records.allowed(entity_key, "update")
        body = self.records.as_object(body)
        errors: list[ErrorDetail] = [detail(f"/{escape_pointer_token(k)}", "unknown_field", field=k, where="")
                                     for k in body if k not in MOVE_KEYS]
        to = body.get("to")
        if not isinstance(to, str) or not to:
            errors.append(detail("/to", "required"))
        data = body.get("data", {})
        if not isinstance(data, dict):
            errors.append(detail("/data", "type", expected="an object"))
            data = {}
        reason, comment = _text(body, "reason", errors, 200), _text(body, "comment", errors, 2000)
        override = body.get("override")
        override_reason = None
        if override is not None:
            if not self.actor.role.admin:
                raise PermissionDeniedError("only tenant admins may override a stage's rules",
                                            [detail("/override", "override_forbidden")])
            given = override.get("reason") if isinstance(override, dict) else None
            if not isinstance(given, str) or not given.strip():
                errors.append(detail("/override/reason", "required"))
            else:
                override_reason = _text(override, "reason", errors, 200, "/override")
        if errors:
            raise RecordInvalidError("the stage change is invalid", errors)
        move = Move(str(to), reason if to == LOST else None, comment, override=override is not None)
        return self.records.transaction(lambda: self._move(entity, permission, record_id, move, data, override_reason))

    def _move(self, entity: EntityDef, permission: Any, record_id: str, move: Move, data: dict[str, Any],
              override_reason: str | None) -> RecordView:
        from lowcode_platform.records.approvals import ApprovalService  # approvals finish moves: a cycle at import

        row = self.records.load(entity, permission, record_id)
        self.records.refuse_if_converted(entity, row)
        now = self.records.clock()
        pipeline, data = self.check(entity, row, move, data, now)
        if self.config.approvals.of(entity.key) and not move.override:
            approvals = ApprovalService(self.records)
            self._refuse_unapproved_data(approvals, entity, row, data, now)
            flows = self.config.approvals.on_stage(entity.key, move.to)
            flow = approvals.flow_for(flows, entity.key, {**row.data, **data}, row, now) if flows else None
            if flow is not None:  # a move that needs approval waits for it; the record stays where it is
                instance = approvals.start(flow, row, {"kind": "stage", "to": move.to, "data": data,
                                                       "reason": move.reason, "comment": move.comment}, now)
                if instance.status == "pending":
                    return replace(self.records.view(entity, row), approval=approvals.shown(instance))
                return self.records.view(entity, self.records.load_any(entity, row.id))  # no step applied
        events = self._write(entity, row, pipeline, move, data, override_reason, now)
        self.records.automations.run(events)
        return self.records.view(entity, row)

    def _refuse_unapproved_data(self, approvals: Any, entity: EntityDef, row: Record, data: Mapping[str, Any],
                                now: datetime) -> None:
        """The data a move fills may change neither a field a pending approval locks nor one whose change
        needs approval itself (409: change it on its own first)."""
        after = {k: v for k, v in {**row.data, **data}.items() if v is not None and k in entity.fields}
        changed = frozenset(diff(dict(row.data), normalized(entity, after)))
        approvals.refuse_locked(entity.key, row.id, changed)
        flows = self.config.approvals.on_fields(entity.key, changed)
        if flows and approvals.flow_for(flows, entity.key, after, row, now) is not None:
            field = sorted(changed & frozenset(f for flow in flows for f in flow.trigger.fields))[0]
            raise ConflictError("this change needs approval: make it on its own first", [
                detail(f"/data/{escape_pointer_token(field)}", "approval_required", field=field)])

    def apply(self, entity: EntityDef, row: Record, move: Move, data: dict[str, Any], override_reason: str | None,
              now: datetime, depth: int = 0) -> list[Event]:
        """Check and write a move of a loaded record (no permission check: callers decide; no commit);
        the events it causes. Automations' `move_stage` and approved requests come through here, gates and
        all."""
        pipeline, data = self.check(entity, row, move, data, now)
        return self._write(entity, row, pipeline, move, data, override_reason, now, depth)

    def check(self, entity: EntityDef, row: Record, move: Move, data: dict[str, Any],
              now: datetime) -> tuple[Pipeline, dict[str, Any]]:
        """The record's pipeline and the data the move may fill, or 422 with every unmet requirement."""
        pipeline = self.config.pipelines.get(row.pipeline)
        if pipeline is None:
            raise RecordInvalidError("the record has no pipeline", [detail("", "no_pipeline", entity=entity.key)])
        errors = check_movement(pipeline, row.stage, move, self._lost_from(row) if row.stage == LOST else None)
        form = self.config.forms.get(entity.key, f"stage_{move.to}")
        if not errors and form is not None:  # the stage's own form decides what may be filled on the way
            shown, masked = visible_data(entity, row.data, sees_pii(self.actor, row.owner_id))
            submission = check_submission(
                form, entity, self.actor.role.key, data, before=row.data, now=now, masked=frozenset(masked),
                shown=shown, facts_of=lambda after: self.records.facts(entity, normalized(entity, after),
                                                                       system_values(row)))
            errors, data = _prefixed(submission.errors, "/data"), submission.data
        if not errors:
            errors = self._requirements(entity, pipeline, row, move, data, now)
        if errors:
            raise RecordInvalidError(f"the record may not enter stage {move.to!r}", errors)
        return pipeline, data

    def _write(self, entity: EntityDef, row: Record, pipeline: Pipeline, move: Move, data: dict[str, Any],
               override_reason: str | None, now: datetime, depth: int = 0) -> list[Event]:
        events: list[Event] = []
        if data:
            try:
                events = self.records.change(entity, row, data, now, depth)
            except RecordInvalidError as exc:
                raise RecordInvalidError(exc.message, _prefixed(list(exc.details), "/data")) from None
        before, since = row.stage, row.stage_entered_at
        target = pipeline.stage(move.to)
        self.records.write(
            row, stage=move.to, stage_entered_at=now, updated_at=now, updated_by=self.actor.user_id,
            probability=target.probability if target else Decimal(0),
            forecast_category=forecast_category(pipeline, move.to),
            won_at=_won_at(pipeline, row, move.to, now), lost_at=now if move.to == LOST else None,
        )
        if move.to in pipeline.won and before not in pipeline.won:
            self._stamp_deal(entity, row, now)
        record_stage_change(self.session, row, before, move.to, now, self.actor.user_id, since=since,
                            reason=move.reason, comment=move.comment, override=move.override,
                            override_reason=override_reason)
        changes: dict[str, Any] = {"stage": [before, move.to]}
        if move.override:
            changes["override"] = [None, override_reason]
        self.records.audit(row, "stage", changes, now)
        return events + [Event("stage.changed", entity.key, row.id, frozenset({"stage"}), depth)]

    def _stamp_deal(self, entity: EntityDef, row: Record, now: datetime) -> None:
        """A deal won: the record and the records it refers to (its customer, contact) had a deal now,
        which restarts their pools' no-deal clocks."""
        referred = [row.data[f.key] for f in entity.fields.values()
                    if f.type == "reference" and isinstance(row.data.get(f.key), str)]
        self.session.execute(update(Record).where(Record.tenant_id == row.tenant_id,
                                                  Record.id.in_([row.id, *referred]))
                             .values(deal_at=now).execution_options(synchronize_session=False))
        row.deal_at = now

    def _requirements(self, entity: EntityDef, pipeline: Pipeline, row: Record, move: Move,
                      data: Mapping[str, Any], now: datetime) -> list[ErrorDetail]:
        """Everything the move lacks: the data's own errors, a lost reason, the target gate's requirements."""
        unknown = [k for k in data if k not in entity.fields]
        errors = [detail(f"/data/{escape_pointer_token(k)}", "unknown_field", field=k, where="") for k in unknown]
        after = normalized(entity, {k: v for k, v in {**row.data, **data}.items() if v is not None and k in entity.fields})
        errors += _prefixed(list(entity.iter_record_errors(after)), "/data")
        if move.to == LOST:
            return errors + check_lost(pipeline, move)
        target = pipeline.stage(move.to)
        if move.override or target is None:
            return errors
        facts = self.records.facts(entity, after, system_values(row))
        errors += _prefixed(broken_rules(self.config.rules.of(entity.key), facts, now), "/data")
        counts = {c.pointer: self._count(c, row, now) for c in target.gate.activities}
        return errors + check_gate(target.gate, entity, facts, now, counts)

    def _lost_from(self, row: Record) -> str | None:
        """The stage a lost record was lost in (its last move into `lost`)."""
        return self.session.scalar(
            select(StageChange.from_stage)
            .where(StageChange.tenant_id == row.tenant_id, StageChange.record_id == row.id,
                   StageChange.to_stage == LOST)
            .order_by(StageChange.at.desc(), StageChange.id.desc()).limit(1))

    def _count(self, count: ActivityCount, row: Record, now: datetime) -> int:
        """Activities of `count.entity` logged on the record since it entered its current stage."""
        statement = select(func.count()).select_from(Record).where(
            Record.tenant_id == row.tenant_id, Record.entity == count.entity, Record.deleted_at.is_(None),
            or_(*[json_field(link, "text") == row.id for link in count.links]),
        )
        if row.stage_entered_at is not None:
            statement = statement.where(Record.created_at >= row.stage_entered_at)
        if count.where is not None:
            statement = statement.where(to_sql(count.where)(now))
        return int(self.session.scalar(statement) or 0)

    def set_forecast(self, entity_key: str, record_id: str, body: Any) -> RecordView:
        """A rep's own probability and forecast category for a deal, until its next stage change."""
        body = self.records.as_object(body)
        errors: list[ErrorDetail] = []
        values: dict[str, Any] = {}
        if "probability" in body:
            p = body["probability"]
            if isinstance(p, bool) or not isinstance(p, (int, Decimal)) or not 0 <= p <= 100:
                errors.append(detail("/probability", "type", expected="a number from 0 to 100"))
            else:
                values["probability"] = Decimal(p).quantize(Decimal("0.01"))
        if "forecast_category" in body:
            if body["forecast_category"] not in FORECAST_CATEGORIES:
                errors.append(detail("/forecast_category", "invalid_option",
                                     allowed=", ".join(repr(c) for c in FORECAST_CATEGORIES)))
            else:
                values["forecast_category"] = body["forecast_category"]
        errors += [detail(f"/{escape_pointer_token(k)}", "unknown_field", field=k, where="")
                   for k in body if k not in ("probability", "forecast_category")]
        if not values and not errors:
            errors.append(detail("", "required"))
        if errors:
            raise RecordInvalidError("the forecast is invalid", errors)
        entity, permission = self.records.allowed(entity_key, "update")

        def work() -> RecordView:
            row = self.records.load(entity, permission, record_id)
            if row.pipeline is None:
                raise RecordInvalidError("the record has no pipeline", [detail("", "no_pipeline", entity=entity.key)])
            now = self.records.clock()
            changes = {k: [getattr(row, k), v] for k, v in values.items() if getattr(row, k) != v}
            if changes:
                self.records.write(row, updated_at=now, updated_by=self.actor.user_id, **values)
                self.records.audit(row, "forecast", changes, now)
            return self.records.view(entity, row)

        return self.records.transaction(work)

    def history(self, entity_key: str, record_id: str) -> list[dict[str, Any]]:
        """The record's stage changes, oldest first."""
        entity, permission = self.records.allowed(entity_key, "read")
        row = self.records.load(entity, permission, record_id)
        return list_stage_history(self.session, row.tenant_id, row.id)
