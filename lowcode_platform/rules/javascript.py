"""What a page needs to evaluate conditions in the browser (`web/static/conditions.js`) as `rules.python` does.

A form page embeds, as JSON: each condition as `browser_condition` writes it, the record's values as
`browser_value` writes them, and one environment from `condition_environment` (the type of every name of
the entity, and each pattern of the conditions translated to ECMAScript). The script then gives the
verdicts of `to_python` on those facts; tests/vectors/conditions.json holds both to the same answers.

Why not the condition as written: the checker rewrites some constants (a date-time becomes UTC text) and
the meaning of a number depends on how it is written (`2.0` divides as a decimal, `2` as an integer),
which JSON.parse forgets. Why not Python's regex syntax: ECMAScript's `u` mode (needed for `.` to match
one code point, as in Python) refuses identity escapes such as `\\-` or `\\@`.

Pure: no Flask, no database; the page (in `web/`) does the embedding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from lowcode_platform.rules.regex import Translated
from lowcode_platform.rules.scope import LIST, Attribute, Scope
from lowcode_platform.rules.syntax import (
    All,
    Any_,
    Arith,
    Compare,
    Condition,
    Const,
    Each,
    Exists,
    Match,
    Node,
    Operand,
)

DECIMAL = "$decimal"  # {"$decimal": "12.30"}: a number a JavaScript double cannot carry exactly
SAFE_INTEGER = 2**53  # integers below this in size survive JSON.parse exactly
# Characters ECMAScript's `u` mode lets a backslash escape (besides `-` inside a class).
SYNTAX_CHARACTERS = frozenset("^$\\.*+?()[]{}|/")
_INTEGER_LEXEME = re.compile(r"-?[0-9]+")


def ecmascript_pattern(translated: Translated) -> str:
    """The ECMAScript source (for the flags `su`) that matches exactly the values `translated` full-matches.

    The result is anchored (`^(?:...)$`; without the `m` flag these anchor at the ends of the value), so a
    page calls `new RegExp(source, "su").test(value)`.
    """
    body = translated.body
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = body[i + 1]
            if escaped == "u":  # `\uXXXX`, written by rules.regex for control characters: valid in `u` mode
                out.append(body[i:i + 6])
                i += 6
                continue
            i += 2
            if escaped in SYNTAX_CHARACTERS or (escaped == "-" and in_class):
                out.append("\\" + escaped)
            else:  # an identity escape `u` mode refuses: the character alone means itself
                out.append(_plain(escaped))
            continue
        if char == "[":  # rules.regex escapes `[` and `]` inside classes, so these open and close one
            in_class = True
        elif char == "]":
            in_class = False
        out.append(_plain(char))
        i += 1
    return f"^(?:{''.join(out)})$"


def _plain(char: str) -> str:
    """A literal character, escaped by code point when it would be invisible (line separators, lone surrogates)."""
    return char if char.isprintable() else f"\\u{{{ord(char):x}}}"


def condition_environment(conditions: Iterable[Condition], scope: Scope) -> dict[str, Any]:
    """The `env` conditions.js evaluates `conditions` (checked against `scope`) with; JSON-ready."""
    patterns: dict[str, dict[str, str]] = {"mt": {}, "imt": {}}
    for condition in conditions:
        for match in _matches(condition.node):
            kind = "imt" if match.regex.ignore_case else "mt"
            patterns[kind][match.regex.source] = ecmascript_pattern(match.regex)
    attributes = {name: _attribute(attribute) for name, attribute in scope.attributes.items()}
    return {"attributes": attributes, "patterns": patterns}


def _attribute(attribute: Attribute) -> dict[str, Any]:
    described: dict[str, Any] = {"type": attribute.type, "integer": attribute.integer}
    if attribute.type == LIST and attribute.item is not None:
        described["item"] = _attribute(attribute.item)
    return described


def _matches(node: Node) -> Iterator[Match]:
    if isinstance(node, (All, Any_)):
        for child in node.children:
            yield from _matches(child)
    elif isinstance(node, Each):
        yield from _matches(node.condition)
    elif isinstance(node, Match):
        yield node


def browser_condition(condition: Condition) -> Any:
    """The condition as conditions.js reads it: its checked tree written back as a JSON document.

    It means what the condition means (`parse_condition` reads it back to the same tree): date-time
    constants are in UTC as the checker stores them, and numbers are written as `browser_value` writes them.
    """
    return _document(condition.node)


def _document(node: Node) -> Any:
    if isinstance(node, All):
        return {"$and": [_document(child) for child in node.children]}
    if isinstance(node, Any_):
        return {"$or": [_document(child) for child in node.children]}
    if isinstance(node, Compare):
        return {f"${node.op}": {node.left.name: _operand(node.right)}}
    if isinstance(node, Exists):
        return {"$ex" if node.present else "$nex": {node.attribute.name: 1}}
    if isinstance(node, Match):
        return {"$imt" if node.regex.ignore_case else "$mt": {node.attribute.name: node.regex.source}}
    assert isinstance(node, Each)
    return {"$iany" if node.quantifier == "any" else "$iall": {node.attribute.name: _document(node.condition)}}


def _operand(operand: Operand) -> Any:
    if isinstance(operand, Const):
        return browser_value(operand.value)
    if isinstance(operand, Arith):
        return {f"${operand.op}": {"$l": _operand(operand.left), "$r": _operand(operand.right)}}
    return {"$m": operand.attribute.name}


def browser_value(value: Any) -> Any:
    """`value` (facts, or a constant) ready for JSON: a number a double would change is written `{"$decimal": text}`.

    conditions.js reads a JSON number or `{"$decimal": text}` the way Python holds it: an integer (whole
    number written without a point) or a Decimal. So an integer stays a number up to 2**53; a Decimal stays
    a number only when its shortest double form is the same value and has a point (`2.0` would come back
    as the integer 2, which divides differently).
    """
    if isinstance(value, dict):
        return {key: browser_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [browser_value(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < SAFE_INTEGER else {DECIMAL: str(value)}
    if isinstance(value, Decimal) and value.is_finite():
        if value != value.to_integral_value() and Decimal(repr(float(value))) == value:
            return float(value)
        text = str(value)
        return {DECIMAL: text + ".0" if _INTEGER_LEXEME.fullmatch(text) else text}
    return value
