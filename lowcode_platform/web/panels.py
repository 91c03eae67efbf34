"""Panels of a record's edit page that other features add: pools (release, pool history), approvals."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from lowcode_platform.records.approvals import ApprovalService
from lowcode_platform.records.pools import PoolService
from lowcode_platform.records.service import RecordService
from lowcode_platform.schema import EntityDef
from lowcode_platform.web.context import WebCaller
from lowcode_platform.web.texts import text


def pool_panel(who: WebCaller, records: RecordService, entity: EntityDef, record_id: str | None,
               errors: list[str], locale: str) -> dict[str, Any] | None:
    """For an edit page: the pools its owner (or a pool admin) may release the record to, and its pool
    history (former owners, reasons, dates)."""
    if record_id is None or not who.config.pools.of(entity.key):
        return None
    pools = PoolService(records)
    row = records.get(entity.key, record_id).row
    owner = row.owner_id == who.actor.user_id
    targets = [p for p in who.config.pools.of(entity.key)
               if pools.is_member(p) and (owner or pools.is_admin(p)) and row.owner_id is not None]
    history = [_shown_event(who, event, locale) for event in pools.history(entity.key, record_id)]
    if not targets and not history:
        return None
    return {"targets": targets, "history": history, "errors": errors}


def _shown_event(who: WebCaller, event: dict[str, Any], locale: str) -> dict[str, Any]:
    """A pool event as the history table shows it: local time, and the reason in words."""
    reason = event["reason"]
    pool = who.config.pools.get(event["pool"])
    if reason is not None and pool is not None and reason in pool.reasons:
        reason = pool.reasons[reason].get(locale)
    elif reason == "protection_expired":
        reason = text("protection_expired", locale)
    elif reason is not None and reason.startswith("rule_"):
        reason = text("recycle_rule", locale, number=reason.removeprefix("rule_"))
    at = event["at"].astimezone(ZoneInfo(who.config.timezone)).strftime("%Y-%m-%d %H:%M")
    return {**event, "reason_text": reason or "", "at_local": at}


def approval_panel(who: WebCaller, records: RecordService, entity: EntityDef, record_id: str | None,
                   locale: str) -> list[dict[str, Any]]:
    """The record's approval requests, newest first (at most five), with who decided what."""
    if record_id is None or not who.config.approvals.of(entity.key):
        return []
    shown = []
    for item in ApprovalService(records).of_record(entity.key, record_id)[:5]:
        flow = who.config.approvals.get(item["flow"])
        shown.append({**item, "flow_label": flow.label.get(locale) if flow else item["flow"],
                      "mine": item["submitter_id"] == who.actor.user_id})
    return shown
