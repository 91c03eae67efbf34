"""The platform's error model: located, coded, localizable details and the exceptions that carry them.

Pure code yields `ErrorDetail`s for bad user data; the service layer collects them and raises one
`PlatformError`. The API renders it as problem+json, the CLI as `file#pointer: message` lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lowcode_platform.messages import render_message


@dataclass(frozen=True)
class ErrorDetail:
    """One thing wrong, located by an RFC 6901 pointer into the offending document."""

    pointer: str
    code: str
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)
    parameter: str | None = None  # set instead of a pointer when a query parameter is at fault

    @property
    def message(self) -> str:
        """The message in English."""
        return render_message(self.code, self.params, "en")

    def message_in(self, locale: str) -> str:
        """The message in `locale` (`en` or `zh`)."""
        return render_message(self.code, self.params, locale)

    def to_json(self, locale: str = "en") -> dict[str, str]:
        where: dict[str, str] = {"pointer": self.pointer}
        if self.parameter is not None:  # a query parameter; the pointer, if any, points into its value
            where = {"parameter": self.parameter, **({"pointer": self.pointer} if self.pointer else {})}
        return {**where, "code": self.code, "message": self.message_in(locale)}


def detail(pointer: str, code: str, **params: Any) -> ErrorDetail:
    """Build an `ErrorDetail`; `params` fill the message templates of `code`."""
    return ErrorDetail(pointer, code, params)


def parameter_error(parameter: str, code: str, **params: Any) -> ErrorDetail:
    """A detail about the query parameter `parameter`."""
    return ErrorDetail("", code, params, parameter)


def escape_pointer_token(token: object) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def field_of(pointer: str) -> str:
    """The first token of a pointer (the field a record error is about), unescaped; "" for the root."""
    if not pointer.startswith("/"):
        return ""
    return pointer.split("/")[1].replace("~1", "/").replace("~0", "~")


def pointer_of(path: Iterable[object]) -> str:
    """The JSON pointer of a path of keys and indexes (`("a", 0)` -> `/a/0`)."""
    return "".join("/" + escape_pointer_token(token) for token in path)


class PlatformError(Exception):
    """Base of every error the platform answers a user with."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str = "", details: Sequence[ErrorDetail] = ()) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code.replace("_", " ")
        self.details = tuple(details)


class MalformedRequestError(PlatformError):
    status = 400
    code = "malformed_request"


class AuthenticationError(PlatformError):
    status = 401
    code = "unauthenticated"


class PermissionDeniedError(PlatformError):
    status = 403
    code = "forbidden"


class NotFoundError(PlatformError):
    status = 404
    code = "not_found"


class ConflictError(PlatformError):
    status = 409
    code = "conflict"


class PreconditionRequiredError(PlatformError):
    status = 428
    code = "precondition_required"


class RecordInvalidError(PlatformError):
    status = 422
    code = "invalid_record"


class ConfigInvalidError(PlatformError):
    status = 422
    code = "invalid_config"


class ConditionInvalidError(PlatformError):
    status = 422
    code = "invalid_condition"
