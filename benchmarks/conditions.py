"""Benchmark: evaluating tenant conditions, in Python against durable_rules and in SQL against hand-written SQL.

    python benchmarks/conditions.py [--scale 0.1] [--only python|sql]

Cases:

- `python_vs_durable` (records per second, higher is better): one CRM condition (amount, stage, region, a
  regex on the name) over 100,000 generated opportunities. Ours: the compiled predicate
  `to_python(parse_condition(condition, scope))(facts, now)` per record. Baseline: durable_rules 2.0.28,
  the same JSON condition as the one rule of a ruleset on `durable.engine.Host`, each record `post`ed as
  an event (the rule's action collects the matched ids). Both must match exactly the same records.
- `sql_<backend>` (seconds, lower is better; best of a few runs): `SELECT count(*)` over 1,000,000
  records (5% of another tenant, 5% of another entity) with a condition that has a numeric comparison, an
  `$or`, a derived day count and a `$neq`. Ours: `to_sql(condition)(now)` in a SQLAlchemy `select`.
  Baseline: the same WHERE written by hand as literal SQL text. Both counts must equal the number of
  records the Python predicate accepts.

`ratio` is always ours / baseline. SQLite runs on a fresh file in a temp dir; PostgreSQL (when
LOWCODE_TEST_DATABASE_URL is set) on a fresh schema of its own in that database, dropped at the end.
Progress goes to stderr; the last line of stdout is the JSON result.
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
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from lowcode_platform.configuration import compile_config  # noqa: E402
from lowcode_platform.rules import Condition, entity_scope, parse_condition  # noqa: E402
from lowcode_platform.rules.python import to_python  # noqa: E402
from lowcode_platform.rules.sql import to_sql  # noqa: E402
from lowcode_platform.storage.engine import make_engine  # noqa: E402
from lowcode_platform.storage.ids import new_id  # noqa: E402
from lowcode_platform.storage.migrate import upgrade  # noqa: E402
from lowcode_platform.storage.tables import Record, Tenant  # noqa: E402

SEED = 20240611
PYTHON_ROWS = 100_000
SQL_ROWS = 1_000_000
CHUNKS = 20
SQL_RUNS = 7
INSERT_BATCH = 10_000
PG_SCHEMA = f"bench_conditions_{os.getpid()}"  # own schema: tests may reset public meanwhile
ENTITY = "opportunity"
RULESET = "bench_conditions"

# The condition of the Python case: what a tenant might put on an automation or an assignment rule.
PYTHON_CONDITION: dict[str, Any] = {"$and": [
    {"$gte": {"amount": 100000}},
    {"$or": [{"stage": "proposal"}, {"stage": "negotiation"}]},
    {"$neq": {"region": "north"}},
    {"$mt": {"name": "Acme.*"}},
]}
# The condition of the SQL cases: a saved filter ("big deals in late stages, older than a month").
SQL_AMOUNT = 500000
SQL_STAGES = ("proposal", "negotiation")
SQL_DAYS = 30
SQL_REGION = "north"
SQL_CONDITION: dict[str, Any] = {"$and": [
    {"$gte": {"amount": SQL_AMOUNT}},
    {"$or": [{"stage": stage} for stage in SQL_STAGES]},
    {"$gt": {"days_since_created": SQL_DAYS}},
    {"$neq": {"region": SQL_REGION}},
]}


def log(message: str) -> None:
    print(f"[conditions] {message}", file=sys.stderr, flush=True)


def label(en: str, zh: str | None = None) -> dict[str, str]:
    return {"en": en, "zh": zh or en}


def options(*values: str) -> list[dict[str, Any]]:
    return [{"value": v, "label": label(v.title())} for v in values]


CONFIG: dict[str, Any] = {
    "tenant": {"name": label("Bench CRM", "基准"), "default_locale": "en", "currency": "CNY",
               "timezone": "Asia/Shanghai"},
    "locales": ["en", "zh"],
    "roles": {"admin": {"label": label("Admin", "管理员"), "admin": True}},
    "entities": {
        ENTITY: {
            "label": label("Opportunity", "商机"),
            "title_field": "name",
            "fields": {
                "name": {"type": "text", "label": label("Name", "名称"), "required": True, "max_length": 200},
                "amount": {"type": "decimal", "label": label("Amount", "金额"), "min": 0},
                "region": {"type": "text", "label": label("Region", "区域")},
                "source": {"type": "enum", "label": label("Source", "来源"),
                           "options": options("web", "referral", "event", "partner", "cold_call")},
                "probability": {"type": "integer", "label": label("Probability", "赢率"), "min": 0, "max": 100},
            },
        },
    },
}

COMPANY = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent"]
SUFFIX = ["Ltd", "Inc", "Group", "Technologies", "Trading Co", "Holdings"]
STAGES = ["prospecting", "qualification", "proposal", "negotiation", "won", "lost"]
STAGE_WEIGHTS = [25, 25, 18, 12, 10, 10]
REGIONS = ["north", "south", "east", "west", "central"]
SOURCES = ["web", "referral", "event", "partner", "cold_call"]
LOG_MIN, LOG_MAX = math.log(1_000), math.log(2_000_000)


def make_record(rng: random.Random, now: datetime) -> tuple[dict[str, Any], str, datetime]:
    """One opportunity: its `data`, its stage (a system column) and when it was created (within two years)."""
    data: dict[str, Any] = {
        "name": f"{rng.choice(COMPANY)} {rng.choice(SUFFIX)} {rng.randrange(1, 1000)}",
        "amount": Decimal(int(math.exp(rng.uniform(LOG_MIN, LOG_MAX)) * 100)) / 100,  # log-uniform, in cents
        "region": rng.choice(REGIONS),
        "source": rng.choice(SOURCES),
        "probability": rng.randrange(0, 101, 5),
    }
    if rng.random() < 0.05:
        del data["region"]  # a missing value fails every comparison, `$neq` included
    stage = rng.choices(STAGES, STAGE_WEIGHTS)[0]
    created_at = now - timedelta(seconds=rng.uniform(0, 730 * 86400))
    return data, stage, created_at


def facts_of(data: dict[str, Any], stage: str, created_at: datetime) -> dict[str, Any]:
    """What the Python predicate reads: the record's fields and its system values."""
    return {**data, "stage": stage, "created_at": created_at}


def event_of(data: dict[str, Any], stage: str, event_id: int) -> dict[str, Any]:
    """The record as a durable_rules event: JSON numbers without exponents, and an `id` to tell matches apart."""
    event: dict[str, Any] = {"id": event_id, "stage": stage}
    for key, value in data.items():
        if isinstance(value, Decimal):
            value = float(value)
            assert "e" not in repr(value), f"durable_rules cannot read {value!r} (error 204)"
        event[key] = value
    return event


def compile_condition(document: dict[str, Any]) -> Condition:
    config = compile_config(CONFIG, 1)
    return parse_condition(document, entity_scope(config.entities[ENTITY], config.timezone))


def chunked(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    size = max(1, math.ceil(len(items) / parts))
    return [items[i:i + size] for i in range(0, len(items), size)]


def rate_case(name: str, ours: float, baseline: float) -> dict[str, Any]:
    log(f"{name}: ours {ours:.1f}/s, baseline {baseline:.1f}/s, ratio {ours / baseline:.3f}")
    return {"name": name, "unit": "per_s", "ours": round(ours, 1), "baseline": round(baseline, 1),
            "ratio": round(ours / baseline, 3)}


def seconds_case(name: str, ours: float, baseline: float) -> dict[str, Any]:
    log(f"{name}: ours {ours:.4f} s, baseline {baseline:.4f} s, ratio {ours / baseline:.3f}")
    return {"name": name, "unit": "s", "ours": round(ours, 4), "baseline": round(baseline, 4),
            "ratio": round(ours / baseline, 3)}


# -- Python predicate vs durable_rules ----------------------------------------------------------


def python_case(count: int) -> dict[str, Any]:
    from durable.engine import Host, MessageNotHandledException

    now = datetime.now(timezone.utc)
    rng = random.Random(SEED)
    records = [make_record(rng, now) for _ in range(count)]
    facts = [(i, facts_of(*record)) for i, record in enumerate(records)]
    events = [(i, event_of(data, stage, i)) for i, (data, stage, _) in enumerate(records)]
    predicate = to_python(compile_condition(PYTHON_CONDITION))

    # One ruleset, one rule; every event has the default sid "0". With a single pattern the events cannot
    # interact: a matched event is consumed when its action completes (synchronously, inside `post`) and
    # an unmatched one is not kept, so the ruleset holds no state between posts (checked below). Distinct
    # sids would instead create a context each, never freed (the 1025th crashes the process).
    matched_durable: list[int] = []
    host = Host()
    host.register_rulesets({RULESET: {"r": {"all": [{"m": PYTHON_CONDITION}],
                                            "run": lambda c: matched_durable.append(c.m["id"])}}})
    post = host.post
    matched_ours: list[int] = []

    def ours(chunk: Sequence[tuple[int, dict[str, Any]]]) -> None:
        for i, record_facts in chunk:
            if predicate(record_facts, now):
                matched_ours.append(i)

    def baseline(chunk: Sequence[tuple[int, dict[str, Any]]]) -> None:
        for _, event in chunk:
            try:
                post(RULESET, event)
            except MessageNotHandledException:  # what `post` says when no rule matched
                pass

    warm = max(1, min(1000, count // 10))
    ours(facts[:warm])
    baseline([(-1 - i, {**event, "id": -1 - i}) for i, event in events[:warm]])
    matched_ours.clear()
    matched_durable.clear()

    log(f"python_vs_durable: {count} records each")
    spent = {"ours": 0.0, "baseline": 0.0}
    pairs = zip(chunked(facts, CHUNKS), chunked(events, CHUNKS), strict=True)
    for index, (facts_chunk, events_chunk) in enumerate(pairs):
        steps = [("ours", ours, facts_chunk), ("baseline", baseline, events_chunk)]
        for name, step, chunk in steps if index % 2 == 0 else steps[::-1]:
            started = time.perf_counter()
            step(chunk)
            spent[name] += time.perf_counter() - started

    # Sanity: both accept exactly the same records, some but not all, and durable kept nothing.
    deadline = time.monotonic() + 2  # an action the host's dispatcher thread picked up may still be running
    while len(matched_durable) < len(matched_ours) and time.monotonic() < deadline:
        time.sleep(0.05)
    log(f"python_vs_durable: {len(matched_ours)} of {count} records match")
    assert len(matched_ours) == len(matched_durable), f"matches: ours {len(matched_ours)}, " \
                                                      f"durable {len(matched_durable)}"
    assert sorted(matched_ours) == sorted(matched_durable), "ours and durable_rules matched different records"
    assert 0 < len(matched_ours) < count, f"{len(matched_ours)} of {count} match: not a useful condition"
    assert host.get_pending_events(RULESET, "0") == [], "durable_rules kept events between posts"
    assert host.get_facts(RULESET, "0") == [], "durable_rules kept facts between posts"
    return rate_case("python_vs_durable", count / spent["ours"], count / spent["baseline"])


# -- SQL: to_sql vs hand-written SQL ------------------------------------------------------------


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


def generate_rows(count: int, now: datetime, tenants: tuple[str, str], predicate: Callable[..., bool],
                  expected: list[int]) -> Iterator[list[dict[str, Any]]]:
    """Batches of `records` rows: 90% opportunities of the first tenant, 5% of the second, 5% leads.

    Adds to `expected[0]` every row of the first tenant's opportunities that `predicate` accepts.
    """
    rng = random.Random(SEED + 1)
    batch: list[dict[str, Any]] = []
    for n in range(count):
        data, stage, created_at = make_record(rng, now)
        draw = rng.random()
        tenant, entity = (tenants[1], ENTITY) if draw < 0.05 else (tenants[0], "lead" if draw < 0.1 else ENTITY)
        if tenant == tenants[0] and entity == ENTITY and predicate(facts_of(data, stage, created_at), now):
            expected[0] += 1
        batch.append({"tenant_id": tenant, "id": f"{n:026d}", "entity": entity, "stage": stage,
                      "created_at": created_at, "updated_at": created_at, "version": 1, "config_version": 1,
                      "data": data})
        if len(batch) == INSERT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def load(database: Database, count: int, now: datetime, predicate: Callable[..., bool]) -> tuple[str, int]:
    """Fill `records`; the id of the tenant queried and how many of its records `predicate` accepts."""
    tenants = (new_id(), new_id())
    expected = [0]
    started = time.perf_counter()
    with database.engine.begin() as connection:
        connection.execute(insert(Tenant.__table__), [
            {"id": tenant, "slug": f"bench{n}", "active_version": None, "created_at": now}
            for n, tenant in enumerate(tenants)])
        done = 0
        for batch in generate_rows(count, now, tenants, predicate, expected):
            connection.execute(insert(Record.__table__), batch)
            done += len(batch)
            if done % (INSERT_BATCH * 20) == 0:
                log(f"  loaded {done}/{count} rows")
    with database.engine.connect() as connection:
        connection.execute(text("ANALYZE records"))
        connection.commit()
    log(f"sql_{database.backend}: {count} rows loaded and analyzed in {time.perf_counter() - started:.1f} s")
    return tenants[0], expected[0]


def hand_written(backend: str, now: datetime) -> str:
    """SQL_CONDITION as a person would write it for `backend`; the tenant and entity stay parameters."""
    moment = now - timedelta(days=SQL_DAYS + 1)  # more than 30 whole days ago: created at least 31 days ago
    stages = ", ".join(f"'{stage}'" for stage in SQL_STAGES)
    if backend == "sqlite":  # timestamps are stored as naive UTC text
        condition = (f"json_extract(data, '$.amount') >= {SQL_AMOUNT} AND stage IN ({stages}) "
                     f"AND created_at <= '{moment.replace(tzinfo=None).isoformat(sep=' ', timespec='microseconds')}' "
                     f"AND json_extract(data, '$.region') <> '{SQL_REGION}'")
    else:
        condition = (f"(data ->> 'amount')::numeric >= {SQL_AMOUNT} AND stage IN ({stages}) "
                     f"AND created_at <= '{moment.isoformat()}'::timestamptz "
                     f"AND data ->> 'region' <> '{SQL_REGION}'")
    return f"SELECT count(*) FROM records WHERE tenant_id = :tenant AND entity = :entity AND {condition}"


def explain(connection: Any, backend: str, statement: Any, params: dict[str, Any] | None = None) -> str:
    if backend == "sqlite":
        rows = connection.execute(text(f"EXPLAIN QUERY PLAN {statement}"), params or {}).all()
        return "; ".join(row[-1] for row in rows)
    rows = connection.execute(text(f"EXPLAIN {statement}"), params or {}).all()
    return "; ".join(row[0].strip() for row in rows)


def sql_case(backend: str, count: int, workdir: Path) -> dict[str, Any]:
    name = f"sql_{backend}"
    now = datetime.now(timezone.utc)
    condition = compile_condition(SQL_CONDITION)
    compiled = to_sql(condition)
    log(f"{name}: preparing a fresh database")
    database = Database.prepare(backend, workdir)
    try:
        tenant, expected = load(database, count, now, to_python(condition))
        engine = database.engine
        baseline_sql = hand_written(backend, now)
        params = {"tenant": tenant, "entity": ENTITY}

        def statement() -> Any:
            return (select(func.count()).select_from(Record)
                    .where(Record.tenant_id == tenant, Record.entity == ENTITY, compiled(now)))

        def ours() -> int:
            with engine.connect() as connection:
                return int(connection.scalar(statement()))

        def baseline() -> int:
            with engine.connect() as connection:
                return int(connection.scalar(text(baseline_sql), params))

        rendered = statement().compile(engine)
        log(f"{name}: to_sql renders\n    {str(rendered).replace(chr(10), ' ')}\n    with {rendered.params}")
        log(f"{name}: hand-written\n    {baseline_sql}")
        with engine.connect() as connection:
            literal = statement().compile(engine, compile_kwargs={"literal_binds": True})
            log(f"{name}: plan of ours: {explain(connection, backend, literal)}")
            log(f"{name}: plan of the baseline: {explain(connection, backend, baseline_sql, params)}")

        found_ours, found_baseline = ours(), baseline()  # also warms the cache
        log(f"{name}: {found_ours} of {count} rows match (the Python predicate accepts {expected})")
        assert found_ours == found_baseline == expected, \
            f"counts: ours {found_ours}, baseline {found_baseline}, Python predicate {expected}"
        assert 0 < expected < count, f"{expected} of {count} match: not a useful condition"

        best = {"ours": math.inf, "baseline": math.inf}
        steps = [("ours", ours), ("baseline", baseline)]
        for run in range(SQL_RUNS):
            for step_name, step in steps if run % 2 == 0 else steps[::-1]:
                started = time.perf_counter()
                found = step()
                best[step_name] = min(best[step_name], time.perf_counter() - started)
                assert found == expected, f"{step_name} counted {found}, expected {expected}"
        return seconds_case(name, best["ours"], best["baseline"])
    finally:
        database.drop()


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of records (default 1)")
    parser.add_argument("--only", choices=["python", "sql"], help="run only these cases")
    args = parser.parse_args(argv)
    cases = []
    if args.only in (None, "python"):
        cases.append(python_case(max(100, round(PYTHON_ROWS * args.scale))))
    if args.only in (None, "sql"):
        backends = ["sqlite"] + (["postgresql"] if os.environ.get("LOWCODE_TEST_DATABASE_URL") else [])
        for backend in backends:
            with tempfile.TemporaryDirectory(prefix=f"conditions_{backend}_") as folder:
                cases.append(sql_case(backend, max(1000, round(SQL_ROWS * args.scale)), Path(folder)))
    print(json.dumps({"benchmark": "conditions", "cases": cases}))


if __name__ == "__main__":
    main()
