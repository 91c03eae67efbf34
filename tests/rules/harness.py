"""Shared pieces of the compiler tests: a records table to run compiled SQL conditions on, and conversions of one
test record to what each evaluator reads (the Python predicate's facts, a `records` row, durable_rules' event)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from hypothesis import currently_in_test_context, event
from sqlalchemy import ColumnElement, Engine, insert, select

from lowcode_platform.storage.tables import Record, Team, Tenant, User
from tests.rules.oracle import Oracle, OracleCrashed, OracleRefused

SYSTEM_KEYS = ("owner", "stage", "pool")
TIMESTAMPS = ("created_at", "last_activity_at", "stage_entered_at", "won_at")
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


@dataclass
class SampleRecord:
    """One record: the entity's field values (`data`, which may hold None), system values and timestamps."""

    data: dict[str, Any]
    owner: str | None = None
    stage: str | None = None
    pool: str | None = None
    created_at: datetime = EPOCH
    last_activity_at: datetime | None = None
    stage_entered_at: datetime | None = None
    won_at: datetime | None = None
    owner_team: str | None = None  # what the SQL side derives from the users table; set by the test

    def facts(self) -> dict[str, Any]:
        """What the Python predicate reads: the data plus the system values and timestamps."""
        facts = dict(self.data)
        facts.update(owner=self.owner, owner_team=self.owner_team, stage=self.stage, pool=self.pool)
        facts.update({name: getattr(self, name) for name in TIMESTAMPS})
        return facts

    def event(self) -> dict[str, Any]:
        """What durable_rules sees: the data and the system strings, decimals as doubles (the oracle drops None).

        A decimal field's value is always a double to durable_rules (written with a '.'), the way the compilers
        type it: an integral Decimal would otherwise reach durable as an int, and int / int truncates there.
        """
        event = {key: _as_double(value) for key, value in self.data.items()}
        for key in SYSTEM_KEYS:
            value = getattr(self, key)
            if value is not None:
                event[key] = value
        return event


def _as_double(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: _as_double(item) for key, item in value.items()}
    return value


class SqlRecords:
    """A tenant in a migrated database whose `records` rows live only inside one rolled-back transaction."""

    def __init__(self, engine: Engine, entity: str = "deal") -> None:
        self.engine = engine
        self.entity = entity
        self.tenant_id = "T" + secrets.token_hex(8).upper()
        self.users: dict[str, str | None] = {}  # user id -> team id
        with engine.begin() as connection:
            connection.execute(insert(Tenant).values(id=self.tenant_id, slug=self.tenant_id.lower(),
                                                     active_version=1, created_at=EPOCH))

    def add_users(self, users: dict[str, str | None]) -> None:
        """Users (id -> team id or None); teams are created as needed."""
        with self.engine.begin() as connection:
            for team in sorted({t for t in users.values() if t is not None}):
                connection.execute(insert(Team).values(tenant_id=self.tenant_id, id=team, name=team))
            for user, team in users.items():
                connection.execute(insert(User).values(
                    tenant_id=self.tenant_id, id=user, name=user, role="rep", team_id=team, manager_id=None,
                    token_hash=secrets.token_hex(32), active=True, created_at=EPOCH))
        self.users.update(users)

    def rows(self, records: Sequence[SampleRecord]) -> list[dict[str, Any]]:
        return [
            {"tenant_id": self.tenant_id, "id": f"r{i:03d}", "entity": self.entity, "owner_id": r.owner,
             "pool": r.pool, "pipeline": None, "stage": r.stage, "stage_entered_at": r.stage_entered_at,
             "last_activity_at": r.last_activity_at, "won_at": r.won_at, "lost_at": None,
             "created_at": r.created_at, "updated_at": r.created_at, "deleted_at": None, "created_by": None,
             "updated_by": None, "version": 1, "config_version": 1, "data": r.data}
            for i, r in enumerate(records)
        ]

    def verdicts(self, records: Sequence[SampleRecord],
                 conditions: Iterable[Callable[[], ColumnElement[bool]]]) -> list[list[bool]]:
        """For each condition, whether each record satisfies it (rows inserted, selected, then rolled back)."""
        with self.engine.connect() as connection:
            transaction = connection.begin()
            try:
                if records:
                    connection.execute(insert(Record), self.rows(records))
                out = []
                for condition in conditions:
                    query = select(Record.id).where(Record.tenant_id == self.tenant_id,
                                                    Record.entity == self.entity, condition())
                    ids = set(connection.execute(query).scalars())
                    out.append([f"r{i:03d}" in ids for i in range(len(records))])
                return out
            finally:
                transaction.rollback()


def durable_problem(durable: Oracle, document: Any, probe: list[dict[str, Any]]) -> str | None:
    """Why durable_rules does not take `document` (refuses or dies), or None when it does.

    A refusal is confirmed in a fresh worker: durable_rules sometimes refuses a ruleset only after it has compiled
    others (`{"$and": [{"$ex": {"name": 1}}, {"$and": [{"$iany": {"tags": {"$or": [{"$i": "hot"}, {"$i": "cold"}]}}},
    {"$or": [{"$iall": {"tags": {"$or": [{"$gte": {"$i": "B"}}, {"$mt": {"$i": "%w*1"}}]}}}]}]}]}` compiles twice,
    then gives "error code: 102"), which is a fault of its own, not a condition it does not take.
    """
    try:
        durable.evaluate_many(document, probe)
        return None
    except (OracleRefused, OracleCrashed) as exc:
        first = exc
    with Oracle() as fresh:
        try:
            fresh.evaluate_many(document, probe)
        except (OracleRefused, OracleCrashed) as exc:
            return str(exc)
    if currently_in_test_context():
        event("durable refuses it only after other rulesets")
    return None if isinstance(first, OracleRefused) else str(first)
