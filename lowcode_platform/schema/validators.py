"""jsonschema validators for the platform's documents, and their errors turned into `ErrorDetail`s.

Numbers arrive as `int` or `Decimal` (see `jsonutil`), so the type checker counts an integral `Decimal`
as an integer, as JSON Schema counts `1.0`. Formats are checked, as a client checking the served schema
with the same validator and format checker would.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token, pointer_of
from lowcode_platform.messages import NOWHERE


def _is_integer(checker: Any, instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    if isinstance(instance, Decimal):
        return instance.is_finite() and instance == instance.to_integral_value()
    return Draft202012Validator.TYPE_CHECKER.is_type(instance, "integer")


@functools.lru_cache(maxsize=1024)
def pattern_search(pattern: str) -> Callable[[str], re.Match[str] | None]:
    """`search` for a JSON Schema pattern with ECMAScript's meaning of `$`: the end of the text only.

    Python's `$` also matches before a final newline, so "abc\n" would pass `^abc$` here and fail in a
    browser. Every unescaped `$` outside a character class becomes `\\Z`.
    """
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append("\\Z")
            continue
        out.append(char)
    return re.compile("".join(out)).search


def ecmascript_pattern_keyword(validator: Any, pattern: str, instance: Any,
                               schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """The `pattern` keyword with `pattern_search`: as JSON Schema (ECMA-262) reads a pattern."""
    if validator.is_type(instance, "string") and pattern_search(pattern)(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


PlatformValidator = extend(
    Draft202012Validator,
    validators={"pattern": ecmascript_pattern_keyword},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)

FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER

_TYPE_WORDS = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "object": "an object", "array": "an array", "null": "null",
}


def make_validator(schema: Mapping[str, Any]) -> Any:
    """A validator for `schema` (already known to be a valid 2020-12 schema)."""
    return PlatformValidator(schema, format_checker=FORMAT_CHECKER)


def _choice(branch: Any) -> list[str]:
    """What one `oneOf` branch allows, in words: its constant, its values, or the keys of its object."""
    if not isinstance(branch, dict):
        return []
    if "const" in branch:
        return [repr(branch["const"])]
    if "enum" in branch:
        return [repr(v) for v in branch["enum"]]
    if branch.get("type") == "object" and branch.get("required"):
        return ["{" + ", ".join(f'"{key}": …' for key in branch["required"]) + "}"]
    return []


def _allowed(schema: Any) -> str:
    if isinstance(schema, dict) and "oneOf" in schema:
        choices = [_choice(branch) for branch in schema["oneOf"]]
        return ", ".join(c for found in choices for c in found) if all(choices) else ""
    if isinstance(schema, dict) and "enum" in schema:
        return ", ".join(repr(v) for v in schema["enum"])
    return ""


def translate(error: ValidationError, unknown_code: str = "unknown_field") -> Iterator[ErrorDetail]:
    """The details of one jsonschema error, each at the pointer of the value it is about."""
    pointer = pointer_of(error.absolute_path)
    keyword, value = error.validator, error.validator_value
    if "propertyNames" in error.relative_schema_path:
        yield detail(f"{pointer}/{escape_pointer_token(error.instance)}", "bad_identifier", key=error.instance)
    elif keyword == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        for key in value:
            if key not in present:
                yield detail(f"{pointer}/{escape_pointer_token(key)}", "required")
    elif keyword in {"additionalProperties", "unevaluatedProperties"}:
        known = set(error.schema.get("properties", {}))
        for key in error.instance:
            if key not in known:
                yield detail(f"{pointer}/{escape_pointer_token(key)}", unknown_code, key=key, field=key, where=NOWHERE)
    elif keyword == "type":
        expected = value if isinstance(value, str) else value[0]
        yield detail(pointer, "type", expected=_TYPE_WORDS.get(expected, expected))
    elif keyword in {"enum", "const", "oneOf", "anyOf"}:
        allowed = _allowed(error.schema) or _allowed({keyword: value} if keyword == "enum" else {})
        if keyword == "const":
            allowed = repr(value)
        if not allowed:
            yield detail(pointer, "invalid", error=error.message)
        else:
            yield detail(pointer, "invalid_option", allowed=allowed)
    elif keyword in {"minimum", "exclusiveMinimum"}:
        yield detail(pointer, "minimum", limit=value)
    elif keyword in {"maximum", "exclusiveMaximum"}:
        yield detail(pointer, "maximum", limit=value)
    elif keyword == "minLength":
        yield detail(pointer, "required" if value == 1 and error.instance == "" else "min_length", limit=value)
    elif keyword == "maxLength":
        yield detail(pointer, "max_length", limit=value)
    elif keyword == "minItems":
        yield detail(pointer, "min_items", limit=value)
    elif keyword == "maxItems":
        yield detail(pointer, "max_items", limit=value)
    elif keyword == "uniqueItems":
        yield detail(pointer, "duplicate_items")
    elif keyword == "pattern":
        yield detail(pointer, "pattern", pattern=value)
    elif keyword == "format":
        yield detail(pointer, "format", format=value)
    elif keyword in {"allOf", "if", "then"} and error.context:
        for sub in error.context:
            yield from translate(sub, unknown_code)
    else:
        yield detail(pointer, "invalid", error=error.message)


def iter_schema_errors(validator: Any, instance: Any, unknown_code: str = "unknown_field") -> Iterator[ErrorDetail]:
    """Every error of `instance`, at most one per pointer (the first one jsonschema finds there)."""
    seen: set[str] = set()
    for error in validator.iter_errors(instance):
        for found in translate(error, unknown_code):
            if found.pointer not in seen:
                seen.add(found.pointer)
                yield found
