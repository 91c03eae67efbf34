"""Pool endpoints: the pools a user works in, their records, claim, release, an admin's assign, transfer and
sweep, and a record's pool history."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from lowcode_platform.api.context import caller, json_body, json_response
from lowcode_platform.api.envelopes import OBJECT_BODY, ProblemSchema, RecordSchema
from lowcode_platform.errors import PermissionDeniedError
from lowcode_platform.records.pool_sweep import sweep_tenant
from lowcode_platform.records.pools import PoolService
from lowcode_platform.records.service import RecordService

blp = Blueprint("pools", __name__, url_prefix="/api/v1/pools",
                description="Pools (公海池): claim, release, assign, transfer, recycle")
history_blp = Blueprint("pool_history", __name__, url_prefix="/api/v1/records",
                        description="A record's movements through pools")


def _pools() -> PoolService:
    who = caller()
    return PoolService(RecordService(who.session, who.config, who.actor))


@blp.route("")
class Pools(MethodView):
    @blp.response(200)
    def get(self) -> Any:
        """The pools you work in, with how many records each holds, their limits and release reasons."""
        return json_response({"items": _pools().pools()})


@blp.route("/<key>/records")
class PoolRecords(MethodView):
    @blp.response(200)
    @blp.alt_response(404, schema=ProblemSchema)
    def get(self, key: str) -> Any:
        """Records in the pool (members only): personal data masked and the pool's hidden fields left out
        until claimed; `where`, `sort`, `limit` and `cursor` as for record lists."""
        page = _pools().records_in(key, request.args)
        return json_response({"items": [v.to_json() for v in page.items], "next_cursor": page.next_cursor})


@blp.route("/<key>/claim")
class Claim(MethodView):
    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(200, RecordSchema)
    @blp.alt_response(409, schema=ProblemSchema)
    def post(self, key: str) -> Any:
        """Claim `{"id"}`: 409 when someone was first, or your cap, daily claims or cooldown forbid it."""
        return json_response(_pools().claim(key, json_body()).to_json())


@blp.route("/<key>/release")
class Release(MethodView):
    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(200, RecordSchema)
    @blp.alt_response(422, schema=ProblemSchema)
    def post(self, key: str) -> Any:
        """Give `{"id", "reason", "comment"}` back to the pool (the reason is one of the pool's)."""
        return json_response(_pools().release(key, json_body()).to_json())


@blp.route("/<key>/assign")
class Assign(MethodView):
    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(200, RecordSchema)
    @blp.alt_response(403, schema=ProblemSchema)
    @blp.alt_response(409, schema=ProblemSchema)
    def post(self, key: str) -> Any:
        """Pool admins: give record `{"id"}` to user `{"to"}`, within their cap."""
        return json_response(_pools().assign(key, json_body()).to_json())


@blp.route("/<key>/transfer")
class Transfer(MethodView):
    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(200)
    @blp.alt_response(403, schema=ProblemSchema)
    @blp.alt_response(409, schema=ProblemSchema)
    def post(self, key: str) -> Any:
        """Pool admins: every record of the pool's entity that `{"from"}` owns goes to `{"to"}` (a user, within
        their cap, or null: back to the pool), all or none."""
        return json_response(_pools().transfer(key, json_body()))


@blp.route("/sweep")
class Sweep(MethodView):
    @blp.response(200)
    @blp.alt_response(403, schema=ProblemSchema)
    def post(self) -> Any:
        """Tenant admins: recycle every record that meets its pool's rule now, and send the warnings."""
        who = caller()
        if not who.actor.role.admin:
            raise PermissionDeniedError("only tenant admins may sweep the pools")
        result = sweep_tenant(who.session, who.config, who.actor.tenant_id,
                              RecordService(who.session, who.config, who.actor).clock(), who.actor.user_id)
        return json_response(result if result is not None else {"busy": True})


@history_blp.route("/<entity>/<record_id>/pool-history")
class PoolHistory(MethodView):
    @history_blp.response(200)
    @history_blp.alt_response(404, schema=ProblemSchema)
    def get(self, entity: str, record_id: str) -> Any:
        """The record's pool movements, oldest first: former owners, reasons and dates."""
        return json_response({"items": _pools().history(entity, record_id)})
