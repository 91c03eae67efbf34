"""Per-request state: the database session, the authenticated actor and their config, the locale."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, has_request_context, request
from sqlalchemy.orm import Session

from lowcode_platform import jsonutil
from lowcode_platform.accounts.actor import Actor
from lowcode_platform.accounts.service import authenticate
from lowcode_platform.configuration import TenantConfig
from lowcode_platform.errors import AuthenticationError, MalformedRequestError, detail, escape_pointer_token
from lowcode_platform.messages import LANGUAGE_TAGS, locale_of
from lowcode_platform.storage.engine import scope_to_tenant

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Caller:
    actor: Actor
    config: TenantConfig
    session: Session


def platform() -> Any:
    return current_app.extensions["lowcode"]


def db_session() -> Session:
    """The request's session, opened on first use (write transactions for writing methods)."""
    if "db_session" not in g:
        g.db_session = platform().open_session(write=request.method in WRITE_METHODS)
    return g.db_session


def close_session(_error: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def caller() -> Caller:
    """The authenticated caller, or `AuthenticationError` (401)."""
    if "caller" in g:
        return g.caller
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send a bearer token in the Authorization header")
    session = db_session()
    found = authenticate(session, platform().config_cache, token.strip(), platform().token_cache)
    if found is None:
        raise AuthenticationError("the bearer token is not valid")
    actor, config = found
    scope_to_tenant(session, actor.tenant_id)
    g.caller = Caller(actor, config, session)
    return g.caller


def request_locale() -> str:
    """`zh` or `en`, from Accept-Language, else the tenant's default locale."""
    if not has_request_context():
        return "en"
    if "caller" in g:
        default = g.caller.config.default_locale
    else:
        default = "en"
    return locale_of(request.accept_languages.best_match(LANGUAGE_TAGS), default)


# A \u escape of NUL or of a surrogate: text that no database column (or UTF-8) can hold may follow.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def refuse_unsafe_text() -> None:
    """Answer 400 before any work when the path or query holds text no database can store or match."""
    texts = [request.path, *request.args.keys(), *request.args.values()]
    if any("\x00" in text or not _encodable(text) for text in texts):
        raise MalformedRequestError("the path or query holds text that cannot be used", [detail("", "unsafe_text")])


def json_body(optional: bool = False) -> Any:
    """The request body parsed as JSON (decimals exact); 400 when it is not JSON, 413 when too large. An
    `optional` body may be left out: then `{}`."""
    raw = request.get_data(cache=False)
    if optional and not raw.strip():
        return {}
    try:
        value = jsonutil.loads(raw or b"")
    except (jsonutil.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        message = getattr(exc, "msg", None) or str(exc)
        raise MalformedRequestError("the body is not valid JSON", [detail("", "malformed_json", error=message)]) from None
    if _SUSPECT_ESCAPE.search(raw):
        bad = next(unstorable_text(value, ""), None)
        if bad is not None:
            raise MalformedRequestError("the body holds text that cannot be stored",
                                        [detail(bad, "unstorable_text")])
    return value


def unstorable_text(value: Any, pointer: str) -> Iterator[str]:
    """Pointers of strings (keys or values) holding NUL or an unpaired surrogate."""
    if isinstance(value, str):
        if "\x00" in value or not _encodable(value):
            yield pointer
    elif isinstance(value, dict):
        for key, item in value.items():
            here = pointer + "/" + escape_pointer_token(key)
            if "\x00" in key or not _encodable(key):
                yield here
            yield from unstorable_text(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_text(item, f"{pointer}/{index}")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    response = current_app.response_class(jsonutil.dumps(value), status=status, mimetype="application/json")
    for key, val in (headers or {}).items():
        response.headers[key] = val
    return response
