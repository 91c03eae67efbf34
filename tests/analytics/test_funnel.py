"""The funnel's figures equal a brute-force count in Python over the same generated deals, on both databases.

Deals walk randomly through the stages (forward, skipping, back, lost, reopened); their records and stage
history rows are inserted straight through the app's engine, with timestamps under the test's control.
The brute force below reads the definitions of `lowcode_platform.analytics.funnel` literally, deal by deal.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from lowcode_platform.accounts.service import authenticate
from lowcode_platform.analytics import AnalyticsService, plan_coverage
from lowcode_platform.storage.engine import scope_to_tenant
from lowcode_platform.storage.ids import new_id
from lowcode_platform.storage.tables import Record, StageChange
from tests.configs import crm, label

NOW = datetime(2024, 7, 1, 3, 30, tzinfo=timezone.utc)
ZONE = ZoneInfo("Asia/Shanghai")  # the config's default time zone
SOURCES = ["web", "referral", "event", "partner"]
REASONS = ["price", "competitor", "no_budget"]
SALES = [("qualify", 10, 10), ("develop", 30, 20), ("propose", 60, None), ("negotiate", 80, 5), ("signed", 100, None)]
RENEWAL = [("contact", 20, None), ("renew", 100, None)]
TEAMS = {"east": {"boss", "rep1", "rep2"}, "west": {"outsider"}}
# Whose deals each user's read scope on opportunities shows (DEFAULT_USERS: boss manages rep1 and rep2 in east).
SCOPES = {"admin": None, "boss": {"boss", "rep1", "rep2"}, "rep1": {"rep1"}, "outsider": {"outsider"}}


def _pipeline(stages: list[tuple[str, Any, int | None]], won: str) -> dict[str, Any]:
    specs = []
    for key, probability, rot in stages:
        spec: dict[str, Any] = {"key": key, "label": label(key.title()), "probability": probability}
        if rot:
            spec["rot_days"] = rot
        if key == won:
            spec["terminal"] = True
        specs.append(spec)
    return {"entity": "opportunity", "label": label("Pipeline"), "stages": specs, "won": [won],
            "allow_skip": True, "allow_back": True,
            "lost": {"reasons": [{"value": r, "label": label(r.replace("_", " ").title())} for r in REASONS]}}


def funnel_config() -> dict[str, Any]:
    document = crm()
    document["roles"]["rep"]["permissions"]["opportunity"] = {"read": True, "update": True, "scope": "own"}
    document["entities"]["opportunity"] = {
        "label": label("Opportunity", "商机"),
        "title_field": "name",
        "fields": {
            "name": {"type": "text", "label": label("Name")},
            "amount": {"type": "money", "label": label("Amount"), "currencies": ["CNY"], "min": 0},
            "signed_on": {"type": "date", "label": label("Signed on")},
            "expected_close_date": {"type": "date", "label": label("Expected close")},
            "source": {"type": "enum", "label": label("Source"),
                       "options": [{"value": s, "label": label(s.title())} for s in SOURCES]},
            "channel": {"type": "enum", "label": label("Channel"),
                        "options": [{"value": c, "label": label(c)} for c in ("direct", "partner")]},
        },
    }
    document["pipelines"] = {"sales": _pipeline(SALES, "signed"), "renewal": _pipeline(RENEWAL, "renew")}
    return document


# -- generated deals ---------------------------------------------------------------------------------


@dataclass
class Move:
    from_stage: str | None
    to_stage: str
    at: datetime
    seconds: int | None
    reason: str | None = None


@dataclass
class Deal:
    tenant_id: str
    id: str
    owner: str | None  # a user name
    owner_id: str | None
    pipeline: str
    created_at: datetime
    data: dict[str, Any]
    moves: list[Move] = field(default_factory=list)
    probability: Decimal = Decimal(0)
    last_activity_at: datetime | None = None
    deleted: bool = False

    @property
    def stage(self) -> str:
        return self.moves[-1].to_stage

    @property
    def stage_entered_at(self) -> datetime:
        return self.moves[-1].at


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def walk(rng: random.Random, stages: list[tuple[str, Any, int | None]], start: datetime) -> list[Move]:
    """A random path through `stages`: forward (sometimes skipping one), back, lost and reopened."""
    keys = [s[0] for s in stages]
    here = 0 if rng.random() < 0.9 else 1
    moves = [Move(None, keys[here], start, None)]
    at = start
    for _ in range(rng.randrange(0, 9)):
        nxt = _ms(at + timedelta(seconds=rng.randrange(60, 40 * 86400), milliseconds=rng.randrange(1000)))
        if nxt >= NOW:
            break
        current = moves[-1].to_stage
        draw = rng.random()
        if current == "lost":
            if draw > 0.3:
                break
            target, reason = rng.choice(keys[:-1]), None
        elif current == keys[-1]:
            break  # won and terminal
        elif draw < 0.55:
            target, reason = keys[min(here + (2 if rng.random() < 0.15 else 1), len(keys) - 1)], None
        elif draw < 0.7 and here > 0:
            target, reason = keys[here - 1], None
        elif draw < 0.9:
            target, reason = "lost", rng.choice(REASONS + [REASONS[0]])
        else:
            break
        moves.append(Move(current, target, nxt, int((nxt - at).total_seconds()), reason))
        here = keys.index(target) if target != "lost" else here
        at = nxt
    return moves


def generate(rng: random.Random, tenant_id: str, users: dict[str, str], count: int) -> list[Deal]:
    deals = []
    probabilities = {key: Decimal(str(p)) for key, p, _ in SALES + RENEWAL}
    for _ in range(count):
        owner = rng.choice(["admin", "boss", "rep1", "rep2", "rep2", "outsider", None])
        pipeline, stages = ("renewal", RENEWAL) if rng.random() < 0.1 else ("sales", SALES)
        created = _ms(NOW - timedelta(seconds=rng.randrange(3600, 240 * 86400), milliseconds=rng.randrange(1000)))
        data: dict[str, Any] = {"name": f"deal {len(deals)}"}
        if rng.random() < 0.9:
            data["amount"] = {"amount": Decimal(rng.randrange(100, 5_000_000)) / 100, "currency": "CNY"}
        if rng.random() < 0.8:
            data["expected_close_date"] = (NOW.date() + timedelta(days=rng.randrange(-120, 200))).isoformat()
        if rng.random() < 0.85:
            data["source"] = rng.choice(SOURCES)
        deal = Deal(tenant_id, new_id(), owner, users.get(owner) if owner else None, pipeline, created, data)
        deal.moves = walk(rng, stages, created)
        deal.probability = Decimal(0) if deal.stage == "lost" else probabilities[deal.stage]
        if rng.random() < 0.2:  # a rep's own probability
            deal.probability = Decimal(rng.randrange(0, 10001)) / 100
        if rng.random() < 0.5:
            deal.last_activity_at = _ms(deal.stage_entered_at + (NOW - deal.stage_entered_at) * rng.random())
        deal.deleted = rng.random() < 0.05
        deals.append(deal)
    return deals


def store(app: Any, deals: list[Deal]) -> None:
    """Insert the deals' records and stage history rows in one transaction, through the app's engine."""
    won = {"signed", "renew"}
    records, history = [], []
    for d in deals:
        records.append({
            "tenant_id": d.tenant_id, "id": d.id, "entity": "opportunity", "owner_id": d.owner_id, "pool": None,
            "pipeline": d.pipeline, "stage": d.stage, "stage_entered_at": d.stage_entered_at,
            "last_activity_at": d.last_activity_at, "won_at": d.stage_entered_at if d.stage in won else None,
            "lost_at": d.stage_entered_at if d.stage == "lost" else None, "probability": d.probability,
            "forecast_category": "pipeline", "created_at": d.created_at, "updated_at": d.stage_entered_at,
            "deleted_at": NOW - timedelta(days=1) if d.deleted else None, "created_by": None, "updated_by": None,
            "version": len(d.moves), "config_version": 1, "data": d.data,
        })
        history += [{"tenant_id": d.tenant_id, "id": new_id(), "record_id": d.id, "entity": "opportunity",
                     "pipeline": d.pipeline, "from_stage": m.from_stage, "to_stage": m.to_stage, "at": m.at,
                     "seconds_in_from": m.seconds, "actor_id": None, "reason": m.reason, "comment": None,
                     "override": False} for m in d.moves]
    with app.extensions["lowcode"].engine.begin() as connection:
        connection.execute(insert(Record.__table__), records)
        connection.execute(insert(StageChange.__table__), history)


@dataclass
class World:
    tenant: Any
    deals: list[Deal]


@pytest.fixture
def world(app: Any, make_tenant: Any) -> World:
    """A tenant with 200 generated deals (plus 40 of another tenant with the same config)."""
    rng = random.Random(20240701)
    tenant = make_tenant(funnel_config())
    other = make_tenant(funnel_config())
    tenant_id = tenant_of(app, tenant, "admin")[0].tenant_id
    other_id = tenant_of(app, other, "admin")[0].tenant_id
    deals = generate(rng, tenant_id, tenant.user_ids, 200)
    store(app, deals + generate(rng, other_id, other.user_ids, 40))
    return World(tenant, deals)


def tenant_of(app: Any, tenant: Any, user: str) -> Any:
    platform = app.extensions["lowcode"]
    with platform.open_session() as session:
        found = authenticate(session, platform.config_cache, tenant.tokens[user])
    assert found is not None
    return found


def run_funnel(app: Any, tenant: Any, user: str, args: dict[str, str]) -> dict[str, Any]:
    actor, config = tenant_of(app, tenant, user)
    with app.extensions["lowcode"].open_session() as session:
        scope_to_tenant(session, actor.tenant_id)
        return AnalyticsService(session, config, actor, clock=lambda: NOW).funnel("sales", args)


# -- the brute force ---------------------------------------------------------------------------------

KEYS = [s[0] for s in SALES]
CENT, RATE = Decimal("0.01"), Decimal("0.0001")


def bound(day: str | None, after: bool) -> datetime | None:
    if day is None:
        return None
    moment = datetime.combine(date.fromisoformat(day) + timedelta(days=1 if after else 0), time(0), ZONE)
    return moment.astimezone(timezone.utc)


@dataclass
class Expect:
    deals: list[Deal]
    start: datetime | None
    end: datetime | None
    source: str | None = None  # the source filter: by_source shows that value only

    def during(self, moment: datetime | None) -> bool:
        return (moment is not None and (self.start is None or moment >= self.start)
                and (self.end is None or moment < self.end))


def visible(world: World, user: str, args: dict[str, str]) -> Expect:
    """The deals `user` may read that match the filters, by reading each generated deal."""
    scope = SCOPES[user]
    chosen = []
    for d in world.deals:
        if d.deleted or (scope is not None and d.owner not in scope):
            continue
        if "owner" in args and d.owner_id != args["owner"]:
            continue
        if "team" in args and d.owner not in TEAMS[args["team"]]:
            continue
        if "source" in args and d.data.get("source") != args["source"]:
            continue
        chosen.append(d)
    return Expect(chosen, bound(args.get("from"), False), bound(args.get("to"), True), args.get("source"))


def amount_of(d: Deal) -> Decimal:
    return d.data["amount"]["amount"] if "amount" in d.data else Decimal(0)


def ratio(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / whole).quantize(RATE, ROUND_HALF_EVEN) if whole else None


def in_days(seconds: Decimal) -> Decimal:
    return (seconds / 86400).quantize(CENT, ROUND_HALF_EVEN)


def expected_stage(e: Expect, key: str) -> dict[str, Any]:
    sales = [d for d in e.deals if d.pipeline == "sales"]
    here = [d for d in sales if d.stage == key]
    spec = next((s for s in SALES if s[0] == key), None)
    rot = spec[2] if spec else None
    stalled = None
    if rot is not None and key != "signed":
        stalled = sum(1 for d in here if NOW - max(m for m in (d.stage_entered_at, d.last_activity_at) if m)
                      > timedelta(days=rot))
    entered = converted = dropped = 0
    index = KEYS.index(key) if key in KEYS else None
    for d in sales:
        entries = [m.at for m in d.moves if m.to_stage == key and e.during(m.at)]
        if not entries:
            continue
        first = min(entries)
        entered += 1
        if index is not None and any(m.to_stage in KEYS[index + 1:] and m.at > first for m in d.moves):
            converted += 1
        if any(m.from_stage == key and m.to_stage == "lost" and m.at > first for m in d.moves):
            dropped += 1
    last = key in ("signed", "lost")
    seconds = sorted(m.seconds for d in sales for m in d.moves if m.from_stage == key and e.during(m.at))
    median = None
    if seconds:
        middle = len(seconds) // 2
        median = Decimal(seconds[middle]) if len(seconds) % 2 else Decimal(seconds[middle - 1] + seconds[middle]) / 2
    return {
        "key": key, "count": len(here), "amount": sum((amount_of(d) for d in here), Decimal(0)).quantize(CENT),
        "weighted_amount": sum((amount_of(d) * d.probability / 100 for d in here), Decimal(0)).quantize(
            CENT, ROUND_HALF_UP),
        "stalled": stalled, "entered": entered,
        "converted": None if last else converted, "conversion_rate": None if last else ratio(converted, entered),
        "dropped": None if key == "lost" else dropped, "drop_rate": None if key == "lost" else ratio(dropped, entered),
        "moves_out": len(seconds),
        "avg_days": in_days(Decimal(sum(seconds)) / len(seconds)) if seconds else None,
        "median_days": in_days(median) if median is not None else None,
    }


def expected(e: Expect) -> dict[str, Any]:
    sales = [d for d in e.deals if d.pipeline == "sales"]
    won = [d for d in sales if d.stage == "signed" and e.during(d.stage_entered_at)]
    lost = [d for d in sales if d.stage == "lost" and e.during(d.stage_entered_at)]
    reasons = Counter(m.reason for d in sales for m in d.moves if m.to_stage == "lost" and e.during(m.at))
    months: dict[str | None, list[Deal]] = {}
    for d in sales:
        if d.stage in KEYS[:-1]:
            months.setdefault(d.data.get("expected_close_date", "")[:7] or None, []).append(d)
    created = [d for d in sales if e.during(d.created_at)]
    by_source = []
    for value in [e.source] if e.source else SOURCES + [None]:
        group = [d for d in created if d.data.get("source") == value]
        if value is None and not group:
            continue
        n_won = sum(1 for d in group if d.stage == "signed")
        n_lost = sum(1 for d in group if d.stage == "lost")
        by_source.append({"value": value, "deals": len(group), "won": n_won, "lost": n_lost,
                          "conversion_rate": ratio(n_won, len(group)), "win_rate": ratio(n_won, n_won + n_lost),
                          "won_amount": sum((amount_of(d) for d in group if d.stage == "signed"),
                                            Decimal(0)).quantize(CENT)})
    return {
        "stages": [expected_stage(e, key) for key in KEYS + ["lost"]],
        "win_rate": {"closed": len(won) + len(lost), "won": len(won), "lost": len(lost),
                     "rate": ratio(len(won), len(won) + len(lost)),
                     "won_amount": sum((amount_of(d) for d in won), Decimal(0)).quantize(CENT)},
        "lost_reasons": {r: reasons.get(r, 0) for r in REASONS},
        "months": [{"month": month, "count": len(group),
                    "amount": sum((amount_of(d) for d in group), Decimal(0)).quantize(CENT),
                    "weighted_amount": sum((amount_of(d) * d.probability / 100 for d in group), Decimal(0)).quantize(
                        CENT, ROUND_HALF_UP)}
                   for month, group in sorted(months.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))],
        "by_source": by_source,
    }


def actual(result: dict[str, Any]) -> dict[str, Any]:
    """The figures of a funnel result that `expected` computes, in its shape."""
    stage_keys = ("key", "count", "amount", "weighted_amount", "stalled", "entered", "converted", "conversion_rate",
                  "dropped", "drop_rate", "moves_out", "avg_days", "median_days")
    return {
        "stages": [{k: s[k] for k in stage_keys} for s in result["stages"]],
        "win_rate": {k: result["win_rate"][k] for k in ("closed", "won", "lost", "rate", "won_amount")},
        "lost_reasons": {r["reason"]: r["count"] for r in result["lost_reasons"]},
        "months": result["forecast"]["months"],
        "by_source": [{k: v for k, v in row.items() if k != "label"} for row in result["by_source"]["values"]],
    }


CASES = [
    ("admin", {}),
    ("admin", {"from": "2024-02-01", "to": "2024-05-31"}),
    ("admin", {"from": "2024-04-10"}),
    ("admin", {"to": "2024-03-15", "owner": "@rep2"}),
    ("admin", {"team": "east", "from": "2024-01-01"}),
    ("admin", {"source": "web", "from": "2024-02-01", "to": "2024-06-30"}),
    ("boss", {}),
    ("boss", {"from": "2024-03-01", "source": "referral"}),
    ("rep1", {}),
    ("rep1", {"from": "2024-02-01", "to": "2024-05-31"}),
    ("outsider", {"team": "east"}),
]


@pytest.mark.parametrize(("user", "args"), CASES)
def test_funnel_equals_a_brute_force_count(app, world, user, args):
    """Every figure (snapshot, conversion, drop-out, days in stage, win rate, reasons, forecast, sources) matches."""
    args = {k: world.tenant.user_ids[v[1:]] if v.startswith("@") else v for k, v in args.items()}
    result = run_funnel(app, world.tenant, user, args)
    want = expected(visible(world, user, args))
    got = actual(result)
    assert got["stages"] == want["stages"]
    assert got == want


def test_the_generated_deals_exercise_every_figure(world):
    """The data set is not degenerate: deals skip, go back, are lost and reopened, and periods cut through them."""
    moves = [m for d in world.deals for m in d.moves]
    assert sum(1 for m in moves if m.from_stage in KEYS and m.to_stage in KEYS
               and KEYS.index(m.to_stage) == KEYS.index(m.from_stage) + 2) > 5
    assert sum(1 for m in moves if m.from_stage in KEYS and m.to_stage in KEYS
               and KEYS.index(m.to_stage) < KEYS.index(m.from_stage)) > 5
    assert sum(1 for m in moves if m.from_stage == "lost") > 3
    assert sum(1 for d in world.deals if d.stage == "signed") > 5
    want = expected(visible(world, "admin", {}))
    assert all(s["entered"] for s in want["stages"]) and any(s["stalled"] for s in want["stages"] if s["stalled"])


def test_a_rep_sees_only_their_own_deals_and_a_manager_their_team(app, world):
    """The read scope applies: a rep's funnel counts their deals only, a manager's their team's."""
    everyone = run_funnel(app, world.tenant, "admin", {})
    rep = run_funnel(app, world.tenant, "rep1", {})
    boss = run_funnel(app, world.tenant, "boss", {})
    mine = [d for d in world.deals if not d.deleted and d.pipeline == "sales" and d.owner == "rep1"]
    team = [d for d in world.deals if not d.deleted and d.pipeline == "sales" and d.owner in TEAMS["east"]]
    assert sum(s["count"] for s in rep["stages"]) == len(mine)
    assert sum(s["count"] for s in boss["stages"]) == len(team)
    assert len(mine) < len(team) < sum(s["count"] for s in everyone["stages"])
    assert run_funnel(app, world.tenant, "rep1", {"owner": world.tenant.user_ids["rep2"]})["win_rate"]["closed"] == 0


def test_coverage_from_three_stages_at_half_is_eight_deals_per_signature():
    """With 50% conversion at each of three stages, one signed deal needs 8 at the top, then 4, 2 and 1."""
    half = Fraction(1, 2)
    needs = plan_coverage(["a", "b", "c", "won"], [half, half, half], 3, target_count=1)
    assert [n.deals for n in needs] == [8, 4, 2, 1]
    assert [n.rate_to_won for n in needs] == [Fraction(1, 8), Fraction(1, 4), half, 1]
    assert [n.deals for n in plan_coverage(["a", "b", "c", "won"], [half, half, half], 3, target_count=3)] == [
        24, 12, 6, 3]


def test_coverage_of_an_amount_target_and_of_unknown_rates():
    """An amount target needs target / rate in amount and target / average won amount / rate in deals;
    a stage whose path to the won stage has no rate, or a rate of 0, needs an unknown number."""
    needs = plan_coverage(["a", "b", "won"], [Fraction(1, 3), Fraction(1, 2)], 2,
                          target_amount=Decimal("1000"), average_won_amount=Decimal("300"))
    assert [(n.deals, n.amount) for n in needs] == [(20, Decimal("6000.00")), (7, Decimal("2000.00")),
                                                    (4, Decimal("1000.00"))]
    needs = plan_coverage(["a", "b", "c", "won"], [None, Fraction(0), Fraction(1, 2)], 3, target_count=2)
    assert [n.deals for n in needs] == [None, None, 4, 2]
    with pytest.raises(TypeError):
        plan_coverage(["a", "won"], [Fraction(1, 2)], 1)


def test_coverage_uses_the_funnels_own_conversion_rates(app, world):
    """`target_count` plans each stage up to the won stage from the conversion rates the funnel reports."""
    result = run_funnel(app, world.tenant, "admin", {"target_count": "5", "from": "2024-01-01"})
    stages = result["stages"]
    coverage = result["coverage"]
    assert coverage["won_stage"] == "signed" and [s["key"] for s in coverage["stages"]] == KEYS
    for k, row in enumerate(coverage["stages"]):
        share = math.prod(Fraction(s["converted"], s["entered"]) for s in stages[k:4])
        assert row["need_count"] == math.ceil(5 / share)
        assert row["short"] == max(row["need_count"] - stages[k]["count"], 0)


# -- the HTTP endpoint ---------------------------------------------------------------------------------


def test_endpoint_answers_the_funnel_as_json(world):
    """GET /api/v1/analytics/funnel/{pipeline} answers the figures as JSON numbers, stages in order, lost last."""
    response = world.tenant.call("GET", "/api/v1/analytics/funnel/sales?from=2024-01-01&to=2024-06-30"
                                        "&target_amount=100000")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [s["key"] for s in body["stages"]] == KEYS + ["lost"]
    assert body["fields"] == {"amount": "amount", "close": "expected_close_date", "source": "source"}
    assert body["period"]["from"] == "2024-01-01" and body["period"]["start"] == "2023-12-31T16:00:00.000Z"
    assert body["coverage"]["target_amount"] == 100000
    assert [r["reason"] for r in body["lost_reasons"]] != [] and body["win_rate"]["closed"] > 0


def test_endpoint_reads_other_fields_when_asked(world):
    """close_field and source_field name other fields; amount_field another amount."""
    response = world.tenant.call("GET", "/api/v1/analytics/funnel/sales?close_field=signed_on&source_field=channel")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["forecast"]["field"] == "signed_on"
    assert [m["month"] for m in body["forecast"]["months"]] == [None]  # no deal has the field
    assert [v["value"] for v in body["by_source"]["values"]] == ["direct", "partner", None]


@pytest.mark.parametrize(("query", "parameters"), [
    ("from=2024-13-01", ["from"]),
    ("from=01/02/2024&to=2024-02-30", ["from", "to"]),
    ("from=2024-05-01&to=2024-04-30", ["to"]),
    ("target_count=0&target_amount=-5", ["target_count", "target_amount"]),
    ("target_count=3&target_amount=5", ["target_amount"]),
    ("source=tv", ["source"]),
    ("owner=nobody&team=nowhere", ["team", "owner"]),
    ("close_field=amount&source_field=name&amount_field=source", ["amount_field", "close_field", "source_field"]),
    ("limit=5", ["limit"]),
])
def test_bad_parameters_answer_400_naming_each(tenant_factory_world, query, parameters):
    """Every bad query value is reported at once, each error naming its parameter."""
    response = tenant_factory_world.call("GET", f"/api/v1/analytics/funnel/sales?{query}")
    assert response.status_code == 400, response.get_json()
    assert sorted(e["parameter"] for e in response.get_json()["errors"]) == sorted(parameters)


@pytest.fixture
def tenant_factory_world(make_tenant: Any) -> Any:
    """A tenant with the funnel config and no deals."""
    return make_tenant(funnel_config())


def test_a_pii_amount_is_not_summed_for_a_role_that_sees_it_masked(make_tenant):
    """A pii amount is left out of a rep's funnel (pii: own), refused when named, and summed for an admin."""
    document = funnel_config()
    document["entities"]["opportunity"]["fields"]["amount"]["pii"] = True
    tenant = make_tenant(document)
    rep = tenant.call("GET", "/api/v1/analytics/funnel/sales", "rep1").get_json()
    assert rep["fields"]["amount"] is None and {s["amount"] for s in rep["stages"]} == {None}
    named = tenant.call("GET", "/api/v1/analytics/funnel/sales?amount_field=amount", "rep1")
    assert named.status_code == 400
    assert [(e["parameter"], e["code"]) for e in named.get_json()["errors"]] == [("amount_field", "pii_hidden")]
    assert tenant.call("GET", "/api/v1/analytics/funnel/sales").get_json()["fields"]["amount"] == "amount"


def test_an_entity_without_amount_close_date_or_source_has_counts_only(make_tenant):
    """Without such fields amounts are null and there is no forecast and no conversion by source."""
    document = funnel_config()
    fields = document["entities"]["opportunity"]["fields"]
    for key in ("amount", "signed_on", "expected_close_date", "source", "channel"):
        del fields[key]
    body = make_tenant(document).call("GET", "/api/v1/analytics/funnel/sales?target_count=2").get_json()
    assert body["fields"] == {"amount": None, "close": None, "source": None}
    assert body["forecast"] is None and body["by_source"] is None and body["win_rate"]["won_amount"] is None
    assert {s["weighted_amount"] for s in body["stages"]} == {None}


def test_unknown_pipeline_is_404_and_an_unreadable_entity_403(tenant_factory_world):
    """An unknown pipeline answers 404; a role that may not read the pipeline's entity 403."""
    assert tenant_factory_world.call("GET", "/api/v1/analytics/funnel/nope").status_code == 404
    assert tenant_factory_world.call("GET", "/api/v1/analytics/funnel/sales", "viewer").status_code == 403
    assert tenant_factory_world.client.get("/api/v1/analytics/funnel/sales").status_code == 401


def test_an_empty_pipeline_has_zero_counts_and_no_rates(tenant_factory_world):
    """With no deals every count is 0 and every rate, duration and average is null."""
    response = tenant_factory_world.call("GET", "/api/v1/analytics/funnel/sales?target_count=1")
    body = response.get_json()
    assert response.status_code == 200, body
    assert {s["count"] for s in body["stages"]} == {0} and {s["conversion_rate"] for s in body["stages"]} == {None}
    assert {s["median_days"] for s in body["stages"]} == {None}
    assert body["win_rate"] == {"closed": 0, "won": 0, "lost": 0, "rate": None, "won_amount": 0,
                                "average_won_amount": None}
    assert [row["need_count"] for row in body["coverage"]["stages"]] == [None, None, None, None, 1]
