"""What a condition may name on an entity: its fields (and their parts), system fields and derived attributes.

Each name has a type the checker holds comparisons to: `string`, `number`, `boolean`, `list` (of strings)
or `object` (a money or region field, which conditions reach through its parts, e.g. `budget.amount`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from lowcode_platform.schema import EntityDef
from lowcode_platform.schema.fields import FieldDef

STRING, NUMBER, BOOLEAN, LIST, OBJECT = "string", "number", "boolean", "list", "object"

# Derived attributes: whole 24-hour days elapsed since the latest of some system timestamps (those set),
# computed from the clock.
DAYS = {
    "days_since_created": ("created_at",),
    # since the last logged activity, or since creation when none was logged
    "days_since_last_activity": ("last_activity_at", "created_at"),
    "days_in_stage": ("stage_entered_at",),
    "days_since_won": ("won_at",),
    # since the current owner got the record (claim, assignment, creation)
    "days_owned": ("owned_at",),
    # pool clocks: an owner's time runs from when they got the record, so a claim starts a fresh clock
    "days_since_follow_up": ("last_activity_at", "owned_at", "created_at"),
    "days_without_deal": ("deal_at", "owned_at", "created_at"),
}
# System fields: record columns a condition names directly.
SYSTEM = {"owner": "owner_id", "owner_team": "owner_team", "stage": "stage", "pool": "pool"}
MAX_DAYS = 36500

_STRING_TYPES = frozenset({"text", "long_text", "email", "phone", "url", "user", "reference", "enum"})


@dataclass(frozen=True)
class Attribute:
    """One name a condition may use, and what its values are."""

    name: str
    type: str
    source: str = "field"  # field | system | derived
    integer: bool = False  # numbers: whole numbers only (integer division truncates)
    format: str | None = None  # strings: date | datetime; derived numbers: days
    options: frozenset[str] | None = None  # enum values
    item: Attribute | None = None  # lists: the element

    @property
    def comparable(self) -> bool:
        return self.type in (STRING, NUMBER, BOOLEAN)

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.name.split("."))


@dataclass(frozen=True)
class Scope:
    """The names a condition on one entity may use, and the tenant's time zone (for `created_on`)."""

    entity: str
    attributes: Mapping[str, Attribute]
    timezone: str = "UTC"

    def get(self, name: str) -> Attribute | None:
        return self.attributes.get(name)


def _field_attributes(key: str, type_name: str, options: tuple[str, ...]) -> list[Attribute]:
    if type_name in _STRING_TYPES:
        return [Attribute(key, STRING, options=frozenset(options) if type_name == "enum" else None)]
    if type_name in ("date", "datetime"):
        return [Attribute(key, STRING, format=type_name)]
    if type_name == "integer":
        return [Attribute(key, NUMBER, integer=True)]
    if type_name == "decimal":
        return [Attribute(key, NUMBER)]
    if type_name == "boolean":
        return [Attribute(key, BOOLEAN)]
    if type_name == "multi_enum":
        return [Attribute(key, LIST, item=Attribute("$i", STRING, options=frozenset(options)))]
    if type_name == "money":
        return [Attribute(key, OBJECT), Attribute(f"{key}.amount", NUMBER), Attribute(f"{key}.currency", STRING)]
    if type_name == "region":
        return [Attribute(key, OBJECT), Attribute(f"{key}.province", STRING), Attribute(f"{key}.city", STRING)]
    return []


def field_attribute(field: FieldDef) -> Attribute:
    """The attribute a field's own value is (for a money or region field, the whole object)."""
    return _field_attributes(field.key, field.type, tuple(o.value for o in field.options))[0]


def entity_scope(entity: EntityDef, timezone: str = "UTC", stages: frozenset[str] | None = None) -> Scope:
    """Every name a condition on `entity` may use; `stages`: the stage keys its pipelines have, if any
    (then `stage` compares only with one of them)."""
    attributes: dict[str, Attribute] = {}
    for field in entity.fields.values():
        for attribute in _field_attributes(field.key, field.type, tuple(o.value for o in field.options)):
            attributes[attribute.name] = attribute
    for name in SYSTEM:
        attributes[name] = Attribute(name, STRING, source="system")
    if stages is not None:
        attributes["stage"] = Attribute("stage", STRING, source="system", options=stages)
    for name in DAYS:
        attributes[name] = Attribute(name, NUMBER, source="derived", integer=True, format="days")
    attributes["created_on"] = Attribute("created_on", STRING, source="derived", format="date")
    return Scope(entity.key, MappingProxyType(attributes), timezone)


def item_scope(scope: Scope, item: Attribute) -> Scope:
    """The scope of a condition on one element of a list (`$i`)."""
    return Scope(scope.entity, MappingProxyType({"$i": item}), scope.timezone)
