"""What a write derives from a record and the rules it must meet: facts, computed fields, validation rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from lowcode_platform.errors import ErrorDetail, detail
from lowcode_platform.messages import Localized
from lowcode_platform.rules.config import EntityRules
from lowcode_platform.rules.python import MISSING
from lowcode_platform.schema import EntityDef


class RecordFacts(dict):  # type: ignore[type-arg]
    """A record's fields and system values as conditions read them; `owner_team` is looked up when first read."""

    def __init__(self, data: Mapping[str, Any], system: Mapping[str, Any],
                 owner_team: Callable[[str | None], str | None]) -> None:
        super().__init__(data)
        self.update(system)
        self._owner_team = owner_team

    def get(self, key: str, default: Any = None) -> Any:
        if key == "owner_team" and key not in self:
            self[key] = self._owner_team(dict.get(self, "owner"))
        return dict.get(self, key, default)


def system_values(row: Any) -> dict[str, Any]:
    """The system values of a stored record (a `Record` or anything with its columns)."""
    return {
        "owner": row.owner_id, "stage": row.stage, "pool": row.pool, "created_at": row.created_at,
        "last_activity_at": row.last_activity_at, "stage_entered_at": row.stage_entered_at, "won_at": row.won_at,
        "owned_at": row.owned_at, "deal_at": row.deal_at,
    }


def normalized(entity: EntityDef, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with each known field in its stored form; unknown keys are kept for the schema to refuse."""
    fields = entity.fields
    return {k: fields[k].kind.normalize(v) if k in fields else v for k, v in data.items()}


def compute(rules: EntityRules, facts: RecordFacts, now: datetime) -> dict[str, Any]:
    """The values of the computed fields (absent: none), each computed fields seeing those before it."""
    values: dict[str, Any] = {}
    for computed in rules.computed:
        value = computed.value(facts, now)
        if value is MISSING:
            facts.pop(computed.key, None)
        else:
            facts[computed.key] = values[computed.key] = value
    return values


def refused_inputs(rules: EntityRules, given: Mapping[str, Any], computed: Mapping[str, Any]) -> list[ErrorDetail]:
    """Errors for values a client sent for computed fields that differ from what they compute to."""
    return [detail(f"/{key}", "computed_field") for key, value in given.items()
            if key in rules.computed_keys and computed.get(key) != value]


def broken_rules(rules: EntityRules, facts: RecordFacts, now: datetime) -> list[ErrorDetail]:
    """An error for every validation rule the record breaks, at the rule's pointer, in the rule's words."""
    return [detail(rule.pointer, "rule_failed", rule=rule.key, message=Localized(rule.message.en, rule.message.get("zh")))
            for rule in rules.validations if rule.fails(facts, now)]
