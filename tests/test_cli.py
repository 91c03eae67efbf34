"""The `lowcode` command: config validation output, migrations, creating tenants and users."""

from __future__ import annotations

import itertools
import json
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner, Result
from flask.cli import ScriptInfo
from sqlalchemy.exc import SAWarning

from lowcode_platform import cli
from lowcode_platform.cli import main
from lowcode_platform.settings import PROJECT_TEMPLATES
from lowcode_platform.storage.engine import make_engine
from lowcode_platform.storage.tables import Base
from tests.configs import crm

TEMPLATE = PROJECT_TEMPLATES / "b2b_solution_sales"
TOKEN = re.compile(r"^lc_[A-Za-z0-9_-]{43}$")
_slugs = itertools.count(1)


def unique_slug() -> str:
    """A tenant slug no other test (or run on the shared PostgreSQL database) uses."""
    return f"cli{os.getpid()}-{next(_slugs)}"


class Lowcode:
    """Runs `lowcode ...` in-process with click's runner; keeps the apps it makes to dispose their engines."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.apps: list[Any] = []

    def _create_app(self) -> Any:
        app = cli._create_app()  # the command's own factory, reading the LOWCODE_* variables
        self.apps.append(app)
        return app

    def __call__(self, *args: str, url: str | None = None) -> Result:
        env = {**self.env, **({"LOWCODE_DATABASE_URL": url} if url else {})}
        return CliRunner().invoke(main, list(args), env=env, obj=ScriptInfo(create_app=self._create_app))

    def close(self) -> None:
        for app in self.apps:
            app.extensions["lowcode"].engine.dispose()


@pytest.fixture
def lowcode(database_url: str, tmp_path: Path) -> Iterator[Lowcode]:
    """`lowcode(*args)` runs the command against the test database and returns click's `Result`."""
    runner = Lowcode({"LOWCODE_DATABASE_URL": database_url, "LOWCODE_INSTANCE_DIR": str(tmp_path / "instance"),
                      "LOWCODE_TEMPLATE_PATH": ""})
    yield runner
    runner.close()


@pytest.fixture
def lowcode_offline(tmp_path: Path) -> Iterator[Lowcode]:
    """`lowcode(*args)` for commands that need no database (`config validate`): runs once, not per backend."""
    runner = Lowcode({"LOWCODE_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
                      "LOWCODE_INSTANCE_DIR": str(tmp_path / "instance"), "LOWCODE_TEMPLATE_PATH": ""})
    yield runner
    runner.close()


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def broken_folder(tmp_path: Path) -> Path:
    """A folder config with one error in tenant.json and one in entities/lead.json."""
    document = crm()
    entities = document.pop("entities")
    document["roles"]["admin"]["superpowers"] = True
    folder = tmp_path / "broken"
    write_json(folder / "tenant.json", document)
    entities["lead"]["views"]["all"]["columns"] = ["name", "shoe_size", "created_at"]
    for key, entity in entities.items():
        write_json(folder / "entities" / f"{key}.json", entity)
    return folder


# -- config validate --------------------------------------------------------------------------

def test_validate_accepts_the_shipped_template(lowcode_offline):
    """`config validate` exits 0 on the b2b_solution_sales template and says it is valid."""
    result = lowcode_offline("config", "validate", str(TEMPLATE))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == f"{TEMPLATE}: valid\n"


def test_validate_accepts_a_valid_single_file(lowcode_offline, tmp_path):
    """A valid config in one JSON file exits 0."""
    path = write_json(tmp_path / "crm.json", crm())
    result = lowcode_offline("config", "validate", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_validate_prints_every_error_as_file_pointer_message(lowcode_offline, broken_folder):
    """Each error is printed as FILE#POINTER: MESSAGE with the pointer into its own file; exit 1."""
    result = lowcode_offline("config", "validate", str(broken_folder))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{broken_folder}/tenant.json#/roles/admin/superpowers: unknown key 'superpowers'",
        f"{broken_folder}/entities/lead.json#/views/all/columns/1: unknown field 'shoe_size' in entity 'lead'",
    ]


def test_validate_checks_every_path_given(lowcode_offline, broken_folder, tmp_path):
    """With several paths, the valid ones pass quietly and the exit code is 1 when any has errors."""
    valid = write_json(tmp_path / "crm.json", crm())
    result = lowcode_offline("config", "validate", str(valid), str(broken_folder))
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 2
    assert f"{valid}: valid" in result.stderr


def test_validate_in_chinese(lowcode_offline, broken_folder):
    """`--lang zh` prints the same pointers with Chinese messages."""
    result = lowcode_offline("config", "validate", "--lang", "zh", str(broken_folder))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{broken_folder}/tenant.json#/roles/admin/superpowers: 未知的键 'superpowers'",
        f"{broken_folder}/entities/lead.json#/views/all/columns/1: 未知的字段 'shoe_size'（实体 'lead'）",
    ]


def test_chinese_messages_hold_no_english_phrases(lowcode_offline, broken_folder):
    """A Chinese message is Chinese throughout: no English phrase such as " in entity 'lead'" inside it."""
    result = lowcode_offline("config", "validate", "--lang", "zh", str(broken_folder))
    for line in result.stdout.splitlines():
        message = line.split(": ", 1)[1]
        assert not re.search(r"\b(in|entity|among|the)\b", message), line


def test_validate_reports_a_syntax_error_at_the_file_root(lowcode_offline, tmp_path):
    """A file that is not JSON prints `FILE#: not valid JSON: ...` and exits 1."""
    path = tmp_path / "bad.json"
    path.write_text('{"tenant": ', encoding="utf-8")
    result = lowcode_offline("config", "validate", str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{path}#: not valid JSON: Expecting value at line 1 column 12"]


def test_validate_reports_a_missing_path(lowcode_offline, tmp_path):
    """A path that does not exist is an error of that path, not a crash."""
    result = lowcode_offline("config", "validate", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{tmp_path / 'nope'}#: ")


# -- db upgrade -------------------------------------------------------------------------------

def test_db_upgrade_is_idempotent(lowcode):
    """`db upgrade` exits 0 on the already migrated test database, and again on a second run."""
    for _ in range(2):
        result = lowcode("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert "database is up to date" in result.stderr


def schema_differences(url: str) -> list[Any]:
    """What autogenerate would change to make the database of `url` match the tables' metadata."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection, warnings.catch_warnings():
            # SQLite's reflection skips the expression indexes of `indexed` fields, with a warning
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index ix_records_data_",
                                    SAWarning)
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    return [d for d in differences if not is_field_index(d)]


def is_field_index(difference: Any) -> bool:
    """An expression index a tenant's `indexed` field created: expected, and not in the metadata."""
    return (isinstance(difference, tuple) and difference[0] == "remove_index"
            and difference[1].name.startswith("ix_records_data_"))


def test_migrations_build_exactly_the_metadata(database_url):
    """The migrated test database has every table, column, index and constraint of the metadata, no more."""
    assert schema_differences(database_url) == []


def test_db_upgrade_creates_a_fresh_sqlite_database_matching_the_metadata(lowcode_offline, tmp_path):
    """`db upgrade` on a new SQLite file builds the whole schema."""
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = lowcode_offline("db", "upgrade", url=url)
    assert result.exit_code == 0, result.output
    assert schema_differences(url) == []


# -- tenants and users ------------------------------------------------------------------------

def test_tenant_and_user_created_by_the_cli_can_call_the_api(lowcode, app):
    """`tenant create` then `user create` prints the token alone on the last line, and it works."""
    slug = unique_slug()
    created = lowcode("tenant", "create", "--slug", slug, "--template", "b2b_solution_sales")
    assert created.exit_code == 0, created.output
    assert created.stdout == f"created tenant {slug}\n"
    user = lowcode("user", "create", "--tenant", slug, "--name", "Wang Lei", "--role", "sales_rep", "--team", "East")
    assert user.exit_code == 0, user.output
    token = user.stdout.splitlines()[-1]
    assert TOKEN.match(token), user.stdout
    client = app.test_client()
    me = client.get("/api/v1/meta/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.get_data(as_text=True)
    assert (me.get_json()["name"], me.get_json()["role"]) == ("Wang Lei", "sales_rep")
    entities = client.get("/api/v1/meta/entities", headers={"Authorization": f"Bearer {token}"})
    assert sorted(e["key"] for e in entities.get_json()["items"]) == [
        "activity", "contact", "customer", "lead", "opportunity", "task"]


def test_user_with_a_manager_in_the_same_team(lowcode):
    """`--manager` names an existing user; an unknown manager exits 1."""
    slug = unique_slug()
    assert lowcode("tenant", "create", "--slug", slug, "--template", "b2b_solution_sales").exit_code == 0
    boss = lowcode("user", "create", "--tenant", slug, "--name", "Li Na", "--role", "sales_manager", "--team", "East")
    assert boss.exit_code == 0, boss.output
    rep = lowcode("user", "create", "--tenant", slug, "--name", "Wang Lei", "--role", "sales_rep", "--team", "East",
                  "--manager", "Li Na")
    assert rep.exit_code == 0, rep.output
    orphan = lowcode("user", "create", "--tenant", slug, "--name", "Zhao", "--role", "sales_rep", "--manager", "Nobody")
    assert orphan.exit_code == 1
    assert "Nobody" in orphan.stderr


def test_unknown_role_exits_1_with_a_message(lowcode):
    """A role the tenant's config lacks is refused with a message naming it."""
    slug = unique_slug()
    assert lowcode("tenant", "create", "--slug", slug, "--template", "b2b_solution_sales").exit_code == 0
    result = lowcode("user", "create", "--tenant", slug, "--name", "N", "--role", "astronaut")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: unknown role 'astronaut'" in result.stderr
    assert "/role: unknown role 'astronaut'" in result.stderr


def test_duplicate_user_name_exits_1(lowcode):
    """A second user of the same name in a tenant is refused."""
    slug = unique_slug()
    assert lowcode("tenant", "create", "--slug", slug, "--template", "b2b_solution_sales").exit_code == 0
    assert lowcode("user", "create", "--tenant", slug, "--name", "N", "--role", "admin").exit_code == 0
    again = lowcode("user", "create", "--tenant", slug, "--name", "N", "--role", "admin")
    assert again.exit_code == 1
    assert "exists already" in again.stderr


def test_user_of_an_unknown_tenant_exits_1(lowcode):
    """A tenant slug that does not exist is refused with a message."""
    result = lowcode("user", "create", "--tenant", "no-such-tenant", "--name", "N", "--role", "admin")
    assert result.exit_code == 1
    assert "no-such-tenant" in result.stderr


def test_duplicate_tenant_slug_exits_1(lowcode):
    """Creating a tenant whose slug is taken exits 1 and says so."""
    slug = unique_slug()
    assert lowcode("tenant", "create", "--slug", slug, "--template", "b2b_solution_sales").exit_code == 0
    again = lowcode("tenant", "create", "--slug", slug, "--template", "b2b_solution_sales")
    assert again.exit_code == 1
    assert again.stdout == ""
    assert f"error: a tenant with slug '{slug}' exists already" in again.stderr


def test_unknown_template_exits_1(lowcode):
    """A template name that names no folder exits 1 and creates nothing."""
    slug = unique_slug()
    result = lowcode("tenant", "create", "--slug", slug, "--template", "no_such_template")
    assert result.exit_code == 1
    assert "error: no template named 'no_such_template'" in result.stderr
    user = lowcode("user", "create", "--tenant", slug, "--name", "N", "--role", "admin")
    assert user.exit_code == 1  # the tenant does not exist


def test_invalid_tenant_slug_exits_1(lowcode):
    """A slug that is not lower-case letters, digits and dashes is refused."""
    result = lowcode("tenant", "create", "--slug", "Bad Slug", "--template", "b2b_solution_sales")
    assert result.exit_code == 1
    assert "invalid tenant slug" in result.stderr


def test_tenant_from_a_broken_template_path_exits_1_with_its_errors(lowcode, broken_folder):
    """A template given as a path is checked first; its errors are printed as FILE#POINTER: MESSAGE."""
    result = lowcode("tenant", "create", "--slug", unique_slug(), "--template", str(broken_folder))
    assert result.exit_code == 1
    assert f"{broken_folder}/tenant.json#/roles/admin/superpowers: unknown key 'superpowers'" in result.stderr
