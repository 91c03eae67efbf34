"""Pure tests of the stage decisions: the rules of movement, a lost record's reason, a gate's requirements."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

import pytest

from lowcode_platform.configuration import compile_config
from lowcode_platform.pipelines import LOST, Pipeline
from lowcode_platform.pipelines.gates import Move, check_gate, check_lost, check_movement
from lowcode_platform.schema import EntityDef
from tests.configs import crm, label

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
MESSAGE = label("Qualify the deal first.", "请先确认商机。")
MEETINGS = "/pipelines/sales/stages/2/gate/activities/0"  # the pointer activity counts are keyed by
FULL = {"amount": {"amount": "1000", "currency": "CNY"}, "close_date": "2026-04-01", "confirmed": True}


def document() -> dict[str, Any]:
    """A CRM config with deals, their `call` activities and a four-stage `sales` pipeline."""
    config = crm()
    config["entities"]["deal"] = {
        "label": label("Deal", "商机"),
        "fields": {
            "name": {"type": "text", "label": label("Name", "名称")},
            "amount": {"type": "money", "label": label("Amount", "金额"), "currencies": ["CNY"]},
            "close_date": {"type": "date", "label": label("Close date", "成交日期")},
            "confirmed": {"type": "boolean", "label": label("Budget confirmed", "预算已确认")},
            "tags": {"type": "multi_enum", "label": label("Tags", "标签"),
                     "options": [{"value": "hot", "label": label("Hot")}]},
        },
    }
    config["entities"]["call"] = {
        "label": label("Call", "电话"), "activity_for": ["deal"],
        "fields": {"deal": {"type": "reference", "label": label("Deal"), "entity": "deal"}},
    }
    config["pipelines"] = {"sales": {
        "entity": "deal", "label": label("Sales"),
        "stages": [
            {"key": "new", "label": label("New"), "probability": 10},
            {"key": "qualified", "label": label("Qualified"), "probability": 30, "gate": {"required": ["tags"]}},
            {"key": "proposal", "label": label("Proposal"), "probability": 60,
             "gate": {"required": ["amount", "close_date"], "when": {"confirmed": True},
                      "activities": [{"entity": "call", "min": 2, "label": label("meetings", "会议")}],
                      "message": MESSAGE}},
            {"key": "won", "label": label("Won"), "probability": 100, "terminal": True},
        ],
        "won": ["won"],
        "lost": {"reasons": [{"value": "price", "label": label("Price")},
                             {"value": "timing", "label": label("Timing")}],
                 "comment": "required"},
    }}
    return config


CONFIG = compile_config(document(), 1)
SALES: Pipeline = CONFIG.pipelines.get("sales")  # type: ignore[assignment]
DEAL: EntityDef = CONFIG.entities["deal"]
SKIPPING = dataclasses.replace(SALES, allow_skip=True)
FORWARD_ONLY = dataclasses.replace(SALES, allow_back=False)
OPTIONAL_COMMENT = dataclasses.replace(SALES, lost_comment_required=False)


def pairs(errors: Any) -> list[tuple[str, str]]:
    return [(e.pointer, e.code) for e in errors]


MOVEMENT_CASES = [
    pytest.param(SALES, "new", Move("qualified"), [], id="next-stage"),
    pytest.param(SALES, "new", Move("proposal"), [("/to", "stage_skipped")], id="skip-refused"),
    pytest.param(SALES, "new", Move("won"), [("/to", "stage_skipped")], id="skip-two-refused"),
    pytest.param(SKIPPING, "new", Move("won"), [], id="skip-allowed"),
    pytest.param(SALES, "proposal", Move("new"), [], id="back-allowed-by-default"),
    pytest.param(FORWARD_ONLY, "proposal", Move("qualified"), [("/to", "stage_back")], id="back-refused"),
    pytest.param(FORWARD_ONLY, "new", Move("qualified"), [], id="forward-only-moves-forward"),
    pytest.param(SALES, "won", Move("proposal"), [("/to", "stage_terminal")], id="terminal-no-back"),
    pytest.param(SALES, "won", Move(LOST, "price", "gone"), [("/to", "stage_terminal")], id="terminal-not-lost"),
    pytest.param(SKIPPING, "won", Move("new"), [("/to", "stage_terminal")], id="terminal-whatever-the-flags"),
    pytest.param(SALES, "new", Move("ghost"), [("/to", "unknown_stage")], id="unknown-stage"),
    pytest.param(SALES, "new", Move("new"), [("/to", "same_stage")], id="same-stage"),
    pytest.param(SALES, LOST, Move(LOST, "price", "x"), [("/to", "same_stage")], id="lost-again"),
    pytest.param(SALES, "new", Move(LOST, "price", "x"), [], id="lost-from-the-first-stage"),
    pytest.param(SALES, "proposal", Move(LOST), [], id="lost-from-any-open-stage"),
    pytest.param(SALES, LOST, Move("new"), [], id="reopen-with-allow-back"),
    pytest.param(SALES, LOST, Move("won"), [], id="reopen-from-an-unknown-stage-checks-no-skip"),
    pytest.param(FORWARD_ONLY, LOST, Move("new"), [("/to", "stage_back")], id="reopen-is-moving-back"),
    pytest.param(FORWARD_ONLY, LOST, Move("proposal"), [("/to", "stage_back")], id="reopen-later-stage-is-back"),
    pytest.param(SALES, "new", Move("won", override=True), [], id="override-skips"),
    pytest.param(FORWARD_ONLY, "proposal", Move("new", override=True), [], id="override-moves-back"),
    pytest.param(SALES, "won", Move("new", override=True), [], id="override-leaves-terminal"),
    pytest.param(FORWARD_ONLY, LOST, Move("won", override=True), [], id="override-reopens"),
    pytest.param(SALES, "new", Move("ghost", override=True), [("/to", "unknown_stage")], id="override-unknown-stage"),
    pytest.param(SALES, "new", Move("new", override=True), [("/to", "same_stage")], id="override-same-stage"),
]


@pytest.mark.parametrize(("pipeline", "current", "move", "expected"), MOVEMENT_CASES)
def test_check_movement(pipeline: Pipeline, current: str, move: Move, expected: list[tuple[str, str]]) -> None:
    """The pipeline's rules of movement give the expected errors at /to (none: the move is allowed)."""
    assert pairs(check_movement(pipeline, current, move)) == expected


def test_a_refused_skip_names_the_next_stage() -> None:
    """stage_skipped tells the user which stage comes next, in en and zh."""
    (error,) = check_movement(SALES, "qualified", Move("won"))
    assert "'proposal'" in error.message_in("en") and "'proposal'" in error.message_in("zh")
    assert error.message_in("en") != error.message_in("zh")


LOST_CASES = [
    pytest.param(SALES, Move(LOST, "price", "too dear"), [], id="reason-and-comment"),
    pytest.param(SALES, Move(LOST, None, "too dear"), [("/reason", "required")], id="no-reason"),
    pytest.param(SALES, Move(LOST, "", "too dear"), [("/reason", "required")], id="empty-reason"),
    pytest.param(SALES, Move(LOST, "mood", "too dear"), [("/reason", "invalid_option")], id="reason-not-listed"),
    pytest.param(SALES, Move(LOST, "Price", "too dear"), [("/reason", "invalid_option")], id="reason-is-a-value"),
    pytest.param(SALES, Move(LOST, "price"), [("/comment", "required")], id="no-comment"),
    pytest.param(SALES, Move(LOST, "price", " \n "), [("/comment", "required")], id="blank-comment"),
    pytest.param(SALES, Move(LOST), [("/reason", "required"), ("/comment", "required")], id="neither"),
    pytest.param(OPTIONAL_COMMENT, Move(LOST, "timing"), [], id="comment-optional"),
    pytest.param(OPTIONAL_COMMENT, Move(LOST), [("/reason", "required")], id="comment-optional-reason-still-needed"),
]


@pytest.mark.parametrize(("pipeline", "move", "expected"), LOST_CASES)
def test_check_lost(pipeline: Pipeline, move: Move, expected: list[tuple[str, str]]) -> None:
    """A move to lost needs one of the pipeline's reasons, and a comment when the pipeline requires one."""
    assert pairs(check_lost(pipeline, move)) == expected


def test_an_unlisted_reason_lists_the_allowed_ones() -> None:
    """invalid_option names every configured reason."""
    (error,) = check_lost(SALES, Move(LOST, "mood", "x"))
    assert "'price'" in error.message and "'timing'" in error.message


def proposal_errors(facts: dict[str, Any], meetings: int = 2) -> list[Any]:
    return check_gate(SALES.stages[2].gate, DEAL, facts, NOW, {MEETINGS: meetings})


GATE_CASES = [
    pytest.param(FULL, 2, [], id="all-met"),
    pytest.param(FULL, 5, [], id="more-activities-than-needed"),
    pytest.param({**FULL, "amount": None}, 2, [("/data/amount", "gate_required")], id="required-missing"),
    pytest.param({k: v for k, v in FULL.items() if k != "close_date"}, 2, [("/data/close_date", "gate_required")],
                 id="required-absent"),
    pytest.param({**FULL, "close_date": ""}, 2, [("/data/close_date", "gate_required")], id="required-empty-text"),
    pytest.param({**FULL, "confirmed": False}, 2, [("/to", "gate_condition")], id="condition-false"),
    pytest.param({k: v for k, v in FULL.items() if k != "confirmed"}, 2, [("/to", "gate_condition")],
                 id="condition-on-a-missing-field"),
    pytest.param(FULL, 1, [("/to", "gate_activities")], id="activities-below-min"),
    pytest.param(FULL, 0, [("/to", "gate_activities")], id="no-activities"),
    pytest.param({}, 0, [("/data/amount", "gate_required"), ("/data/close_date", "gate_required"),
                         ("/to", "gate_condition"), ("/to", "gate_activities")], id="every-requirement-at-once"),
]


@pytest.mark.parametrize(("facts", "meetings", "expected"), GATE_CASES)
def test_check_gate(facts: dict[str, Any], meetings: int, expected: list[tuple[str, str]]) -> None:
    """Each unmet requirement of the gate is reported, at /data/<field> or /to; all of them at once."""
    assert pairs(proposal_errors(facts, meetings)) == expected


def test_a_missing_count_is_zero() -> None:
    """An activity count the caller did not give counts as none."""
    errors = check_gate(SALES.stages[2].gate, DEAL, FULL, NOW, {})
    assert pairs(errors) == [("/to", "gate_activities")]
    assert "(0 so far)" in errors[0].message_in("en")


def test_an_empty_list_does_not_fill_a_required_field() -> None:
    """A required multi_enum with no option chosen is unmet; one option meets it."""
    gate = SALES.stages[1].gate
    assert pairs(check_gate(gate, DEAL, {"tags": []}, NOW, {})) == [("/data/tags", "gate_required")]
    assert check_gate(gate, DEAL, {"tags": ["hot"]}, NOW, {}) == []


@pytest.mark.parametrize(("locale", "field", "what", "message"), [
    ("en", "Amount", "meetings", MESSAGE["en"]),
    ("zh", "金额", "会议", MESSAGE["zh"]),
])
def test_gate_errors_are_worded_with_the_gate_message(locale: str, field: str, what: str, message: str) -> None:
    """Every gate error carries the gate's own message, the field's label and the count's label, per language."""
    errors = proposal_errors({"close_date": "2026-04-01", "confirmed": False}, meetings=1)
    assert pairs(errors) == [("/data/amount", "gate_required"), ("/to", "gate_condition"), ("/to", "gate_activities")]
    texts = [e.message_in(locale) for e in errors]
    assert all(message in text for text in texts), texts
    assert field in texts[0]
    assert what in texts[2] and "2" in texts[2] and "1" in texts[2]
    assert all("{" not in text and "None" not in text for text in texts), texts


def test_a_gate_without_a_message_still_reads_well() -> None:
    """With no gate message, errors are the plain requirement, without a placeholder left over."""
    (error,) = check_gate(SALES.stages[1].gate, DEAL, {}, NOW, {})
    for locale in ("en", "zh"):
        text = error.message_in(locale)
        assert "{" not in text and "None" not in text
    assert "Tags" in error.message_in("en") and "标签" in error.message_in("zh")


@pytest.mark.parametrize(("pipeline", "lost_from", "to", "expected"), [
    pytest.param(SALES, "qualified", "qualified", [], id="back-to-where-it-was-lost"),
    pytest.param(SALES, "qualified", "proposal", [], id="on-to-the-next-stage"),
    pytest.param(SALES, "new", "won", [("/to", "stage_skipped")], id="past-the-next-stage-is-skipping"),
    pytest.param(SKIPPING, "new", "won", [], id="skipping-allowed"),
    pytest.param(FORWARD_ONLY, "qualified", "proposal", [("/to", "stage_back")], id="no-reopening-without-back"),
])
def test_reopening_a_lost_record_moves_on_from_the_stage_it_was_lost_in(
        pipeline: Pipeline, lost_from: str, to: str, expected: list[tuple[str, str]]) -> None:
    """A lost record reopens as if from the stage it was lost in: skipping and moving back rules apply."""
    assert pairs(check_movement(pipeline, LOST, Move(to), lost_from)) == expected
