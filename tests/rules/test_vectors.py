"""The shared condition vectors (tests/vectors/conditions.json) against the Python compiler, and the shapes of what
`rules.javascript` gives the browser. tests/browser/test_condition_vectors.py holds conditions.js to the same verdicts.

The helpers here (loading the vectors, their scope, a vector's facts as the server holds them) are imported by the
browser test too.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lowcode_platform import jsonutil
from lowcode_platform.configuration import compile_config
from lowcode_platform.rules.javascript import (
    DECIMAL,
    browser_condition,
    browser_value,
    condition_environment,
    ecmascript_pattern,
)
from lowcode_platform.rules.python import MISSING, to_python, to_value
from lowcode_platform.rules.regex import translate
from lowcode_platform.rules.scope import Scope, entity_scope
from lowcode_platform.rules.syntax import Ref, parse_condition

VECTORS = Path(__file__).parents[1] / "vectors" / "conditions.json"
ENTITY = "deal"  # the key the vectors' entity is compiled under (its reference field points to itself)
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=timezone.utc)
# A derived day count in a vector's facts becomes the timestamp it is counted from, an hour into the day.
DAY_COUNTS = {"days_since_created": "created_at", "days_since_last_activity": "last_activity_at",
              "days_in_stage": "stage_entered_at", "days_since_won": "won_at", "days_owned": "owned_at"}


@cache
def load_vectors() -> dict[str, Any]:
    """The vectors file, numbers as the server reads JSON: integers as int, others as Decimal."""
    return jsonutil.loads(VECTORS.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def vector_scope(entity_config: dict[str, Any]) -> Scope:
    """The scope of the vectors' entity, compiled within a minimal tenant config."""
    label = {"en": "Vectors"}
    document = {"tenant": {"name": label, "default_locale": "en", "currency": "CNY"}, "locales": ["en"],
                "roles": {"admin": {"label": label, "admin": True}}, "entities": {ENTITY: entity_config}}
    return entity_scope(compile_config(document, 1).entities[ENTITY], "UTC")


def python_facts(facts: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """What `to_python` reads for a vector's facts: derived values become the timestamps they come from.

    The vector must list every derived value those timestamps give (as the server gives them to the browser),
    e.g. `days_since_last_activity` along with `days_since_created` when there was no activity.
    """
    derived = [name for name, attribute in scope.attributes.items() if attribute.source == "derived"]
    result = {key: value for key, value in facts.items() if key not in derived}
    for name, column in DAY_COUNTS.items():
        if name in facts:
            result[column] = NOW - facts[name] * timedelta(days=1) - timedelta(hours=1)
    if "created_on" in facts and "created_at" not in result:
        result["created_at"] = datetime.fromisoformat(facts["created_on"]).replace(hour=12, tzinfo=timezone.utc)
    for name in derived:
        attribute = scope.get(name)
        assert attribute is not None
        value = to_value(Ref(attribute), scope.timezone)(result, NOW)
        given = facts.get(name, MISSING)
        assert value == given, f"the facts give {name} {given!r}, but their timestamps give {value!r}; list it"
    return result


def python_verdict(condition: Any, facts: dict[str, Any], scope: Scope) -> bool:
    """What the server's compiler answers for a vector."""
    return to_python(parse_condition(condition, scope))(python_facts(facts, scope), NOW)


def vector_ids() -> list[str]:
    return [f"{i}: {case['note']}" for i, case in enumerate(load_vectors()["cases"])]


def test_vectors_are_many_and_named_once() -> None:
    """The file holds a broad set of cases, each with its own note and a boolean verdict."""
    cases = load_vectors()["cases"]
    assert len(cases) >= 150
    notes = [case["note"] for case in cases]
    assert len(set(notes)) == len(notes)
    assert all(set(case) == {"note", "condition", "facts", "expected"} for case in cases)
    assert all(isinstance(case["expected"], bool) for case in cases)
    operators = {key for case in cases for key in re.findall(r'"(\$[a-z]+)"', jsonutil.dumps(case["condition"]))}
    assert operators >= {"$and", "$or", "$ex", "$nex", "$eq", "$neq", "$lt", "$lte", "$gt", "$gte", "$mt", "$imt",
                         "$iany", "$iall", "$i", "$m", "$add", "$sub", "$mul", "$div", "$l", "$r"}


@pytest.mark.parametrize("index", range(len(load_vectors()["cases"])), ids=vector_ids())
def test_python_gives_the_expected_verdict(index: int) -> None:
    """Each vector's condition is valid for the vectors' entity and `to_python` answers `expected`."""
    vectors = load_vectors()
    case = vectors["cases"][index]
    assert python_verdict(case["condition"], case["facts"], vector_scope(vectors["entity"])) is case["expected"]


def _from_browser(value: Any) -> Any:
    """The inverse of `browser_value`: what conditions.js reads `{"$decimal": text}` as."""
    if isinstance(value, dict):
        if set(value) == {DECIMAL}:
            text = value[DECIMAL]
            return int(text) if re.fullmatch(r"-?[0-9]+", text) else Decimal(text)
        return {key: _from_browser(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_browser(item) for item in value]
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


@pytest.mark.parametrize("index", range(len(load_vectors()["cases"])), ids=vector_ids())
def test_browser_condition_reads_back_to_the_same_tree(index: int) -> None:
    """What the browser is given means what the condition means: it parses to the same tree, and numbers keep
    their value and their kind (int or Decimal) through JSON."""
    vectors = load_vectors()
    scope = vector_scope(vectors["entity"])
    case = vectors["cases"][index]
    condition = parse_condition(case["condition"], scope)
    document = json.loads(json.dumps(browser_condition(condition)))
    assert parse_condition(_from_browser(document), scope).node == condition.node
    facts = _from_browser(json.loads(json.dumps(browser_value(case["facts"]))))
    assert facts == case["facts"]
    assert [type(v) for v in _numbers(facts)] == [type(v) for v in _numbers(case["facts"])]


def _numbers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return [value] if isinstance(value, (int, Decimal)) and not isinstance(value, bool) else []


@pytest.mark.parametrize(("value", "written"), [
    (7, 7), (-2**53 + 1, -2**53 + 1), (2**53, {DECIMAL: str(2**53)}), (Decimal("0.1"), 0.1),
    (Decimal("12.30"), 12.3), (Decimal("2.0"), {DECIMAL: "2.0"}), (Decimal("10"), {DECIMAL: "10.0"}),
    (Decimal("0.10000000000000001"), {DECIMAL: "0.10000000000000001"}), (True, True), ("1.5", "1.5"),
    ({"amount": Decimal("1E+2"), "currency": "CNY"}, {"amount": {DECIMAL: "1E+2"}, "currency": "CNY"}),
])
def test_browser_value_keeps_numbers_exact(value: Any, written: Any) -> None:
    """A number JSON.parse would change (or turn from a Decimal into an integer) is written as `{"$decimal": text}`."""
    assert browser_value(value) == written


@pytest.mark.parametrize(("pattern", "ecmascript"), [
    ("ERP-%d{4}", "^(?:ERP-[0-9]{4})$"),
    (".*@(qq|163)%.com", "^(?:.*@(?:qq|163)\\.com)$"),
    ("[a-z_.-]+", "^(?:[a-z_\\.\\-]+)$"),
    ("[!-/]x", "^(?:[!-\\/]x)$"),
    ("%w{2,}%%", "^(?:[A-Za-z0-9]{2,}%)$"),
    ("a\tb", "^(?:a\\u0009b)$"),
    ("a\u2028b", "^(?:a\\u{2028}b)$"),
    ("上海.*😀", "^(?:上海.*😀)$"),
    ("^a$\\", "^(?:\\^a\\$\\\\)$"),
    ("!\"#&',-/:;<=>@_`~", "^(?:!\"#&',-\\/:;<=>@_`~)$"),
])
def test_ecmascript_pattern(pattern: str, ecmascript: str) -> None:
    """Python's escapes become what ECMAScript's `u` mode accepts; the source is anchored on the whole value."""
    assert ecmascript_pattern(translate(pattern)) == ecmascript


def test_condition_environment_shape() -> None:
    """Every name of the scope with its type, and each pattern under its operator, keyed by the pattern as written."""
    scope = vector_scope(load_vectors()["entity"])
    conditions = [parse_condition(document, scope) for document in (
        {"$and": [{"$mt": {"name": "ERP-%d{4}"}}, {"$or": [{"$imt": {"email": ".*@qq%.com"}}, {"vip": True}]}]},
        {"$iany": {"tags": {"$mt": {"$i": "h.*"}}}},
        {"$gt": {"count": 1}},
    )]
    env = condition_environment(conditions, scope)
    assert env["patterns"] == {"mt": {"ERP-%d{4}": "^(?:ERP-[0-9]{4})$", "h.*": "^(?:h.*)$"},
                               "imt": {".*@qq%.com": "^(?:.*@qq\\.com)$"}}
    attributes = env["attributes"]
    assert set(attributes) == set(scope.attributes)
    assert attributes["count"] == {"type": "number", "integer": True}
    assert attributes["budget.amount"] == {"type": "number", "integer": False}
    assert attributes["region"] == {"type": "object", "integer": False}
    assert attributes["tags"] == {"type": "list", "integer": False, "item": {"type": "string", "integer": False}}
    assert attributes["days_since_created"] == {"type": "number", "integer": True}
    assert attributes["owner"] == {"type": "string", "integer": False}
    assert json.loads(json.dumps(env)) == env
