"""Running the Alembic migrations (`lowcode db upgrade`) against an engine."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", "lowcode_platform.storage:migrations")
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database of `engine` up to `revision`."""
    command.upgrade(alembic_config(engine), revision)
