"""Pool pages: a pool's records with a claim button (and, for its admins, assignment), and the release
form and pool history on an owned record's page. Every post goes through the same service as the API
(`records/pools.py`): caps, cooldowns and daily claims hold here too.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from lowcode_platform.accounts.service import list_users
from lowcode_platform.errors import PlatformError
from lowcode_platform.records.pools import PoolService
from lowcode_platform.records.service import RecordService
from lowcode_platform.web.context import WebCaller, check_csrf, page_locale, web_caller
from lowcode_platform.web.display import list_columns, show_value
from lowcode_platform.web.texts import text
from lowcode_platform.web.views import PICKER_SIZE, bp, edit_with_errors, entities_of

PAGE_SIZE = 50


def _service(who: WebCaller) -> PoolService:
    return PoolService(RecordService(who.session, who.config, who.actor))


def _messages(error: PlatformError, locale: str) -> list[str]:
    """The error's messages; one about the release reason says so."""
    return [f"{text('reason', locale)}: {e.message_in(locale)}" if e.pointer == "/reason" else e.message_in(locale)
            for e in error.details] or [error.message]


def _pool_page(key: str, errors: list[str], status: int = 200) -> Any:
    who = web_caller()
    locale = page_locale()
    pools = _service(who)
    pool = pools.pool(key)
    entity = who.config.entities[pool.entity]
    args = {k: v for k, v in request.args.items() if k in ("cursor", "sort")}
    page = pools.records_in(key, {**args, "limit": str(PAGE_SIZE)})
    columns = [c for c in list_columns(entity, who.actor.role.key) if c not in pool.hidden_fields]
    rows = [{"id": v.row.id, "cells": [show_value(entity.fields[c], v.data.get(c), locale) for c in columns]}
            for v in page.items]
    admin = pools.is_admin(pool)
    return render_template(
        "web/pool.html", locale=locale, who=who, entities=entities_of(who), pool=pool, entity=entity,
        columns=columns, rows=rows, next_cursor=page.next_cursor, errors=errors, admin=admin,
        users=list_users(who.session, who.actor.tenant_id, PICKER_SIZE) if admin else [],
        can_claim=pool.pulls), status


@bp.route("/pools/<key>")
def pool_page(key: str) -> Any:
    return _pool_page(key, [])


@bp.route("/pools/<key>/claim", methods=["POST"])
def pool_claim(key: str) -> Any:
    """Claim a record; on success its page opens, now with every field the owner sees."""
    who = web_caller()
    check_csrf()
    pools = _service(who)
    try:
        view = pools.claim(key, {"id": request.form.get("id", "")})
    except PlatformError as error:
        return _pool_page(key, _messages(error, page_locale()), error.status)
    return redirect(url_for("web.edit_page", entity=view.row.entity, record_id=view.row.id), 303)


@bp.route("/pools/<key>/assign", methods=["POST"])
def pool_assign(key: str) -> Any:
    who = web_caller()
    check_csrf()
    try:
        _service(who).assign(key, {"id": request.form.get("id", ""), "to": request.form.get("to", "")})
    except PlatformError as error:
        return _pool_page(key, _messages(error, page_locale()), error.status)
    return redirect(url_for("web.pool_page", key=key), 303)


@bp.route("/pools/<key>/release", methods=["POST"])
def pool_release(key: str) -> Any:
    """Give a record back; on an error the record's page shows it next to the release form."""
    who = web_caller()
    check_csrf()
    body = {"id": request.form.get("id", ""), "reason": request.form.get("reason") or None,
            "comment": request.form.get("comment") or None}
    pools = _service(who)
    try:
        view = pools.release(key, body)
    except PlatformError as error:
        pool = who.config.pools.get(key)
        if pool is None:
            raise
        return edit_with_errors(pool.entity, body["id"], pool_errors=_messages(error, page_locale()),
                                status=error.status)
    return redirect(url_for("web.list_page", entity=view.row.entity), 303)
