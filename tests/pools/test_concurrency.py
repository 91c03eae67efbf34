"""Pools under concurrency (both databases; the race is real on PostgreSQL, whose writers interleave, while
SQLite runs one write transaction at a time): racing claims of one record, one user's claims from threads and
processes against their cap, sweeps racing each other, and claims and assignments racing a sweep. Each test
checks the end state: no record with two owners, or with an owner and a pool; one event per movement."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lowcode_platform.accounts.service import find_tenant
from lowcode_platform.app import create_app
from lowcode_platform.settings import Settings
from lowcode_platform.storage.tables import Record, Tenant
from tests.conftest import POSTGRES_URL
from tests.pools.test_sweep import World, day, document, pool, world_factory

REPS = tuple(f"rep{i}" for i in range(1, 9))
USERS = (("admin", "admin", None, None), ("boss", "manager", None, "east"),
         *((name, "rep", "boss", "east") for name in REPS))
JOIN_SECONDS = 300  # a deadlock fails the test instead of hanging the run


def pooled(world_factory: Any, owner_cap: int | None = None, count: int = 1) -> tuple[World, list[dict[str, Any]]]:
    """A tenant with eight reps whose `public` pool takes in customers an admin creates (so they wait in the
    pool), capped at `owner_cap`; and `count` such customers."""
    limits = {"owner_cap": owner_cap} if owner_cap is not None else {}
    w = world_factory(document(public=pool(intake=True, limits=limits)), USERS)
    records = [w.tenant.create("customer", {"name": f"c{i}"}, "admin") for i in range(count)]
    assert all(w.row(r).pool == "public" and w.row(r).owner_id is None for r in records)
    return w, records


@pytest.fixture
def world_of(make_tenant: Any, app: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., World]:
    """`world_of(document, users)`: a tenant whose requests see a fixed clock (tests/pools/test_sweep.py)."""
    return world_factory(make_tenant, app, monkeypatch)


def run_threads(w: World, count: int, work: Callable[[int, Any], Any], barrier: Any = None) -> list[Any]:
    """`work(i, client)` from `count` threads (each with its own test client of the app) released together
    by `barrier` (else one of their own); what each returned. An exception in a thread fails the test."""
    barrier = barrier or threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            client = w.app.test_client()
            barrier.wait(JOIN_SECONDS)
            results[i] = work(i, client)
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
        assert not thread.is_alive(), "a thread did not finish"
    assert not errors, errors
    return results


def claim(client: Any, w: World, user: str, record: dict[str, Any]) -> Any:
    return client.post("/api/v1/pools/public/claim", headers=w.tenant.headers(user), json={"id": record["id"]})


def codes(response: Any) -> list[str]:
    return [e["code"] for e in response.get_json().get("errors", [])]


def assert_consistent(w: World, records: list[dict[str, Any]]) -> None:
    """Each record has an owner or a pool, never both, and its pool events replay to its owner: each movement
    starts from the owner the one before left (the first from the creator, who has no event)."""
    for record in records:
        row = w.row(record)
        assert (row.owner_id is None) != (row.pool is None), (record["id"], row.owner_id, row.pool)
        owner = record["owner_id"]
        for event in w.events(record=record):
            if event.kind == "warn":
                continue
            assert event.from_owner == owner, (record["id"], event.kind, event.from_owner, owner)
            if event.kind in ("recycle", "release"):
                assert owner is not None and event.to_owner is None, (record["id"], event.kind)
            owner = event.to_owner
        assert owner == row.owner_id, (record["id"], owner, row.owner_id)


def owned_count(w: World, user: str) -> int:
    with w.app.extensions["lowcode"].open_session() as session:
        return len(list(session.scalars(select(Record.id).where(
            Record.tenant_id == w.tenant_id, Record.entity == "customer", Record.owner_id == w.user(user),
            Record.deleted_at.is_(None)))))


# -- claims -------------------------------------------------------------------------------------------------


def test_of_eight_users_claiming_one_record_at_once_exactly_one_wins(world_of: Any) -> None:
    """Eight reps claim one pool record at the same moment: one 200, seven 409 `pool_taken`; the record has the
    winner as owner and one claim event, to the winner."""
    w, (record,) = pooled(world_of)
    responses = run_threads(w, len(REPS), lambda i, client: claim(client, w, REPS[i], record))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: 7}, [r.get_json() for r in responses]
    assert all(codes(r) == ["pool_taken"] for r in responses if r.status_code == 409)
    winner = next(REPS[i] for i, r in enumerate(responses) if r.status_code == 200)
    row = w.row(record)
    assert row.owner_id == w.user(winner) and row.pool is None
    assert [(e.kind, e.to_owner) for e in w.events("claim")] == [("claim", w.user(winner))]
    assert_consistent(w, [record])


def test_one_user_claiming_from_many_threads_stops_at_the_cap(world_of: Any) -> None:
    """rep1 claims twelve pool records from twelve threads at once with a cap of 3: three 200, nine 409
    `owner_cap`; rep1 owns three records and has three claim events."""
    w, records = pooled(world_of, owner_cap=3, count=12)
    responses = run_threads(w, 12, lambda i, client: claim(client, w, "rep1", records[i]))
    assert Counter(r.status_code for r in responses) == {200: 3, 409: 9}, [r.get_json() for r in responses]
    assert all(codes(r) == ["owner_cap"] for r in responses if r.status_code == 409)
    assert owned_count(w, "rep1") == 3
    assert len(w.events("claim")) == 3
    assert_consistent(w, records)


def _claim_in_process(url: str, instance_dir: str, token: str, ids: list[str], barrier: Any, messages: Any) -> None:
    """A separate process with its own app and engine: says it is ready, waits at the barrier, claims `ids` one
    after another and sends their statuses (or the traceback of what went wrong)."""
    try:
        app = create_app(Settings(database_url=url, instance_dir=Path(instance_dir)))
        try:
            client = app.test_client()
            messages.put(("ready", None))
            barrier.wait(JOIN_SECONDS)
            messages.put(("done", [client.post("/api/v1/pools/public/claim",
                                               headers={"Authorization": f"Bearer {token}"},
                                               json={"id": record_id}).status_code for record_id in ids]))
        finally:
            app.extensions["lowcode"].engine.dispose()
    except BaseException:  # noqa: BLE001 - the parent reports it
        messages.put(("error", traceback.format_exc()))
        barrier.abort()


def receive(messages: Any, processes: list[Any], count: int) -> list[tuple[str, Any]]:
    """`count` messages from the processes, fewer if they all ended first (e.g. one failed to start)."""
    received: list[tuple[str, Any]] = []
    while len(received) < count:
        try:
            received.append(messages.get(timeout=1))
        except queue.Empty:
            if not any(p.is_alive() for p in processes) and messages.empty():
                break
    return received


def test_one_user_claiming_from_threads_and_processes_never_passes_the_cap(
        world_of: Any, database_url: str, tmp_path: Path) -> None:
    """rep1 claims sixteen pool records with a cap of 5: four threads of this process and three other
    processes (each with its own engine) at once. Exactly five claims succeed, the rest answer 409, and rep1
    owns five records."""
    w, records = pooled(world_of, owner_cap=5, count=16)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4 + 3)
    messages = context.Queue()
    processes = [context.Process(target=_claim_in_process, args=(
        database_url, str(tmp_path / f"instance{n}"), w.tenant.tokens["rep1"],
        [r["id"] for r in records[4 + 4 * n: 8 + 4 * n]], barrier, messages)) for n in range(3)]
    for process in processes:
        process.start()
    try:
        ready = receive(messages, processes, len(processes))
        if [kind for kind, _ in ready] != ["ready"] * len(processes):
            barrier.abort()
            pytest.fail(f"a claiming process did not start: {ready}, exit codes "
                        f"{[p.join(JOIN_SECONDS) or p.exitcode for p in processes]}")
        in_threads = run_threads(w, 4, lambda i, client: claim(client, w, "rep1", records[i]).status_code, barrier)
        done = receive(messages, processes, len(processes))
        assert [kind for kind, _ in done] == ["done"] * len(processes), done
    finally:
        for process in processes:
            process.join(JOIN_SECONDS)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    statuses = Counter(in_threads + [status for _, statuses in done for status in statuses])
    assert statuses == {200: 5, 409: 11}, statuses
    assert owned_count(w, "rep1") == 5
    assert len(w.events("claim")) == 5
    assert_consistent(w, records)


def test_users_claiming_the_same_records_in_different_orders_leave_each_one_owner(world_of: Any) -> None:
    """Six reps each claim the same six records, each starting at a different one: six claims succeed in
    all, each record has one owner and exactly one claim event, to that owner."""
    w, records = pooled(world_of, count=6)

    def work(i: int, client: Any) -> list[int]:
        order = records[i:] + records[:i]
        return [claim(client, w, REPS[i], record).status_code for record in order]

    statuses = Counter(s for statuses in run_threads(w, 6, work) for s in statuses)
    assert statuses == {200: 6, 409: 30}, statuses
    for record in records:
        events = w.events("claim", record)
        assert len(events) == 1 and events[0].to_owner == w.row(record).owner_id is not None
    assert_consistent(w, records)


# -- sweeps -------------------------------------------------------------------------------------------------


def test_two_sweeps_at_once_do_the_work_once(world_of: Any) -> None:
    """Two workers sweep one tenant at the same moment: one recycles the ten idle records, the other finds
    the tenant busy (None) or nothing left; ten recycle events and one notice in all."""
    w = world_of(document(), USERS)
    records = [w.customer(f"c{i}", at=0) for i in range(10)]
    results = run_threads(w, 2, lambda i, client: w.sweep(day(15)))
    outcomes = sorted((r["pools"]["public"]["recycled"] if r is not None else -1) for r in results)
    assert outcomes in ([-1, 10], [0, 10]), results
    events = w.events("recycle")
    assert sorted(e.record_id for e in events) == sorted(r["id"] for r in records)
    assert [n.payload["records"] for n in w.notices("pool.recycle")] == [10]
    assert_consistent(w, records)


@pytest.mark.parametrize("database_url", ["postgresql"] if POSTGRES_URL else [], indirect=True)
def test_a_sweep_of_a_tenant_another_worker_holds_answers_busy(world_of: Any) -> None:
    """PostgreSQL: while another transaction holds the tenant's row (a worker sweeping it), a sweep answers
    None at once and the endpoint answers `{"busy": true}`; nothing moves until the holder lets go. (SQLite
    runs one write transaction at a time: a second sweep waits its turn and is never busy, so the test exists
    only for PostgreSQL.)"""
    w = world_of(document(), USERS)
    c = w.customer("acme", at=0)
    platform = w.app.extensions["lowcode"]
    with platform.open_session(write=True) as holder:
        holder.execute(select(Tenant.id).where(Tenant.id == find_tenant(holder, w.tenant.slug).id).with_for_update())
        assert w.sweep(day(15)) is None
        w.clock.at(15)
        response = w.tenant.call("POST", "/api/v1/pools/sweep", "admin")
        assert response.status_code == 200 and response.get_json() == {"busy": True}
        assert w.row(c).owner_id == w.user("rep1")
        holder.rollback()
    assert w.counts(day(15)) == (1, 0)


def test_claims_racing_a_sweep_leave_every_record_owned_or_pooled(world_of: Any) -> None:
    """Eight idle records of rep1 (due on day 15) are swept on day 20 while four reps claim them: every claim
    answers 200 or 409; each record ends owned (claimed after its recycle event) or in the pool (recycled,
    unclaimed), never both, with one recycle event each and one claim event per 200."""
    w = world_of(document(), USERS)
    records = [w.customer(f"c{i}", at=0) for i in range(8)]
    w.clock.at(20)
    claimers = REPS[1:5]

    def work(i: int, client: Any) -> Any:
        if i == len(claimers):
            return w.sweep(day(20))
        mine = records[2 * i: 2 * i + 2]
        return [claim(client, w, claimers[i], record).status_code for record in mine + mine]

    *claimed, swept = run_threads(w, len(claimers) + 1, work)
    statuses = Counter(s for group in claimed for s in group)
    assert set(statuses) <= {200, 409}, statuses
    assert swept is not None and swept["pools"]["public"]["recycled"] == 8
    assert len(w.events("recycle")) == 8
    assert len(w.events("claim")) == statuses[200]
    for record in records:
        kinds = [e.kind for e in w.events(record=record)]
        assert kinds in (["recycle"], ["recycle", "claim"]), kinds
    assert_consistent(w, records)


def test_assignments_racing_a_sweep_leave_each_record_with_the_assignee(world_of: Any) -> None:
    """A pool admin assigns rep1's eight idle records to rep2 while a sweep recycles them: an assignment
    first keeps the record from the sweep (its clock restarts), a recycle first is followed by the
    assignment from the pool; either way rep2 owns every record and the events replay to that."""
    w = world_of(document(), USERS)
    records = [w.customer(f"c{i}", at=0) for i in range(8)]
    w.clock.at(20)

    def work(i: int, client: Any) -> Any:
        if i == 1:
            return w.sweep(day(20))
        return [client.post("/api/v1/pools/public/assign", headers=w.tenant.headers("boss"),
                            json={"id": record["id"], "to": w.user("rep2")}).status_code for record in records]

    assigned, swept = run_threads(w, 2, work)
    assert assigned == [200] * 8 and swept is not None
    for record in records:
        row = w.row(record)
        assert row.owner_id == w.user("rep2") and row.pool is None
        kinds = [e.kind for e in w.events(record=record)]
        assert kinds in (["assign"], ["recycle", "assign"]), kinds
    assert swept["pools"]["public"]["recycled"] == len(w.events("recycle"))
    assert_consistent(w, records)
