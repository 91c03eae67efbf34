"""JSON in and out of the platform, exact for decimals.

Every JSON document the platform reads or writes goes through here: numbers with a fraction or an
exponent are parsed as `Decimal` (never as float, so money and decimal fields stay exact) and a
`Decimal` is written back as a JSON number.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import simplejson


def loads(text: str | bytes, **kwargs: Any) -> Any:
    """Parse JSON; fractional numbers become `Decimal`."""
    return simplejson.loads(text, use_decimal=True, **kwargs)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, **kwargs: Any) -> str:
    """Write JSON; `Decimal` becomes a JSON number, a datetime RFC 3339 UTC text, non-ASCII stays as it is."""
    kwargs.setdefault("ensure_ascii", False)
    return simplejson.dumps(value, use_decimal=True, default=_default, **kwargs)


JSONDecodeError = simplejson.JSONDecodeError
