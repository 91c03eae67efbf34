"""`lowcode pools sweep` (both databases): sweeping one tenant or every tenant at a given moment, one JSON line
per tenant, and the exit codes of a bad `--now` and an unknown tenant."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import select

from lowcode_platform.records import pool_sweep
from lowcode_platform.storage.tables import Tenant
from tests.pools.conftest import Lowcode
from tests.pools.test_sweep import World, day, in_pool, owned_by, world_factory


@pytest.fixture
def world(make_tenant: Any, app: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., World]:
    """`world(document)`: a tenant whose requests see a fixed clock (tests/pools/test_sweep.py)."""
    return world_factory(make_tenant, app, monkeypatch)


def lines(result: Result) -> list[dict[str, Any]]:
    """The JSON lines the command printed on stdout."""
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_sweeping_one_tenant_at_a_moment_prints_its_counts(world: Any, lowcode: Lowcode) -> None:
    """`--tenant S --now` (with an offset) sweeps S at that moment: nothing a second before day 15, the idle
    record on day 15; each run prints one JSON line with the tenant, its pools' counts and the moment."""
    w = world()
    c = w.customer("acme", at=0)
    early = lowcode("pools", "sweep", "--tenant", w.tenant.slug, "--now", "2026-01-20T16:59:59+08:00")
    assert early.exit_code == 0, early.output
    assert lines(early) == [{"tenant": w.tenant.slug, "pools": {"public": {"recycled": 0, "warned": 0}},
                             "at": "2026-01-20T08:59:59.000Z"}]
    assert owned_by(w, c, "rep1")
    result = lowcode("pools", "sweep", "--tenant", w.tenant.slug, "--now", "2026-01-20T17:00:00+08:00")
    assert result.exit_code == 0, result.output
    assert lines(result) == [{"tenant": w.tenant.slug, "pools": {"public": {"recycled": 1, "warned": 0}},
                              "at": "2026-01-20T09:00:00.000Z"}]
    assert day(15).isoformat() == "2026-01-20T09:00:00+00:00"
    assert in_pool(w, c)
    assert [(e.kind, e.actor_id, e.at) for e in w.events(record=c)] == [("recycle", None, day(15))]


def test_sweeping_again_at_the_same_moment_moves_nothing(world: Any, lowcode: Lowcode) -> None:
    """The command is safe to run again: the second run at the same `--now` reports zero."""
    w = world()
    w.customer("acme", at=0)
    args = ("pools", "sweep", "--tenant", w.tenant.slug, "--now", "2026-02-01T00:00:00+00:00")
    assert lines(lowcode(*args))[0]["pools"] == {"public": {"recycled": 1, "warned": 0}}
    again = lowcode(*args)
    assert again.exit_code == 0 and lines(again)[0]["pools"] == {"public": {"recycled": 0, "warned": 0}}
    assert len(w.events()) == 1


@pytest.mark.parametrize("moment", ["yesterday", "2026-01-20T09:00:00", "2026-13-01T00:00:00+00:00", ""])
def test_a_bad_now_exits_2_with_a_message_and_sweeps_nothing(world: Any, lowcode: Lowcode, moment: str) -> None:
    """Text that is not an ISO 8601 moment with an offset (a naive one included) exits 2, says what `--now`
    expects on stderr, prints no line and leaves the idle record with its owner."""
    w = world()
    c = w.customer("acme", at=0)
    result = lowcode("pools", "sweep", "--tenant", w.tenant.slug, "--now", moment)
    assert result.exit_code == 2, result.output
    assert "--now" in result.stderr and "ISO 8601" in result.stderr
    assert result.stdout == ""
    assert owned_by(w, c, "rep1") and w.events() == []


def test_an_unknown_tenant_exits_non_zero_with_a_message(lowcode: Lowcode) -> None:
    """`--tenant` naming no tenant exits 1, names the slug on stderr and prints no line."""
    result = lowcode("pools", "sweep", "--tenant", "no-such-tenant", "--now", "2026-01-20T09:00:00+00:00")
    assert result.exit_code == 1, result.output
    assert "no-such-tenant" in result.stderr
    assert result.stdout == ""


def test_without_a_tenant_every_tenant_gets_one_line(world: Any, lowcode: Lowcode, app: Any) -> None:
    """Without `--tenant` the command sweeps every tenant with an active config, in slug order, one JSON line
    each; the two tenants made here each lose their idle record."""
    first, second = world(), world()
    mine = [first.customer("acme", at=0), second.customer("acme", at=0)]
    with app.extensions["lowcode"].open_session() as session:
        slugs = list(session.scalars(select(Tenant.slug).where(Tenant.active_version.isnot(None))))
    result = lowcode("pools", "sweep", "--now", "2026-01-20T09:00:00+00:00")
    assert result.exit_code == 0, result.output
    printed = lines(result)
    assert [line["tenant"] for line in printed] == sorted(slugs)
    by_slug = {line["tenant"]: line for line in printed}
    for w in (first, second):
        assert by_slug[w.tenant.slug]["pools"] == {"public": {"recycled": 1, "warned": 0}}
    assert in_pool(first, mine[0]) and in_pool(second, mine[1])


def test_a_busy_tenant_gets_a_busy_line(world: Any, lowcode: Lowcode, monkeypatch: pytest.MonkeyPatch) -> None:
    """When another worker holds the tenant (the sweep answers None), its line says `busy` and the command
    still exits 0."""
    w = world()
    monkeypatch.setattr(pool_sweep, "sweep_tenant", lambda *args, **kwargs: None)
    result = lowcode("pools", "sweep", "--tenant", w.tenant.slug, "--now", "2026-01-20T09:00:00+00:00")
    assert result.exit_code == 0, result.output
    assert lines(result) == [{"tenant": w.tenant.slug, "busy": True}]
