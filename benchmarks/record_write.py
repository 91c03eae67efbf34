"""Benchmark: creating records, in-process through the service and over HTTP through the real server.

    python benchmarks/record_write.py [--scale 0.1]

Cases (records per second, higher is better; `ratio` is ours / baseline):

- `service_<backend>`: `RecordService.create` with one write session per record, as a request does, against
  a plain SQLAlchemy Core `INSERT` of the same row into `records` plus a commit, on the same engine.
- `http_<backend>`: `POST /api/v1/records/lead` to `lowcode serve --workers 1 --threads 1` from one
  keep-alive client, against the same bodies POSTed to `POST /api/v1/meta/echo` (parse JSON, send it back).

The two loops of a case alternate in chunks (and which goes first alternates too), so machine noise hits
both alike. SQLite runs on a fresh file in a temp dir; PostgreSQL (when LOWCODE_TEST_DATABASE_URL is set)
on a fresh schema of its own in that database (search_path set in the URL), dropped at the end. Progress goes to stderr; the last line
of stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from lowcode_platform import jsonutil  # noqa: E402
from lowcode_platform.accounts.service import authenticate, create_tenant, create_user  # noqa: E402
from lowcode_platform.app import create_app  # noqa: E402
from lowcode_platform.records.service import RecordService  # noqa: E402
from lowcode_platform.settings import Settings  # noqa: E402
from lowcode_platform.storage.engine import make_engine, scope_to_tenant  # noqa: E402
from lowcode_platform.storage.ids import new_id  # noqa: E402
from lowcode_platform.storage.migrate import upgrade  # noqa: E402
from lowcode_platform.storage.tables import Record  # noqa: E402

SEED = 20240601
SERVICE_ROWS = 2000
HTTP_ROWS = 1000
CHUNKS = 20
PG_SCHEMA = f"bench_record_write_{os.getpid()}"  # own schema: tests may reset public meanwhile
ENTITY = "lead"


def log(message: str) -> None:
    print(f"[record_write] {message}", file=sys.stderr, flush=True)


def label(en: str, zh: str | None = None) -> dict[str, str]:
    return {"en": en, "zh": zh or en}


CONFIG: dict[str, Any] = {
    "tenant": {"name": label("Bench CRM", "基准"), "default_locale": "en", "currency": "CNY"},
    "locales": ["en", "zh"],
    "roles": {"admin": {"label": label("Admin", "管理员"), "admin": True}},
    "entities": {
        "lead": {
            "label": label("Lead", "线索"),
            "title_field": "name",
            "fields": {
                "name": {"type": "text", "label": label("Name", "姓名"), "required": True, "max_length": 100},
                "company": {"type": "text", "label": label("Company", "公司")},
                "phone": {"type": "phone", "label": label("Phone", "电话"), "pii": True},
                "email": {"type": "email", "label": label("Email", "邮箱")},
                "status": {"type": "enum", "label": label("Status", "状态"), "default": "new", "indexed": True,
                           "options": [{"value": v, "label": label(v.title())}
                                       for v in ("new", "contacted", "qualified", "lost")]},
                "budget": {"type": "money", "label": label("Budget", "预算"), "currencies": ["CNY", "USD"], "min": 0},
                "employees": {"type": "integer", "label": label("Employees", "员工数"), "min": 0},
                "first_contact": {"type": "date", "label": label("First contact", "首次联系")},
                "vip": {"type": "boolean", "label": label("VIP")},
                "notes": {"type": "long_text", "label": label("Notes", "备注")},
            },
            "views": {"all": {"label": label("All"), "columns": ["name", "status", "created_at"],
                              "sort": "-created_at"}},
        },
    },
}

FIRST = ["Wei", "Li", "Ming", "Anna", "James", "Mei", "Chen", "Olga", "Ravi", "Sara", "Tom", "Yan", "Lin", "Hao"]
LAST = ["Zhang", "Wang", "Smith", "Liu", "Chen", "Garcia", "Huang", "Kumar", "Zhao", "Novak", "Sun", "Ma"]
COMPANY = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent"]
SUFFIX = ["Ltd", "Inc", "Group", "Technologies", "Trading Co", "科技有限公司"]
WORDS = ("call back next week about pricing demo contract renewal budget approved procurement team "
         "interested in premium plan needs integration with erp decision maker travelling until "
         "follow up send proposal competitor quote lower discount requested pilot project").split()


def make_rows(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """`count` lead bodies as a client would send them; optional fields are sometimes left out."""
    start = date(2023, 1, 1)
    rows = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        row: dict[str, Any] = {
            "name": f"{first} {last}",
            "company": f"{rng.choice(COMPANY)} {rng.choice(SUFFIX)}",
            "phone": "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9)),
            "email": f"{first.lower()}.{last.lower()}{i}@{rng.choice(COMPANY).lower()}.com",
            "status": rng.choice(["new", "contacted", "qualified", "lost"]),
            "budget": {"amount": Decimal(rng.randrange(100_000, 100_000_000)) / 100,
                       "currency": rng.choice(["CNY", "USD"])},
            "employees": rng.randrange(1, 50_000),
            "first_contact": (start + timedelta(days=rng.randrange(0, 700))).isoformat(),
            "vip": rng.random() < 0.2,
            "notes": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(10, 80))),
        }
        for optional in ("company", "email", "status", "budget", "employees", "first_contact", "vip", "notes"):
            if rng.random() < 0.1:
                del row[optional]  # a missing status takes its default
        rows.append(row)
    return rows


def canonical(data: Any) -> str:
    return jsonutil.dumps(data, sort_keys=True)


def stored_form(body: dict[str, Any]) -> dict[str, Any]:
    """The `data` the service stores for `body`: defaults filled in (the rest is already normal)."""
    data = dict(body)
    data.setdefault("status", "new")
    return data


# -- setup --------------------------------------------------------------------------------------


class Database:
    """A fresh, migrated database with one tenant and its admin; `url` is what the server is given."""

    def __init__(self, backend: str, url: str, workdir: Path) -> None:
        self.backend = backend
        self.url = url
        self.workdir = workdir
        self.token = ""

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
        database = cls(backend, url, workdir)
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        app = create_app(database.settings())
        platform = app.extensions["lowcode"]
        now = datetime.now(timezone.utc)
        with platform.open_session(write=True) as session:
            create_tenant(session, slug="bench", document=CONFIG, author="benchmark", now=now)
        with platform.open_session(write=True) as session:
            _, database.token = create_user(session, platform.config_cache, tenant_slug="bench", name="admin",
                                            role="admin", now=now)
        platform.engine.dispose()
        return database

    def settings(self) -> Settings:
        return Settings(database_url=self.url, instance_dir=self.workdir / "instance", echo_endpoint=True)

    def drop(self) -> None:
        if self.backend == "postgresql":
            admin = make_engine(os.environ["LOWCODE_TEST_DATABASE_URL"], pool_size=1, max_overflow=0)
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            admin.dispose()


# -- timing -------------------------------------------------------------------------------------


def chunked(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    size = max(1, math.ceil(len(items) / parts))
    return [items[i:i + size] for i in range(0, len(items), size)]


def alternate(rows: Sequence[Any], ours: Callable[[Any], None], baseline: Callable[[Any], None],
              what: str) -> tuple[float, float]:
    """Run both over every row, alternating in chunks; the rates (rows per second) of ours and baseline."""
    spent = {"ours": 0.0, "baseline": 0.0}
    steps = {"ours": ours, "baseline": baseline}
    done = 0
    for index, chunk in enumerate(chunked(rows, CHUNKS)):
        order = ("ours", "baseline") if index % 2 == 0 else ("baseline", "ours")
        for name in order:
            step = steps[name]
            started = time.perf_counter()
            for row in chunk:
                step(row)
            spent[name] += time.perf_counter() - started
        done += len(chunk)
        if index % 5 == 4:
            log(f"  {what}: {done}/{len(rows)} rows")
    return len(rows) / spent["ours"], len(rows) / spent["baseline"]


def case(name: str, ours: float, baseline: float) -> dict[str, Any]:
    log(f"{name}: ours {ours:.1f}/s, baseline {baseline:.1f}/s, ratio {ours / baseline:.3f}")
    return {"name": name, "unit": "per_s", "ours": round(ours, 1), "baseline": round(baseline, 1),
            "ratio": round(ours / baseline, 3)}


# -- service case -------------------------------------------------------------------------------


def service_case(database: Database, rows: list[dict[str, Any]]) -> dict[str, Any]:
    app = create_app(database.settings())
    platform = app.extensions["lowcode"]
    engine = platform.engine
    with platform.open_session() as session:
        found = authenticate(session, platform.config_cache, database.token)
    assert found is not None, "the admin token does not authenticate"
    actor, config = found
    bodies = [jsonutil.loads(jsonutil.dumps(row)) for row in rows]  # as a request parses them: Decimal amounts
    stored = [stored_form(body) for body in bodies]
    table = Record.__table__

    def ours(index: int) -> None:
        with platform.open_session(write=True) as session:
            scope_to_tenant(session, actor.tenant_id)
            RecordService(session, config, actor).create(ENTITY, bodies[index])

    def baseline(index: int) -> None:
        now = datetime.now(timezone.utc)
        with engine.begin() as connection:
            connection.execute(insert(table).values(
                tenant_id=actor.tenant_id, id=new_id(), entity=ENTITY, owner_id=actor.user_id, created_at=now,
                updated_at=now, created_by=actor.user_id, updated_by=actor.user_id, version=1,
                config_version=config.version, data=stored[index],
            ))

    indexes = list(range(len(rows)))
    warm = indexes[: max(1, min(50, len(rows) // 10))]
    for index in warm:
        ours(index)
        baseline(index)
    log(f"service_{database.backend}: {len(rows)} creates each")
    rate_ours, rate_baseline = alternate(indexes, ours, baseline, f"service_{database.backend}")

    # Sanity: the service stored what the baseline stored, and the right number of rows.
    with engine.connect() as connection:
        total = connection.scalar(select(text("count(*)")).select_from(table))
        audited = connection.scalar(text("SELECT count(*) FROM audit_log"))
        found_data = Counter(canonical(d) for d in connection.execute(select(table.c.data)).scalars())
    expected = Counter(canonical(stored[i]) for i in indexes + warm for _ in range(2))
    assert total == sum(expected.values()), f"records: {total}, expected {sum(expected.values())}"
    assert audited == len(rows) + len(warm), f"audit rows: {audited}"
    assert found_data == expected, "the service and the baseline stored different data"
    engine.dispose()
    return case(f"service_{database.backend}", rate_ours, rate_baseline)


# -- HTTP case ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def lowcode_command() -> list[str]:
    script = Path(sys.executable).parent / "lowcode"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from lowcode_platform.cli import main; sys.exit(main())"]


class Server:
    """`lowcode serve --workers 1 --threads 1` on a free port, output in a log file."""

    def __init__(self, database: Database) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = database.workdir / f"server-{database.backend}.log"
        env = {k: v for k, v in os.environ.items() if k != "LOWCODE_ACCESS_LOG"}
        env.update(LOWCODE_DATABASE_URL=database.url, LOWCODE_ECHO_ENDPOINT="1",
                   LOWCODE_INSTANCE_DIR=str(database.workdir / "instance"),
                   PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p))
        command = [*lowcode_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--workers", "1", "--threads", "1"]
        self.log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
                                        cwd=database.workdir)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.log_path.read_text()}")
            try:
                if requests.get(f"{self.base}/api/v1/meta/config-schema", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


def http_case(database: Database, rows: list[dict[str, Any]]) -> dict[str, Any]:
    bodies = [jsonutil.dumps(row).encode() for row in rows]
    server = Server(database)
    try:
        server.wait_ready()
        client = requests.Session()
        client.headers.update({"Authorization": f"Bearer {database.token}", "Content-Type": "application/json"})
        records_url = f"{server.base}/api/v1/records/{ENTITY}"
        echo_url = f"{server.base}/api/v1/meta/echo"

        def post(url: str, body: bytes) -> None:
            response = client.post(url, data=body)
            if response.status_code != 201:
                raise RuntimeError(f"POST {url}: {response.status_code} {response.text[:500]}")

        def ours(body: bytes) -> None:
            post(records_url, body)

        def baseline(body: bytes) -> None:
            post(echo_url, body)

        warm = bodies[: max(1, min(50, len(bodies) // 10))]
        for body in warm:
            ours(body)
            baseline(body)
        created = jsonutil.loads(client.post(records_url, data=bodies[0]).content)
        assert created["data"] == stored_form(jsonutil.loads(bodies[0])), created
        log(f"http_{database.backend}: {len(bodies)} POSTs each to {server.base}")
        rate_ours, rate_baseline = alternate(bodies, ours, baseline, f"http_{database.backend}")
        client.close()
    finally:
        server.stop()
    return case(f"http_{database.backend}", rate_ours, rate_baseline)


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of records (default 1)")
    parser.add_argument("--only", choices=["service", "http"], help="run only these cases")
    args = parser.parse_args(argv)
    service_rows = make_rows(max(10, round(SERVICE_ROWS * args.scale)), random.Random(SEED))
    http_rows = service_rows[: max(10, round(HTTP_ROWS * args.scale))]  # the same rows, the first of them
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("LOWCODE_TEST_DATABASE_URL") else [])
    cases = []
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix=f"record_write_{backend}_") as folder:
            log(f"preparing a fresh {backend} database")
            database = Database.prepare(backend, Path(folder))
            try:
                if args.only in (None, "service"):
                    cases.append(service_case(database, service_rows))
                if args.only in (None, "http"):
                    cases.append(http_case(database, http_rows))
            finally:
                database.drop()
    print(json.dumps({"benchmark": "record_write", "cases": cases}))


if __name__ == "__main__":
    main()
