"""`indexed` fields get an expression index that list filters on the field can use."""

from __future__ import annotations

from sqlalchemy import select, text

from lowcode_platform.storage.json_fields import field_index_ddl, json_field
from lowcode_platform.storage.tables import Record


def _index_name(dialect: str) -> str:
    return field_index_ddl(dialect, "status", "text").split()[5]


def test_indexed_field_gets_an_expression_index(tenant, app):
    """Creating a tenant whose config marks lead.status indexed creates the index (once, idempotently)."""
    engine = app.extensions["lowcode"].engine
    catalog = (
        "SELECT indexname FROM pg_indexes WHERE tablename = 'records' AND schemaname = current_schema()" if engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'"
    )
    with engine.connect() as connection:
        names = set(connection.execute(text(catalog)).scalars())
    assert _index_name(engine.dialect.name) in names


def test_filter_on_an_indexed_field_uses_the_index(tenant, app):
    """The planner uses the expression index for the query a list filter builds."""
    engine = app.extensions["lowcode"].engine
    query = select(Record.id).where(Record.tenant_id == "t", Record.entity == "lead", json_field("status", "text") == "won")
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET enable_seqscan = off"))
            compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
            plan = "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {compiled}")))
        else:
            compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
            plan = "\n".join(str(row) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert _index_name(engine.dialect.name) in plan, plan
