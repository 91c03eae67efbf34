"""Analytics endpoints: the funnel of a stage pipeline (figures defined in `lowcode_platform.analytics.funnel`)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from lowcode_platform.analytics.conversion import conversion_report
from lowcode_platform.analytics.service import AnalyticsService
from lowcode_platform.api.context import caller, json_response
from lowcode_platform.api.envelopes import ProblemSchema

blp = Blueprint("analytics", __name__, url_prefix="/api/v1/analytics",
                description="Funnel analytics: stage counts and amounts, conversion, time in stage, forecasts")

FUNNEL_PARAMETERS = [
    {"in": "query", "name": "from", "schema": {"type": "string", "format": "date"},
     "description": "first day of the period (in the tenant's time zone) for history figures and the win rate"},
    {"in": "query", "name": "to", "schema": {"type": "string", "format": "date"},
     "description": "last day of the period, included"},
    {"in": "query", "name": "owner", "schema": {"type": "string"}, "description": "only deals this user owns now"},
    {"in": "query", "name": "team", "schema": {"type": "string"},
     "description": "only deals owned now by members of this team (its id or name)"},
    {"in": "query", "name": "source", "schema": {"type": "string"},
     "description": "only deals with this value of the source field"},
    {"in": "query", "name": "target_amount", "schema": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
     "description": "plan coverage: the amount to sign"},
    {"in": "query", "name": "target_count", "schema": {"type": "integer", "minimum": 1},
     "description": "plan coverage: the number of deals to sign"},
    {"in": "query", "name": "amount_field", "schema": {"type": "string"},
     "description": "the deal amount: a money, decimal or integer field (default: the money field `amount`, "
                    "else the first money field, else a number field whose key contains `amount`)"},
    {"in": "query", "name": "close_field", "schema": {"type": "string"},
     "description": "the expected close date for the forecast: a date field (default: the first date field "
                    "whose key contains `close`)"},
    {"in": "query", "name": "source_field", "schema": {"type": "string"},
     "description": "the lead source: an enum field (default: `source`, else the first enum field whose key "
                    "contains `source`)"},
]


@blp.route("/funnel/<pipeline>")
class Funnel(MethodView):
    @blp.doc(parameters=FUNNEL_PARAMETERS)
    @blp.response(200)
    @blp.alt_response(400, schema=ProblemSchema)
    @blp.alt_response(403, schema=ProblemSchema)
    @blp.alt_response(404, schema=ProblemSchema)
    def get(self, pipeline: str) -> Any:
        """The pipeline's funnel over the deals the caller may read: per stage, win rate, lost reasons, forecast."""
        who = caller()
        service = AnalyticsService(who.session, who.config, who.actor)
        return json_response(service.funnel(pipeline, request.args.to_dict()))


@blp.route("/conversion/<key>")
class ConversionReport(MethodView):
    @blp.doc(parameters=[
        {"in": "query", "name": "from", "schema": {"type": "string", "format": "date"},
         "description": "first day of the period in which the leads were created"},
        {"in": "query", "name": "to", "schema": {"type": "string", "format": "date"}, "description": "last day, included"},
        {"in": "query", "name": "source_field", "schema": {"type": "string"},
         "description": "the lead source: an enum field (default `source`)"},
    ])
    @blp.response(200)
    @blp.alt_response(400, schema=ProblemSchema)
    @blp.alt_response(404, schema=ProblemSchema)
    def get(self, key: str) -> Any:
        """Conversion rate and average days to convert of the leads created in the period, by source and owner."""
        who = caller()
        return json_response(conversion_report(who.session, who.config, who.actor, key, request.args.to_dict()))
