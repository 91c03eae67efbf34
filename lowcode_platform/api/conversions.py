"""Conversion endpoints: preview a record's conversion, and convert it in one transaction."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from lowcode_platform.api.context import caller, json_body, json_response, request_locale
from lowcode_platform.api.envelopes import OBJECT_BODY, ProblemSchema
from lowcode_platform.records.conversions import ConversionService, record_lineage
from lowcode_platform.records.service import RecordService

blp = Blueprint("conversions", __name__, url_prefix="/api/v1/conversions",
                description="Lead conversion: preview, then convert into the configured targets")


def _conversions() -> ConversionService:
    who = caller()
    return ConversionService(RecordService(who.session, who.config, who.actor))


@blp.route("/<key>/<record_id>")
class Conversion(MethodView):
    @blp.response(200)
    @blp.alt_response(404, schema=ProblemSchema)
    def get(self, key: str, record_id: str) -> Any:
        """Each target prefilled by the mapping with the form to adjust it, the dedupe matches (only what you
        may see), past conversions."""
        return json_response(_conversions().preview(key, record_id, request_locale()))

    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(201)
    @blp.alt_response(202, description="The conversion waits for approval: see `approval`")
    @blp.alt_response(409, schema=ProblemSchema)
    @blp.alt_response(422, schema=ProblemSchema)
    def post(self, key: str, record_id: str) -> Any:
        """Convert: `{"targets": {name: {field: value, ..., "link": match id} | null}}` (null skips an
        optional target); all targets or none are written."""
        result = _conversions().convert(key, record_id, json_body())
        return json_response(result, 202 if "approval" in result else 201)


lineage_blp = Blueprint("lineage", __name__, url_prefix="/api/v1/records",
                        description="Lineage: what a record was converted from and into")


@lineage_blp.route("/<entity>/<record_id>/lineage")
class Lineage(MethodView):
    @lineage_blp.response(200)
    @lineage_blp.alt_response(404, schema=ProblemSchema)
    def get(self, entity: str, record_id: str) -> Any:
        """The conversions that made this record (`converted_from`) and that it made (`converted_into`)."""
        who = caller()
        return json_response(record_lineage(RecordService(who.session, who.config, who.actor), entity, record_id))
