"""Field patterns mean what they mean in a browser: `$` is the end of the text, not a place before a final newline."""

from __future__ import annotations

import pytest

from lowcode_platform.schema.fields import EMAIL_PATTERN
from lowcode_platform.schema.validators import pattern_search


@pytest.mark.parametrize(("pattern", "text", "matches"), [
    (r"^[0-9A-Z]{18}$", "91310000MA1FL8GQR3", True),
    (r"^[0-9A-Z]{18}$", "91310000MA1FL8GQR3\n", False),
    (r"^a$|^b$", "b\n", False),
    (r"^a[$]$", "a$", True),
    (r"^a\$$", "a$", True),
    (r"^a\\$", "a\\", True),
    (r"^a\\$", "a\\\n", False),
    (r"^[\]$]+$", "]$", True),
    (r"abc", "xabcx", True),
])
def test_dollar_is_the_end_of_the_text(pattern: str, text: str, matches: bool) -> None:
    """A pattern matches exactly where ECMAScript's RegExp would (no `$` before a trailing newline)."""
    assert (pattern_search(pattern)(text) is not None) is matches


@pytest.mark.parametrize(("address", "valid"), [
    ("li.na+crm@corp.example.cn", True),
    ("A@B.CO", True),
    ("wang..wei@example.com", False),
    (".a@example.com", False),
    ("a@example.com.", False),
    ("a@b_c.com", False),
    ("a@-b.com", False),
    ("张三@例子.中国", False),
    ("a@example.com\n", False),
])
def test_email_pattern_is_the_one_json_schema_clients_check(address: str, valid: bool) -> None:
    """Email addresses pass exactly when ajv-formats' `email` (what react-jsonschema-form checks) passes them."""
    assert (pattern_search(EMAIL_PATTERN)(address) is not None) is valid
