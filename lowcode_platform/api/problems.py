"""Every error the API answers is `application/problem+json` (RFC 9457) with located details."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from lowcode_platform import jsonutil
from lowcode_platform.api.context import request_locale
from lowcode_platform.errors import ErrorDetail, PlatformError

PROBLEM_TYPE = "https://lowcode-platform.dev/problems/"
logger = logging.getLogger(__name__)


def problem_response(status: int, code: str, title: str, detail_text: str = "",
                     errors: tuple[ErrorDetail, ...] = (), headers: dict[str, str] | None = None) -> Response:
    locale = request_locale()
    body: dict[str, Any] = {"type": PROBLEM_TYPE + code, "title": title, "status": status, "code": code}
    if detail_text:
        body["detail"] = detail_text
    body["errors"] = [e.to_json(locale) for e in errors]
    response = Response(jsonutil.dumps(body), status=status, mimetype="application/problem+json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _platform_error(error: PlatformError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="lowcode"'} if error.status == 401 else None
    title = error.code.replace("_", " ").capitalize()
    return problem_response(error.status, error.code, title, error.message, error.details, headers)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    code = (error.name or "error").lower().replace(" ", "_")
    headers = dict(error.get_headers()) if status == 405 else None
    if headers:
        headers.pop("Content-Type", None)
    return problem_response(status, code, error.name, error.description or "", headers=headers)


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _http_error(error)
    logger.exception("unexpected error", exc_info=error)
    return problem_response(500, "internal_error", "Internal server error",
                            "the server failed; the request was not carried out")


def register_problem_handlers(app: Flask) -> None:
    app.register_error_handler(PlatformError, _platform_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
