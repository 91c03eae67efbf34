"""HTML form posts to record values and back: each input is named `f.<field>` (`f.<field>.<part>` for money
and region), and read by its field's type. What cannot be read becomes an error at the field's pointer.

An empty input means "no value": left out when creating, removed (null) when editing. Inputs that are
disabled (read-only fields) are not posted by browsers, so they change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import Localized
from lowcode_platform.schema.fields import FieldDef, normalize_datetime

PREFIX = "f."
INTEGER = re.compile(r"-?[0-9]{1,16}")
DECIMAL = re.compile(r"-?[0-9]{1,16}(?:\.[0-9]{1,20})?")
GROUPED = re.compile(r"-?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")  # 1,234,567.89: commas between thousands only
LOCAL_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,3})?)?")
WORDS = {
    "whole number": Localized("whole number", "整数"), "number": Localized("number", "数字"),
    "date and time": Localized("date and time", "日期时间"), "choice": Localized("choice", "选项"),
    "text": Localized("text", "文本"),
}


def input_name(key: str, part: str | None = None) -> str:
    """The name of a field's input (`f.<field>`), or of one part of it (`f.<field>.<part>`)."""
    return f"{PREFIX}{key}.{part}" if part else f"{PREFIX}{key}"


def _error(key: str, what: str) -> ErrorDetail:
    if what == "text":
        return detail(f"/{escape_pointer_token(key)}", "unstorable_text")
    return detail(f"/{escape_pointer_token(key)}", "form_value", type=WORDS[what])


def _storable(text: str) -> bool:
    """No NUL and no unpaired surrogate: text every database can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _number(text: str, field: FieldDef) -> Any:
    text = text.strip()
    if GROUPED.fullmatch(text):
        text = text.replace(",", "")
    if field.type == "integer":
        return int(text) if INTEGER.fullmatch(text) else None
    if DECIMAL.fullmatch(text):
        try:
            return Decimal(text)
        except InvalidOperation:
            return None
    return None


def _read(field: FieldDef, form: MultiDict[str, str], timezone: str) -> tuple[bool, Any, str | None]:
    """(posted, value or None for empty, the word for what it should be when it cannot be read)."""
    key, kind = field.key, field.type
    if kind in ("money", "region"):
        parts = ("amount", "currency") if kind == "money" else ("province", "city")
        names = [input_name(key, p) for p in parts]
        if not any(n in form for n in names):
            return False, None, None
        first, second = (form.get(n, "").strip() for n in names)
        if not (_storable(first) and _storable(second)):
            return True, None, "text"
        if not first:  # a city without its province is a choice left unfinished
            return True, None, "choice" if kind == "region" and second else None
        if kind == "region":
            return True, {"province": first, **({"city": second} if second else {})}, None
        amount = _number(first, field)
        return True, {"amount": amount, "currency": second} if amount is not None else None, (
            None if amount is not None else "number")
    name = input_name(key)
    if name not in form:
        return False, None, None
    if kind == "multi_enum":
        return True, [v for v in form.getlist(name) if v] or None, None
    text = form.getlist(name)[-1].replace("\r\n", "\n")  # a checkbox posts "false" then, when checked, "true"
    if not _storable(text):
        return True, None, "text"
    if kind == "boolean":
        return True, {"true": True, "false": False}.get(text), None if text in ("true", "false", "") else "choice"
    text = text if kind == "long_text" else text.strip()
    if not text:
        return True, None, None
    if kind in ("integer", "decimal"):
        value = _number(text, field)
        return True, value, None if value is not None else ("whole number" if kind == "integer" else "number")
    if kind == "datetime":
        moment = _moment(text, timezone)
        return True, moment, None if moment is not None else "date and time"
    return True, text, None


def _moment(text: str, timezone: str) -> str | None:
    """A `datetime-local` input's text, read in the tenant's time zone, as UTC; None when it is no moment."""
    if not LOCAL_DATETIME.fullmatch(text):
        return None
    try:
        local = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(timezone))
        return normalize_datetime(local.astimezone(dt_timezone.utc).isoformat())  # type: ignore[no-any-return]
    except (ValueError, OverflowError):  # February 30th, or beyond the calendar once in UTC
        return None


def read_form(fields: Iterable[FieldDef], form: MultiDict[str, str], timezone: str, *,
              editing: bool) -> tuple[dict[str, Any], list[ErrorDetail]]:
    """The values posted for `fields`, and an error for each that cannot be read."""
    data: dict[str, Any] = {}
    errors: list[ErrorDetail] = []
    for field in fields:
        posted, value, problem = _read(field, form, timezone)
        if problem is not None:
            errors.append(_error(field.key, problem))
        elif posted and (value is not None or editing):
            data[field.key] = value
    return data, errors


def input_values(fields: Iterable[FieldDef], data: Mapping[str, Any], timezone: str) -> dict[str, Any]:
    """Record values as the inputs show them (a date-time in the tenant's time zone, with seconds if any)."""
    shown: dict[str, Any] = {}
    for field in fields:
        value = data.get(field.key)
        if value is None:
            continue
        if field.type == "datetime" and isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ZoneInfo(timezone))
                precision = "milliseconds" if moment.microsecond else "seconds" if moment.second else "minutes"
                value = moment.replace(tzinfo=None).isoformat(timespec=precision)  # years before 1000 padded too
            except (ValueError, OverflowError):
                pass
        shown[field.key] = value
    return shown


def changed_values(fields: Iterable[FieldDef], data: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """What an edit page's post changes: a page saved untouched changes nothing.

    Values compare in stored form; choices as sets (their order on the page is the options' order); an
    unticked checkbox is no change to a boolean never set.
    """
    changed: dict[str, Any] = {}
    for field in fields:
        if field.key not in data:
            continue
        value, before = data[field.key], stored.get(field.key)
        normalize = field.kind.normalize
        if field.type == "multi_enum" and isinstance(before, list):
            same = set(value or ()) == set(before)
        elif field.type == "boolean":
            same = value is before or (value is False and before is None)
        elif isinstance(value, str) and isinstance(before, str) and field.type != "long_text":
            same = value == before.strip()  # inputs are read trimmed: untouched padding is no change
        else:
            same = normalize(value) == normalize(before)
        if not same:
            changed[field.key] = value
    return changed


def posted_values(fields: Iterable[FieldDef], form: MultiDict[str, str]) -> dict[str, Any]:
    """What was typed, to show again with the errors (nothing a user typed is lost)."""
    shown: dict[str, Any] = {}
    for field in fields:
        if field.type in ("money", "region"):
            parts = ("amount", "currency") if field.type == "money" else ("province", "city")
            if any(input_name(field.key, p) in form for p in parts):
                shown[field.key] = {p: form.get(input_name(field.key, p), "") for p in parts}
        elif field.type == "multi_enum":
            if input_name(field.key) in form:  # a read-only one posts nothing, not an empty choice
                shown[field.key] = [v for v in form.getlist(input_name(field.key)) if v]
        elif input_name(field.key) in form:
            text = form.getlist(input_name(field.key))[-1]
            shown[field.key] = {"true": True, "false": False}.get(text) if field.type == "boolean" else text
    return shown
