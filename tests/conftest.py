"""Fixtures: every test that touches storage runs on SQLite and, when LOWCODE_TEST_DATABASE_URL is set,
on PostgreSQL too, in a schema of its own. A set variable with an unreachable server fails the run;
it never skips."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lowcode_platform.accounts.service import create_tenant, create_user
from lowcode_platform.app import create_app
from lowcode_platform.settings import Settings
from lowcode_platform.storage.engine import make_engine
from lowcode_platform.storage.migrate import upgrade
from tests.configs import crm

POSTGRES_URL = os.environ.get("LOWCODE_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]
_slugs = itertools.count(1)


@contextmanager
def private_schema(url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for this test run (so runs sharing the database cannot collide);
    yields the URL that puts it first on the search path, and drops the schema afterwards."""
    schema = f"lowcode_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(url, pool_size=1, max_overflow=0)
    with admin.begin() as connection:  # raises when the server cannot be reached: the run fails
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database of each backend."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite3'}"
        else:
            url = stack.enter_context(private_schema(POSTGRES_URL))
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    settings = Settings(database_url=database_url, instance_dir=tmp_path_factory.mktemp("instance"),
                        echo_endpoint=True)
    app = create_app(settings)
    yield app
    app.extensions["lowcode"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class TenantHandle:
    """A tenant made for one test, with a bearer token per user name."""

    slug: str
    client: FlaskClient
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}", **extra}

    def call(self, method: str, path: str, user: str = "admin", **kwargs: Any) -> Any:
        headers = {**self.headers(user), **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def create(self, entity: str, data: dict[str, Any], user: str = "admin") -> dict[str, Any]:
        response = self.call("POST", f"/api/v1/records/{entity}", user, json=data)
        assert response.status_code == 201, response.get_json()
        return response.get_json()


DEFAULT_USERS = (  # name, role, manager, team
    ("admin", "admin", None, None),
    ("boss", "manager", None, "east"),
    ("rep1", "rep", "boss", "east"),
    ("rep2", "rep", "boss", "east"),
    ("outsider", "rep", None, "west"),
    ("viewer", "viewer", None, None),
)


@pytest.fixture
def make_tenant(app: Flask, client: FlaskClient) -> Iterator[Any]:
    """`make_tenant(document=None, users=DEFAULT_USERS)` creates a tenant with users; returns a TenantHandle."""
    platform = app.extensions["lowcode"]

    def make(document: dict[str, Any] | None = None, users: tuple[Any, ...] = DEFAULT_USERS) -> TenantHandle:
        slug = f"t{os.getpid()}-{next(_slugs)}"
        now = datetime.now(timezone.utc)
        with platform.open_session(write=True) as session:
            create_tenant(session, slug=slug, document=document or crm(), author="tests", now=now)
        handle = TenantHandle(slug, client)
        for name, role, manager, team in users:
            with platform.open_session(write=True) as session:
                user, token = create_user(session, platform.config_cache, tenant_slug=slug, name=name, role=role,
                                          manager=manager, team=team, now=now)
            handle.tokens[name] = token
            handle.user_ids[name] = user.id
        return handle

    yield make


@pytest.fixture
def tenant(make_tenant: Any) -> TenantHandle:
    """A tenant with the CRM test config and the default users."""
    return make_tenant()
