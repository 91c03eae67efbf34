"""Per-request state of the web pages: the signed-in user (a token kept in the session cookie), CSRF, language.

The API authenticates each request by its bearer token and takes no cookies, so a cookie can never act
on the API's behalf; the cookie keeps only the token's hash. The pages take the cookie and refuse a form
post without the session's CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, request, session
from sqlalchemy.orm import Session

from lowcode_platform.accounts.actor import Actor
from lowcode_platform.accounts.service import authenticate, authenticate_hash
from lowcode_platform.accounts.tokens import hash_token
from lowcode_platform.configuration import TenantConfig
from lowcode_platform.messages import LANGUAGE_TAGS, LOCALES, locale_of
from lowcode_platform.storage.engine import scope_to_tenant


class SignInRequiredError(Exception):
    """No one, or a token no longer valid, is signed in: the page sends the browser to sign in."""


class CsrfError(Exception):
    """A form post without the session's CSRF token."""


@dataclass(frozen=True)
class WebCaller:
    """The signed-in user, their tenant's config, and the request's session."""

    actor: Actor
    config: TenantConfig
    session: Session


def _platform() -> Any:
    return current_app.extensions["lowcode"]


def db_session() -> Session:
    """The request's session for the pages, opened on first use (a write transaction for a POST)."""
    if "web_session" not in g:
        g.web_session = _platform().open_session(write=request.method == "POST")
    return g.web_session


def close_session(_error: BaseException | None = None) -> None:
    """Close the request's session, if one was opened."""
    opened = g.pop("web_session", None)
    if opened is not None:
        opened.close()


def find_user(token: str) -> tuple[Actor, TenantConfig] | None:
    """The user a token stands for, or None."""
    return authenticate(db_session(), _platform().config_cache, token, _platform().token_cache)


def web_caller() -> WebCaller:
    """The signed-in user, or `SignInRequiredError`."""
    if "web_caller" in g:
        return g.web_caller
    token_hash = session.get("token_hash")
    found = None
    if isinstance(token_hash, str):
        found = authenticate_hash(db_session(), _platform().config_cache, token_hash, _platform().token_cache)
    if found is None:
        session.pop("token_hash", None)
        raise SignInRequiredError()
    actor, config = found
    scope_to_tenant(db_session(), actor.tenant_id)
    g.web_caller = WebCaller(actor, config, db_session())
    return g.web_caller


def sign_in(token: str) -> None:
    """Start a new session for `token` (a fresh CSRF token; the chosen language stays)."""
    locale = session.get("locale")
    session.clear()
    if locale in LOCALES:
        session["locale"] = locale
    session["token_hash"] = hash_token(token)  # the cookie never carries the API token itself
    session["csrf"] = secrets.token_urlsafe(32)


def csrf_token() -> str:
    """The session's CSRF token (made on first use), for every form the pages render."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def check_csrf() -> None:
    """Refuse a POST whose `csrf_token` is not the session's."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfError()


def page_locale() -> str:
    """The chosen language (`?lang=` remembered in the session), else Accept-Language, else the tenant's."""
    chosen = request.args.get("lang")
    if chosen in LOCALES:
        session["locale"] = chosen
    if session.get("locale") in LOCALES:
        return str(session["locale"])
    default = g.web_caller.config.default_locale if "web_caller" in g else "en"
    return locale_of(request.accept_languages.best_match(LANGUAGE_TAGS), default)
