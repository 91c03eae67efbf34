"""Running the funnel of one pipeline for one tenant and actor: parameters in, figures out.

Checks that the pipeline exists (404) and that the actor's role may read its entity (403), reads and
checks every query parameter in one pass (400 naming each bad one), then runs the statements of
`lowcode_platform.analytics.funnel` over the deals the actor may read (own / team / all, as record lists
show them) and assembles their aggregate rows. The definitions of the figures are in `funnel`'s docstring.
Reads only: it writes nothing and commits nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from lowcode_platform.accounts.actor import Actor
from lowcode_platform.accounts.service import owner_scope
from lowcode_platform.analytics import funnel as sql
from lowcode_platform.configuration import TenantConfig
from lowcode_platform.errors import (
    ErrorDetail,
    MalformedRequestError,
    NotFoundError,
    PermissionDeniedError,
    parameter_error,
)
from lowcode_platform.messages import Localized
from lowcode_platform.pipelines.definition import LOST, Pipeline
from lowcode_platform.schema import EntityDef, Permission
from lowcode_platform.storage.tables import Record, Team, User

PARAMETERS = ("from", "to", "owner", "team", "source", "target_amount", "target_count",
              "amount_field", "close_field", "source_field")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COUNT = re.compile(r"^[1-9][0-9]{0,8}$")
AMOUNT_TYPES = ("money", "decimal", "integer")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class FunnelQuery:
    """The query parameters of a funnel, read and checked against the pipeline's entity."""

    from_day: date | None
    to_day: date | None
    filters: sql.FunnelFilters
    fields: sql.FunnelFields
    field_keys: Mapping[str, str | None]  # amount, close, source: the entity's field keys
    target_count: int | None
    target_amount: Decimal | None


def _bad(name: str, en: str, zh: str) -> ErrorDetail:
    return parameter_error(name, "bad_parameter", error=Localized(en, zh))


def parse_day(args: Mapping[str, str], name: str, errors: list[ErrorDetail]) -> date | None:
    """The date query parameter `name` (YYYY-MM-DD), or None when absent; a bad one adds an error."""
    raw = args.get(name)
    if raw is None:
        return None
    try:
        if not DAY.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(parameter_error(name, "type", expected="a date YYYY-MM-DD"))
        return None


def period_bounds(from_day: date | None, to_day: date | None, zone: str) -> tuple[datetime | None, datetime | None]:
    """[start of `from_day`, start of the day after `to_day`) in time zone `zone`, as UTC instants."""
    where = ZoneInfo(zone)

    def start(day: date) -> datetime:
        return datetime.combine(day, time(0), where).astimezone(timezone.utc)

    return (start(from_day) if from_day else None, start(to_day + timedelta(days=1)) if to_day else None)


def _field(entity: EntityDef, args: Mapping[str, str], name: str, types: tuple[str, ...], default: str | None,
           pii_visible: bool, errors: list[ErrorDetail]) -> str | None:
    """The key of the field named by parameter `name` (it must be of one of `types`), else `default`.

    A pii field the role sees masked is refused (named) or left out (by default): sums and counts by its
    values would reveal them, as filtering on it would in a list."""
    key = args.get(name)
    if key is None:
        return default if default is None or pii_visible or not entity.fields[default].pii else None
    field = entity.fields.get(key)
    if field is None or field.type not in types:
        kinds = " or ".join(types)
        errors.append(_bad(name, f"{key!r} is not a {kinds} field of {entity.key!r}",
                           f"{key!r} 不是 {entity.key!r} 的 {kinds} 字段"))
        return None
    if field.pii and not pii_visible:
        errors.append(parameter_error(name, "pii_hidden", field=key))
        return None
    return key


def _default(entity: EntityDef, types: tuple[str, ...], exact: str, part: str) -> str | None:
    """The field `exact` if it is of one of `types`, else the first such field whose key contains `part`."""
    field = entity.fields.get(exact)
    if field is not None and field.type in types:
        return exact
    return next((f.key for f in entity.fields.values() if f.type in types and part in f.key), None)


def parse_funnel_query(entity: EntityDef, args: Mapping[str, str], zone: str,
                       pii_visible: bool = True) -> tuple[FunnelQuery, list[ErrorDetail]]:
    """The funnel's parameters, and every error in them (owner and team are checked against the database later).

    Without `pii_visible` (the role sees pii unmasked on every record) no pii field is summed or grouped by."""
    errors = [parameter_error(name, "unknown_key", key=name) for name in args if name not in PARAMETERS]
    from_day, to_day = parse_day(args, "from", errors), parse_day(args, "to", errors)
    if from_day and to_day and from_day > to_day:
        errors.append(_bad("to", "the period ends before it starts", "时间段的结束早于开始"))
    default_amount = _default(entity, ("money",), "amount", "") or _default(entity, AMOUNT_TYPES, "amount", "amount")
    amount = _field(entity, args, "amount_field", AMOUNT_TYPES, default_amount, pii_visible, errors)
    close = _field(entity, args, "close_field", ("date",), _default(entity, ("date",), "", "close"), pii_visible,
                   errors)
    source = _field(entity, args, "source_field", ("enum",), _default(entity, ("enum",), "source", "source"),
                    pii_visible, errors)
    source_value = args.get("source")
    if source_value is not None:
        if source is None and "source_field" not in args:
            errors.append(_bad("source", f"{entity.key!r} has no source field: name one in source_field",
                               f"{entity.key!r} 没有来源字段：请用 source_field 指定"))
        elif source is not None and source_value not in {o.value for o in entity.fields[source].options}:
            errors.append(parameter_error("source", "invalid_option", allowed=", ".join(
                repr(o.value) for o in entity.fields[source].options)))
    target_count = target_amount = None
    if "target_count" in args:
        if COUNT.match(args["target_count"]):
            target_count = int(args["target_count"])
        else:
            errors.append(parameter_error("target_count", "type", expected="a whole number of deals from 1"))
    if "target_amount" in args:
        try:
            target_amount = Decimal(args["target_amount"])
            if not target_amount.is_finite() or not 0 < target_amount <= 10**15:
                raise InvalidOperation
        except InvalidOperation:
            errors.append(parameter_error("target_amount", "type", expected="an amount above 0"))
            target_amount = None
    if target_count is not None and target_amount is not None:
        errors.append(_bad("target_amount", "give target_amount or target_count, not both",
                           "target_amount 与 target_count 只能给一个"))
    start, end = period_bounds(from_day, to_day, zone)
    amount_path = None
    if amount is not None:
        amount_path = f"{amount}.amount" if entity.fields[amount].type == "money" else amount
    query = FunnelQuery(
        from_day, to_day,
        sql.FunnelFilters(start, end, args.get("owner"), args.get("team"), source_value),
        sql.FunnelFields(amount_path, close, source),
        {"amount": amount, "close": close, "source": source},
        target_count, target_amount,
    )
    return query, errors


class AnalyticsService:
    """Analytics of one tenant's records, as one actor may see them."""

    def __init__(self, session: Session, config: TenantConfig, actor: Actor,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.config = config
        self.actor = actor
        self.clock = clock

    def funnel(self, pipeline_key: str, args: Mapping[str, str]) -> dict[str, Any]:
        """The funnel of a pipeline (figures defined in `lowcode_platform.analytics.funnel`) as a JSON-ready dict."""
        pipeline = self.config.pipelines.get(pipeline_key)
        if pipeline is None:
            raise NotFoundError(f"no pipeline {pipeline_key!r}")
        entity = self.config.entities[pipeline.entity]
        permission = self.actor.role.permission(entity.key)
        if not permission.read:
            raise PermissionDeniedError(f"your role may not read {entity.key} records")
        query, errors = parse_funnel_query(entity, args, self.config.timezone, self.actor.role.pii == "all")
        team_id = self._team(query.filters.team_id, errors)
        self._check_owner(query.filters.owner_id, errors)
        if errors:
            raise MalformedRequestError("invalid query parameters", errors)
        filters = sql.FunnelFilters(query.filters.start, query.filters.end, query.filters.owner_id, team_id,
                                    query.filters.source)
        deals = sql.select_deals(self.actor.tenant_id, pipeline, self._visible(permission), filters, query.fields)
        return self._assemble(pipeline, entity, query, filters, deals, self.clock())

    # -- checks ------------------------------------------------------------------------------------

    def _team(self, team: str | None, errors: list[ErrorDetail]) -> str | None:
        """The id of the team named by id or by name."""
        if team is None:
            return None
        found = self.session.scalar(select(Team.id).where(Team.tenant_id == self.actor.tenant_id,
                                                          or_(Team.id == team, Team.name == team)))
        if found is None:
            errors.append(_bad("team", f"no team {team!r} in this tenant", f"本租户中没有团队 {team!r}"))
        return found

    def _check_owner(self, owner: str | None, errors: list[ErrorDetail]) -> None:
        if owner is not None and self.session.scalar(
                select(User.id).where(User.tenant_id == self.actor.tenant_id, User.id == owner)) is None:
            errors.append(parameter_error("owner", "user_not_found", id=owner))

    def _visible(self, permission: Permission) -> list[ColumnElement[bool]]:
        """The clauses of the actor's read scope: the records a list of theirs would show."""
        return owner_scope(self.actor, permission.scope, Record.owner_id)

    # -- figures -----------------------------------------------------------------------------------

    def _assemble(self, pipeline: Pipeline, entity: EntityDef, query: FunnelQuery, filters: sql.FunnelFilters,
                  deals: sql.Deals, now: datetime) -> dict[str, Any]:
        fields = query.fields
        priced = fields.amount is not None
        run = self.session.execute
        snapshot = sql.by_key(run(sql.snapshot_statement(pipeline, deals, fields, now)), "stage")
        progress = run(sql.progress_statement(pipeline, deals, filters)).one()._mapping
        dialect = self.session.get_bind().dialect.name
        durations = {row.stage: row for row in run(sql.durations_statement(pipeline, deals, filters, dialect))}
        keys = [s.key for s in pipeline.stages] + [LOST]
        stages = []
        for i, key in enumerate(keys):
            stage = pipeline.stage(key)
            groups = snapshot.get(key, [])
            entered = int(progress[f"entered_{i}"] or 0)
            converted = progress.get(f"converted_{i}")
            dropped = progress.get(f"dropped_{i}")
            moves = durations.get(key)
            stages.append({
                "key": key,
                "label": (stage.label if stage else pipeline.lost_label).to_json(),
                "probability": stage.probability if stage else Decimal(0),
                "won": key in pipeline.won,
                "open": key != LOST and key not in pipeline.won,
                "count": sum(int(g.deals) for g in groups),
                "amount": sql.money(sum(int(g.cents or 0) for g in groups)) if priced else None,
                "weighted_amount": sql.weighted((g.probability, g.cents) for g in groups) if priced else None,
                "stalled": sum(int(g.stalled or 0) for g in groups) if sql.can_stall(pipeline, key) else None,
                "entered": entered,
                "converted": int(converted or 0) if f"converted_{i}" in progress else None,
                "conversion_rate": sql.rate(int(converted or 0), entered) if f"converted_{i}" in progress else None,
                "dropped": int(dropped or 0) if f"dropped_{i}" in progress else None,
                "drop_rate": sql.rate(int(dropped or 0), entered) if f"dropped_{i}" in progress else None,
                "moves_out": int(moves.moves) if moves else 0,
                "avg_days": sql.days(moves.seconds, int(moves.moves)) if moves else None,
                "median_days": sql.days(Decimal(moves.median)) if moves else None,
            })
        closed = run(sql.closed_statement(pipeline, deals, filters, fields)).one()._mapping
        won, lost = int(closed["won"] or 0), int(closed["lost"] or 0)
        won_amount = sql.money(closed["won_cents"]) if priced else None
        won_priced = int(closed["won_priced"] or 0) if priced else 0
        average = (sql.money(closed["won_cents"]) / won_priced).quantize(sql.CENT) if won_priced else None
        result: dict[str, Any] = {
            "pipeline": {"key": pipeline.key, "entity": entity.key, "label": pipeline.label.to_json()},
            "as_of": now,
            "period": {"from": query.from_day, "to": query.to_day, "start": filters.start, "end": filters.end},
            "filters": {"owner": filters.owner_id, "team": filters.team_id, "source": filters.source},
            "fields": dict(query.field_keys),
            "stages": stages,
            "win_rate": {"closed": won + lost, "won": won, "lost": lost, "rate": sql.rate(won, won + lost),
                         "won_amount": won_amount, "average_won_amount": average},
            "lost_reasons": self._lost_reasons(pipeline, deals, filters),
            "forecast": self._forecast(pipeline, deals, fields) if fields.close else None,
            "by_source": self._by_source(pipeline, entity, deals, filters, fields) if fields.source else None,
            "coverage": None,
        }
        if query.target_count is not None or query.target_amount is not None:
            result["coverage"] = self._coverage(pipeline, stages, query, average)
        return result

    def _lost_reasons(self, pipeline: Pipeline, deals: sql.Deals, filters: sql.FunnelFilters) -> list[dict[str, Any]]:
        counts = {row.reason: int(row.moves)
                  for row in self.session.execute(sql.lost_reasons_statement(pipeline, deals, filters))}
        order = list(pipeline.lost_reasons) + sorted((r for r in counts if r not in pipeline.lost_reasons),
                                                     key=lambda r: (r is None, r or ""))
        rows = [{"reason": reason,
                 "label": pipeline.lost_reasons[reason].to_json() if reason in pipeline.lost_reasons else None,
                 "count": counts.get(reason, 0)} for reason in order]
        return sorted(rows, key=lambda row: -row["count"])  # stable: configured order among equal counts

    def _forecast(self, pipeline: Pipeline, deals: sql.Deals, fields: sql.FunnelFields) -> dict[str, Any]:
        months = sql.by_key(self.session.execute(sql.forecast_statement(pipeline, deals, fields)), "month")
        priced = fields.amount is not None
        return {"field": fields.close, "months": [
            {"month": month, "count": sum(int(g.deals) for g in groups),
             "amount": sql.money(sum(int(g.cents or 0) for g in groups)) if priced else None,
             "weighted_amount": sql.weighted((g.probability, g.cents) for g in groups) if priced else None}
            for month, groups in sorted(months.items(), key=lambda item: (item[0] is None, item[0] or ""))
        ]}

    def _by_source(self, pipeline: Pipeline, entity: EntityDef, deals: sql.Deals, filters: sql.FunnelFilters,
                   fields: sql.FunnelFields) -> dict[str, Any]:
        rows = self.session.execute(sql.source_statement(pipeline, deals, filters, fields))
        found = {row.source: row for row in rows}
        options = entity.fields[fields.source or ""].options
        labels = {o.value: o.label for o in options}
        values = [o.value for o in options] + sorted((v for v in found if v not in labels),
                                                     key=lambda v: (v is None, v or ""))
        if filters.source is not None:
            values = [filters.source]
        rows = []
        for value in values:
            row = found.get(value)
            count, won, lost = (int(row.deals), int(row.won or 0), int(row.lost or 0)) if row else (0, 0, 0)
            rows.append({
                "value": value, "label": labels[value].to_json() if value in labels else None,
                "deals": count, "won": won, "lost": lost,
                "conversion_rate": sql.rate(won, count), "win_rate": sql.rate(won, won + lost),
                "won_amount": sql.money(row.won_cents if row else 0) if fields.amount else None,
            })
        return {"field": fields.source, "values": rows}

    @staticmethod
    def _coverage(pipeline: Pipeline, stages: list[dict[str, Any]], query: FunnelQuery,
                  average: Decimal | None) -> dict[str, Any]:
        won_index = min(s.index for s in pipeline.stages if s.key in pipeline.won)
        rates = [Fraction(s["converted"], s["entered"]) if s["entered"] and s["converted"] is not None else None
                 for s in stages[:won_index]]
        needs = sql.plan_coverage([s.key for s in pipeline.stages], rates, won_index,
                                  target_count=query.target_count, target_amount=query.target_amount,
                                  average_won_amount=average)
        return {
            "target_count": query.target_count, "target_amount": query.target_amount,
            "won_stage": pipeline.stages[won_index].key, "average_won_amount": average,
            "stages": [{
                "key": need.stage,
                "rate_to_won": sql.rate(need.rate_to_won.numerator, need.rate_to_won.denominator)
                if need.rate_to_won is not None else None,
                "need_count": need.deals, "need_amount": need.amount,
                "count": stages[i]["count"], "amount": stages[i]["amount"],
                "short": max(need.deals - stages[i]["count"], 0) if need.deals is not None else None,
            } for i, need in enumerate(needs)],
        }
