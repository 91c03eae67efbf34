"""Fixtures of the browser tests: Debian's Chromium, driven by Playwright's sync API.

A missing Chromium or Playwright fails the run; it is never skipped (a skipped browser test would let the
browser's verdicts drift from the server's unnoticed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "install them with `apt-get install -y chromium` and `pip install -e '.[dev]'`"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the whole session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the browser tests need Playwright and Chromium, and Playwright is missing: {INSTALL}")
    if not CHROMIUM.is_file():
        pytest.fail(f"the browser tests need Playwright and Chromium, and {CHROMIUM} is missing: {INSTALL}")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context (no state shared between tests), closed after the test."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
