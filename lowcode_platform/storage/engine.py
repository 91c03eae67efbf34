"""Engines and sessions for SQLite and PostgreSQL, and tenant scoping of every ORM statement.

SQLite runs in WAL mode with a busy timeout, and a write transaction starts with `BEGIN IMMEDIATE`, so
several server processes can write without "database is locked" errors: a writer waits its turn
instead of failing when it upgrades a read lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from lowcode_platform import jsonutil
from lowcode_platform.storage.sql_functions import register_sqlite_functions
from lowcode_platform.storage.tables import TenantScoped

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE = {"sqlite_immediate": True}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` with exact JSON numbers; SQLite gets WAL, a busy timeout and immediate writes."""
    parsed = make_url(url)
    options: dict[str, Any] = {"json_serializer": jsonutil.dumps, "json_deserializer": jsonutil.loads}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    else:
        # No pre-ping (a round trip per request); connections are recycled before servers drop them.
        options.update(pool_size=5, max_overflow=10, pool_recycle=1800)
    options.update(kwargs)
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def scope_to_tenant(session: Session, tenant_id: str) -> None:
    """From now on every ORM statement of `session` sees only rows of `tenant_id`."""
    session.info["tenant_id"] = tenant_id


@event.listens_for(Session, "do_orm_execute")
def _add_tenant_criteria(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get("tenant_id")
    if tenant_id is None or state.is_column_load or state.is_relationship_load:
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)
        )


@event.listens_for(Session, "before_flush")
def _check_tenant_of_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        return
    for obj in session.new:
        if isinstance(obj, TenantScoped) and obj.tenant_id != tenant_id:
            raise AssertionError(f"a row of tenant {obj.tenant_id} was added to a session scoped to tenant {tenant_id}")
