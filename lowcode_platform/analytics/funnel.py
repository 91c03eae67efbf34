"""The funnel of one pipeline as SQL over the whole set of deals, and the small pure helpers that read its numbers.

Every figure is an aggregate computed by the database (SQLAlchemy Core statements below; principle 7:
never a Python loop over rows). The helpers at the end turn the few aggregate rows (one per stage, or per
stage and probability) into the figures a client sees, and plan pipeline coverage. Nothing here runs a
query: `lowcode_platform.analytics.service` does, for one tenant and actor.

Definitions (P is the pipeline, its stages S_0 .. S_n-1 in config order, `lost` after them). The deals are
the live (not deleted) records of P's entity that the actor may read (own / team / all) and that match the
owner, team and source filters, each applied to the record as it is now (its current owner and source).
The period is [start of `from`, start of the day after `to`) in the tenant's time zone; a missing bound is
open. It applies to the history figures and the win rate, not to the snapshot, the forecast or stalled.

Snapshot (deals with `records.pipeline` = P, as they are now; no period):
- `count`: deals now in the stage; `amount`: the sum of their amounts; `weighted_amount`: the sum of
  amount x the record's probability / 100 (the stage's probability unless a rep set another).
  An amount is counted in whole cents (each deal's amount rounded half away from zero to 2 decimals);
  a deal without an amount counts in `count` and adds 0. Amounts of different currencies are added as
  they are (the platform keeps no exchange rates).
- `stalled`: deals now in the stage idle for longer than its `rot_days`, exactly as a record view's
  `stalled` flag says: max(stage_entered_at, last_activity_at) earlier than now - rot_days. Null for a
  stage without `rot_days`, a terminal stage, a won stage and `lost`.

History (rows of `stage_history` of P whose record is a deal):
- `entered`: deals with a row into the stage (`to_stage`, the creation row included) with `at` in the period.
- `converted`: of those, the deals with a row into any later stage of P (index above this one; not `lost`)
  whose `at` is after their first entry into this stage in the period (that later row may be after the
  period's end); `conversion_rate` = converted / entered. Null for the last stage and `lost`.
- `dropped`: of the entered deals, those with a move from this stage to `lost` after that first entry;
  `drop_rate` = dropped / entered. Null for `lost`.
- `moves_out`, `avg_days`, `median_days`: moves out of the stage (`from_stage`) with `at` in the period,
  and the mean and median of their `seconds_in_from` in days (86,400 seconds; rounded to 2 decimals).
  The median is the 50th percentile with interpolation: PERCENTILE_CONT(0.5) on PostgreSQL, the mean of
  the one or two middle rows (by ROW_NUMBER and COUNT windows) on SQLite, which is the same number.
- `lost_reasons`: moves to `lost` with `at` in the period, counted by `reason` (a deal lost, reopened and
  lost again counts twice); every configured reason, most frequent first, then reasons no longer configured.

Closed deals (records columns; deals with `records.pipeline` = P):
- `win_rate`: of the deals whose `won_at` or `lost_at` is in the period (as the record stands now), the
  share with `won_at` in it; `won_amount` and `average_won_amount` (over won deals with an amount).
- `by_source`: per value of the source field (an enum; default the field `source`, else the first enum
  field whose key contains "source"), the deals created (`records.created_at`) in the period, how many are
  now won (in a won stage) and lost, `conversion_rate` = won / deals, `win_rate` = won / (won + lost).
- `forecast`: open deals now (in a stage of P that is not won), by the month (`YYYY-MM`) of the close-date
  field (default the entity's first `date` field whose key contains "close"; none: no forecast); count,
  amount and weighted amount per month, months in order, deals without a date last (month null).

Rates are fractions from 0 to 1, rounded half-even to 4 decimals; null when the denominator is 0.

Coverage (`plan_coverage`): from the conversion rates r_i above, the deals (or amount) each stage up to
the first won stage W needs now to reach a target: need_k = target / (r_k x r_k+1 x ... x r_W-1), rounded
up to whole deals; with three stages at 50%, one signed deal needs 1 / 0.5^3 = 8 at the top. An amount
target counts as target / average won amount deals. Null when a rate on the way is unknown or 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, and_, case, cast, func, literal_column, null, or_, select

from lowcode_platform.pipelines.definition import LOST, Pipeline
from lowcode_platform.storage.json_fields import json_field
from lowcode_platform.storage.tables import Record, StageChange, User

CENT = Decimal("0.01")
RATE = Decimal("0.0001")
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class FunnelFields:
    """Where the deal amount (a path such as `amount.amount`), the close date and the source are in `data`."""

    amount: str | None = None
    close: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class FunnelFilters:
    """The period as UTC instants ([start, end)) and the filters on the deals as they are now."""

    start: datetime | None = None
    end: datetime | None = None
    owner_id: str | None = None
    team_id: str | None = None
    source: str | None = None


# -- the deals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deals:
    """The tenant and the WHERE clauses on `records` that select the deals."""

    tenant_id: str
    clauses: tuple[ColumnElement[bool], ...]


def select_deals(tenant_id: str, pipeline: Pipeline, visible: Sequence[ColumnElement[bool]],
                 filters: FunnelFilters, fields: FunnelFields) -> Deals:
    """The deals: live records of the pipeline's entity the actor may read (`visible`: clauses of the
    permission scope) that match the owner, team and source filters."""
    clauses = [Record.tenant_id == tenant_id, Record.entity == pipeline.entity, Record.deleted_at.is_(None),
               *visible]
    if filters.owner_id is not None:
        clauses.append(Record.owner_id == filters.owner_id)
    if filters.team_id is not None:
        clauses.append(Record.owner_id.in_(
            select(User.id).where(User.tenant_id == tenant_id, User.team_id == filters.team_id)))
    if filters.source is not None and fields.source is not None:
        clauses.append(json_field(fields.source, "text") == filters.source)
    return Deals(tenant_id, tuple(clauses))


def _in_period(column: Any, filters: FunnelFilters) -> list[ColumnElement[bool]]:
    bounds = []
    if filters.start is not None:
        bounds.append(column >= filters.start)
    if filters.end is not None:
        bounds.append(column < filters.end)
    return bounds


def _during(column: Any, filters: FunnelFilters) -> ColumnElement[bool]:
    bounds = _in_period(column, filters)
    return and_(*bounds) if bounds else column.is_not(None)


def cents(amount_path: str | None) -> ColumnElement[Any]:
    """A deal's amount in whole cents, rounded half away from zero: sums of it are exact on both databases.

    Without an amount field, a typed NULL (PostgreSQL cannot sum an untyped one)."""
    if amount_path is None:
        return cast(null(), BigInteger)
    return cast(func.round(json_field(amount_path, "numeric") * literal_column("100")), BigInteger)


def _history(deals: Deals, pipeline: Pipeline) -> Select[Any]:
    """FROM stage_history JOIN records (the deals) for rows of `pipeline`; the caller adds its columns."""
    return (select().select_from(StageChange)
            .join(Record, and_(Record.tenant_id == StageChange.tenant_id, Record.id == StageChange.record_id))
            .where(StageChange.tenant_id == deals.tenant_id, StageChange.pipeline == pipeline.key, *deals.clauses))


# -- statements ------------------------------------------------------------------------------------


def snapshot_statement(pipeline: Pipeline, deals: Deals, fields: FunnelFields,
                       now: datetime) -> Select[Any]:
    """(stage, probability, count, cents, stalled) of the deals now in the pipeline, per stage and probability."""
    stalled = [
        and_(Record.stage == stage.key, Record.stage_entered_at < now - timedelta(days=stage.rot_days),
             or_(Record.last_activity_at.is_(None), Record.last_activity_at < now - timedelta(days=stage.rot_days)))
        for stage in pipeline.stages if can_stall(pipeline, stage.key)
    ]
    amount = func.sum(cents(fields.amount))
    stalled_count = func.sum(case((or_(*stalled), 1), else_=0)) if stalled else literal_column("0")
    return (select(Record.stage, Record.probability, func.count().label("deals"), amount.label("cents"),
                   stalled_count.label("stalled"))
            .where(*deals.clauses, Record.pipeline == pipeline.key)
            .group_by(Record.stage, Record.probability))


def can_stall(pipeline: Pipeline, key: str) -> bool:
    """Whether deals in stage `key` can be stalled: it has rot days and is neither terminal nor won."""
    stage = pipeline.stage(key)
    return stage is not None and stage.rot_days is not None and not stage.terminal and key not in pipeline.won


def progress_statement(pipeline: Pipeline, deals: Deals,
                       filters: FunnelFilters) -> Select[Any]:
    """One row: per stage i, `entered_i`, `converted_i` and `dropped_i` (see the module's definitions).

    One pass over the history grouped by record: the first entry into each stage in the period, the last
    entry into any stage beyond it, the last move from it to lost; then counts over those per-record times.
    """
    h = StageChange
    keys = [s.key for s in pipeline.stages] + [LOST]
    columns: list[Any] = [h.record_id]
    for i, key in enumerate(keys):
        columns.append(func.min(case((and_(h.to_stage == key, *_in_period(h.at, filters)), h.at))).label(f"e{i}"))
        if key != LOST and i + 1 < len(pipeline.stages):
            columns.append(func.max(case((h.to_stage.in_(keys[i + 1:-1]), h.at))).label(f"b{i}"))
        if key != LOST:
            columns.append(func.max(case((and_(h.from_stage == key, h.to_stage == LOST), h.at))).label(f"l{i}"))
    # Rows before the period cannot be a first entry in it, nor come after one.
    early = [h.at >= filters.start] if filters.start is not None else []
    per_record = _history(deals, pipeline).add_columns(*columns).where(*early).group_by(h.record_id).subquery()
    totals: list[Any] = []
    for i in range(len(keys)):
        entered = per_record.c[f"e{i}"]
        totals.append(func.count(entered).label(f"entered_{i}"))
        if f"b{i}" in per_record.c:
            totals.append(func.sum(case((per_record.c[f"b{i}"] > entered, 1), else_=0)).label(f"converted_{i}"))
        if f"l{i}" in per_record.c:
            totals.append(func.sum(case((per_record.c[f"l{i}"] > entered, 1), else_=0)).label(f"dropped_{i}"))
    return select(*totals).select_from(per_record)


def durations_statement(pipeline: Pipeline, deals: Deals, filters: FunnelFilters,
                        dialect: str) -> Select[Any]:
    """(stage, moves, seconds, median) of moves out of each stage in the period: count, sum, median seconds."""
    h = StageChange
    moves = _history(deals, pipeline).where(h.from_stage.is_not(None), h.seconds_in_from.is_not(None),
                                            *_in_period(h.at, filters))
    if dialect == "postgresql":
        return (moves.add_columns(h.from_stage.label("stage"), func.count().label("moves"),
                                  func.sum(h.seconds_in_from).label("seconds"),
                                  func.percentile_cont(0.5).within_group(h.seconds_in_from).label("median"))
                .group_by(h.from_stage))
    ranked = moves.add_columns(
        h.from_stage.label("stage"), h.seconds_in_from.label("seconds"),
        func.row_number().over(partition_by=h.from_stage, order_by=h.seconds_in_from).label("rn"),
        func.count().over(partition_by=h.from_stage).label("n"),
    ).subquery()
    # The middle row (n odd: 2rn = n + 1) or the two middle rows (n even: 2rn = n or n + 2).
    middle = and_(ranked.c.rn * 2 >= ranked.c.n, ranked.c.rn * 2 <= ranked.c.n + 2)
    return (select(ranked.c.stage, func.count().label("moves"), func.sum(ranked.c.seconds).label("seconds"),
                   func.avg(case((middle, ranked.c.seconds))).label("median"))
            .group_by(ranked.c.stage))


def lost_reasons_statement(pipeline: Pipeline, deals: Deals,
                           filters: FunnelFilters) -> Select[Any]:
    """(reason, count) of moves to lost in the period."""
    h = StageChange
    return (_history(deals, pipeline).add_columns(h.reason, func.count().label("moves"))
            .where(h.to_stage == LOST, *_in_period(h.at, filters)).group_by(h.reason))


def closed_statement(pipeline: Pipeline, deals: Deals, filters: FunnelFilters,
                     fields: FunnelFields) -> Select[Any]:
    """One row: deals won and lost in the period (`won_at` / `lost_at`), won cents, won deals with an amount."""
    won = _during(Record.won_at, filters)
    lost = _during(Record.lost_at, filters)
    columns: list[Any] = [func.sum(case((won, 1), else_=0)).label("won"),
                          func.sum(case((lost, 1), else_=0)).label("lost")]
    if fields.amount:
        amount = cents(fields.amount)
        columns += [func.sum(case((won, amount))).label("won_cents"),
                    func.sum(case((and_(won, amount.is_not(None)), 1), else_=0)).label("won_priced")]
    return select(*columns).where(*deals.clauses, Record.pipeline == pipeline.key, or_(won, lost))


def forecast_statement(pipeline: Pipeline, deals: Deals, fields: FunnelFields) -> Select[Any]:
    """(month, probability, count, cents) of the open deals, per close month and probability."""
    assert fields.close is not None, "forecast_statement needs a close-date field; check fields.close first"
    open_stages = [s.key for s in pipeline.stages if s.key not in pipeline.won]
    amount = cents(fields.amount)
    inner = (select(func.substr(json_field(fields.close, "text"), literal_column("1"), literal_column("7"))
                    .label("month"), Record.probability.label("probability"), amount.label("cents"))
             .where(*deals.clauses, Record.pipeline == pipeline.key, Record.stage.in_(open_stages))
             .subquery())
    return (select(inner.c.month, inner.c.probability, func.count().label("deals"),
                   func.sum(inner.c.cents).label("cents"))
            .group_by(inner.c.month, inner.c.probability))


def source_statement(pipeline: Pipeline, deals: Deals, filters: FunnelFilters,
                     fields: FunnelFields) -> Select[Any]:
    """(source, deals, won, lost, won cents) of the deals created in the period, per source value."""
    assert fields.source is not None, "source_statement needs a source field; check fields.source first"
    won = Record.stage.in_(sorted(pipeline.won))
    source = json_field(fields.source, "text")
    columns: list[Any] = [source.label("source"), func.count().label("deals"),
                          func.sum(case((won, 1), else_=0)).label("won"),
                          func.sum(case((Record.stage == LOST, 1), else_=0)).label("lost")]
    if fields.amount:
        columns.append(func.sum(case((won, cents(fields.amount)))).label("won_cents"))
    return (select(*columns)
            .where(*deals.clauses, Record.pipeline == pipeline.key, *_in_period(Record.created_at, filters))
            .group_by(source))


# -- the numbers -----------------------------------------------------------------------------------


def rate(part: int, whole: int) -> Decimal | None:
    """part / whole rounded half-even to 4 decimals; None when whole is 0."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE, ROUND_HALF_EVEN)


def money(cents_total: int | Decimal | None) -> Decimal:
    """Whole cents as an amount with 2 decimals."""
    return (Decimal(int(cents_total or 0)) / 100).quantize(CENT)


def weighted(groups: Iterable[tuple[Decimal | None, int | Decimal | None]]) -> Decimal:
    """Sum of cents x probability / 100 over (probability, cents) groups, as an amount rounded half up to cents."""
    total = sum((Decimal(int(c or 0)) * (p or Decimal(0)) for p, c in groups), Decimal(0))
    return (total / 10_000).quantize(CENT, ROUND_HALF_UP)


def days(seconds: int | float | Decimal | None, moves: int = 1) -> Decimal | None:
    """`seconds` / `moves` in days of 86,400 seconds, rounded half-even to 2 decimals; None without moves."""
    if seconds is None or not moves:
        return None
    return (Decimal(seconds) / moves / DAY_SECONDS).quantize(CENT, ROUND_HALF_EVEN)


@dataclass(frozen=True)
class CoverageNeed:
    """What one stage needs now for the target: deals (and amount, for an amount target); None if unknown."""

    stage: str
    rate_to_won: Fraction | None  # the share of this stage's deals expected to reach the won stage
    deals: int | None
    amount: Decimal | None


def plan_coverage(stages: Sequence[str], rates: Sequence[Fraction | None], won_index: int, *,
                  target_count: int | None = None, target_amount: Decimal | None = None,
                  average_won_amount: Decimal | None = None) -> list[CoverageNeed]:
    """What each stage up to the won stage `won_index` needs now: `rates[i]` is stage i's conversion to i+1.

    With a count target, stage k needs ceil(target / product of rates k .. won-1) deals; with an amount
    target, target / that product in amount and, given the average won amount, in deals.
    """
    if (target_count is None) == (target_amount is None):
        raise TypeError("plan_coverage needs exactly one of target_count and target_amount")
    needs = []
    for k in range(won_index + 1):
        share: Fraction | None = Fraction(1)
        for r in rates[k:won_index]:
            share = share * r if share is not None and r else None
        count = amount = None
        if share is not None and target_count is not None:
            count = math.ceil(Fraction(target_count) / share)
        if share is not None and target_amount is not None:
            exact = Fraction(target_amount) / share
            amount = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(CENT, ROUND_CEILING)
            if average_won_amount:
                count = math.ceil(exact / Fraction(average_won_amount))
        needs.append(CoverageNeed(stages[k], share, count, amount))
    return needs


def by_key(rows: Iterable[Any], key: str) -> Mapping[Any, list[Any]]:
    """Aggregate rows grouped by one of their columns (a handful of rows: one per stage and probability)."""
    grouped: dict[Any, list[Any]] = {}
    for row in rows:
        grouped.setdefault(getattr(row, key), []).append(row)
    return grouped
