"""Fixtures of the pool tests: `lowcode`, the command line run in-process against the test database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask.cli import ScriptInfo

from lowcode_platform import cli
from lowcode_platform.cli import main


class Lowcode:
    """Runs `lowcode ...` in-process with click's runner against the test database; disposes the engines of
    the apps it made."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.apps: list[Any] = []

    def _create_app(self) -> Any:
        app = cli._create_app()  # the command's own factory, reading the LOWCODE_* variables
        self.apps.append(app)
        return app

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=self.env, obj=ScriptInfo(create_app=self._create_app))

    def close(self) -> None:
        for app in self.apps:
            app.extensions["lowcode"].engine.dispose()


@pytest.fixture
def lowcode(database_url: str, tmp_path: Path) -> Iterator[Lowcode]:
    runner = Lowcode({"LOWCODE_DATABASE_URL": database_url, "LOWCODE_INSTANCE_DIR": str(tmp_path / "instance"),
                      "LOWCODE_TEMPLATE_PATH": ""})
    yield runner
    runner.close()
