"""The durable_rules corpus (rulesets from durable_rules' docs and samples) through our checker and compilers.

Every rule of one pattern `{alias: condition}` (no `$not`, no correlation with other aliases, no `$s` state test, no
timer) is a candidate. Its fields' types are inferred from what the condition compares them with, an entity with
those fields is compiled, and the condition goes through `parse_condition`. What the checker refuses is counted;
what it accepts is evaluated on records with values around its constants (equal, just below, just above, missing)
by the Python predicate, by SQL (on each backend) and by durable_rules itself, which must all agree.

The corpus is read at test time, never copied into the repository: from `LOWCODE_DURABLE_CORPUS`, else from
/work/shared/reference/durable_rules_corpus. A missing corpus fails the test; it is never skipped.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lowcode_platform.configuration import compile_config
from lowcode_platform.errors import ConfigInvalidError
from lowcode_platform.rules.python import to_python
from lowcode_platform.rules.scope import entity_scope
from lowcode_platform.rules.sql import to_sql
from lowcode_platform.rules.syntax import ConditionError, parse_condition
from tests.rules.harness import SampleRecord, SqlRecords, durable_problem
from tests.rules.oracle import Oracle, OracleCrashed, OracleRefused

CORPUS = Path(os.environ.get("LOWCODE_DURABLE_CORPUS", "/work/shared/reference/durable_rules_corpus"))
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=timezone.utc)
# Measured on the corpus of 87 rulesets: 150 candidate rules, 69 distinct conditions, of which the checker accepts
# 52 (126 rules); it refuses numeric lists, `$i.x` paths, nested objects, null, and 5 regexes. The floors leave a
# little room for checker changes, and fail loudly on a lost, truncated or unreadable corpus.
MIN_CANDIDATES = 140
MIN_ACCEPTED_DISTINCT = 45
MIN_ACCEPTED_RULES = 110

COMPARISONS = ("$eq", "$neq", "$lt", "$lte", "$gt", "$gte")
ARITHMETIC = ("$add", "$sub", "$mul", "$div")
TIMER_KEYS = ("$t", "$timerName", "$time", "$baseTime")
KEY = re.compile(r"^[a-z][a-z0-9_]*$")
# Strings tried in every string field: the corpus' regexes are about greetings, URLs, card names and numbers in text.
SAMPLE_STRINGS = ("", "a", "hello", "Hello", "helloWorld", "sayhello", "HELLO", "three", "threeX", "four", "approve",
                  "https://github.com/jruizgit/rules", "www.google.com", "http://x.org/a_b/c-d/", "10.500000",
                  "10x500000", "5", "false", "nil", "World")


def _load() -> dict[str, dict[str, Any]]:
    """Every ruleset of the corpus by file and name; fails (never skips) when the corpus is not there."""
    if not CORPUS.is_dir():
        pytest.fail(f"the durable_rules corpus is not at {CORPUS}: set LOWCODE_DURABLE_CORPUS to the directory that "
                    "holds its *.json files (in the shared reference material, durable_rules_corpus/)")
    rulesets: dict[str, dict[str, Any]] = {}
    for path in sorted(CORPUS.glob("*.json")):
        for name, ruleset in json.loads(path.read_text(encoding="utf-8")).items():
            rulesets[f"{path.name}:{name}"] = ruleset
    if not rulesets:
        pytest.fail(f"the durable_rules corpus at {CORPUS} holds no rulesets")
    return rulesets


def _rules(node: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """The rules inside a ruleset, statechart (`x$state`: states -> triggers) or flowchart (`x$flow`: stages -> to)."""
    if not isinstance(node, dict):
        return []
    if isinstance(node.get("all"), list) or isinstance(node.get("any"), list):
        return [(where, node)]
    return [rule for key, value in node.items() for rule in _rules(value, f"{where}/{key}")]


def _keys(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in [key, *_keys(value)]]
    if isinstance(node, list):
        return [k for item in node for k in _keys(item)]
    return []


def _correlates(node: Any) -> bool:
    """Whether a comparison's right side names another pattern's alias (`{"first": "location"}`)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in COMPARISONS and isinstance(value, dict):
                if any(isinstance(v, dict) and v and not next(iter(v)).startswith("$") for v in value.values()):
                    return True
            elif not key.startswith("$") and isinstance(value, dict) and value and not next(iter(value)).startswith("$"):
                return True
            if _correlates(value):
                return True
    elif isinstance(node, list):
        return any(_correlates(item) for item in node)
    return False


def candidates() -> list[tuple[str, Any]]:
    return single_patterns(_load())


def single_patterns(rulesets: dict[str, Any]) -> list[tuple[str, Any]]:
    """(where, condition) of every single-pattern rule without `$not`, correlation, `$s` or timers."""
    out = []
    for name, ruleset in rulesets.items():
        for where, rule in _rules(ruleset, name):
            patterns = rule.get("all", rule.get("any"))
            if len(patterns) != 1 or not isinstance(patterns[0], dict) or len(patterns[0]) != 1:
                continue
            ((alias, condition),) = patterns[0].items()
            keys = _keys(condition)
            if "$" in alias or "$s" in keys or any(k in keys for k in TIMER_KEYS) or _correlates(condition):
                continue
            out.append((where, condition))
    return out


# -- the entity a condition implies ------------------------------------------------------------------------------------


@dataclass
class Shape:
    """What a condition tells about its fields."""

    kinds: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    constants: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    patterns: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    items: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    references: set[str] = field(default_factory=set)
    links: list[tuple[str, str]] = field(default_factory=list)

    def walk(self, node: Any, items_of: str | None = None) -> None:
        if not isinstance(node, dict) or len(node) != 1:
            return
        ((key, body),) = node.items()
        if key in ("$and", "$or"):
            for child in body if isinstance(body, list) else []:
                self.walk(child, items_of)
        elif not isinstance(body, dict) and key.startswith("$") and key not in ("$i",):
            return
        elif key in ("$ex", "$nex"):
            for path in body:
                self.kinds[path]  # noqa: B018 - known, of any type
        elif key in COMPARISONS:
            for path, value in body.items():
                self.compare(path, value, items_of)
        elif key in ("$mt", "$imt"):
            for path, pattern in body.items():
                if path.startswith("$i") and items_of:
                    self.items[items_of].append(("pattern", pattern))
                else:
                    self.kinds[path].add("string")
                    self.patterns[path].append(pattern)
        elif key in ("$iany", "$iall"):
            for path, inner in body.items():
                self.kinds[path].add("list")
                self.walk(inner, path)
        else:
            self.compare(key, body, items_of)

    def compare(self, path: str, value: Any, items_of: str | None) -> None:
        if path.startswith("$i"):
            if items_of:
                self.items[items_of].append(("constant", value))
            return
        if isinstance(value, dict) and len(value) == 1:
            ((key, body),) = value.items()
            if key == "$m" and isinstance(body, str):
                self.references.add(body)
                self.links.append((path, body))
            elif key in ARITHMETIC:
                self.kinds[path].add("number")
                self.arithmetic(body)
            return
        self.kinds[path].add(_kind(value))
        self.constants[path].append(value)

    def arithmetic(self, body: Any) -> None:
        for side in body.values() if isinstance(body, dict) else []:
            if isinstance(side, dict) and len(side) == 1:
                ((key, inner),) = side.items()
                if key == "$m" and isinstance(inner, str):
                    self.references.add(inner)
                    self.kinds[inner].add("number")
                elif key in ARITHMETIC:
                    self.arithmetic(inner)
            elif isinstance(side, float):
                self.kinds["$decimal"].add("decimal")

    def field_types(self) -> dict[str, str]:
        kinds = {path: set(found) for path, found in self.kinds.items() if not path.startswith("$")}
        for _ in range(3):  # a reference shares the type of what it is compared with
            for left, right in self.links:
                merged = kinds.setdefault(left, set()) | kinds.setdefault(right, set())
                kinds[left], kinds[right] = set(merged), set(merged)
        types = {}
        for path, found in kinds.items():
            if found <= {"integer", "number"} and found and "$decimal" not in self.kinds:
                types[path] = "integer"
            elif found and found <= {"integer", "decimal", "number"}:
                types[path] = "decimal"
            elif found == {"boolean"}:
                types[path] = "boolean"
            elif found == {"list"}:
                types[path] = "multi_enum"
            else:  # a string, or only tested for presence; a mixture is left for the checker to refuse
                types[path] = "text"
        return types


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "decimal"
    return "string" if isinstance(value, str) else "null"


def _label(text: str) -> dict[str, str]:
    return {"en": text}


def entity_for(shape: Shape) -> tuple[dict[str, Any], dict[str, str]]:
    """A config with one entity `corpus` holding the condition's fields, and the fields' types."""
    types = {path: kind for path, kind in shape.field_types().items() if KEY.match(path)}
    fields: dict[str, Any] = {"corpus_title": {"type": "text", "label": _label("Title")}}
    for path, kind in types.items():
        spec: dict[str, Any] = {"type": kind, "label": _label(path)}
        if kind == "multi_enum":
            options = [v for tag, v in shape.items[path] if tag == "constant" and isinstance(v, str) and v]
            options += ["three", "threeX", "four", "x"]
            spec["options"] = [{"value": v, "label": _label(v)} for v in dict.fromkeys(options)]
        fields[path] = spec
    config = {
        "tenant": {"name": _label("Corpus"), "default_locale": "en", "currency": "CNY"},
        "locales": ["en"],
        "roles": {"admin": {"label": _label("Admin"), "admin": True}},
        "entities": {"corpus": {"label": _label("Corpus"), "title_field": "corpus_title", "fields": fields}},
    }
    return config, types


# -- records around the constants ------------------------------------------------------------------------------------

MISSING = object()


def _values(path: str, kind: str, shape: Shape, config: dict[str, Any]) -> list[Any]:
    constants = shape.constants.get(path, [])
    if kind == "integer":
        numbers = {int(c) for c in constants if isinstance(c, (int, float)) and not isinstance(c, bool)} or {0}
        return sorted({n + d for n in numbers for d in (-1, 0, 1)})
    if kind == "decimal":
        numbers = {Decimal(str(c)) for c in constants if isinstance(c, (int, float)) and not isinstance(c, bool)}
        numbers = numbers or {Decimal(0)}
        return sorted({(n + d).quantize(Decimal("0.01")) for n in numbers for d in (Decimal(-1), Decimal("-0.25"),
                                                                                       Decimal(0), Decimal("0.25"))})
    if kind == "boolean":
        return [True, False]
    if kind == "multi_enum":
        options = [o["value"] for o in config["entities"]["corpus"]["fields"][path]["options"]]
        return [[], options[:1], options[1:3], options[-2:], list(options)]
    texts = [c for c in constants if isinstance(c, str)]
    texts += [t + "a" for t in texts] + [t[:-1] for t in texts if t]
    for pattern in shape.patterns.get(path, []):
        skeleton = re.sub(r"[^A-Za-z0-9]", "", pattern)
        texts += [skeleton, "x" + skeleton, skeleton + "x", skeleton.upper()]
    texts += SAMPLE_STRINGS
    return list(dict.fromkeys(texts))


def records_for(shape: Shape, types: dict[str, str], config: dict[str, Any], seed: str) -> list[SampleRecord]:
    """Each field's values one at a time (the others at their first value), then some random combinations; a field
    that a `$m` names is never missing (durable's answer on a missing reference target is undefined)."""
    choices = {}
    for path, kind in types.items():
        values = _values(path, kind, shape, config)
        choices[path] = values if path in shape.references else [*values, MISSING]
    base = {path: values[0] for path, values in choices.items()}
    combos = [dict(base)]
    for path, values in choices.items():
        combos += [{**base, path: value} for value in values[1:]]
    rng = random.Random(seed)
    combos += [{path: rng.choice(values) for path, values in choices.items()} for _ in range(12)]
    if not shape.references:
        combos.append({})
    out, seen = [], set()
    for combo in combos:
        data = {path: value for path, value in combo.items() if value is not MISSING}
        key = json.dumps(data, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(SampleRecord(data))
    return out


# -- the test --------------------------------------------------------------------------------------------------------


def test_corpus_conditions_agree(sql_records: SqlRecords, durable: Oracle) -> None:
    found = candidates()
    distinct: dict[str, list[str]] = {}
    for where, condition in found:
        distinct.setdefault(json.dumps(condition, sort_keys=True), []).append(where)
    accepted_rules = 0
    refused: dict[str, str] = {}
    problems: list[str] = []
    checked = 0
    for text, places in distinct.items():
        condition = json.loads(text)
        shape = Shape()
        shape.walk(condition)
        config, types = entity_for(shape)
        try:
            entity = compile_config(config, 1).entities["corpus"]
        except ConfigInvalidError as exc:
            refused[text] = f"no entity: {exc}"
            continue
        try:
            parsed = parse_condition(condition, entity_scope(entity, "UTC"))
        except ConditionError as exc:
            refused[text] = str(exc)
            continue
        accepted_rules += len(places)
        samples = records_for(shape, types, config, text)
        checked += len(samples)
        predicate = to_python(parsed)
        python = [predicate(s.facts(), NOW) for s in samples]
        (sql,) = sql_records.verdicts(samples, [lambda parsed=parsed: to_sql(parsed)(NOW)])
        try:
            oracle = durable.evaluate_many(condition, [s.event() for s in samples])
        except (OracleRefused, OracleCrashed):
            problem = durable_problem(durable, condition, [s.event() for s in samples])
            if problem:
                problems.append(f"{places[0]}: {text}\n    the checker accepts it, durable_rules does not take it: "
                                f"{problem}")
                continue
            with Oracle() as fresh:  # it refused only after other rulesets: ask a fresh worker
                oracle = fresh.evaluate_many(condition, [s.event() for s in samples])
        bad = [(s.event(), p, q, o) for s, p, q, o in zip(samples, python, sql, oracle, strict=True)
               if not p == q == o]
        if bad:
            lines = "\n".join(f"    python={p!s:5} sql={q!s:5} durable={o!s:5} {e!r}" for e, p, q, o in bad[:6])
            problems.append(f"{places[0]} (and {len(places) - 1} more rules): {text}\n{lines}")
    summary = (f"{len(found)} candidate rules, {len(distinct)} distinct conditions: {len(distinct) - len(refused)} "
               f"accepted ({accepted_rules} rules, {checked} records checked), {len(refused)} refused")
    print(summary)
    for text, reason in refused.items():
        print(f"  refused {text}: {reason[:150]}")
    assert len(found) >= MIN_CANDIDATES, summary
    assert len(distinct) - len(refused) >= MIN_ACCEPTED_DISTINCT, summary
    assert accepted_rules >= MIN_ACCEPTED_RULES, summary
    assert not problems, summary + "\n" + "\n".join(problems)


def test_corpus_location_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing corpus fails with a message naming LOWCODE_DURABLE_CORPUS (it must never be a silent skip)."""
    monkeypatch.setattr(f"{__name__}.CORPUS", tmp_path / "nowhere")
    with pytest.raises(pytest.fail.Exception, match="LOWCODE_DURABLE_CORPUS"):
        _load()
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(f"{__name__}.CORPUS", tmp_path / "empty")
    with pytest.raises(pytest.fail.Exception, match="no rulesets"):
        _load()


def test_candidate_filter() -> None:
    """Correlations, state tests, timers and `$not` patterns are left out; plain conditions are kept."""
    ruleset = {
        "a": {"all": [{"m": {"x": 1}}]},
        "b": {"all": [{"first": {"t": "p"}}, {"second": {"$neq": {"l": {"first": "l"}}}}]},
        "c": {"all": [{"m": {"$and": [{"s": "start"}, {"$s": 1}]}}]},
        "d": {"all": [{"m$not": {"$ex": {"name": 1}}}]},
        "e": {"all": [{"m": {"$t": "Timer"}}]},
        "f": {"all": [{"m": {"$neq": {"l": {"first": "l"}}}}]},
        "g": {"any": [{"m": {"$gt": {"a": {"$mul": {"$l": {"$m": "b"}, "$r": 2}}}}}]},
        "h$state": {"s": {"t_0": {"all": [{"m": {"y": "z"}}], "to": "s"}}},
    }
    kept = [where for where, _ in single_patterns({"r": ruleset})]
    assert kept == ["r/a", "r/g", "r/h$state/s/t_0"]
