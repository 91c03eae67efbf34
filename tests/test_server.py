"""The real server: `lowcode serve` under gunicorn with several worker processes, spoken to over HTTP.

What in-process tests cannot show: that the demo starts and prints working tokens, and that concurrent
writes from several processes all succeed (on SQLite: no "database is locked").
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask.cli import ScriptInfo

from lowcode_platform import cli

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
ENTITIES = {"lead", "customer", "contact", "opportunity", "activity", "task"}
DEMO_TOKEN_LINE = re.compile(r"^\s+(.+?)\s+(admin|sales_manager|sales_rep)\s+(lc_\S+)$")
SERVING_LINE = re.compile(r"^Serving on (http://\S+)")
_slugs = itertools.count(1)


def lowcode_command() -> list[str]:
    """The installed `lowcode` script of this interpreter (or the same entry point through it)."""
    script = Path(sys.executable).parent / "lowcode"
    if script.exists():
        return [str(script)]
    found = shutil.which("lowcode")
    return [found] if found else [sys.executable, "-c", "from lowcode_platform.cli import main; main()"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running `lowcode serve`, its output so far, and the URL it serves on."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    url: str = ""
    lines: list[str] = field(default_factory=list)

    def log(self) -> str:
        return (f"--- stdout\n{self.stdout.read_text(errors='replace')}\n"
                f"--- stderr\n{self.stderr.read_text(errors='replace')[-5000:]}")

    def wait_until_serving(self) -> None:
        """Read stdout until the serving line, then wait until the port answers HTTP."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self.url:
            self.lines = self.stdout.read_text(errors="replace").splitlines()
            self.url = next((m.group(1) for m in map(SERVING_LINE.match, self.lines) if m), "")
            assert self.process.poll() is None, f"the server exited with {self.process.returncode}\n{self.log()}"
            assert time.monotonic() < deadline, f"no serving line within {START_TIMEOUT} s\n{self.log()}"
            time.sleep(0.05)
        with requests.Session() as session:
            while True:
                try:
                    with session.get(f"{self.url}/api/v1/meta/config-schema", timeout=2) as response:
                        if response.status_code == 200:
                            return
                except requests.ConnectionError:
                    pass
                assert self.process.poll() is None, f"the server exited with {self.process.returncode}\n{self.log()}"
                assert time.monotonic() < deadline, f"the port did not answer within {START_TIMEOUT} s\n{self.log()}"
                time.sleep(0.1)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """`start_server(*args, env=...)` runs `lowcode serve ARGS` in tmp_path; the fixture stops it."""
    started: list[Server] = []
    files: list[Any] = []

    def start(*args: str, env: dict[str, str]) -> Server:
        stdout, stderr = tmp_path / f"server{len(started)}.out", tmp_path / f"server{len(started)}.err"
        out, err = stdout.open("wb"), stderr.open("wb")
        files.extend([out, err])
        base = {k: v for k, v in os.environ.items() if not k.startswith("LOWCODE_")}
        process = subprocess.Popen(
            [*lowcode_command(), "serve", *args], cwd=tmp_path, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            env={**base, "PYTHONUNBUFFERED": "1", "LOWCODE_INSTANCE_DIR": str(tmp_path / "instance"), **env},
        )
        server = Server(process, stdout, stderr)
        started.append(server)
        server.wait_until_serving()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.process.terminate()
            try:
                server.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=STOP_TIMEOUT)
        for file in files:
            file.close()


class Api:
    """Calls to a running server with one user's token; every response is read and closed."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.session.close()

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        with self.session.request(method, f"{self.url}{path}", timeout=30, **kwargs) as response:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            return response.status_code, body


def lead_names(url: str, token: str, prefix: str) -> list[str]:
    """Names of the leads starting with `prefix` that the token's user may see."""
    names: list[str] = []
    cursor: str | None = None
    with Api(url, token) as api:
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            status, page = api.call("GET", "/api/v1/records/lead", params=params)
            assert status == 200, page
            names += [r["data"]["name"] for r in page["items"] if r["data"]["name"].startswith(prefix)]
            cursor = page["next_cursor"]
            if not cursor:
                return names


def create_concurrently(url: str, tokens: list[str], prefix: str, per_thread: int = 25) -> list[tuple[int, Any]]:
    """Each token's thread creates `per_thread` leads, all threads at once; every (status, body)."""
    barrier = threading.Barrier(len(tokens))

    def run(thread: int) -> list[tuple[int, Any]]:
        answers = []
        with Api(url, tokens[thread]) as api:
            barrier.wait()
            for i in range(per_thread):
                answers.append(api.call("POST", "/api/v1/records/lead",
                                        json={"name": f"{prefix}{thread}-{i}", "company": f"Co {thread}-{i}"}))
        return answers

    with ThreadPoolExecutor(len(tokens)) as pool:
        return [answer for answers in pool.map(run, range(len(tokens))) for answer in answers]


def assert_all_created(server: Server, answers: list[tuple[int, Any]]) -> None:
    statuses = sorted({status for status, _ in answers})
    failures = [body for status, body in answers if status != 201][:3]
    assert statuses == [201], (statuses, failures, server.log())
    log = server.stderr.read_text(errors="replace")
    assert "database is locked" not in log and "Traceback" not in log, log[-5000:]


# -- the demo (SQLite) -------------------------------------------------------------------------

def test_demo_server_serves_the_printed_tokens_and_takes_concurrent_writes(start_server):
    """`lowcode serve --demo` prints four tokens that work; 100 concurrent creates by two reps all succeed."""
    server = start_server("--demo", "--port", str(free_port()), "--workers", "2", "--threads", "2", env={})
    tokens = {m.group(1): m.group(3) for m in map(DEMO_TOKEN_LINE.match, server.lines) if m}
    assert set(tokens) == {"Admin", "Sales Manager", "Rep One", "Rep Two"}, server.lines

    with Api(server.url, tokens["Admin"]) as admin:
        status, body = admin.call("GET", "/api/v1/meta/entities")
        assert status == 200, body
        assert {item["key"] for item in body["items"]} == ENTITIES
        status, created = admin.call("POST", "/api/v1/records/lead", json={"name": "张伟", "company": "上海某某科技有限公司",
                                                                          "phone": "13812345678"})
        assert status == 201, created
        status, fetched = admin.call("GET", f"/api/v1/records/lead/{created['id']}")
        assert status == 200 and fetched["data"]["phone"] == "13812345678"

    with Api(server.url, tokens["Rep One"]) as one, Api(server.url, tokens["Rep Two"]) as two:
        status, mine = one.call("POST", "/api/v1/records/lead", json={"name": "by one", "company": "One Ltd"})
        assert status == 201, mine
        status, theirs = two.call("POST", "/api/v1/records/lead", json={"name": "by two", "company": "Two Ltd"})
        assert status == 201, theirs
        assert one.call("GET", f"/api/v1/records/lead/{theirs['id']}")[0] == 200  # team scope: team East
        assert two.call("GET", f"/api/v1/records/lead/{mine['id']}")[0] == 200
    assert sorted(lead_names(server.url, tokens["Rep One"], "by ")) == ["by one", "by two"]
    assert sorted(lead_names(server.url, tokens["Rep Two"], "by ")) == ["by one", "by two"]

    reps = [tokens["Rep One"], tokens["Rep Two"], tokens["Rep One"], tokens["Rep Two"]]
    answers = create_concurrently(server.url, reps, "load-")
    assert len(answers) == 100
    assert_all_created(server, answers)
    assert len(lead_names(server.url, tokens["Sales Manager"], "load-")) == 100
    assert len(set(lead_names(server.url, tokens["Rep One"], "load-"))) == 100


# -- `lowcode serve` on the test database of each backend ---------------------------------------

def lowcode_cli(database_url: str, tmp_path: Path, *args: str) -> str:
    """Run a `lowcode` command in-process on `database_url`; its stdout (the command must succeed)."""
    apps: list[Any] = []

    def create_app() -> Any:
        apps.append(cli._create_app())
        return apps[-1]

    try:
        result = CliRunner().invoke(cli.main, list(args), obj=ScriptInfo(create_app=create_app), env={
            "LOWCODE_DATABASE_URL": database_url, "LOWCODE_INSTANCE_DIR": str(tmp_path / "instance")})
    finally:
        for app in apps:
            app.extensions["lowcode"].engine.dispose()
    assert result.exit_code == 0, result.output
    return result.stdout


def test_server_on_the_test_database_takes_concurrent_writes(start_server, database_url, tmp_path):
    """`lowcode serve` (migrating the database itself on SQLite) takes 100 concurrent creates from 4 threads."""
    url = f"sqlite:///{tmp_path / 'served.sqlite3'}" if database_url.startswith("sqlite") else database_url
    server = start_server("--port", str(free_port()), "--workers", "2", "--threads", "2",
                          env={"LOWCODE_DATABASE_URL": url})
    slug = f"serve{os.getpid()}-{next(_slugs)}"  # the PostgreSQL test database is shared with other tests
    lowcode_cli(url, tmp_path, "tenant", "create", "--slug", slug, "--template", "b2b_solution_sales")
    tokens = []
    for name, role, team in (("Boss", "sales_manager", "East"), ("Rep A", "sales_rep", "East"),
                             ("Rep B", "sales_rep", "East"), ("Rep C", "sales_rep", "East"),
                             ("Rep D", "sales_rep", "East")):
        output = lowcode_cli(url, tmp_path, "user", "create", "--tenant", slug, "--name", name, "--role", role,
                             "--team", team)
        tokens.append(output.splitlines()[-1])
    boss, reps = tokens[0], tokens[1:]

    answers = create_concurrently(server.url, reps, "load-")
    assert len(answers) == 100
    assert_all_created(server, answers)
    assert len(set(lead_names(server.url, boss, "load-"))) == 100
    for rep in reps:  # every rep sees the whole team's leads
        assert len(lead_names(server.url, rep, "load-")) == 100
