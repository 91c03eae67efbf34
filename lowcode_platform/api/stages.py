"""Stage endpoints: move a record to another stage of its pipeline, read its stage history, set its forecast."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from lowcode_platform.api.context import caller, json_body, json_response
from lowcode_platform.api.envelopes import OBJECT_BODY, ProblemSchema, RecordSchema
from lowcode_platform.records.service import RecordService
from lowcode_platform.records.stages import StageService

blp = Blueprint("stages", __name__, url_prefix="/api/v1/records",
                description="Stage pipelines: moves through gates, stage history, forecasts")

MOVE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["to"],
        "properties": {
            "to": {"type": "string", "description": "a stage of the record's pipeline, or `lost`"},
            "data": {"type": "object", "description": "fields to fill on the way (checked with the record)"},
            "reason": {"type": "string", "description": "why the record was lost: one of the pipeline's reasons"},
            "comment": {"type": "string"},
            "override": {"type": "object", "properties": {"reason": {"type": "string"}},
                         "description": "admins only: move past the pipeline's rules and the gate, audited"},
        },
    }}},
}


def _stages() -> StageService:
    who = caller()
    return StageService(RecordService(who.session, who.config, who.actor))


@blp.route("/<entity>/<record_id>/stage")
class StageMove(MethodView):
    @blp.doc(requestBody=MOVE_BODY)
    @blp.response(200, RecordSchema)
    @blp.alt_response(202, schema=RecordSchema, description="The move waits for approval: see `approval`")
    @blp.alt_response(403, schema=ProblemSchema)
    @blp.alt_response(422, schema=ProblemSchema)
    def post(self, entity: str, record_id: str) -> Any:
        """Move the record to another stage; 422 lists every unmet requirement of the stage's gate; 202 when
        the move waits for approval (`approval` in the body; the record stays in its stage until approved)."""
        view = _stages().move(entity, record_id, json_body())
        return json_response(view.to_json(), 202 if view.approval is not None else 200)


@blp.route("/<entity>/<record_id>/stages")
class StageHistory(MethodView):
    @blp.response(200)
    def get(self, entity: str, record_id: str) -> Any:
        """The record's stage changes, oldest first (the first: the stage it was created in)."""
        return json_response({"items": _stages().history(entity, record_id)})


@blp.route("/<entity>/<record_id>/forecast")
class Forecast(MethodView):
    @blp.doc(requestBody=OBJECT_BODY)
    @blp.response(200, RecordSchema)
    @blp.alt_response(422, schema=ProblemSchema)
    def patch(self, entity: str, record_id: str) -> Any:
        """Set the deal's own `probability` (0-100) and `forecast_category`; the next stage change resets both."""
        return json_response(_stages().set_forecast(entity, record_id, json_body()).to_json())
