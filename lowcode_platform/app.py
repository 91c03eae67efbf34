"""The Flask app factory: `create_app(settings)` wires storage, the config cache, the API and the web pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lowcode_platform.accounts.service import TokenCache
from lowcode_platform.configuration import ConfigCache
from lowcode_platform.settings import Settings
from lowcode_platform.storage.engine import WRITE, make_engine, make_session_factory


@dataclass
class Platform:
    """What the app shares between requests; found at `app.extensions["lowcode"]`."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    config_cache: ConfigCache = field(default_factory=ConfigCache)
    token_cache: TokenCache = field(default_factory=TokenCache)

    def __post_init__(self) -> None:
        sqlite = self.engine.dialect.name == "sqlite"
        self._write_bind = self.engine.execution_options(**WRITE) if sqlite else self.engine

    def open_session(self, *, write: bool = False) -> Session:
        """A new session; `write` makes SQLite start its transactions with BEGIN IMMEDIATE."""
        return self.sessions(bind=self._write_bind) if write else self.sessions()


def create_app(settings: Settings | None = None, **engine_options: Any) -> Flask:
    """A configured app; the database schema must exist (`lowcode db upgrade`)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    engine = make_engine(settings.database_url, **engine_options)
    app.extensions["lowcode"] = Platform(
        settings, engine, make_session_factory(engine), ConfigCache(settings.config_cache_size),
        TokenCache(settings.token_cache_seconds),
    )
    from lowcode_platform.api import register_api
    from lowcode_platform.web import register_web

    register_api(app)
    register_web(app)
    return app
