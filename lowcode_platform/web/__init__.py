"""Server-rendered pages (Jinja2, autoescaped) over the same forms and services as the API."""

from __future__ import annotations

from flask import Flask, redirect, url_for

from lowcode_platform.web import approvals, convert, pools  # noqa: F401  (their pages join the blueprint)
from lowcode_platform.web.views import bp


def register_web(app: Flask) -> None:
    """Mount the pages at /web (and send / there), with signed, HTTP-only session cookies."""
    settings = app.extensions["lowcode"].settings
    app.secret_key = settings.session_secret()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.secure_cookies, SESSION_COOKIE_NAME="lowcode_session")
    app.register_blueprint(bp)
    app.add_url_rule("/", "root", lambda: redirect(url_for("web.home")))
