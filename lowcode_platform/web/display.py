"""Record values as list pages show them: option labels, money with its currency, regions by name."""

from __future__ import annotations

from typing import Any

from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.fields import FieldDef
from lowcode_platform.schema.regions import load_regions

MAX_COLUMNS = 6
YES_NO = {"en": ("Yes", "No"), "zh": ("是", "否")}


def list_columns(entity: EntityDef, role: str) -> list[str]:
    """The fields a list shows: the first view the role may use, else the title field and those after it."""
    for view in entity.views.values():
        if not view.roles or role in view.roles:
            columns = [c for c in view.columns if c in entity.fields]
            if columns:
                return columns[:MAX_COLUMNS]
    keys = list(entity.fields)
    if entity.title_field in keys:
        keys.remove(entity.title_field)
        keys.insert(0, entity.title_field)
    return keys[:MAX_COLUMNS]


def _option_label(field: FieldDef, value: Any, locale: str) -> str:
    for option in field.options:
        if option.value == value:
            return option.label.get(locale)
    return str(value)


def _region_name(value: dict[str, Any], locale: str) -> str:
    for province in load_regions():
        if province.code == value.get("province"):
            names = [province.name(locale)]
            for city in province.cities:
                if city.code == value.get("city"):
                    names.append(city.name(locale))
            return " / ".join(names)
    return str(value.get("province", ""))


def show_value(field: FieldDef, value: Any, locale: str) -> str:
    """The text a list cell shows for `value` (autoescaped by the template)."""
    if value is None:
        return ""
    if field.type == "enum":
        return _option_label(field, value, locale)
    if field.type == "multi_enum" and isinstance(value, list):
        return ", ".join(_option_label(field, v, locale) for v in value)
    if field.type == "boolean" and isinstance(value, bool):
        return YES_NO[locale][0 if value else 1]
    if field.type == "money" and isinstance(value, dict):
        return f"{value.get('amount')} {value.get('currency', '')}".strip()
    if field.type == "region" and isinstance(value, dict):
        return _region_name(value, locale)
    return str(value)
