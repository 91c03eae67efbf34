"""The `lowcode` command: serve, migrate, create tenants and users, validate configs.

It only translates command lines: the work is done by the services it calls.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from lowcode_platform import jsonutil
from lowcode_platform.configuration import iter_config_errors
from lowcode_platform.errors import PlatformError
from lowcode_platform.schema import FileError, load_config
from lowcode_platform.settings import Settings

DEMO_TEMPLATE = "b2b_solution_sales"
DEMO_USERS = (  # name, role, manager, team
    ("Admin", "admin", None, None),
    ("Sales Manager", "sales_manager", None, "East"),
    ("Rep One", "sales_rep", "Sales Manager", "East"),
    ("Rep Two", "sales_rep", "Sales Manager", "East"),
)


def _create_app() -> Flask:
    from lowcode_platform.app import create_app

    return create_app(Settings.from_env())


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, load_dotenv=False)
def main() -> None:
    """Low-code CRM platform: run the server and administer tenants."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _moment(text: str) -> datetime:
    """An ISO 8601 moment with its offset, or exit 2 saying what is expected."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        click.echo(f"error: --now must be an ISO 8601 moment with an offset, e.g. 2026-05-01T09:00:00+08:00, "
                   f"not {text!r}", err=True)
        sys.exit(2)
    return moment


def _fail(error: PlatformError) -> None:
    click.echo(f"error: {error.message}", err=True)
    for item in error.details:
        click.echo(f"  {item.pointer or item.parameter or '/'}: {item.message}", err=True)
    sys.exit(1)


def _checked_config(path: Path | str, settings: Settings) -> tuple[dict[str, Any], list[FileError]]:
    loaded = load_config(path, settings.resolve_template)
    errors = list(loaded.errors) + [loaded.locate(e) for e in iter_config_errors(loaded.document)]
    return loaded.document, errors


# -- config -----------------------------------------------------------------------------------

@main.group()
def config() -> None:
    """Tenant config documents."""


@config.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", help="Language of the messages.")
def config_validate(paths: tuple[str, ...], lang: str) -> None:
    """Check config files or folders; print every error as FILE#POINTER: MESSAGE."""
    settings = Settings.from_env()
    failed = False
    for path in paths:
        _, errors = _checked_config(path, settings)
        for error in errors:
            click.echo(error.format(lang))
        failed = failed or bool(errors)
        if not errors:
            click.echo(f"{path}: valid", err=True)
    sys.exit(1 if failed else 0)


# -- db ---------------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """The database."""


@db.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Create or migrate every platform table (Alembic)."""
    from lowcode_platform.storage.migrate import upgrade

    upgrade(current_app.extensions["lowcode"].engine)
    click.echo("database is up to date", err=True)


# -- pools -----------------------------------------------------------------------------------

@main.group()
def pools() -> None:
    """Pools (公海池): the recycle sweep."""


@pools.command("sweep")
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (default: every tenant).")
@click.option("--now", "now_text", default=None, help="The moment to sweep at, ISO 8601 with an offset (default: now).")
@with_appcontext
def pools_sweep(tenant_slug: str | None, now_text: str | None) -> None:
    """Recycle every owned record that meets its pool's rule and warn owners of those due soon; prints one
    JSON line per tenant. Safe to run from several workers at once, and again."""
    from lowcode_platform.accounts.service import active_config
    from lowcode_platform.records.pool_sweep import sweep_tenant

    now = _now() if now_text is None else _moment(now_text)
    platform = current_app.extensions["lowcode"]
    for tenant_id, slug, version in _tenants(platform, tenant_slug):
        with platform.open_session(write=True) as session:
            config = active_config(session, platform.config_cache, tenant_id, version)
            result = sweep_tenant(session, config, tenant_id, now)
        line = {"tenant": slug, "busy": True} if result is None else {"tenant": slug, **result}
        click.echo(jsonutil.dumps(line))


@pools.command("backfill-deals")
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (default: every tenant).")
@with_appcontext
def pools_backfill_deals(tenant_slug: str | None) -> None:
    """Stamp the records that deals won before pools existed refer to (their customers, contacts) with the
    deal's date, so that `days_without_deal` counts from it; run once after upgrading, before the first sweep
    with a no-deal rule. Prints one JSON line per tenant."""
    from lowcode_platform.accounts.service import active_config
    from lowcode_platform.records.ownership import backfill_deals

    platform = current_app.extensions["lowcode"]
    for tenant_id, slug, version in _tenants(platform, tenant_slug):
        with platform.open_session(write=True) as session:
            config = active_config(session, platform.config_cache, tenant_id, version)
            changed = backfill_deals(session, config, tenant_id)
            session.commit()
        click.echo(jsonutil.dumps({"tenant": slug, "stamped": changed}))


# -- approvals -------------------------------------------------------------------------------

@main.group()
def approvals() -> None:
    """Approval flows: the timeout sweep."""


@approvals.command("sweep")
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (default: every tenant).")
@click.option("--now", "now_text", default=None, help="The moment to sweep at, ISO 8601 with an offset (default: now).")
@with_appcontext
def approvals_sweep(tenant_slug: str | None, now_text: str | None) -> None:
    """Escalate, approve or reject the tasks past their step's timeout; prints one JSON line per tenant.
    Safe to run from several workers at once, and again."""
    from lowcode_platform.accounts.actor import Actor
    from lowcode_platform.accounts.service import active_config
    from lowcode_platform.records.approval_sweep import sweep_approvals
    from lowcode_platform.records.service import RecordService
    from lowcode_platform.storage.engine import scope_to_tenant

    now = _now() if now_text is None else _moment(now_text)
    platform = current_app.extensions["lowcode"]
    for tenant_id, slug, version in _tenants(platform, tenant_slug):
        with platform.open_session(write=True) as session:
            config = active_config(session, platform.config_cache, tenant_id, version)
            admin = next((role for role in config.roles.values() if role.admin), None)
            if admin is None or not config.approvals.flows:
                click.echo(jsonutil.dumps({"tenant": slug, "escalated": 0, "approved": 0, "rejected": 0, "at": now}))
                continue
            scope_to_tenant(session, tenant_id)
            system = Actor(tenant_id, None, "system", admin)  # type: ignore[arg-type]  # no user: the platform
            result = sweep_approvals(RecordService(session, config, system, clock=lambda: now), now)
        click.echo(jsonutil.dumps({"tenant": slug, **result}))


def _tenants(platform: Any, slug: str | None) -> list[tuple[str, str, int]]:
    """(id, slug, active version) of the tenant named, or of every tenant with an active config."""
    from sqlalchemy import select

    from lowcode_platform.accounts.service import find_tenant
    from lowcode_platform.storage.tables import Tenant

    with platform.open_session() as session:
        try:
            tenants = [find_tenant(session, slug)] if slug else list(
                session.scalars(select(Tenant).where(Tenant.active_version.isnot(None)).order_by(Tenant.slug)))
        except PlatformError as error:
            _fail(error)
        return [(t.id, t.slug, t.active_version) for t in tenants if t.active_version is not None]


# -- tenants and users ------------------------------------------------------------------------

@main.group()
def tenant() -> None:
    """Tenants."""


def _create_tenant(platform: Any, slug: str, template: str) -> None:
    from lowcode_platform.accounts.service import create_tenant

    path = platform.settings.resolve_template(template)
    if path is None:
        click.echo(f"error: no template named {template!r}", err=True)
        sys.exit(1)
    document, errors = _checked_config(path, platform.settings)
    if errors:
        for error in errors:
            click.echo(error.format(), err=True)
        sys.exit(1)
    with platform.open_session(write=True) as session:
        create_tenant(session, slug=slug, document=document, author=f"template:{template}", now=_now())


@tenant.command("create")
@click.option("--slug", required=True, help="Short name of the tenant, e.g. acme.")
@click.option("--template", required=True, help="A folder in tenant_configs/ (or a path).")
@with_appcontext
def tenant_create(slug: str, template: str) -> None:
    """Create a tenant whose config is a template."""
    try:
        _create_tenant(current_app.extensions["lowcode"], slug, template)
    except PlatformError as error:
        _fail(error)
    click.echo(f"created tenant {slug}")


@main.group()
def user() -> None:
    """Users."""


def _create_user(platform: Any, **options: Any) -> str:
    from lowcode_platform.accounts.service import create_user

    with platform.open_session(write=True) as session:
        _, token = create_user(session, platform.config_cache, now=_now(), **options)
    return token


@user.command("create")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True)
@click.option("--manager", default=None, help="Name of the user's manager.")
@click.option("--team", default=None, help="Team name (created when new).")
@with_appcontext
def user_create(tenant_slug: str, name: str, role: str, manager: str | None, team: str | None) -> None:
    """Create a user; the last line printed is their bearer token, shown only now."""
    try:
        token = _create_user(current_app.extensions["lowcode"], tenant_slug=tenant_slug, name=name, role=role,
                             manager=manager, team=team)
    except PlatformError as error:
        _fail(error)
    click.echo(f"created user {name} ({role}) in {tenant_slug}; bearer token:")
    click.echo(token)


# -- serve ------------------------------------------------------------------------------------

@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="Worker processes.")
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker.")
@click.option("--demo", is_flag=True, help="Start on a fresh demo database with a demo tenant and users.")
def serve(host: str, port: int, workers: int, threads: int, demo: bool) -> None:
    """Run the API with gunicorn (migrating the database first)."""
    from lowcode_platform.app import create_app
    from lowcode_platform.storage.migrate import upgrade

    settings = Settings.from_env()
    if demo:
        database = settings.instance_dir / "demo.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        settings = Settings.from_env(database_url=f"sqlite:///{database}")
    app = create_app(settings)
    platform = app.extensions["lowcode"]
    upgrade(platform.engine)
    url = f"http://{host}:{port}"
    if demo:
        _create_tenant(platform, "demo", DEMO_TEMPLATE)
        click.echo(f"Demo tenant 'demo' from template {DEMO_TEMPLATE}; database {settings.database_url}")
        click.echo("Bearer tokens of the demo users:")
        for name, role, manager, team in DEMO_USERS:
            token = _create_user(platform, tenant_slug="demo", name=name, role=role, manager=manager, team=team)
            click.echo(f"  {name:<14} {role:<14} {token}")
        click.echo(f"Try: curl -H 'Authorization: Bearer <token>' {url}/api/v1/meta/entities")
    platform.engine.dispose()  # workers open their own connections after the fork
    click.echo(f"Serving on {url}  (web pages: {url}/web/sign-in, API docs: {url}/api/docs)", err=False)
    sys.stdout.flush()
    run_gunicorn(lambda: create_app(settings), host=host, port=port, workers=workers, threads=threads)


def run_gunicorn(factory: Callable[[], Flask], *, host: str, port: int, workers: int, threads: int) -> None:
    """Serve the app made by `factory` (called in each worker) with gunicorn's threaded workers."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
                "accesslog": os.environ.get("LOWCODE_ACCESS_LOG"), "timeout": 60, "keepalive": 30,
            }
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Flask:
            return factory()

    Server().run()
