"""Benchmark: the funnel of a pipeline over 1,000,000 opportunities, against hand-written SQL of the same figures.

    python benchmarks/funnel.py [--scale 0.05] [--runs 5]

Cases `sqlite` and `postgresql` (seconds, lower is better; best of `--runs`):

- Data: 1,000,000 opportunities (95% of the tenant measured, 5% of another tenant with the same config;
  2% deleted), each with a random walk through a seven-stage pipeline (forward,
  sometimes skipping a stage, back, lost with a reason, reopened), about 5,000,000 `stage_history` rows in
  all, spread over two years; amounts, expected close dates, lead sources and rep probability overrides
  vary. Records and history rows are inserted with executemany in batches (no API), then `ANALYZE`d.
- Ours: `AnalyticsService.funnel("sales", {"from": ..., "to": ...})` for a tenant admin over the last
  365 days, in a session scoped to the tenant as a request's is: every figure of the funnel (per stage
  counts, amounts, weighted amounts, stalled, entered / converted / dropped, moves out with mean and
  median days; win rate, lost reasons, forecast by close month, conversion by source).
- Baseline: the same figures from literal SQL written by hand for the backend (`json_extract` on SQLite,
  `->>` and PERCENTILE_CONT on PostgreSQL), with the few lines of Python that turn its rows into figures.
  Both answers must be equal, figure by figure.

`ratio` is ours / baseline. SQLite runs on a fresh file in a temp dir; PostgreSQL (when
LOWCODE_TEST_DATABASE_URL is set) on a fresh schema of its own (`bench_funnel_<pid>`), dropped at the end.
Progress, row counts and both query plans go to stderr; the last line of stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from lowcode_platform.accounts.actor import Actor  # noqa: E402
from lowcode_platform.analytics.service import AnalyticsService, period_bounds  # noqa: E402
from lowcode_platform.configuration import TenantConfig, compile_config  # noqa: E402
from lowcode_platform.storage.engine import make_engine, make_session_factory, scope_to_tenant  # noqa: E402
from lowcode_platform.storage.ids import new_id  # noqa: E402
from lowcode_platform.storage.migrate import upgrade  # noqa: E402
from lowcode_platform.storage.tables import Record, StageChange, Tenant  # noqa: E402

SEED = 20240701
DEALS = 1_000_000
INSERT_BATCH = 10_000
PG_SCHEMA = f"bench_funnel_{os.getpid()}"  # own schema: tests may reset public meanwhile
NOW = datetime(2024, 7, 1, 4, 0, tzinfo=timezone.utc)
ZONE = "Asia/Shanghai"
PERIOD = {"from": (NOW.date() - timedelta(days=365)).isoformat(), "to": NOW.date().isoformat()}
# key, probability, rot days: the common enterprise funnel of the design notes, then won
STAGES = [("discover", 0, 14), ("qualify", 10, 14), ("develop", 20, 21), ("solution", 40, None),
          ("proof", 60, 30), ("close", 80, 10), ("won", 100, None)]
KEYS = [s[0] for s in STAGES]
OPEN = KEYS[:-1]
REASONS = ["price", "competitor", "no_budget", "timing"]
SOURCES = ["web", "referral", "event", "partner", "outbound"]


def log(message: str) -> None:
    print(f"[funnel] {message}", file=sys.stderr, flush=True)


def label(en: str) -> dict[str, str]:
    return {"en": en, "zh": en}


CONFIG: dict[str, Any] = {
    "tenant": {"name": label("Bench CRM"), "default_locale": "en", "currency": "CNY", "timezone": ZONE},
    "locales": ["en", "zh"],
    "roles": {"admin": {"label": label("Admin"), "admin": True}},
    "entities": {
        "opportunity": {
            "label": label("Opportunity"),
            "title_field": "name",
            "fields": {
                "name": {"type": "text", "label": label("Name")},
                "amount": {"type": "money", "label": label("Amount"), "currencies": ["CNY"], "min": 0},
                "expected_close_date": {"type": "date", "label": label("Expected close")},
                "source": {"type": "enum", "label": label("Source"),
                           "options": [{"value": s, "label": label(s)} for s in SOURCES]},
            },
        },
    },
    "pipelines": {"sales": {
        "entity": "opportunity", "label": label("Sales"), "won": ["won"], "allow_skip": True,
        "stages": [{"key": k, "label": label(k), "probability": p, **({"rot_days": r} if r else {}),
                    **({"terminal": True} if k == "won" else {})} for k, p, r in STAGES],
        "lost": {"reasons": [{"value": r, "label": label(r)} for r in REASONS]},
    }},
}


# -- data -----------------------------------------------------------------------------------------


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def walk(rng: random.Random, start: datetime) -> list[tuple[str | None, str, datetime, int | None, str | None]]:
    """(from, to, at, seconds in from, reason) of one deal's random walk; about 5 rows on average."""
    here, at = 0, start
    moves: list[tuple[str | None, str, datetime, int | None, str | None]] = [(None, KEYS[0], start, None, None)]
    current = KEYS[0]
    while True:
        draw = rng.random()
        if current == "won" or (current == "lost" and draw > 0.33) or (current != "lost" and draw > 0.97):
            return moves
        nxt = _ms(at + timedelta(seconds=rng.randrange(3600, 21 * 86400), milliseconds=rng.randrange(1000)))
        if nxt >= NOW:
            return moves
        reason = None
        if current == "lost":
            target = KEYS[rng.randrange(0, len(OPEN))]
        elif draw < 0.64:
            target = KEYS[min(here + (2 if rng.random() < 0.08 else 1), len(KEYS) - 1)]
        elif draw < 0.78 and here > 0:
            target = KEYS[here - 1]
        else:
            target, reason = "lost", REASONS[min(int(rng.random() ** 1.5 * len(REASONS)), len(REASONS) - 1)]
        moves.append((current, target, nxt, int((nxt - at).total_seconds()), reason))
        if target != "lost":
            here = KEYS.index(target)
        current, at = target, nxt


def generate(count: int, tenants: tuple[str, str]) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Batches of (records rows, stage_history rows): 95% of the first tenant, 5% of the second."""
    rng = random.Random(SEED)
    probabilities = {k: Decimal(p) for k, p, _ in STAGES}
    owners = [new_id() for _ in range(50)]
    records: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for n in range(count):
        tenant = tenants[1] if rng.random() < 0.05 else tenants[0]
        created = _ms(NOW - timedelta(seconds=rng.randrange(86400, 730 * 86400), milliseconds=rng.randrange(1000)))
        moves = walk(rng, created)
        record_id = f"{n:026d}"
        stage, entered = moves[-1][1], moves[-1][2]
        data: dict[str, Any] = {"name": f"Deal {n}"}
        if rng.random() < 0.92:
            data["amount"] = {"amount": Decimal(rng.randrange(1_000_00, 2_000_000_00)) / 100, "currency": "CNY"}
        if rng.random() < 0.85:
            data["expected_close_date"] = (NOW.date() + timedelta(days=rng.randrange(-90, 365))).isoformat()
        if rng.random() < 0.9:
            data["source"] = SOURCES[min(int(rng.random() ** 2 * len(SOURCES)), len(SOURCES) - 1)]
        probability = Decimal(0) if stage == "lost" else probabilities[stage]
        if stage != "lost" and rng.random() < 0.1:
            probability = Decimal(rng.randrange(0, 101))
        activity = _ms(entered + (NOW - entered) * rng.random()) if rng.random() < 0.6 else None
        records.append({
            "tenant_id": tenant, "id": record_id, "entity": "opportunity", "owner_id": rng.choice(owners),
            "pool": None, "pipeline": "sales", "stage": stage, "stage_entered_at": entered,
            "last_activity_at": activity, "won_at": entered if stage == "won" else None,
            "lost_at": entered if stage == "lost" else None, "probability": probability,
            "forecast_category": "pipeline", "created_at": created, "updated_at": entered,
            "deleted_at": NOW if rng.random() < 0.02 else None, "created_by": None, "updated_by": None,
            "version": len(moves), "config_version": 1, "data": data,
        })
        history += [{"tenant_id": tenant, "id": f"{n:020d}{i:06d}", "record_id": record_id, "entity": "opportunity",
                     "pipeline": "sales", "from_stage": f, "to_stage": t, "at": at, "seconds_in_from": s,
                     "actor_id": None, "reason": r, "comment": None, "override": False}
                    for i, (f, t, at, s, r) in enumerate(moves)]
        if len(records) == INSERT_BATCH:
            yield records, history
            records, history = [], []
    if records:
        yield records, history


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
            admin = make_engine(base.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
                connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
            admin.dispose()
            url = base.update_query_dict({"options": f"-csearch_path={PG_SCHEMA}"}).render_as_string(
                hide_password=False)
        engine = make_engine(url)
        upgrade(engine)
        return cls(backend, engine)

    def drop(self) -> None:
        self.engine.dispose()
        if self.backend == "postgresql":
            admin = make_engine(os.environ["LOWCODE_TEST_DATABASE_URL"], pool_size=1, max_overflow=0)
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            admin.dispose()


def load(database: Database, count: int) -> str:
    """Fill `records` and `stage_history`; the id of the tenant measured."""
    tenants = (new_id(), new_id())
    started = time.perf_counter()
    rows = deals = 0
    with database.engine.begin() as connection:
        connection.execute(insert(Tenant.__table__), [
            {"id": tenant, "slug": f"bench{n}", "active_version": 1, "created_at": NOW}
            for n, tenant in enumerate(tenants)])
        for records, history in generate(count, tenants):
            connection.execute(insert(Record.__table__), records)
            connection.execute(insert(StageChange.__table__), history)
            deals, rows = deals + len(records), rows + len(history)
            if deals % (INSERT_BATCH * 20) == 0:
                log(f"  loaded {deals}/{count} deals, {rows} history rows")
    with database.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    log(f"{database.backend}: {deals} deals and {rows} stage history rows loaded and analyzed "
        f"in {time.perf_counter() - started:.1f} s")
    return tenants[0]


# -- the hand-written baseline ------------------------------------------------------------------


def _quote(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def hand_written(backend: str) -> dict[str, str]:
    """The funnel's statements as a person would write them for `backend`; :tenant, :start, :end, :now_* bound."""
    pg = backend == "postgresql"
    amount = ("(data -> 'amount' ->> 'amount')::numeric" if pg else "json_extract(data, '$.amount.amount')")
    cents = f"CAST(ROUND({amount} * 100) AS BIGINT)"
    close = "data ->> 'expected_close_date'" if pg else "json_extract(data, '$.expected_close_date')"
    source = "data ->> 'source'" if pg else "json_extract(data, '$.source')"
    deals = "r.tenant_id = :tenant AND r.entity = 'opportunity' AND r.deleted_at IS NULL"
    stalled = " OR ".join(
        f"(stage = '{k}' AND stage_entered_at < :cut_{k} AND (last_activity_at IS NULL OR last_activity_at < :cut_{k}))"
        for k, _, rot in STAGES if rot)
    per_record, totals = [], []
    for i, key in enumerate(KEYS + ["lost"]):
        per_record.append(f"MIN(CASE WHEN h.to_stage = '{key}' AND h.at >= :start AND h.at < :end THEN h.at END) AS e{i}")
        totals.append(f"COUNT(e{i})")
        if key != "lost" and key != KEYS[-1]:
            per_record.append(f"MAX(CASE WHEN h.to_stage IN ({_quote(KEYS[i + 1:])}) THEN h.at END) AS b{i}")
            totals.append(f"SUM(CASE WHEN b{i} > e{i} THEN 1 ELSE 0 END)")
        if key != "lost":
            per_record.append(f"MAX(CASE WHEN h.from_stage = '{key}' AND h.to_stage = 'lost' THEN h.at END) AS l{i}")
            totals.append(f"SUM(CASE WHEN l{i} > e{i} THEN 1 ELSE 0 END)")
    history = ("FROM stage_history h JOIN records r ON r.tenant_id = h.tenant_id AND r.id = h.record_id "
               f"WHERE h.tenant_id = :tenant AND h.pipeline = 'sales' AND {deals}")
    moves = f"{history} AND h.from_stage IS NOT NULL AND h.at >= :start AND h.at < :end"
    if pg:
        durations = (f"SELECT h.from_stage, COUNT(*), SUM(h.seconds_in_from), "
                     f"PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY h.seconds_in_from) {moves} GROUP BY h.from_stage")
    else:
        durations = (f"SELECT stage, COUNT(*), SUM(s), AVG(CASE WHEN rn * 2 BETWEEN n AND n + 2 THEN s END) FROM "
                     f"(SELECT h.from_stage AS stage, h.seconds_in_from AS s, ROW_NUMBER() OVER "
                     f"(PARTITION BY h.from_stage ORDER BY h.seconds_in_from) AS rn, COUNT(*) OVER "
                     f"(PARTITION BY h.from_stage) AS n {moves}) AS m GROUP BY stage")
    sales = f"FROM records r WHERE {deals} AND r.pipeline = 'sales'"
    return {
        "snapshot": (f"SELECT stage, COUNT(*), SUM({cents}), "
                     f"SUM({cents} * CAST(ROUND(probability * 100) AS BIGINT)), "
                     f"SUM(CASE WHEN {stalled} THEN 1 ELSE 0 END) {sales} GROUP BY stage"),
        "progress": (f"SELECT {', '.join(totals)} FROM (SELECT h.record_id, {', '.join(per_record)} "
                     f"{history} AND h.at >= :start GROUP BY h.record_id) AS p"),
        "durations": durations,
        "lost_reasons": f"SELECT h.reason, COUNT(*) {history} AND h.to_stage = 'lost' AND h.at >= :start "
                        f"AND h.at < :end GROUP BY h.reason",
        "closed": (f"SELECT SUM(CASE WHEN won_at >= :start AND won_at < :end THEN 1 ELSE 0 END), "
                   f"SUM(CASE WHEN lost_at >= :start AND lost_at < :end THEN 1 ELSE 0 END), "
                   f"SUM(CASE WHEN won_at >= :start AND won_at < :end THEN {cents} END) {sales} "
                   f"AND ((won_at >= :start AND won_at < :end) OR (lost_at >= :start AND lost_at < :end))"),
        "forecast": (f"SELECT substr({close}, 1, 7) AS month, COUNT(*), SUM({cents}), "
                     f"SUM({cents} * CAST(ROUND(probability * 100) AS BIGINT)) {sales} "
                     f"AND stage IN ({_quote(OPEN)}) GROUP BY month"),
        "by_source": (f"SELECT {source} AS source, COUNT(*), SUM(CASE WHEN stage = 'won' THEN 1 ELSE 0 END), "
                      f"SUM(CASE WHEN stage = 'lost' THEN 1 ELSE 0 END), "
                      f"SUM(CASE WHEN stage = 'won' THEN {cents} END) {sales} "
                      f"AND created_at >= :start AND created_at < :end GROUP BY source"),
    }


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / whole).quantize(Decimal("0.0001"), ROUND_HALF_EVEN) if whole else None


def _money(cents: Any) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(Decimal("0.01"))


def _weighted(cent_points: Any) -> Decimal:
    return (Decimal(int(cent_points or 0)) / 1_000_000).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _days(seconds: Any, moves: int = 1) -> Decimal:
    return (Decimal(seconds) / moves / 86400).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def baseline_figures(connection: Any, statements: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
    """The figures compared with ours, from the hand-written statements."""
    snapshot = {row[0]: row for row in connection.execute(text(statements["snapshot"]), params)}
    progress = connection.execute(text(statements["progress"]), params).one()
    durations = {row[0]: row for row in connection.execute(text(statements["durations"]), params)}
    stages, column = [], 0
    for key in KEYS + ["lost"]:
        snap, moves = snapshot.get(key), durations.get(key)
        entered = int(progress[column])
        column += 1
        converted = dropped = None
        if key not in ("lost", KEYS[-1]):
            converted, column = int(progress[column] or 0), column + 1
        if key != "lost":
            dropped, column = int(progress[column] or 0), column + 1
        rot = next((r for k, _, r in STAGES if k == key), None)
        stages.append({
            "key": key, "count": int(snap[1]) if snap else 0, "amount": _money(snap[2] if snap else 0),
            "weighted_amount": _weighted(snap[3] if snap else 0),
            "stalled": (int(snap[4]) if snap else 0) if rot else None,
            "entered": entered, "converted": converted,
            "conversion_rate": _rate(converted, entered) if converted is not None else None,
            "dropped": dropped, "drop_rate": _rate(dropped, entered) if dropped is not None else None,
            "moves_out": int(moves[1]) if moves else 0,
            "avg_days": _days(moves[2], int(moves[1])) if moves else None,
            "median_days": _days(Decimal(moves[3])) if moves else None,
        })
    won, lost, won_cents = connection.execute(text(statements["closed"]), params).one()
    reasons = {row[0]: int(row[1]) for row in connection.execute(text(statements["lost_reasons"]), params)}
    months = sorted(connection.execute(text(statements["forecast"]), params), key=lambda r: (r[0] is None, r[0] or ""))
    sources = {row[0]: row for row in connection.execute(text(statements["by_source"]), params)}
    return {
        "stages": stages,
        "win_rate": {"won": int(won or 0), "lost": int(lost or 0), "won_amount": _money(won_cents)},
        "lost_reasons": {r: reasons.get(r, 0) for r in REASONS},
        "months": [{"month": m, "count": int(n), "amount": _money(c), "weighted_amount": _weighted(w)}
                   for m, n, c, w in months],
        "by_source": {v: (int(row[1]), int(row[2]), int(row[3]), _money(row[4])) for v, row in sources.items()},
    }


def our_figures(result: dict[str, Any]) -> dict[str, Any]:
    """The same figures, read from a funnel result."""
    keys = ("key", "count", "amount", "weighted_amount", "stalled", "entered", "converted", "conversion_rate",
            "dropped", "drop_rate", "moves_out", "avg_days", "median_days")
    return {
        "stages": [{k: s[k] for k in keys} for s in result["stages"]],
        "win_rate": {k: result["win_rate"][k] for k in ("won", "lost", "won_amount")},
        "lost_reasons": {r["reason"]: r["count"] for r in result["lost_reasons"]},
        "months": result["forecast"]["months"],
        "by_source": {v["value"]: (v["deals"], v["won"], v["lost"], v["won_amount"])
                      for v in result["by_source"]["values"] if v["deals"]},
    }


# -- the case -----------------------------------------------------------------------------------


def explain(connection: Any, backend: str, statement: str, params: dict[str, Any]) -> str:
    prefix = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN "
    rows = connection.execute(text(prefix + statement), params).all()
    return "\n      ".join(str(row[-1] if backend == "sqlite" else row[0]) for row in rows)


def seconds_case(name: str, ours: float, baseline: float) -> dict[str, Any]:
    log(f"{name}: ours {ours:.4f} s, baseline {baseline:.4f} s, ratio {ours / baseline:.3f}")
    return {"name": name, "unit": "s", "ours": round(ours, 4), "baseline": round(baseline, 4),
            "ratio": round(ours / baseline, 3)}


def funnel_case(backend: str, count: int, runs: int, workdir: Path) -> dict[str, Any]:
    log(f"{backend}: preparing a fresh database")
    database = Database.prepare(backend, workdir)
    try:
        tenant = load(database, count)
        config: TenantConfig = compile_config(CONFIG, 1)
        actor = Actor(tenant, new_id(), "admin", config.roles["admin"])
        sessions = make_session_factory(database.engine)
        statements = hand_written(backend)
        start, end = period_bounds(date.fromisoformat(PERIOD["from"]), date.fromisoformat(PERIOD["to"]), ZONE)
        params: dict[str, Any] = {"tenant": tenant, "start": start, "end": end}
        params.update({f"cut_{k}": NOW - timedelta(days=rot) for k, _, rot in STAGES if rot})
        if backend == "sqlite":  # text columns hold naive UTC timestamps, as UTCDateTime writes them
            params = {k: v.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                      if isinstance(v, datetime) else v for k, v in params.items()}

        def ours() -> dict[str, Any]:
            with sessions() as session:
                scope_to_tenant(session, tenant)
                return AnalyticsService(session, config, actor, clock=lambda: NOW).funnel("sales", PERIOD)

        def baseline() -> dict[str, Any]:
            with database.engine.connect() as connection:
                return baseline_figures(connection, statements, params)

        with database.engine.connect() as connection:
            for name in ("progress", "durations"):
                log(f"{backend}: plan of the hand-written {name}:\n      "
                    f"{explain(connection, backend, statements[name], params)}")

        mine, theirs = our_figures(ours()), baseline()  # also warms the caches
        for key in theirs:
            assert mine[key] == theirs[key], f"{key}: ours {mine[key]}\n  baseline {theirs[key]}"
        log(f"{backend}: both agree; stage counts {[s['count'] for s in mine['stages']]}, "
            f"entered {[s['entered'] for s in mine['stages']]}")

        best = {"ours": math.inf, "baseline": math.inf}
        steps: list[tuple[str, Callable[[], Any]]] = [("ours", ours), ("baseline", baseline)]
        for run in range(runs):
            for step_name, step in steps if run % 2 == 0 else steps[::-1]:
                started = time.perf_counter()
                step()
                spent = time.perf_counter() - started
                best[step_name] = min(best[step_name], spent)
                log(f"  run {run + 1}: {step_name} {spent:.3f} s")
        return seconds_case(backend, best["ours"], best["baseline"])
    finally:
        database.drop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of deals (default 1)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5); the best counts")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="run only this backend")
    args = parser.parse_args(argv)
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("LOWCODE_TEST_DATABASE_URL") else [])
    cases = []
    for backend in backends:
        if args.only in (None, backend):
            with tempfile.TemporaryDirectory(prefix=f"funnel_{backend}_") as folder:
                cases.append(funnel_case(backend, max(1000, round(DEALS * args.scale)), args.runs, Path(folder)))
    print(json.dumps({"benchmark": "funnel", "cases": cases}))


if __name__ == "__main__":
    main()
