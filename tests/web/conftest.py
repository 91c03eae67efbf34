"""Fixtures of the web page tests: `browser(tenant, user)`, a test client signed in as a user."""

from tests.web.test_pages import browser  # noqa: F401 - a fixture, shared by the page tests
