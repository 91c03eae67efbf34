"""Benchmark: the pool sweep over 1,000,000 customers (about 10% due), against one hand-written UPDATE.

    python benchmarks/pool_sweep.py [--scale 0.05] [--runs 3] [--only sqlite|postgresql]

Cases `sqlite` and `postgresql` (seconds, lower is better; best of `--runs`):

- Data: 1,000,000 customers of one tenant, owned by 50 reps, generated in SQL (a recursive CTE on SQLite,
  `generate_series` on PostgreSQL), then `ANALYZE`d. Every tenth has had no follow-up for 20 days; the
  others were followed up two days ago.
- Ours: `sweep_pool` for a pool recycling after 15 days without follow-up (`days_since_follow_up`, the
  latest of the last activity, the current owner's start and creation), committed: the due customers
  leave their owners for the pool, each gets a pool event (with the rule that sent it back), and each
  former owner one outbox notification.
- Baseline: one literal UPDATE with the same effect on the records (`MAX(...)` of the three timestamps on
  SQLite, `GREATEST(...)` on PostgreSQL), committed, with no events and no notifications.
  Both must move the same number of records.

Before each timed run the records are put back (untimed). `ratio` is ours / baseline. SQLite runs on a
fresh file in a temp dir; PostgreSQL (when LOWCODE_TEST_DATABASE_URL is set) in a schema of its own
(`bench_pool_sweep_<pid>`), dropped at the end. Progress goes to stderr; the last line of stdout is the
JSON result.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from lowcode_platform.configuration import compile_config  # noqa: E402
from lowcode_platform.records.pool_sweep import sweep_pool  # noqa: E402
from lowcode_platform.storage.engine import make_engine, make_session_factory  # noqa: E402
from lowcode_platform.storage.ids import new_id  # noqa: E402
from lowcode_platform.storage.migrate import upgrade  # noqa: E402
from lowcode_platform.storage.tables import Tenant  # noqa: E402

CUSTOMERS = 1_000_000
REPS = 50
PG_SCHEMA = f"bench_pool_sweep_{os.getpid()}"
NOW = datetime(2026, 7, 1, 4, 0, tzinfo=timezone.utc)
CREATED = NOW - timedelta(days=60)
STALE = NOW - timedelta(days=20)
RECENT = NOW - timedelta(days=2)
CUTOFF = NOW - timedelta(days=15)  # 15 whole days elapsed <=> the latest stamp is at or before this


def log(message: str) -> None:
    print(f"[pool_sweep] {message}", file=sys.stderr, flush=True)


def label(en: str) -> dict[str, str]:
    return {"en": en, "zh": en}


CONFIG: dict[str, Any] = {
    "tenant": {"name": label("Bench"), "timezone": "Asia/Shanghai"},
    "roles": {"admin": {"label": label("Admin"), "admin": True},
              "rep": {"label": label("Rep"), "permissions": {"customer": {"read": True, "scope": "own"}}}},
    "entities": {"customer": {"label": label("Customer"), "title_field": "name", "fields": {
        "name": {"type": "text", "label": label("Name")},
        "level": {"type": "enum", "label": label("Level"),
                  "options": [{"value": v, "label": label(v)} for v in ("A", "B", "C")]},
        "rep": {"type": "text", "label": label("Rep")}}}},
    "pools": {"public": {"entity": "customer", "label": label("Public pool"), "members": {"roles": ["rep"]},
                         "recycle": {"rules": [{"$gte": {"days_since_follow_up": 15}}]}}},
}


class Database:
    """A fresh, migrated database: SQLite in `workdir`, or PostgreSQL in a schema of its own."""

    def __init__(self, backend: str, engine: Engine) -> None:
        self.backend = backend
        self.engine = engine

    @classmethod
    def prepare(cls, backend: str, workdir: Path) -> Database:
        if backend == "sqlite":
            url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        else:
            base = make_url(os.environ["LOWCODE_TEST_DATABASE_URL"])
            cls._admin(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE", f"CREATE SCHEMA {PG_SCHEMA}")
            url = base.update_query_dict({"options": f"-csearch_path={PG_SCHEMA}"}).render_as_string(
                hide_password=False)
        engine = make_engine(url)
        upgrade(engine)
        return cls(backend, engine)

    @staticmethod
    def _admin(*statements: str) -> None:
        admin = make_engine(os.environ["LOWCODE_TEST_DATABASE_URL"], pool_size=1, max_overflow=0)
        with admin.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
        admin.dispose()

    def drop(self) -> None:
        self.engine.dispose()
        if self.backend == "postgresql":
            self._admin(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")

    def stamp(self, moment: datetime) -> Any:
        """A moment as a bound literal of this backend (SQLite holds naive UTC text)."""
        if self.backend == "sqlite":
            return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return moment


def load(database: Database, count: int) -> str:
    """Generate the customers in SQL; the tenant's id."""
    tenant = new_id()
    pg = database.backend == "postgresql"
    series = ("SELECT n FROM generate_series(1, :count) AS n" if pg else
              "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :count) SELECT n FROM s")
    owner = "'u' || lpad((n % :reps)::text, 25, '0')" if pg else "printf('u%025d', n % :reps)"
    record_id = "'r' || lpad(n::text, 25, '0')" if pg else "printf('r%025d', n)"
    level = "(ARRAY['A','B','C'])[n % 3 + 1]" if pg else "CASE n % 3 WHEN 0 THEN 'A' WHEN 1 THEN 'B' ELSE 'C' END"
    data = (f"jsonb_build_object('name', 'Customer ' || n, 'level', {level}, 'rep', {owner})" if pg else
            f"json_object('name', 'Customer ' || n, 'level', {level}, 'rep', {owner})")
    started = time.perf_counter()
    with database.engine.begin() as connection:
        connection.execute(insert(Tenant.__table__), [{"id": tenant, "slug": "bench", "active_version": 1,
                                                       "created_at": NOW}])
        connection.execute(text(
            f"INSERT INTO records (tenant_id, id, entity, owner_id, last_activity_at, owned_at, created_at, "
            f"updated_at, version, config_version, data) SELECT :tenant, {record_id}, 'customer', {owner}, "
            f"CASE WHEN n % 10 = 0 THEN :stale ELSE :recent END, :created, :created, :created, 1, 1, {data} "
            f"FROM ({series}) AS g"),
            {"tenant": tenant, "count": count, "reps": REPS, "stale": database.stamp(STALE),
             "recent": database.stamp(RECENT), "created": database.stamp(CREATED)})
    with database.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    log(f"{database.backend}: {count} customers loaded and analyzed in {time.perf_counter() - started:.1f} s")
    return tenant


def reset(database: Database, tenant: str) -> None:
    """Every customer back with its rep, no pool events or notifications (untimed)."""
    rep = "data ->> 'rep'" if database.backend == "postgresql" else "json_extract(data, '$.rep')"
    with database.engine.begin() as connection:
        connection.execute(text(
            f"UPDATE records SET owner_id = {rep}, pool = NULL, previous_owner_id = NULL, "
            f"updated_at = :created, updated_by = NULL, version = 1 "
            f"WHERE tenant_id = :tenant AND owner_id IS NULL"),
            {"tenant": tenant, "created": database.stamp(CREATED)})
        connection.execute(text("DELETE FROM pool_events WHERE tenant_id = :tenant"), {"tenant": tenant})
        connection.execute(text("DELETE FROM outbox WHERE tenant_id = :tenant"), {"tenant": tenant})


def hand_written(database: Database) -> str:
    latest = ("GREATEST(last_activity_at, owned_at, created_at)" if database.backend == "postgresql" else
              "MAX(COALESCE(last_activity_at, created_at), COALESCE(owned_at, created_at), created_at)")
    return ("UPDATE records SET owner_id = NULL, pool = 'public', previous_owner_id = owner_id, "
            "updated_at = :now, updated_by = NULL, version = version + 1 "
            "WHERE tenant_id = :tenant AND entity = 'customer' AND owner_id IS NOT NULL AND deleted_at IS NULL "
            f"AND {latest} <= :cutoff")


def pooled(database: Database, tenant: str) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM records WHERE tenant_id = :tenant AND "
                                           "pool = 'public' AND owner_id IS NULL"), {"tenant": tenant}).scalar_one())


def sweep_case(backend: str, count: int, runs: int, workdir: Path) -> dict[str, Any]:
    log(f"{backend}: preparing a fresh database")
    database = Database.prepare(backend, workdir)
    try:
        tenant = load(database, count)
        config = compile_config(CONFIG, 1)
        pool = config.pools.pools["public"]
        sessions = make_session_factory(database.engine)
        statement = hand_written(database)

        def ours() -> int:
            with sessions() as session:
                moved = sweep_pool(session, pool, tenant, NOW)["recycled"]
                session.commit()
                return moved

        def baseline() -> int:
            with database.engine.begin() as connection:
                return int(connection.execute(text(statement), {"tenant": tenant, "now": database.stamp(NOW),
                                                                "cutoff": database.stamp(CUTOFF)}).rowcount)

        best = {"ours": math.inf, "baseline": math.inf}
        moved: dict[str, int] = {}
        for run in range(runs):
            for name, step in [("ours", ours), ("baseline", baseline)][:: 1 if run % 2 == 0 else -1]:
                reset(database, tenant)
                started = time.perf_counter()
                step()
                spent = time.perf_counter() - started
                moved[name] = pooled(database, tenant)
                best[name] = min(best[name], spent)
                log(f"  run {run + 1}: {name} {spent:.3f} s, {moved[name]} customers in the pool")
        assert moved["ours"] == moved["baseline"] == count // 10, moved
        log(f"{backend}: ours {best['ours']:.3f} s, baseline {best['baseline']:.3f} s")
        return {"name": backend, "unit": "s", "ours": round(best["ours"], 4), "baseline": round(best["baseline"], 4),
                "ratio": round(best["ours"] / best["baseline"], 3)}
    finally:
        database.drop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of customers (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each (default 3); the best counts")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="run only this backend")
    args = parser.parse_args(argv)
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("LOWCODE_TEST_DATABASE_URL") else [])
    cases = []
    for backend in backends:
        if args.only in (None, backend):
            with tempfile.TemporaryDirectory(prefix=f"pool_sweep_{backend}_") as folder:
                cases.append(sweep_case(backend, max(100, round(CUSTOMERS * args.scale)), args.runs, Path(folder)))
    print(json.dumps({"benchmark": "pool_sweep", "cases": cases}))


if __name__ == "__main__":
    main()
