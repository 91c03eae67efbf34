"""Approval flows in config (no server): what compiles, every error with its pointer, the meta-schema's refusals,
and how many approvals a step needs in each mode."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from lowcode_platform.configuration import compile_config, iter_config_errors
from lowcode_platform.errors import ConfigInvalidError
from tests.approvals.support import document, flow, issue_flow, step
from tests.conversion.test_definitions import conversion_config


def errors(flows: dict[str, Any], base: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(pointer, code) of every error of the config with these flows."""
    doc = base if base is not None else document()
    doc["approvals"] = flows
    return [(e.pointer, e.code) for e in iter_config_errors(doc)]


def compiled(flows: dict[str, Any]) -> Any:
    return compile_config(document(flows), 1).approvals


# -- what compiles ------------------------------------------------------------------------------------------

def test_the_issue_flow_compiles_with_its_conditional_steps() -> None:
    """The director and vice-president steps compile in order with their conditions, locks and trigger."""
    flows = compiled({"review": issue_flow()})
    review = flows.get("review")
    assert review is not None and review.entity == "lead" and review.trigger.stage == "qualified"
    assert [s.key for s in review.steps] == ["director", "vice_president"]
    assert all(s.when is not None and s.mode == "any" for s in review.steps)
    assert review.steps[0].approvers[0].role == "director"
    assert review.lock == frozenset({"budget", "discount"})
    assert flows.on_stage("lead", "qualified") == [review] and flows.on_stage("lead", "won") == []


def test_each_trigger_and_approver_kind_compiles() -> None:
    """Fields, manual and stage triggers; role, users, manager and field approvers; the step options."""
    flows = compiled({
        "disc": flow({"fields": ["discount", "budget"]}, step("m", {"manager": 2}, {"users": ["vp", "rep1"]}),
                     when={"$gt": {"discount": 10}}),
        "manual": flow({"manual": True}, step("a", {"field": "assignee"}, mode="ratio", ratio=0.5,
                                              timeout_hours=8, on_timeout="reject", allow_self=True)),
        "lost": flow({"stage": "lost"}, step("r", {"role": "manager"}, mode="all")),
    })
    disc, manual, lost = flows.get("disc"), flows.get("manual"), flows.get("lost")
    assert disc.trigger.fields == frozenset({"discount", "budget"}) and disc.when is not None
    assert [(a.manager, a.users) for a in disc.steps[0].approvers] == [(2, ()), (None, ("vp", "rep1"))]
    assert flows.on_fields("lead", frozenset({"budget", "name"})) == [disc]
    assert flows.on_fields("lead", frozenset({"name"})) == []
    only = manual.steps[0]
    assert manual.trigger.manual and only.approvers[0].field == "assignee"
    assert (only.mode, only.ratio, only.timeout_hours, only.on_timeout, only.allow_self) == (
        "ratio", Decimal("0.5"), 8, "reject", True)
    assert lost.trigger.stage == "lost" and lost.steps[0].mode == "all"
    assert flows.get("ghost") is None and flows.get(None) is None
    assert {f.key for f in flows.of("lead")} == {"disc", "manual", "lost"} and flows.of("customer") == []


def test_a_conversion_of_the_flows_entity_is_a_valid_trigger() -> None:
    """A flow on leads may name the lead conversion `qualify`."""
    assert errors({"conv": flow({"conversion": "qualify"})}, conversion_config()) == []


def test_the_step_defaults() -> None:
    """A step without options: mode any, no ratio, no condition, no timeout, escalate, no self-approval."""
    only = compiled({"f": flow({"manual": True})}).get("f").steps[0]
    assert (only.mode, only.ratio, only.when, only.timeout_hours, only.on_timeout, only.allow_self) == (
        "any", None, None, None, "escalate", False)


def test_an_invalid_config_does_not_compile() -> None:
    """compile_config refuses a config with an approval error, listing it."""
    with pytest.raises(ConfigInvalidError) as raised:
        compile_config(document({"f": flow({"stage": "ghost"})}), 1)
    assert [(e.pointer, e.code) for e in raised.value.details] == [("/approvals/f/trigger/stage", "unknown_stage")]


# -- every error, with its pointer --------------------------------------------------------------------------

def test_unknown_entity() -> None:
    """A flow on an entity the config does not have."""
    assert errors({"f": {**flow({"manual": True}), "entity": "ghost"}}) == [("/approvals/f/entity", "unknown_entity")]


def test_unknown_stage() -> None:
    """A stage trigger must name a stage of the entity's pipelines (`lost` included)."""
    assert errors({"f": flow({"stage": "ghost"})}) == [("/approvals/f/trigger/stage", "unknown_stage")]
    assert errors({"f": flow({"stage": "lost"})}) == []


def test_a_stage_of_another_entitys_pipeline_is_unknown() -> None:
    """Customers have no pipeline: `new` is not one of their stages."""
    assert errors({"f": {**flow({"stage": "new"}), "entity": "customer"}}) == [
        ("/approvals/f/trigger/stage", "unknown_stage")]


def test_unknown_trigger_field() -> None:
    """Each trigger field must be a field of the entity; the pointer names its index."""
    assert errors({"f": flow({"fields": ["name", "ghost"]})}) == [("/approvals/f/trigger/fields/1", "unknown_field")]


def test_unknown_role() -> None:
    """A role approver must name a role of the config."""
    assert errors({"f": flow({"manual": True}, step("a"), step("b", {"users": ["vp"]}, {"role": "ghost"}))}) == [
        ("/approvals/f/steps/1/approvers/1/role", "unknown_role")]


def test_unknown_conversion() -> None:
    """A conversion trigger must name a conversion whose source is the flow's entity."""
    assert errors({"f": flow({"conversion": "ghost"})}, conversion_config()) == [
        ("/approvals/f/trigger/conversion", "unknown_conversion")]
    assert errors({"f": {**flow({"conversion": "qualify"}), "entity": "customer"}}, conversion_config()) == [
        ("/approvals/f/trigger/conversion", "unknown_conversion")]


def test_an_approver_field_must_be_a_user_field() -> None:
    """An unknown approver field, and a known one that is not of type user."""
    assert errors({"f": flow({"manual": True}, step("a", {"field": "ghost"}), step("b", {"field": "name"}),
                             step("c", {"field": "assignee"}))}) == [
        ("/approvals/f/steps/0/approvers/0/field", "unknown_field"),
        ("/approvals/f/steps/1/approvers/0/field", "approver_field_type")]


def test_ratio_without_mode_ratio_and_mode_ratio_without_ratio() -> None:
    """`ratio` needs `mode: ratio` (default mode any, or all), and `mode: ratio` needs a `ratio`."""
    assert errors({"f": flow({"manual": True}, step("a", ratio=0.5), step("b", mode="ratio"),
                             step("c", mode="all", ratio=1))}) == [
        ("/approvals/f/steps/0/ratio", "ratio_without_mode"), ("/approvals/f/steps/1/ratio", "required"),
        ("/approvals/f/steps/2/ratio", "ratio_without_mode")]


def test_on_timeout_needs_timeout_hours() -> None:
    """What to do on a timeout is meaningless without one."""
    assert errors({"f": flow({"manual": True}, step("a", on_timeout="approve"))}) == [
        ("/approvals/f/steps/0/timeout_hours", "required")]
    assert errors({"f": flow({"manual": True}, step("a", timeout_hours=3))}) == []


def test_duplicate_step_keys() -> None:
    """The second step with a key already used is pointed at."""
    assert errors({"f": flow({"manual": True}, step("a"), step("b"), step("a"))}) == [
        ("/approvals/f/steps/2/key", "duplicate_step")]


def test_lock_of_an_unknown_field() -> None:
    """Each locked field must be a field of the entity."""
    assert errors({"f": flow({"manual": True}, lock=["name", "ghost"])}) == [("/approvals/f/lock/1", "unknown_field")]


def test_bad_conditions_of_a_flow_and_a_step() -> None:
    """Condition errors are located under the flow's and the step's `when`."""
    assert errors({"f": flow({"manual": True}, step("a", when={"$gt": {"ghost": 1}}),
                             when={"$gt": {"name": 1}})}) == [
        ("/approvals/f/steps/0/when/$gt/ghost", "unknown_field"), ("/approvals/f/when/$gt/name", "condition_mismatch")]
    assert errors({"f": flow({"manual": True}, step("a", when={"stage": "won", "vip": True}))}) == [
        ("/approvals/f/steps/0/when", "condition_one_key")]


def test_errors_of_several_flows_are_all_reported() -> None:
    """Every flow is checked: an error in one does not hide the others'."""
    assert errors({"a": flow({"stage": "ghost"}), "b": flow({"manual": True}, lock=["ghost"])}) == [
        ("/approvals/a/trigger/stage", "unknown_stage"), ("/approvals/b/lock/0", "unknown_field")]


# -- the meta-schema ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "expected"), [
    (lambda f: f["steps"][0].update(mode="most"), ("/approvals/f/steps/0/mode", "invalid_option")),
    (lambda f: f["steps"][0].update(on_timeout="ignore", timeout_hours=2),
     ("/approvals/f/steps/0/on_timeout", "invalid_option")),
    (lambda f: f.update(trigger={"stage": "qualified", "manual": True}), ("/approvals/f/trigger", "invalid_option")),
    (lambda f: f.update(trigger={"manual": False}), ("/approvals/f/trigger", "invalid_option")),
    (lambda f: f.update(trigger={"fields": []}), ("/approvals/f/trigger", "invalid_option")),
    (lambda f: f["steps"][0].update(approvers=[{"role": "vp", "manager": 1}]),
     ("/approvals/f/steps/0/approvers/0", "invalid_option")),
    (lambda f: f["steps"][0].update(approvers=[{"manager": 0}]), ("/approvals/f/steps/0/approvers/0", "invalid_option")),
    (lambda f: f["steps"][0].update(approvers=[]), ("/approvals/f/steps/0/approvers", "min_items")),
    (lambda f: f["steps"][0].update(mode="ratio", ratio=0), ("/approvals/f/steps/0/ratio", "minimum")),
    (lambda f: f["steps"][0].update(mode="ratio", ratio=1.5), ("/approvals/f/steps/0/ratio", "maximum")),
    (lambda f: f["steps"][0].update(timeout_hours=0), ("/approvals/f/steps/0/timeout_hours", "minimum")),
    (lambda f: f["steps"][0].update(key="Bad key"), ("/approvals/f/steps/0/key", "pattern")),
    (lambda f: f["steps"][0].pop("approvers"), ("/approvals/f/steps/0/approvers", "required")),
    (lambda f: f.update(steps=[]), ("/approvals/f/steps", "min_items")),
    (lambda f: f.pop("label"), ("/approvals/f/label", "required")),
    (lambda f: f.pop("trigger"), ("/approvals/f/trigger", "required")),
    (lambda f: f.update(color="red"), ("/approvals/f/color", "unknown_key")),
    (lambda f: f.update(lock=["name", "name"]), ("/approvals/f/lock", "duplicate_items")),
], ids=lambda value: "" if callable(value) else f"{value[0]}:{value[1]}")
def test_the_meta_schema_refuses(change: Any, expected: tuple[str, str]) -> None:
    """Structural mistakes are refused by the meta-schema, each with the pointer of the part at fault."""
    bad = flow({"stage": "qualified"})
    change(bad)
    assert errors({"f": bad}) == [expected]


def test_a_flow_key_must_be_an_identifier() -> None:
    """Flow keys are identifiers."""
    assert errors({"Bad Key": flow({"manual": True})}) == [("/approvals/Bad Key", "bad_identifier")]


# -- how many approvals decide a step -----------------------------------------------------------------------

def needed(mode: str, approvers: int, ratio: float | None = None) -> int:
    options = {"mode": mode, **({"ratio": ratio} if ratio is not None else {})}
    only = compiled({"f": flow({"manual": True}, step("a", **options))}).get("f").steps[0]
    return int(only.needed(approvers))


@pytest.mark.parametrize("approvers", [1, 2, 5])
def test_any_needs_one(approvers: int) -> None:
    """`any`: the first approval decides, however many approvers there are."""
    assert needed("any", approvers) == 1


@pytest.mark.parametrize("approvers", [1, 2, 5])
def test_all_needs_everyone(approvers: int) -> None:
    """`all`: every approver."""
    assert needed("all", approvers) == approvers


@pytest.mark.parametrize(("ratio", "approvers", "expected"), [
    (0.5, 3, 2), (0.5, 4, 2), (0.34, 3, 2), (0.33, 3, 1), (1, 3, 3), (0.1, 3, 1), (0.5, 1, 1),
    (0.3, 10, 3), (0.7, 10, 7), (0.6, 5, 3), (0.01, 1, 1),
])
def test_ratio_needs_the_share_rounded_up(ratio: float, approvers: int, expected: int) -> None:
    """`ratio`: the share of the approvers, rounded up, at least one; exact (0.3 of 10 is 3, not 4)."""
    assert needed("ratio", approvers, ratio) == expected
