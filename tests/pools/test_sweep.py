"""The pool sweep (both databases, fixed clocks): which owned records go back to their pool and when, the
warnings before, the pool events and outbox notices it writes, the fields it clears, and what it leaves
alone (exempt, out of scope, deleted, other tenants' records); `POST /api/v1/pools/sweep`.

Records are created and worked through the API at moments the `world` fixture's clock sets; the sweep runs
at a moment each test names. The helpers here are imported by test_sweep_cli.py and test_concurrency.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lowcode_platform.accounts.service import active_config, find_tenant
from lowcode_platform.api import pools as pools_api
from lowcode_platform.api import records as records_api
from lowcode_platform.api import stages as stages_api
from lowcode_platform.api.context import caller
from lowcode_platform.records.pool_sweep import sweep_tenant
from lowcode_platform.records.service import RecordService
from lowcode_platform.records.stages import StageService
from lowcode_platform.storage.tables import OutboxMessage, PoolEvent, Record
from tests.configs import crm, label
from tests.conftest import DEFAULT_USERS

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
FOLLOW_UP_15 = {"$gte": {"days_since_follow_up": 15}}


def day(n: float) -> datetime:
    """The moment `n` days after T0."""
    return T0 + n * DAY


def pool(**overrides: Any) -> dict[str, Any]:
    """A pull pool of customers for reps and managers (managers administer it): recycled after 15 days
    without a follow-up, unless `overrides` say otherwise."""
    spec: dict[str, Any] = {"entity": "customer", "label": label("Public pool", "公海"),
                            "members": {"roles": ["rep", "manager"]}, "admins": {"roles": ["manager"]},
                            "recycle": {"rules": [FOLLOW_UP_15]}}
    spec.update(overrides)
    return spec


def document(**pools: dict[str, Any]) -> dict[str, Any]:
    """The CRM test config with customer notes, visits (activities of a customer), deals of a customer in a
    `sales` pipeline (new -> won) and `pools` (default: one `public` pool)."""
    d = crm()
    d["entities"]["customer"]["fields"]["notes"] = {"type": "long_text", "label": label("Notes")}
    d["entities"]["visit"] = {
        "label": label("Visit", "拜访"), "activity_for": ["customer"],
        "fields": {"customer": {"type": "reference", "label": label("Customer"), "entity": "customer"}}}
    d["entities"]["deal"] = {
        "label": label("Deal", "商机"), "title_field": "name",
        "fields": {"name": {"type": "text", "label": label("Name"), "required": True},
                   "customer": {"type": "reference", "label": label("Customer"), "entity": "customer"}}}
    d["pipelines"] = {"sales": {
        "entity": "deal", "label": label("Sales"),
        "stages": [{"key": "new", "label": label("New"), "probability": 10},
                   {"key": "won", "label": label("Won"), "probability": 100, "terminal": True}],
        "won": ["won"], "lost": {"reasons": [{"value": "price", "label": label("Price")}]}}}
    for entity in ("visit", "deal"):
        d["roles"]["rep"]["permissions"][entity] = {"create": True, "read": True, "update": True, "scope": "own"}
    d["pools"] = pools or {"public": pool()}
    return d


class Clock:
    """The time the API sees: `clock.at(n)` sets it to day n after T0."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, n: float) -> datetime:
        self.now = day(n)
        return self.now


def fake_clock(monkeypatch: pytest.MonkeyPatch, start: datetime = T0) -> Clock:
    """Records, stage moves, pool endpoints and the sweep endpoint see the returned clock's time."""
    fake = Clock(start)

    def records() -> RecordService:
        who = caller()
        return RecordService(who.session, who.config, who.actor, clock=fake)

    monkeypatch.setattr(records_api, "_service", records)
    monkeypatch.setattr(stages_api, "_stages", lambda: StageService(records()))
    monkeypatch.setattr(pools_api, "RecordService",
                        lambda session, config, actor: RecordService(session, config, actor, clock=fake))
    return fake


@dataclass
class World:
    """A tenant with pools, the app's database, and the clock its requests see."""

    tenant: Any
    app: Flask
    clock: Clock

    def _session(self, write: bool = False) -> Any:
        return self.app.extensions["lowcode"].open_session(write=write)

    @property
    def tenant_id(self) -> str:
        with self._session() as session:
            return find_tenant(session, self.tenant.slug).id

    def user(self, name: str) -> str:
        return self.tenant.user_ids[name]

    def customer(self, name: str, owner: str = "rep1", at: float | None = None, **data: Any) -> dict[str, Any]:
        """A customer `owner` creates (at day `at`, if given)."""
        if at is not None:
            self.clock.at(at)
        return self.tenant.create("customer", {"name": name, **data}, owner)

    def visit(self, customer: dict[str, Any], at: float, user: str = "rep1") -> dict[str, Any]:
        """An activity logged for the customer at day `at`."""
        self.clock.at(at)
        return self.tenant.create("visit", {"customer": customer["id"]}, user)

    def claim(self, pool_key: str, record: dict[str, Any], user: str, at: float) -> Any:
        self.clock.at(at)
        return self.tenant.call("POST", f"/api/v1/pools/{pool_key}/claim", user, json={"id": record["id"]})

    def sweep(self, at: datetime) -> dict[str, Any] | None:
        """Sweep the tenant's pools at `at` (no actor), as the CLI does."""
        platform = self.app.extensions["lowcode"]
        with self._session(write=True) as session:
            found = find_tenant(session, self.tenant.slug)
            config = active_config(session, platform.config_cache, found.id, found.active_version)
            return sweep_tenant(session, config, found.id, at)

    def counts(self, at: datetime, pool_key: str = "public") -> tuple[int, int]:
        """(recycled, warned) of one pool in a sweep at `at`."""
        result = self.sweep(at)
        assert result is not None, "the sweep found the tenant busy"
        figures = result["pools"][pool_key]
        return figures["recycled"], figures["warned"]

    def row(self, record: dict[str, Any]) -> Record:
        with self._session() as session:
            found = session.scalar(select(Record).where(Record.tenant_id == self.tenant_id,
                                                        Record.id == record["id"]))
            assert found is not None
            return found

    def events(self, kind: str | None = None, record: dict[str, Any] | None = None) -> list[PoolEvent]:
        """The tenant's pool events (of `kind`, of `record`), in the order they were written."""
        statement = select(PoolEvent).where(PoolEvent.tenant_id == self.tenant_id)
        if kind is not None:
            statement = statement.where(PoolEvent.kind == kind)
        if record is not None:
            statement = statement.where(PoolEvent.record_id == record["id"])
        with self._session() as session:
            return list(session.scalars(statement.order_by(PoolEvent.at, PoolEvent.id)))

    def notices(self, event: str | None = None) -> list[OutboxMessage]:
        """The tenant's outbox messages from pools (`pool.recycle`, `pool.warn`), oldest first."""
        with self._session() as session:
            messages = list(session.scalars(select(OutboxMessage).where(OutboxMessage.tenant_id == self.tenant_id)
                                            .order_by(OutboxMessage.id)))
        return [m for m in messages if str(m.payload.get("event", "")).startswith("pool.")
                and (event is None or m.payload["event"] == event)]


def owned_by(world: World, record: dict[str, Any], user: str) -> bool:
    """The record belongs to `user` and is in no pool."""
    row = world.row(record)
    return row.owner_id == world.user(user) and row.pool is None


def in_pool(world: World, record: dict[str, Any], pool_key: str = "public") -> bool:
    """The record is in the pool, with no owner."""
    row = world.row(record)
    return row.owner_id is None and row.pool == pool_key


def world_factory(make_tenant: Any, app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[..., World]:
    """`make(document=None, users=DEFAULT_USERS)`: a tenant of `document` (default: `document()`) whose
    requests see one clock, at T0 until a test moves it."""
    clock = fake_clock(monkeypatch)

    def make(doc: dict[str, Any] | None = None, users: tuple[Any, ...] = DEFAULT_USERS) -> World:
        return World(make_tenant(doc or document(), users), app, clock)

    return make


@pytest.fixture
def world(make_tenant: Any, app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[..., World]:
    """`world(document)`: see `world_factory`."""
    return world_factory(make_tenant, app, monkeypatch)


# -- when a record goes back --------------------------------------------------------------------------------


def test_a_record_recycles_when_its_rule_first_holds_and_not_a_second_before(world: Any) -> None:
    """Created at T0 with `days_since_follow_up >= 15`: owned after 14 days and at 15 days less a second,
    in the pool at exactly 15 days, its version bumped and `updated_at` the sweep's moment."""
    w = world()
    c = w.customer("acme", at=0)
    assert w.counts(day(14)) == (0, 0)
    assert w.counts(day(15) - SECOND) == (0, 0)
    assert owned_by(w, c, "rep1")
    assert w.counts(day(15)) == (1, 0)
    assert in_pool(w, c)
    row = w.row(c)
    assert row.version == c["version"] + 1 and row.updated_at == day(15)


def test_the_level_decides_how_many_days_a_record_is_kept(world: Any) -> None:
    """Rules combining the level with days: an A customer is kept 30 days (rule 1), others 15 (rule 2)."""
    rules = [{"$and": [{"level": "a"}, {"$gte": {"days_since_follow_up": 30}}]},
             {"$and": [{"$neq": {"level": "a"}}, {"$gte": {"days_since_follow_up": 15}}]}]
    w = world(document(public=pool(recycle={"rules": rules})))
    a = w.customer("big", level="a", at=0)
    b = w.customer("mid", level="b", at=0)
    assert w.counts(day(15)) == (1, 0)
    assert in_pool(w, b) and owned_by(w, a, "rep1")
    assert w.counts(day(30) - SECOND) == (0, 0)
    assert w.counts(day(30)) == (1, 0)
    assert in_pool(w, a)
    assert {(e.record_id, e.reason) for e in w.events("recycle")} == {(b["id"], "rule_2"), (a["id"], "rule_1")}


def test_a_won_deal_restarts_the_no_deal_clock(world: Any) -> None:
    """`days_without_deal >= 30`: a customer whose deal is won on day 20 is kept until day 50; one without a
    deal goes back on day 30."""
    w = world(document(public=pool(recycle={"rules": [{"$gte": {"days_without_deal": 30}}]})))
    dealt = w.customer("dealt", at=0)
    idle = w.customer("idle", at=0)
    w.clock.at(20)
    deal = w.tenant.create("deal", {"name": "first order", "customer": dealt["id"]}, "rep1")
    moved = w.tenant.call("POST", f"/api/v1/records/deal/{deal['id']}/stage", "rep1", json={"to": "won"})
    assert moved.status_code == 200, moved.get_json()
    assert w.row(dealt).deal_at == day(20)
    assert w.counts(day(30)) == (1, 0)
    assert in_pool(w, idle) and owned_by(w, dealt, "rep1")
    assert w.counts(day(50) - SECOND) == (0, 0)
    assert w.counts(day(50)) == (1, 0)
    assert in_pool(w, dealt)


def test_an_unfinished_deal_does_not_restart_the_no_deal_clock(world: Any) -> None:
    """A deal created for the customer but not won leaves `days_without_deal` running from when it was owned."""
    w = world(document(public=pool(recycle={"rules": [{"$gte": {"days_without_deal": 30}}]})))
    c = w.customer("acme", at=0)
    w.clock.at(20)
    w.tenant.create("deal", {"name": "maybe", "customer": c["id"]}, "rep1")
    assert w.counts(day(30)) == (1, 0)
    assert in_pool(w, c)


def test_exempt_records_stay_with_their_owner_and_are_not_warned(world: Any) -> None:
    """`exempt: {level: a}`: an A customer is neither warned nor recycled however long it is idle."""
    w = world(document(public=pool(recycle={"rules": [FOLLOW_UP_15], "warn_days": 3, "exempt": {"level": "a"}})))
    a = w.customer("kept", level="a", at=0)
    c = w.customer("gone", at=0)
    assert w.counts(day(12)) == (0, 1)
    assert w.counts(day(100)) == (1, 0)
    assert owned_by(w, a, "rep1") and in_pool(w, c)
    assert w.events(record=a) == []


def test_the_pool_scope_limits_which_records_it_recycles(world: Any) -> None:
    """A pool scoped to level C recycles an idle C customer and leaves an idle B customer with its owner."""
    w = world(document(public=pool(scope={"level": "c"})))
    b = w.customer("b-level", level="b", at=0)
    c = w.customer("c-level", level="c", at=0)
    assert w.counts(day(40)) == (1, 0)
    assert in_pool(w, c) and owned_by(w, b, "rep1")


def test_a_claim_restarts_the_follow_up_clock(world: Any) -> None:
    """A record recycled on day 15 and claimed on day 16 (after an old activity) stays 15 days from the claim."""
    w = world()
    c = w.customer("acme", at=0)
    w.visit(c, at=1)
    assert w.counts(day(16)) == (1, 0)
    claimed = w.claim("public", c, "rep2", at=17)
    assert claimed.status_code == 200, claimed.get_json()
    assert w.row(c).owned_at == day(17)
    assert w.counts(day(32) - SECOND) == (0, 0)
    assert owned_by(w, c, "rep2")
    assert w.counts(day(32)) == (1, 0)
    assert in_pool(w, c)
    assert [(e.kind, e.from_owner, e.to_owner) for e in w.events(record=c)] == [
        ("recycle", w.user("rep1"), None), ("claim", None, w.user("rep2")), ("recycle", w.user("rep2"), None)]


def test_an_activity_restarts_the_follow_up_clock_of_the_record_it_names(world: Any) -> None:
    """A visit on day 10 keeps its customer until day 25; a customer without one goes back on day 15."""
    w = world()
    visited = w.customer("visited", at=0)
    idle = w.customer("idle", at=0)
    w.visit(visited, at=10)
    assert w.row(visited).last_activity_at == day(10)
    assert w.counts(day(15)) == (1, 0)
    assert in_pool(w, idle) and owned_by(w, visited, "rep1")
    assert w.counts(day(25) - SECOND) == (0, 0)
    assert w.counts(day(25)) == (1, 0)
    assert in_pool(w, visited)


def test_a_record_already_in_the_pool_is_left_alone(world: Any) -> None:
    """A released record (no owner) is not recycled again: no event, no version change."""
    w = world()
    c = w.customer("acme", at=0)
    released = w.tenant.call("POST", "/api/v1/pools/public/release", "rep1", json={"id": c["id"]})
    assert released.status_code == 200, released.get_json()
    version = w.row(c).version
    assert w.counts(day(60)) == (0, 0)
    assert w.row(c).version == version
    assert [e.kind for e in w.events(record=c)] == ["release"]


# -- warnings -----------------------------------------------------------------------------------------------


def test_an_owner_is_warned_once_within_warn_days_then_the_record_recycles(world: Any) -> None:
    """`warn_days: 3` with 15 days: no warning before day 12, one on day 12 (event and notice), none on
    day 13, then the record recycles on day 15 and its warning mark is cleared."""
    w = world(document(public=pool(recycle={"rules": [FOLLOW_UP_15], "warn_days": 3})))
    c = w.customer("acme", at=0)
    assert w.counts(day(12) - SECOND) == (0, 0)
    assert w.counts(day(12)) == (0, 1)
    row = w.row(c)
    assert row.pool_warned_at == day(12) and row.owner_id == w.user("rep1") and row.pool is None
    warns = w.events("warn")
    assert [(e.record_id, e.from_owner, e.to_owner, e.reason, e.pool, e.at) for e in warns] == [
        (c["id"], w.user("rep1"), None, None, "public", day(12))]
    notices = w.notices("pool.warn")
    assert [(n.recipients, n.payload["records"], n.payload["pool"]) for n in notices] == [
        ({"users": [w.user("rep1")]}, 1, "public")]
    assert w.counts(day(13)) == (0, 0)
    assert len(w.events("warn")) == 1 and len(w.notices("pool.warn")) == 1
    assert w.counts(day(15)) == (1, 0)
    assert in_pool(w, c)


def test_a_record_due_now_is_recycled_not_warned(world: Any) -> None:
    """A first sweep after the record is already due recycles it without a warning first."""
    w = world(document(public=pool(recycle={"rules": [FOLLOW_UP_15], "warn_days": 3})))
    c = w.customer("acme", at=0)
    assert w.counts(day(20)) == (1, 0)
    assert [e.kind for e in w.events(record=c)] == ["recycle"]
    assert w.notices("pool.warn") == []


def test_an_activity_after_a_warning_earns_a_new_warning_before_the_next_recycle(world: Any) -> None:
    """Warned on day 12, the owner logs a visit on day 13 (due now on day 28): the sweep on day 25 warns
    them again, so the record is never recycled without a warning in its current due period."""
    w = world(document(public=pool(recycle={"rules": [FOLLOW_UP_15], "warn_days": 3})))
    c = w.customer("acme", at=0)
    assert w.counts(day(12)) == (0, 1)
    w.visit(c, at=13)
    assert w.counts(day(24)) == (0, 0)
    assert w.counts(day(25)) == (0, 1)
    assert [e.at for e in w.events("warn")] == [day(12), day(25)]


# -- events and notices -------------------------------------------------------------------------------------


def test_recycle_events_name_the_first_rule_that_holds(world: Any) -> None:
    """Each recycled record gets one `recycle` event: from its owner, to nobody, no actor, at the sweep's
    moment, with the reason `rule_<n>` of the first rule (in config order) that holds."""
    rules = [{"$and": [{"level": "a"}, {"$gte": {"days_since_follow_up": 5}}]},
             {"$gte": {"days_since_follow_up": 10}}]
    w = world(document(public=pool(recycle={"rules": rules})))
    a = w.customer("a-level", level="a", at=0)
    c = w.customer("c-level", owner="rep2", at=0)
    assert w.counts(day(10)) == (2, 0)
    found = {e.record_id: (e.kind, e.pool, e.entity, e.from_owner, e.to_owner, e.reason, e.actor_id, e.at)
             for e in w.events()}
    assert found == {
        a["id"]: ("recycle", "public", "customer", w.user("rep1"), None, "rule_1", None, day(10)),
        c["id"]: ("recycle", "public", "customer", w.user("rep2"), None, "rule_2", None, day(10)),
    }
    history = w.tenant.call("GET", f"/api/v1/records/customer/{a['id']}/pool-history", "boss").get_json()["items"]
    assert [(h["kind"], h["from_owner_name"], h["reason"]) for h in history] == [("recycle", "rep1", "rule_1")]


def test_the_reason_is_the_rule_that_held_before_on_return_cleared_its_field(world: Any) -> None:
    """A rule reading a field `on_return.clear` removes (low intent for 5 days) names itself as the reason:
    the reason is decided on the record as it was due, not as the sweep left it."""
    doc = document(public=pool(recycle={"rules": [{"$and": [{"intent": "low"},
                                                            {"$gte": {"days_since_follow_up": 5}}]},
                                                  FOLLOW_UP_15]},
                               on_return={"clear": ["intent"]}))
    doc["entities"]["customer"]["fields"]["intent"] = {
        "type": "enum", "label": label("Intent", "意向"),
        "options": [{"value": "low", "label": label("Low")}, {"value": "high", "label": label("High")}]}
    w = world(doc)
    c = w.customer("acme", at=0, intent="low")
    assert w.counts(day(5)) == (1, 0)
    assert "intent" not in w.row(c).data
    assert [(e.kind, e.reason) for e in w.events(record=c)] == [("recycle", "rule_1")]


def test_a_recycled_owner_waits_out_the_cooldown_before_claiming_it_back(world: Any) -> None:
    """The sweep's event counts as the record leaving its owner: with `cooldown_days: 7`, rep1 cannot claim
    the record recycled on day 15 back on day 16, but may on day 23; rep2 may at once."""
    w = world(document(public=pool(limits={"cooldown_days": 7})))
    c = w.customer("acme", at=0)
    d = w.customer("other", at=0)
    assert w.counts(day(15)) == (2, 0)
    refused = w.claim("public", c, "rep1", at=16)
    assert refused.status_code == 409 and [e["code"] for e in refused.get_json()["errors"]] == ["pool_cooldown"]
    assert w.claim("public", d, "rep2", at=16).status_code == 200
    assert w.claim("public", c, "rep1", at=23).status_code == 200
    assert owned_by(w, c, "rep1") and owned_by(w, d, "rep2")


def test_each_former_owner_gets_one_notice_with_their_count(world: Any) -> None:
    """rep1 loses three records and rep2 one in a sweep: two `pool.recycle` notices, with 3 and 1."""
    w = world()
    for name in ("one", "two", "three"):
        w.customer(name, at=0)
    w.customer("four", owner="rep2", at=0)
    assert w.counts(day(15)) == (4, 0)
    notices = w.notices()
    assert sorted((n.recipients["users"][0], n.payload["records"]) for n in notices) == sorted(
        [(w.user("rep1"), 3), (w.user("rep2"), 1)])
    for notice in notices:
        assert notice.kind == "notification" and notice.sent_at is None and notice.created_at == day(15)
        assert (notice.payload["event"], notice.payload["pool"], notice.payload["entity"]) == (
            "pool.recycle", "public", "customer")
        assert notice.payload["label"] == label("Public pool", "公海")


def test_a_sweep_that_moves_nothing_writes_no_event_and_no_notice(world: Any) -> None:
    """Nothing due and nothing to warn of: the sweep leaves the events and the outbox empty."""
    w = world(document(public=pool(recycle={"rules": [FOLLOW_UP_15], "warn_days": 3})))
    w.customer("acme", at=0)
    assert w.counts(day(5)) == (0, 0)
    assert w.events() == [] and w.notices() == []


def test_values_on_return_clear_removes_in_a_sweep_are_kept_in_the_recycle_event(world: Any) -> None:
    """Nothing is lost (DESIGN.md): the value a sweep's `on_return.clear` removes is kept in the recycle's
    pool event, which tenant admins read in the pool history; members see only which fields were cleared."""
    w = world(document(public=pool(on_return={"clear": ["notes"]})))
    c = w.customer("acme", at=0, notes="private")
    assert w.counts(day(15)) == (1, 0)
    path = f"/api/v1/records/customer/{c['id']}/pool-history"
    events = w.tenant.call("GET", path, "admin").get_json()["items"]
    assert [(e["kind"], e["cleared_fields"], e["cleared"]) for e in events] == [
        ("recycle", ["notes"], {"notes": "private"})]
    member = w.tenant.call("GET", path, "rep2").get_json()["items"]
    assert [(e["cleared_fields"], e["cleared"]) for e in member] == [(["notes"], None)]


# -- what it changes ----------------------------------------------------------------------------------------


def test_on_return_clear_removes_the_fields_and_keeps_the_rest(world: Any) -> None:
    """`on_return: {clear: [notes]}`: the recycled record's data has no `notes` key; other fields keep their
    values; a record without notes is recycled too; a warned record keeps its notes."""
    w = world(document(public=pool(recycle={"rules": [FOLLOW_UP_15], "warn_days": 3},
                                   on_return={"clear": ["notes"]})))
    noted = w.customer("noted", level="b", notes="call the CFO, not the CEO", at=0)
    plain = w.customer("plain", at=0)
    later = w.customer("later", notes="keep me", at=3)
    assert w.counts(day(15)) == (2, 1)
    assert w.row(noted).data == {"name": "noted", "level": "b"}
    assert w.row(plain).data == {"name": "plain", "level": "c"}
    assert w.row(later).data == {"name": "later", "level": "c", "notes": "keep me"}
    assert in_pool(w, noted) and in_pool(w, plain) and owned_by(w, later, "rep1")


def test_a_record_is_recycled_when_its_protection_period_ends(world: Any) -> None:
    """`protection: {days: 10}` and no rules: kept 10 days from creation, recycled at exactly 10 days
    with the reason `protection_expired`."""
    w = world(document(public=pool(recycle={"protection": {"days": 10}})))
    c = w.customer("acme", at=0)
    w.visit(c, at=5)
    assert w.counts(day(10) - SECOND) == (0, 0)
    assert w.counts(day(10)) == (1, 0)
    assert in_pool(w, c)
    assert [(e.kind, e.reason) for e in w.events(record=c)] == [("recycle", "protection_expired")]


def test_a_claim_starts_a_new_protection_period(world: Any) -> None:
    """A record claimed on day 12 is protected until day 22 (`protected_until`), recycled then."""
    w = world(document(public=pool(recycle={"protection": {"days": 10}})))
    c = w.customer("acme", at=0)
    assert w.counts(day(10)) == (1, 0)
    assert w.claim("public", c, "rep2", at=12).status_code == 200
    assert w.row(c).protected_until == day(22)
    assert w.counts(day(22) - SECOND) == (0, 0)
    assert w.counts(day(22)) == (1, 0)
    assert w.events("recycle", c)[-1].from_owner == w.user("rep2")


def test_activities_extend_protection_up_to_max_days(world: Any) -> None:
    """`protection: {days: 10, extend_days: 5, max_days: 20}`: one visit keeps a record until day 15;
    three visits would give 25 days but `max_days` recycles it on day 20."""
    w = world(document(public=pool(recycle={"protection": {"days": 10, "extend_days": 5, "max_days": 20}})))
    once = w.customer("once", at=0)
    often = w.customer("often", at=0)
    w.visit(once, at=3)
    for n in (1, 2, 3):
        w.visit(often, at=n)
    assert w.row(once).protected_until == day(15)
    assert w.row(often).protected_until == day(20)
    assert w.counts(day(15) - SECOND) == (0, 0)
    assert w.counts(day(15)) == (1, 0)
    assert in_pool(w, once) and owned_by(w, often, "rep1")
    assert w.counts(day(20) - SECOND) == (0, 0)
    assert w.counts(day(20)) == (1, 0)
    assert in_pool(w, often)


def test_a_rule_recycles_a_record_its_protection_still_covers_and_names_itself(world: Any) -> None:
    """With rules and protection, whichever ends first recycles: a 5-day rule beats 10 days of protection,
    and the event names the rule."""
    w = world(document(public=pool(recycle={"rules": [{"$gte": {"days_since_follow_up": 5}}],
                                            "protection": {"days": 10}})))
    c = w.customer("acme", at=0)
    assert w.counts(day(5)) == (1, 0)
    assert [e.reason for e in w.events(record=c)] == ["rule_1"]


def test_a_second_sweep_at_the_same_moment_moves_nothing(world: Any) -> None:
    """Idempotent: sweeping again at the same moment recycles and warns nothing and writes no event, notice
    or version."""
    w = world(document(public=pool(recycle={"rules": [FOLLOW_UP_15], "warn_days": 3})))
    due = w.customer("due", at=0)
    soon = w.customer("soon", at=3)
    assert w.counts(day(15)) == (1, 1)
    before = (w.events(), w.notices(), w.row(due).version, w.row(soon).version)
    assert w.counts(day(15)) == (0, 0)
    after = (w.events(), w.notices(), w.row(due).version, w.row(soon).version)
    assert [e.id for e in after[0]] == [e.id for e in before[0]]
    assert [n.id for n in after[1]] == [n.id for n in before[1]]
    assert after[2:] == before[2:]


def test_two_pools_of_one_entity_each_take_back_their_own_records(world: Any) -> None:
    """A key-account pool (level A, 30 days) and a public pool (other levels, 15 days): each record goes to
    the pool whose scope it is in, on its pool's day, with that pool's events and notices."""
    key_accounts = pool(label=label("Key accounts", "大客户"), scope={"level": "a"},
                        recycle={"rules": [{"$gte": {"days_since_follow_up": 30}}]})
    public = pool(scope={"$neq": {"level": "a"}})
    w = world(document(key_accounts=key_accounts, public=public))
    a = w.customer("big", level="a", at=0)
    c = w.customer("small", at=0)
    result = w.sweep(day(15))
    assert result is not None and result["pools"] == {"key_accounts": {"recycled": 0, "warned": 0},
                                                      "public": {"recycled": 1, "warned": 0}}
    assert in_pool(w, c, "public") and owned_by(w, a, "rep1")
    assert w.counts(day(30), "key_accounts") == (1, 0)
    assert in_pool(w, a, "key_accounts")
    assert {(e.record_id, e.pool) for e in w.events("recycle")} == {(a["id"], "key_accounts"), (c["id"], "public")}
    assert sorted(n.payload["pool"] for n in w.notices("pool.recycle")) == ["key_accounts", "public"]
    listed = w.tenant.call("GET", "/api/v1/pools/public/records", "rep2").get_json()["items"]
    assert [r["id"] for r in listed] == [c["id"]]


# -- what it leaves alone -----------------------------------------------------------------------------------


def test_records_of_other_tenants_are_untouched(world: Any) -> None:
    """Sweeping one tenant leaves another tenant's idle records, events and outbox as they were."""
    swept, other = world(), world()
    mine = swept.customer("acme", at=0)
    theirs = other.customer("acme", at=0)
    version = other.row(theirs).version
    assert swept.counts(day(40)) == (1, 0)
    assert in_pool(swept, mine)
    assert owned_by(other, theirs, "rep1") and other.row(theirs).version == version
    assert other.events() == [] and other.notices() == []


def test_deleted_records_are_untouched(world: Any) -> None:
    """A soft-deleted idle record keeps its owner and gets no event; a restore finds it as it was."""
    w = world()
    c = w.customer("acme", at=0)
    w.clock.at(1)
    deleted = w.tenant.call("DELETE", f"/api/v1/records/customer/{c['id']}", "admin")
    assert deleted.status_code == 200, deleted.get_json()
    assert w.counts(day(40)) == (0, 0)
    row = w.row(c)
    assert row.deleted_at == day(1) and row.owner_id == w.user("rep1") and row.pool is None
    assert w.events() == [] and w.notices() == []


# -- the endpoint -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["rep1", "boss", "viewer"])
def test_only_tenant_admins_may_sweep_through_the_api(world: Any, user: str) -> None:
    """A rep, a manager (the pool's admin, not the tenant's) and a viewer get 403 and nothing moves."""
    w = world()
    c = w.customer("acme", at=0)
    w.clock.at(40)
    response = w.tenant.call("POST", "/api/v1/pools/sweep", user)
    assert response.status_code == 403, response.get_json()
    assert owned_by(w, c, "rep1") and w.events() == []


def test_the_sweep_endpoint_sweeps_at_the_server_time_and_answers_the_counts(world: Any) -> None:
    """A tenant admin's sweep recycles what is due now, warns of what is due soon, answers the counts per
    pool and the moment, and signs the events with the admin."""
    w = world(document(public=pool(recycle={"rules": [FOLLOW_UP_15], "warn_days": 3})))
    due = w.customer("due", at=0)
    soon = w.customer("soon", at=3)
    w.clock.at(15)
    response = w.tenant.call("POST", "/api/v1/pools/sweep", "admin")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["pools"] == {"public": {"recycled": 1, "warned": 1}}
    assert datetime.fromisoformat(body["at"].replace("Z", "+00:00")) == day(15)
    assert in_pool(w, due) and w.row(soon).pool_warned_at == day(15)
    assert Counter((e.kind, e.actor_id) for e in w.events()) == {("recycle", w.user("admin")): 1,
                                                                 ("warn", w.user("admin")): 1}
    again = w.tenant.call("POST", "/api/v1/pools/sweep", "admin")
    assert again.status_code == 200 and again.get_json()["pools"] == {"public": {"recycled": 0, "warned": 0}}


def test_a_tenant_without_pools_sweeps_to_an_empty_result(world: Any) -> None:
    """No pools: the endpoint answers no pools and changes nothing."""
    doc = document()
    del doc["pools"]
    w = world(doc)
    c = w.customer("acme", at=0)
    w.clock.at(40)
    response = w.tenant.call("POST", "/api/v1/pools/sweep", "admin")
    assert response.status_code == 200 and response.get_json()["pools"] == {}
    assert w.row(c).owner_id == w.user("rep1")
