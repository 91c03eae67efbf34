"""Wiring the API into a Flask app: flask-smorest, blueprints, the docs page and problem+json handlers."""

from __future__ import annotations

from flask import Flask, send_from_directory
from flask_smorest import Api

from lowcode_platform.api import (
    analytics,
    approvals,
    automations,
    conversions,
    forms,
    meta,
    pools,
    records,
    stages,
)
from lowcode_platform.api.context import close_session, refuse_unsafe_text
from lowcode_platform.api.problems import register_problem_handlers

SWAGGER_ASSETS = "/api/docs/assets/"


def register_api(app: Flask) -> Api:
    app.config.update(
        API_TITLE="Low-code CRM platform",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_ASSETS,
        API_SPEC_OPTIONS={
            "info": {"description": "Records of tenant-defined entities behind bearer tokens. "
                                    "Errors are application/problem+json with JSON pointers."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    api = Api(app)
    api.register_blueprint(meta.blp)
    api.register_blueprint(records.blp)
    api.register_blueprint(automations.blp)
    api.register_blueprint(forms.blp)
    api.register_blueprint(stages.blp)
    api.register_blueprint(analytics.blp)
    api.register_blueprint(conversions.blp)
    api.register_blueprint(conversions.lineage_blp)
    api.register_blueprint(pools.blp)
    api.register_blueprint(pools.history_blp)
    api.register_blueprint(approvals.blp)
    api.register_blueprint(approvals.record_blp)
    _serve_swagger_assets(app)
    with app.app_context():
        meta.register_echo()
    app.before_request(refuse_unsafe_text)
    app.teardown_request(close_session)
    register_problem_handlers(app)
    return api


def _serve_swagger_assets(app: Flask) -> None:
    import swagger_ui_bundle

    folder = swagger_ui_bundle.swagger_ui_path

    def asset(filename: str):  # type: ignore[no-untyped-def]
        return send_from_directory(folder, filename, max_age=86400)

    app.add_url_rule(SWAGGER_ASSETS + "<path:filename>", "swagger_assets", asset)
