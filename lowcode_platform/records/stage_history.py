"""Stage history rows, and what a record's stage says about it: its default forecast category, whether it is stalled.

Used by the record service (a new record enters its first stage) and the stage service (moves).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from lowcode_platform.pipelines.definition import LOST, Pipeline
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.tables import StageChange

FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "closed", "omitted")


def forecast_category(pipeline: Pipeline, stage: str) -> str:
    """The category a stage gives a record until a rep says otherwise: closed when won, omitted when lost."""
    if stage in pipeline.won:
        return "closed"
    return "omitted" if stage == LOST else "pipeline"


def is_stalled(pipeline: Pipeline | None, row: Any, now: datetime) -> bool:
    """Idle in an open stage for longer than its rot days (no stage change and no activity in that time)."""
    if pipeline is None or row.stage_entered_at is None:
        return False
    stage = pipeline.stage(row.stage or "")
    if stage is None or stage.rot_days is None or stage.terminal or row.stage in pipeline.won:
        return False
    moments = [m for m in (row.stage_entered_at, row.last_activity_at) if m is not None]
    return now - max(moments) > timedelta(days=stage.rot_days)


def record_stage_change(session: Session, row: Any, from_stage: str | None, to_stage: str, at: datetime,
                        actor_id: str | None, *, since: datetime | None = None, reason: str | None = None,
                        comment: str | None = None, override: bool = False,
                        override_reason: str | None = None) -> None:
    """Write the history row of a move (`since`: when the record entered `from_stage`)."""
    seconds = int((at - since).total_seconds()) if since is not None else None
    session.execute(insert(StageChange).values(
        tenant_id=row.tenant_id, id=new_id(), record_id=row.id, entity=row.entity, pipeline=row.pipeline,
        from_stage=from_stage, to_stage=to_stage, at=at, seconds_in_from=seconds, actor_id=actor_id,
        reason=reason, comment=comment, override=override, override_reason=override_reason,
    ))


def list_stage_history(session: Session, tenant_id: str, record_id: str) -> list[dict[str, Any]]:
    """A record's stage changes, oldest first."""
    rows = session.scalars(select(StageChange).where(StageChange.tenant_id == tenant_id,
                                                     StageChange.record_id == record_id)
                           .order_by(StageChange.at, StageChange.id))
    return [{"id": r.id, "pipeline": r.pipeline, "from": r.from_stage, "to": r.to_stage, "at": r.at,
             "seconds_in_from": r.seconds_in_from, "actor_id": r.actor_id, "reason": r.reason,
             "comment": r.comment, "override": r.override, "override_reason": r.override_reason} for r in rows]
