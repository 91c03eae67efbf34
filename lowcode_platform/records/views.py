"""What a user is shown of a record: only fields the config defines, pii masked unless the role may see it.

Pure: no session, no Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lowcode_platform.accounts.actor import Actor
from lowcode_platform.schema import EntityDef


def sees_pii(actor: Actor, owner_id: str | None) -> bool:
    """Whether `actor` sees pii fields of a record owned by `owner_id` unmasked."""
    return actor.role.pii == "all" or (actor.role.pii == "own" and owner_id == actor.user_id)


def visible_data(entity: EntityDef, data: Mapping[str, Any], unmasked: bool) -> tuple[dict[str, Any], list[str]]:
    """The record's data as shown, and the keys of the fields that were masked."""
    shown: dict[str, Any] = {}
    masked: list[str] = []
    for key, field in entity.fields.items():  # fields the config no longer defines stay stored, unshown
        if key not in data:
            continue
        value = data[key]
        if field.pii and not unmasked and value is not None:
            shown[key] = field.kind.mask(value)
            masked.append(key)
        else:
            shown[key] = value
    return shown, masked


def unmask_patch(entity: EntityDef, current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A patch where a pii field sent back exactly as it was shown masked keeps its real value."""
    kept = dict(patch)
    for key, value in patch.items():
        field = entity.fields.get(key)
        if field and field.pii and key in current and value == field.kind.mask(current[key]):
            kept[key] = current[key]
    return kept


def mask_changes(entity: EntityDef, changes: Mapping[str, list[Any]], unmasked: bool) -> dict[str, list[Any]]:
    """An audit diff as `visible_data` would show its values."""
    shown: dict[str, list[Any]] = {}
    for key, pair in changes.items():
        field = entity.fields.get(key)
        if key in ("owner_id", "pool", "stage", "override", "probability", "forecast_category", "converted",
                   "approval"):  # system
            shown[key] = list(pair)
            continue
        if field is None:
            continue
        if field.pii and not unmasked:
            shown[key] = [None if v is None else field.kind.mask(v) for v in pair]
        else:
            shown[key] = list(pair)
    return shown
