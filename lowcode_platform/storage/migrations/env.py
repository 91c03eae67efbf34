"""Alembic environment: migrations run on the engine handed over by `lowcode_platform.storage.migrate`."""

from alembic import context

from lowcode_platform.storage.tables import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
