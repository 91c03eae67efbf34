"""Stage pipelines compiled from config: stages with probabilities, gates and rot days; won and lost.

`compile_pipelines` reads the `pipelines` part of a config whose structure is already checked and checks
what needs the entities and the condition language, each error with a pointer into the config.
Pure: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import in_entity
from lowcode_platform.rules.automations import MoveStage
from lowcode_platform.rules.python import Predicate
from lowcode_platform.rules.scope import Scope
from lowcode_platform.rules.syntax import Condition
from lowcode_platform.rules.validations import compile_condition
from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.labels import Label

LOST = "lost"  # the stage key of a lost record, in every pipeline
CENT = Decimal("0.01")  # probabilities are kept to two decimals (records.probability is NUMERIC(5, 2))


@dataclass(frozen=True)
class ActivityCount:
    """At least `min` records of an activity entity, logged on the record since it entered its stage."""

    entity: str
    links: tuple[str, ...]  # the activity's reference fields that point at the pipeline's entity
    where: Condition | None
    min: int
    label: Label | None
    pointer: str


@dataclass(frozen=True)
class Gate:
    required: tuple[str, ...] = ()
    when: Predicate | None = None
    activities: tuple[ActivityCount, ...] = ()
    message: Label | None = None
    pointer: str = ""


@dataclass(frozen=True)
class Stage:
    key: str
    label: Label
    probability: Decimal
    index: int
    rot_days: int | None = None
    terminal: bool = False
    gate: Gate = field(default_factory=Gate)


@dataclass(frozen=True)
class Pipeline:
    key: str
    entity: str
    label: Label
    stages: tuple[Stage, ...]
    won: frozenset[str]
    lost_label: Label
    lost_reasons: Mapping[str, Label]
    lost_comment_required: bool
    allow_skip: bool
    allow_back: bool

    @property
    def first(self) -> Stage:
        return self.stages[0]

    def stage(self, key: str) -> Stage | None:
        """The stage `key` (not `lost`), or None."""
        return next((s for s in self.stages if s.key == key), None)


@dataclass(frozen=True)
class TenantPipelines:
    pipelines: Mapping[str, Pipeline] = field(default_factory=dict)

    def of(self, entity: str) -> list[Pipeline]:
        """The pipelines of `entity`, in config order; the first is where new records start."""
        return [p for p in self.pipelines.values() if p.entity == entity]

    def get(self, key: str | None) -> Pipeline | None:
        return self.pipelines.get(key or "")


def _t(token: str) -> str:
    return escape_pointer_token(token)


def _gate(spec: Mapping[str, Any], base: str, entity: EntityDef, entities: Mapping[str, EntityDef],
          scopes: Mapping[str, Scope], activity_links: Mapping[str, tuple[str, ...]],
          errors: list[ErrorDetail]) -> Gate:
    for i, name in enumerate(spec.get("required", ())):
        if name not in entity.fields:
            errors.append(detail(f"{base}/required/{i}", "unknown_field", field=name, where=in_entity(entity.key)))
    when = None
    if "when" in spec:
        compiled = compile_condition(spec["when"], f"{base}/when", scopes[entity.key], errors)
        when = compiled[1] if compiled else None
    counts = []
    for i, item in enumerate(spec.get("activities", ())):
        pointer = f"{base}/activities/{i}"
        target = entities.get(item["entity"])
        if target is None:
            errors.append(detail(f"{pointer}/entity", "unknown_entity", entity=item["entity"]))
            continue
        links = tuple(name for name in activity_links.get(target.key, ())
                      if target.fields[name].entity == entity.key)
        if not links:
            errors.append(detail(f"{pointer}/entity", "not_an_activity", entity=target.key, of=entity.key))
            continue
        where = None
        if "where" in item:
            compiled = compile_condition(item["where"], f"{pointer}/where", scopes[target.key], errors)
            where = compiled[0] if compiled else None
        counts.append(ActivityCount(target.key, links, where, item["min"],
                                    Label.parse(item["label"]) if item.get("label") else target.plural, pointer))
    return Gate(tuple(spec.get("required", ())), when, tuple(counts),
                Label.parse(spec["message"]) if spec.get("message") else None, base)


def check_stage_moves(automations: Any, pipelines: TenantPipelines) -> list[ErrorDetail]:
    """A `move_stage` action must name a stage of a pipeline of its automation's entity (or `lost`)."""
    errors = []
    for automation in automations:
        for action in automation.actions:
            if isinstance(action, MoveStage):
                owned = pipelines.of(automation.entity)
                if not owned:
                    errors.append(detail(action.pointer, "no_pipeline", entity=automation.entity))
                elif action.to != LOST and all(p.stage(action.to) is None for p in owned):
                    errors.append(detail(action.pointer, "unknown_stage", stage=action.to))
    return errors


def compile_pipelines(document: Mapping[str, Any], entities: Mapping[str, EntityDef], scopes: Mapping[str, Scope],
                      activity_links: Mapping[str, tuple[str, ...]]) -> tuple[TenantPipelines, list[ErrorDetail]]:
    """The tenant's pipelines and every error in them; `activity_links` are each entity's `activity_for`."""
    errors: list[ErrorDetail] = []
    compiled: dict[str, Pipeline] = {}
    for key, spec in document.get("pipelines", {}).items():
        base = f"/pipelines/{_t(key)}"
        entity = entities.get(spec["entity"])
        if entity is None:
            errors.append(detail(f"{base}/entity", "unknown_entity", entity=spec["entity"]))
            continue
        stages: list[Stage] = []
        seen: set[str] = set()
        for i, stage in enumerate(spec["stages"]):
            pointer = f"{base}/stages/{i}"
            if stage["key"] == LOST:
                errors.append(detail(f"{pointer}/key", "reserved_stage", stage=LOST))
            elif stage["key"] in seen:
                errors.append(detail(f"{pointer}/key", "duplicate_key", key=stage["key"], where=""))
            seen.add(stage["key"])
            if i == 0 and "gate" in stage:  # records are created in it: there is no move before to check
                errors.append(detail(f"{pointer}/gate", "gate_on_first_stage"))
            gate = _gate(stage.get("gate", {}), f"{pointer}/gate", entity, entities, scopes, activity_links, errors)
            stages.append(Stage(stage["key"], Label.parse(stage["label"], stage["key"]),
                                Decimal(str(stage["probability"])).quantize(CENT), i, stage.get("rot_days"),
                                bool(stage.get("terminal", False)), gate))
        for i, name in enumerate(spec["won"]):
            if name not in seen:
                errors.append(detail(f"{base}/won/{i}", "unknown_stage", stage=name))
        lost = spec["lost"]
        compiled[key] = Pipeline(
            key=key, entity=entity.key, label=Label.parse(spec["label"], key), stages=tuple(stages),
            won=frozenset(spec["won"]), lost_label=Label.parse(lost.get("label"), "Lost"),
            lost_reasons=MappingProxyType({r["value"]: Label.parse(r.get("label"), r["value"]) for r in lost["reasons"]}),
            lost_comment_required=lost.get("comment") == "required",
            allow_skip=bool(spec.get("allow_skip", False)), allow_back=bool(spec.get("allow_back", True)),
        )
    return TenantPipelines(MappingProxyType(compiled)), errors
