"""The audit log: one row per mutation, written in the transaction of the mutation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.tables import AuditEntry

_INSERT = insert(AuditEntry.__table__)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """`{field: [before, after]}` for every field whose value changed (absent is `null`)."""
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def write_audit(session: Session, *, tenant_id: str, entity: str, record_id: str, action: str,
                actor_id: str | None, at: datetime, record_version: int, config_version: int,
                changes: Mapping[str, Any]) -> None:
    """Append one audit row; the caller's transaction commits it together with the change."""
    session.connection().execute(_INSERT, {
        "tenant_id": tenant_id, "id": new_id(), "entity": entity, "record_id": record_id, "action": action,
        "actor_id": actor_id, "at": at, "record_version": record_version, "config_version": config_version,
        "changes": dict(changes),
    })
