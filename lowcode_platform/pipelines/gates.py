"""Whether a record may move from one stage to another: the pipeline's rules of movement and the gate.

Pure: the facts (the record as it would be after the move's data), the activity counts and `now` come in;
a list of every unmet requirement comes out, each located in the move request (`/to`, `/data/<field>`,
`/reason`, `/comment`) and worded with the gate's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import Localized
from lowcode_platform.pipelines.definition import LOST, Gate, Pipeline
from lowcode_platform.rules.python import Facts
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.labels import Label

EMPTY = (None, "", [], {})


@dataclass(frozen=True)
class Move:
    """A requested stage change."""

    to: str
    reason: str | None = None  # why the record was lost
    comment: str | None = None
    override: bool = False  # an admin moving past the rules and the gate (with a reason, audited)


def _words(label: Label) -> Localized:
    return Localized(label.en, label.get("zh"))


def _message(gate: Gate) -> Localized:
    return _words(gate.message) if gate.message else Localized("", "")


def check_movement(pipeline: Pipeline, current: str | None, move: Move,
                   lost_from: str | None = None) -> list[ErrorDetail]:
    """The pipeline's rules: the target exists, and skipping, moving back and leaving a terminal stage.

    Reopening a lost record counts as moving on from the stage it was lost in (`lost_from`): back to it or
    before it is moving back, and past the stage after it is skipping."""
    if move.to != LOST and pipeline.stage(move.to) is None:
        return [detail("/to", "unknown_stage", stage=move.to)]
    if move.to == current:
        return [detail("/to", "same_stage", stage=move.to)]
    if move.override:
        return []
    here = pipeline.stage(current or "")
    if here is not None and here.terminal:
        return [detail("/to", "stage_terminal", stage=here.key)]
    target = pipeline.stage(move.to)
    if target is None:  # to lost: from any stage that is not terminal
        return []
    if current == LOST:
        if not pipeline.allow_back:
            return [detail("/to", "stage_back", stage=move.to)]
        here = pipeline.stage(lost_from or "")
    if here is not None and target.index > here.index + 1 and not pipeline.allow_skip:
        return [detail("/to", "stage_skipped", stage=move.to, next=pipeline.stages[here.index + 1].key)]
    if here is not None and target.index < here.index and not pipeline.allow_back:
        return [detail("/to", "stage_back", stage=move.to)]
    return []


def check_lost(pipeline: Pipeline, move: Move) -> list[ErrorDetail]:
    """A move to lost needs a configured reason, and a comment when the pipeline asks for one."""
    errors = []
    if not move.reason:
        errors.append(detail("/reason", "required"))
    elif move.reason not in pipeline.lost_reasons:
        errors.append(detail("/reason", "invalid_option", allowed=", ".join(repr(r) for r in pipeline.lost_reasons)))
    if pipeline.lost_comment_required and not (move.comment or "").strip():
        errors.append(detail("/comment", "required"))
    return errors


def check_gate(gate: Gate, entity: EntityDef, facts: Facts, now: datetime,
               counts: Mapping[str, int]) -> list[ErrorDetail]:
    """Every requirement of `gate` the record does not meet; `counts` are activity counts by their pointer."""
    errors = []
    message = _message(gate)
    for name in gate.required:
        if facts.get(name) in EMPTY:
            errors.append(detail(f"/data/{escape_pointer_token(name)}", "gate_required",
                                 field=_words(entity.fields[name].label), message=message))
    if gate.when is not None and not gate.when(facts, now):
        errors.append(detail("/to", "gate_condition", message=message))
    for count in gate.activities:
        found = counts.get(count.pointer, 0)
        if found < count.min:
            what: Any = _words(count.label) if count.label else Localized(count.entity, count.entity)
            errors.append(detail("/to", "gate_activities", what=what, min=count.min, found=found, message=message))
    return errors
