"""web/static/conditions.js in Chromium gives the verdicts of the server's compiler: every shared vector
(tests/vectors/conditions.json), ECMAScript translations of patterns, and reading numbers exactly."""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import lowcode_platform
from lowcode_platform.rules.javascript import (
    browser_condition,
    browser_value,
    condition_environment,
    ecmascript_pattern,
)
from lowcode_platform.rules.python import MISSING, to_python, to_value
from lowcode_platform.rules.regex import RegexError, translate
from lowcode_platform.rules.syntax import Compare, parse_condition
from tests.rules.test_vectors import load_vectors, vector_scope

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCRIPT = Path(lowcode_platform.__file__).parent / "web" / "static" / "conditions.js"

# Evaluates every case twice: as sent (numbers, and {"$decimal"} wrappers read by evaluate), and with each wrapper
# turned into a LowcodeConditions.decimal object first. An exception counts as a verdict (its message).
EVALUATE_CASES = """
(input) => {
  const { cases, env } = JSON.parse(input);
  const { evaluate, decimal } = window.LowcodeConditions;
  const unwrap = (value) => {
    if (Array.isArray(value)) return value.map(unwrap);
    if (value === null || typeof value !== "object") return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$decimal") return decimal(value.$decimal);
    return Object.fromEntries(keys.map((key) => [key, unwrap(value[key])]));
  };
  const run = (condition, facts) => {
    try {
      return evaluate(condition, facts, env);
    } catch (error) {
      return String(error);
    }
  };
  return cases.map(({ condition, facts }) => [run(condition, facts), run(unwrap(condition), unwrap(facts))]);
}
"""


def open_script(page: Page) -> None:
    """A blank page with conditions.js loaded as a plain script (no modules)."""
    page.set_content("<!doctype html><html><head><meta charset='utf-8'><title>conditions</title></head></html>")
    page.add_script_tag(path=str(SCRIPT))


def test_every_vector_gives_the_expected_verdict(page: Page) -> None:
    """All vectors, in one evaluation: conditions.js answers what `to_python` answers, with numbers sent as JSON
    numbers or `{"$decimal"}` wrappers and with `LowcodeConditions.decimal` objects alike."""
    vectors = load_vectors()
    scope = vector_scope(vectors["entity"])
    conditions = [parse_condition(case["condition"], scope) for case in vectors["cases"]]
    cases = [{"condition": browser_condition(condition), "facts": browser_value(case["facts"])}
             for condition, case in zip(conditions, vectors["cases"], strict=True)]
    env = condition_environment(conditions, scope)
    open_script(page)
    # As JSON text (ASCII, escapes for lone surrogates), parsed by the page as a form page parses its data.
    verdicts = page.evaluate(EVALUATE_CASES, json.dumps({"cases": cases, "env": env}))
    assert len(verdicts) == len(vectors["cases"])
    failures = [
        f"#{i} {case['note']}: expected {case['expected']}, got {sent} (as sent) and {unwrapped} (decimal objects); "
        f"condition {json.dumps(cases[i]['condition'], ensure_ascii=False)}, "
        f"facts {json.dumps(cases[i]['facts'], ensure_ascii=False)}"
        for i, (case, (sent, unwrapped)) in enumerate(zip(vectors["cases"], verdicts, strict=True))
        if sent is not case["expected"] or unwrapped is not case["expected"]
    ]
    assert not failures, f"{len(failures)} of {len(verdicts)} vectors differ:\n" + "\n".join(failures)


def _random_cases(rng: random.Random, count: int) -> list[tuple[Any, dict[str, Any]]]:
    """Comparisons of a field with random arithmetic over random numbers (long decimals, big and zero integers,
    missing and mistyped operands), and of texts with random texts (astral and private-use characters)."""
    def number(integer: bool) -> Any:
        if rng.random() < 0.1:
            return rng.choice([0, Decimal("0.00"), None, "1", True])
        digits = rng.randint(1, 40)
        coefficient = rng.randint(-10**digits, 10**digits)
        return coefficient if integer else Decimal(f"{coefficient}E{rng.randint(-45, 10)}")

    def operand(depth: int) -> Any:
        if depth > 0 and rng.random() < 0.6:
            op = rng.choice(["$add", "$sub", "$mul", "$div", "$div"])
            left, right = operand(depth - 1), operand(depth - 1)
            if not isinstance(left, dict) and not isinstance(right, dict):
                right = {"$m": rng.choice(["ratio", "count"])}
            return {op: {"$l": left, "$r": right}}
        if rng.random() < 0.3:
            fraction = Decimal(f"{rng.randint(-10**6, 10**6)}.{rng.randint(0, 999):03d}")
            return rng.choice([rng.randint(-1000, 1000), fraction])
        return {"$m": rng.choice(["ratio", "budget.amount", "count", "rank"])}

    def text() -> str:
        return "".join(rng.choice(["a", "b", "Z", "é", "中", "\uff5a", "\ue000", "\ufffd", "😀", "𝒜", "\U0010fffd"])
                       for _ in range(rng.randint(0, 4)))

    comparisons = ["$eq", "$neq", "$lt", "$lte", "$gt", "$gte"]
    cases = []
    for _ in range(count):
        if rng.random() < 0.25:
            right = text() if rng.random() < 0.5 else {"$m": "notes"}
            cases.append(({rng.choice(comparisons): {"name": right}}, {"name": text(), "notes": text()}))
            continue
        facts = {"ratio": number(False), "count": number(True), "rank": number(True),
                 "budget": {"amount": number(False), "currency": "CNY"}, "score": number(False)}
        cases.append(({rng.choice(comparisons): {rng.choice(["score", "count"]): operand(3)}}, facts))
    return cases


def test_random_arithmetic_and_texts_agree_with_python(page: Page) -> None:
    """On random comparisons, conditions.js answers what `to_python` answers; a third of the left values are set to
    exactly what the right side computes to, so that equality is tested at the last digit."""
    scope = vector_scope(load_vectors()["entity"])
    now = datetime(2024, 6, 15, tzinfo=timezone.utc)
    conditions, facts_list, expected = [], [], []
    for document, facts in _random_cases(random.Random(20240615), 2000):
        condition = parse_condition(document, scope)
        node = condition.node
        assert isinstance(node, Compare)
        if node.left.name != "name" and len(conditions) % 3 == 0:
            value = to_value(node.right, "UTC")(facts, now)
            # an integer field holds integers (a Decimal in one makes Python's integer division raise)
            if value is not MISSING and (type(value) is int or not node.left.integer):
                facts[node.left.name] = value
        conditions.append(condition)
        facts_list.append(facts)
        expected.append(to_python(condition)(facts, now))
    cases = [{"condition": browser_condition(condition), "facts": browser_value(facts)}
             for condition, facts in zip(conditions, facts_list, strict=True)]
    env = condition_environment(conditions, scope)
    open_script(page)
    verdicts = page.evaluate(EVALUATE_CASES, json.dumps({"cases": cases, "env": env}))
    failures = [f"{json.dumps(case)}: expected {e}, got {v}"
                for case, e, v in zip(cases, expected, verdicts, strict=True) if v != [e, e]]
    assert sum(expected) > 300
    assert not failures, f"{len(failures)} differ:\n" + "\n".join(failures[:20])


def _probe_patterns() -> list[str]:
    """Patterns of one character each: every printable ASCII character (escaped with % where it is a
    metacharacter), alone and in a class, plus control characters and ranges across punctuation."""
    patterns = []
    for code in range(32, 127):
        char = chr(code)
        patterns += [char, "%" + char, f"[{char}]", f"[{char}-~]", f"[ -{char}]"]
    patterns += ["\t", "\x7f", "[\x01-\x1f]", "\u2028", "[\u00e0-\u00ff]", "[😀-😂]"]
    valid = []
    for pattern in patterns:
        try:
            translate(pattern)
        except RegexError:
            continue
        valid.append(pattern)
    return valid


def test_patterns_agree_with_python_on_every_character(page: Page) -> None:
    """Each one-character pattern, translated for ECMAScript's `su` flags, matches exactly the characters it
    matches in Python (all of ASCII, line breaks, and a few beyond)."""
    patterns = _probe_patterns()
    assert len(patterns) > 300
    texts = [chr(code) for code in range(0, 128)] + ["\u2028", "é", "ÿ", "中", "😁", "😀😀", "ab", ""]
    expected = [[translate(p).compile().fullmatch(text) is not None for text in texts] for p in patterns]
    sources = [ecmascript_pattern(translate(p)) for p in patterns]
    open_script(page)
    got = page.evaluate("""(input) => {
        const { sources, texts } = JSON.parse(input);
        return sources.map((source) => {
          try {
            const pattern = new RegExp(source, "su");
            return texts.map((text) => pattern.test(text));
          } catch (error) {
            return String(error);
          }
        });
    }""", json.dumps({"sources": sources, "texts": texts}))
    differences = [
        f"{p!r} as {s!r}: {g if isinstance(g, str) else [t for t, a, b in zip(texts, g, e, strict=True) if a != b]}"
        for p, s, g, e in zip(patterns, sources, got, expected, strict=True) if g != e
    ]
    assert not differences, "\n".join(differences)


NUMBERS_ENV = {
    "attributes": {"score": {"type": "number", "integer": False}, "ratio": {"type": "number", "integer": False},
                   "count": {"type": "number", "integer": True}},
    "patterns": {"mt": {}, "imt": {}},
}


@pytest.mark.parametrize(("facts", "condition", "expected"), [
    ("{score: 1e21, ratio: decimal('1000000000000000000000')}", {"score": {"$m": "ratio"}}, True),
    ("{score: 1e-7, ratio: decimal('0.0000001')}", {"score": {"$m": "ratio"}}, True),
    ("{score: 12.3, ratio: decimal('12.30')}", {"score": {"$m": "ratio"}}, True),
    ("{score: 0.1 + 0.2, ratio: decimal('0.3')}", {"score": {"$m": "ratio"}}, False),  # 0.30000000000000004
    ("{score: 0.30000000000000004, ratio: decimal('0.30000000000000004')}", {"score": {"$m": "ratio"}}, True),
    ("{score: -0, ratio: decimal('0.00')}", {"score": {"$m": "ratio"}}, True),
    ("{score: decimal('.5'), ratio: decimal('5.e-1')}", {"score": {"$m": "ratio"}}, True),
    ("{score: decimal('-1.5E3'), ratio: -1500}", {"score": {"$m": "ratio"}}, True),
    ("{score: decimal('+2'), ratio: 2}", {"score": {"$m": "ratio"}}, True),
    ("{count: 9007199254740993n, ratio: decimal('9007199254740993')}", {"count": {"$m": "ratio"}}, True),
    ("{count: 9007199254740993n, ratio: decimal('9007199254740992')}", {"count": {"$m": "ratio"}}, False),
    ("{score: NaN}", {"$ex": {"score": 1}}, True),  # a value, though not a number: $ex holds
    ("{score: NaN}", {"$neq": {"score": 1}}, False),
    ("{score: Infinity}", {"$gt": {"score": 1}}, False),
    # decimal('7') is an integer, as Python's json reads 7; decimal('7.0') is not: 7 / 2 truncates only for the first
    ("{score: 3, count: decimal('7')}", {"score": {"$div": {"$l": {"$m": "count"}, "$r": {"$decimal": "2"}}}}, True),
    ("{score: 3.5, count: 7}", {"score": {"$div": {"$l": {"$m": "count"}, "$r": {"$decimal": "2.0"}}}}, True),
])
def test_numbers_are_read_exactly(page: Page, facts: str, condition: Any, expected: bool) -> None:
    """JS numbers are read from their shortest decimal form, `decimal(text)` and BigInts exactly; not-a-number
    and infinities are missing numbers."""
    open_script(page)
    verdict = page.evaluate(f"""([condition, env]) => {{
        const {{ evaluate, decimal }} = window.LowcodeConditions;
        return evaluate(condition, {facts}, env);
    }}""", [condition, NUMBERS_ENV])
    assert verdict is expected


@pytest.mark.parametrize("call", [
    "decimal('')", "decimal('.')", "decimal('1,5')", "decimal('0x10')", "decimal(' 1')", "decimal(1.5)",
    "evaluate({'$eq': {'nowhere': 1}}, {}, env)",
    "evaluate({'$mt': {'score': 'a'}}, {score: 'a'}, {...env, attributes: {score: {type: 'string'}}})",
])
def test_misuse_throws(page: Page, call: str) -> None:
    """Malformed decimal text, a name the env does not know and a pattern it lacks are a page's bugs: they throw a
    TypeError that says what to do, rather than answer."""
    open_script(page)
    message = page.evaluate(f"""(env) => {{
        const {{ evaluate, decimal }} = window.LowcodeConditions;
        try {{
            {call};
        }} catch (error) {{
            return `${{error.name}}: ${{error.message}}`;
        }}
        return "no error";
    }}""", NUMBERS_ENV)
    assert re.match(r"TypeError: LowcodeConditions", message), message


def test_the_api_is_frozen(page: Page) -> None:
    """The script defines exactly evaluate and decimal on window.LowcodeConditions, and no other global."""
    page.set_content("<!doctype html><html></html>")
    before = set(page.evaluate("Object.getOwnPropertyNames(window)"))
    page.add_script_tag(path=str(SCRIPT))
    after = set(page.evaluate("Object.getOwnPropertyNames(window)"))
    assert after - before == {"LowcodeConditions"}
    assert page.evaluate("Object.isFrozen(LowcodeConditions) && Object.keys(LowcodeConditions).sort().join()") \
        == "decimal,evaluate"
