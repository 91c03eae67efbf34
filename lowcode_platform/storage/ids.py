"""Identifiers: 26 characters of lower-case Crockford base32, ordered by creation time (like a ULID)."""

from __future__ import annotations

import base64
import os
import time

_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz")


def new_id() -> str:
    """A new identifier: 48 bits of milliseconds, then 80 random bits."""
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10)
    return base64.b32encode(raw)[:26].translate(_CROCKFORD).decode()
