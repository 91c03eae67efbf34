"""Pipeline definitions: every config error of `pipelines`, located and coded; what a valid one compiles to."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from lowcode_platform.configuration import compile_config, iter_config_errors
from lowcode_platform.messages import CATALOG
from lowcode_platform.pipelines import LOST
from tests.configs import crm, label

Mutation = Callable[[dict[str, Any]], None]
GATE_MESSAGE = label("Qualify the deal first.", "请先确认商机。")


def pipeline_config() -> dict[str, Any]:
    """The CRM config with a `deal` entity, its activity `call`, a `note` activity of leads, and a `sales`
    pipeline of deals whose `proposal` gate has required fields, a condition and an activity count."""
    document = crm()
    document["entities"]["deal"] = {
        "label": label("Deal", "商机"), "title_field": "name",
        "fields": {
            "name": {"type": "text", "label": label("Name", "名称"), "required": True},
            "amount": {"type": "money", "label": label("Amount", "金额"), "currencies": ["CNY"]},
            "close_date": {"type": "date", "label": label("Close date", "成交日期")},
            "confirmed": {"type": "boolean", "label": label("Budget confirmed", "预算已确认")},
        },
    }
    document["entities"]["call"] = {
        "label": label("Call", "电话"), "activity_for": ["deal"],
        "fields": {
            "deal": {"type": "reference", "label": label("Deal"), "entity": "deal"},
            "kind": {"type": "enum", "label": label("Kind"),
                     "options": [{"value": "phone", "label": label("Phone")},
                                 {"value": "meeting", "label": label("Meeting")}]},
        },
    }
    document["entities"]["note"] = {
        "label": label("Note", "备注"), "activity_for": ["lead"],
        "fields": {"lead": {"type": "reference", "label": label("Lead"), "entity": "lead"},
                   "deal": {"type": "reference", "label": label("Deal"), "entity": "deal"}},
    }
    document["pipelines"] = {"sales": {
        "entity": "deal", "label": label("Sales", "销售"),
        "stages": [
            {"key": "new", "label": label("New", "新建"), "probability": 10, "rot_days": 7},
            {"key": "qualified", "label": label("Qualified", "已确认"), "probability": Decimal("30.5"),
             "gate": {"required": ["close_date"]}},
            {"key": "proposal", "label": label("Proposal", "方案"), "probability": 60,
             "gate": {"required": ["amount", "close_date"], "when": {"confirmed": True},
                      "activities": [{"entity": "call", "min": 1, "where": {"kind": "meeting"},
                                      "label": label("meeting", "会议")}],
                      "message": GATE_MESSAGE}},
            {"key": "won", "label": label("Won", "赢单"), "probability": 100, "terminal": True},
        ],
        "won": ["won"],
        "lost": {"reasons": [{"value": "price", "label": label("Price", "价格")},
                             {"value": "timing", "label": label("Timing", "时机")}],
                 "comment": "required"},
    }}
    return document


def at(path: str, value: Any) -> Mutation:
    """A mutation setting the value at `path` (slash-separated keys and indexes below the `sales` pipeline)."""

    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = document["pipelines"]["sales"]
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[int(last) if isinstance(target, list) else last] = value

    return mutate


def without(path: str) -> Mutation:
    """A mutation deleting the key at `path` below the `sales` pipeline."""

    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = document["pipelines"]["sales"]
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        del target[last]

    return mutate


def pairs(document: Any) -> list[tuple[str, str]]:
    return [(e.pointer, e.code) for e in iter_config_errors(document)]


S = "/pipelines/sales"
G = f"{S}/stages/2/gate"  # the proposal gate
A = "stages/2/gate/activities/0"

SEMANTIC_CASES = [
    pytest.param(at("entity", "ghost"), f"{S}/entity", "unknown_entity", id="unknown_entity-pipeline"),
    pytest.param(at("stages/0/gate", {"required": ["amount"]}), f"{S}/stages/0/gate", "gate_on_first_stage",
                 id="gate_on_first_stage"),
    pytest.param(at("stages/1/key", LOST), f"{S}/stages/1/key", "reserved_stage", id="reserved_stage-lost"),
    pytest.param(at("stages/2/key", "new"), f"{S}/stages/2/key", "duplicate_key", id="duplicate_key-stage"),
    pytest.param(at("won", ["closed"]), f"{S}/won/0", "unknown_stage", id="unknown_stage-won"),
    pytest.param(at("won", ["won", LOST]), f"{S}/won/1", "unknown_stage", id="unknown_stage-won-lost"),
    pytest.param(at("stages/2/gate/required", ["amount", "ghost"]),
                 f"{G}/required/1", "unknown_field", id="unknown_field-gate-required"),
    pytest.param(at("stages/2/gate/when", {"ghost": True}),
                 f"{G}/when/ghost", "unknown_field", id="unknown_field-gate-when"),
    pytest.param(at("stages/2/gate/when", {"$and": [{"confirmed": True}, {"$gt": {"ghost": 1}}]}),
                 f"{G}/when/$and/1/$gt/ghost", "unknown_field", id="unknown_field-gate-when-nested"),
    pytest.param(at(f"{A}/entity", "ghost"), f"{G}/activities/0/entity", "unknown_entity",
                 id="unknown_entity-activity-count"),
    pytest.param(at(f"{A}/entity", "note"), f"{G}/activities/0/entity", "not_an_activity",
                 id="not_an_activity-activity-of-another-entity"),
    pytest.param(at(f"{A}/entity", "customer"), f"{G}/activities/0/entity", "not_an_activity",
                 id="not_an_activity-not-an-activity-entity"),
    pytest.param(at(f"{A}/where", {"kind": "visit"}), f"{G}/activities/0/where/kind", "condition_option",
                 id="condition_option-activity-where"),
    pytest.param(at(f"{A}/where", {"amount": 1}), f"{G}/activities/0/where/amount", "unknown_field",
                 id="unknown_field-activity-where-reads-the-activity"),
]

META_CASES = [
    pytest.param(at("stages/0/probability", 101), f"{S}/stages/0/probability", "maximum", id="maximum-probability"),
    pytest.param(at("stages/0/probability", -1), f"{S}/stages/0/probability", "minimum", id="minimum-probability"),
    pytest.param(lambda d: d["pipelines"]["sales"]["stages"].__delitem__(slice(1, None)),
                 f"{S}/stages", "min_items", id="min_items-one-stage"),
    pytest.param(without("lost/reasons"), f"{S}/lost/reasons", "required", id="required-lost-reasons"),
    pytest.param(at("lost/reasons", []), f"{S}/lost/reasons", "min_items", id="min_items-lost-reasons"),
    pytest.param(without("lost"), f"{S}/lost", "required", id="required-lost"),
    pytest.param(at("won", []), f"{S}/won", "min_items", id="min_items-won"),
    pytest.param(at("stages/0/rot_days", 0), f"{S}/stages/0/rot_days", "minimum", id="minimum-rot_days"),
    pytest.param(at(f"{A}/min", 0), f"{G}/activities/0/min", "minimum", id="minimum-activity-min"),
    pytest.param(at("stages/1/key", "Qualified"), f"{S}/stages/1/key", "pattern", id="pattern-stage-key"),
    pytest.param(at("stages/1/colour", "red"), f"{S}/stages/1/colour", "unknown_key", id="unknown_key-stage"),
    pytest.param(at("lost/comment", "sometimes"), f"{S}/lost/comment", "invalid_option",
                 id="invalid_option-lost-comment"),
    pytest.param(lambda d: d["pipelines"].__setitem__("Sales", d["pipelines"]["sales"]),
                 "/pipelines/Sales", "bad_identifier", id="bad_identifier-pipeline-key"),
]


def test_the_pipeline_config_is_valid() -> None:
    """The config the cases start from has no errors at all."""
    assert pairs(pipeline_config()) == []


@pytest.mark.parametrize(("mutation", "pointer", "code"), SEMANTIC_CASES)
def test_semantic_error(mutation: Mutation, pointer: str, code: str) -> None:
    """Each mistake in a pipeline gives exactly one error, with its pointer and code."""
    document = pipeline_config()
    mutation(document)
    assert pairs(document) == [(pointer, code)]


@pytest.mark.parametrize(("mutation", "pointer", "code"), META_CASES)
def test_meta_schema_error(mutation: Mutation, pointer: str, code: str) -> None:
    """A pipeline breaking the meta-schema gets exactly that error, at the offending pointer."""
    document = pipeline_config()
    mutation(document)
    assert pairs(document) == [(pointer, code)]


@pytest.mark.parametrize(("mutation", "pointer", "code"), SEMANTIC_CASES + META_CASES)
def test_errors_render_messages_in_english_and_chinese(mutation: Mutation, pointer: str, code: str) -> None:
    """Every pipeline error renders a filled-in message in en and a different one in zh."""
    document = pipeline_config()
    mutation(document)
    for error in iter_config_errors(document):
        english, chinese = error.message_in("en"), error.message_in("zh")
        for message in (english, chinese):
            assert message not in {error.code, error.code.replace("_", " ")}, error
            assert "{" not in message and "None" not in message, message
        assert chinese != english, error


def test_every_pipeline_code_is_in_the_catalog() -> None:
    """Each code pipelines and their moves produce has an English and a different Chinese template."""
    codes = {"unknown_stage", "reserved_stage", "not_an_activity", "same_stage", "stage_terminal", "stage_skipped",
             "stage_back", "gate_required", "gate_condition", "gate_activities", "override_forbidden", "no_pipeline",
             "gate_on_first_stage", "unknown_pipeline"}
    for code in sorted(codes):
        assert set(CATALOG[code]) == {"en", "zh"}, code
        assert CATALOG[code]["zh"] != CATALOG[code]["en"], code


def test_several_errors_are_reported_together() -> None:
    """A pipeline with several mistakes reports all of them in one pass."""
    document = pipeline_config()
    for mutation in (at("stages/1/key", LOST), at("won", ["closed"]), at("stages/2/gate/required", ["ghost"]),
                     at(f"{A}/entity", "note")):
        mutation(document)
    assert sorted(pairs(document)) == sorted([
        (f"{S}/stages/1/key", "reserved_stage"), (f"{S}/won/0", "unknown_stage"),
        (f"{G}/required/0", "unknown_field"), (f"{G}/activities/0/entity", "not_an_activity"),
    ])


def test_a_valid_config_compiles_its_stages_in_order() -> None:
    """Stages keep config order and index, probabilities are Decimals, won and lost come through."""
    pipeline = compile_config(pipeline_config(), 1).pipelines.get("sales")
    assert pipeline is not None
    assert (pipeline.key, pipeline.entity, pipeline.label.en, pipeline.label.zh) == ("sales", "deal", "Sales", "销售")
    assert [(s.key, s.index) for s in pipeline.stages] == [("new", 0), ("qualified", 1), ("proposal", 2), ("won", 3)]
    assert [s.probability for s in pipeline.stages] == [Decimal("10"), Decimal("30.5"), Decimal("60"), Decimal("100")]
    assert all(isinstance(s.probability, Decimal) for s in pipeline.stages)
    assert [(s.rot_days, s.terminal) for s in pipeline.stages] == [(7, False), (None, False), (None, False),
                                                                    (None, True)]
    assert pipeline.first.key == "new"
    assert pipeline.won == frozenset({"won"})
    assert {k: (v.en, v.zh) for k, v in pipeline.lost_reasons.items()} == {"price": ("Price", "价格"),
                                                                          "timing": ("Timing", "时机")}
    assert list(pipeline.lost_reasons) == ["price", "timing"]
    assert pipeline.lost_comment_required is True
    assert (pipeline.allow_skip, pipeline.allow_back) == (False, True)  # the defaults


def test_a_valid_config_compiles_its_gates() -> None:
    """A gate keeps its required fields, condition, activity counts (with the activity's links) and message."""
    pipeline = compile_config(pipeline_config(), 1).pipelines.get("sales")
    assert pipeline is not None
    gate = pipeline.stages[2].gate
    assert gate.required == ("amount", "close_date")
    assert gate.when is not None
    assert (gate.message.en, gate.message.zh) == (GATE_MESSAGE["en"], GATE_MESSAGE["zh"])
    (count,) = gate.activities
    assert (count.entity, count.links, count.min, count.pointer) == ("call", ("deal",), 1, f"{G}/activities/0")
    assert count.where is not None and count.label is not None
    assert pipeline.stages[0].gate.required == () and pipeline.stages[0].gate.when is None
    assert pipeline.stage(LOST) is None and pipeline.stage("qualified") is pipeline.stages[1]


def test_pipelines_are_listed_by_entity_in_config_order() -> None:
    """`of(entity)` lists the entity's pipelines in config order; other entities have none."""
    document = pipeline_config()
    document["pipelines"]["renewals"] = {**document["pipelines"]["sales"], "label": label("Renewals")}
    document["pipelines"]["a_first_by_name"] = {**document["pipelines"]["sales"], "label": label("A")}
    pipelines = compile_config(document, 1).pipelines
    assert [p.key for p in pipelines.of("deal")] == ["sales", "renewals", "a_first_by_name"]
    assert pipelines.of("lead") == []
    assert pipelines.get(None) is None and pipelines.get("ghost") is None


def test_allow_skip_allow_back_and_an_optional_comment() -> None:
    """allow_skip, allow_back and `comment: optional` are read as given."""
    document = pipeline_config()
    for mutation in (at("allow_skip", True), at("allow_back", False), at("lost/comment", "optional")):
        mutation(document)
    pipeline = compile_config(document, 1).pipelines.get("sales")
    assert pipeline is not None
    assert (pipeline.allow_skip, pipeline.allow_back, pipeline.lost_comment_required) == (True, False, False)


def test_a_condition_names_only_stages_the_entitys_pipelines_have() -> None:
    """`stage` in a condition compares with a stage key of the entity's pipelines or `lost`; a typo is an error."""
    config = pipeline_config()
    config["entities"]["deal"]["validations"] = [
        {"key": "typo", "when": {"stage": "proposel"}, "assert": {"confirmed": True}, "message": label("m")},
        {"key": "lost", "when": {"stage": "lost"}, "assert": {"confirmed": True}, "message": label("m")},
    ]
    assert pairs(config) == [("/entities/deal/validations/0/when/stage", "condition_option")]
