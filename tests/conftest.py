"""Fixtures: every test that touches storage runs on SQLite and, when LOWCODE_TEST_DATABASE_URL is set,
on PostgreSQL too. A set variable with an unreachable server fails the run; it never skips."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from lowcode_platform.accounts.service import create_tenant, create_user
from lowcode_platform.app import create_app
from lowcode_platform.settings import Settings
from lowcode_platform.storage.engine import make_engine
from lowcode_platform.storage.migrate import upgrade
from tests.configs import crm

POSTGRES_URL = os.environ.get("LOWCODE_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]
_slugs = itertools.count(1)


def reset_postgres(url: str) -> None:
    """Empty the test database (it must be one meant for tests)."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite3'}"
    else:
        url = POSTGRES_URL
        reset_postgres(url)  # raises when the server cannot be reached: the run fails, never skips
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


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
