"""Which channels pay off: the conversion rate and time to convert of a conversion's source records, in SQL.

Leads: live records of the conversion's source entity the actor may read, created in the period.
Converted: those with lineage of this conversion (`record_links`). Time to convert: from the lead's
creation to its conversion, in days. Grouped by the lead source (an enum field, default `source`) and by
owner. Rates are fractions from 0 to 1 rounded half-even to 4 decimals, null for no leads.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from lowcode_platform.accounts.actor import Actor
from lowcode_platform.accounts.service import owner_scope
from lowcode_platform.analytics.funnel import days, rate
from lowcode_platform.analytics.service import parse_day, period_bounds
from lowcode_platform.configuration import TenantConfig
from lowcode_platform.errors import MalformedRequestError, NotFoundError, PermissionDeniedError, parameter_error
from lowcode_platform.storage.json_fields import json_field
from lowcode_platform.storage.tables import Record, RecordLink

PARAMETERS = ("from", "to", "source_field")


def _seconds(later: Any, earlier: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400


def conversion_report(session: Session, config: TenantConfig, actor: Actor, key: str,
                      args: Mapping[str, str]) -> dict[str, Any]:
    """Conversion rate and average days to convert, by lead source and by owner."""
    conversion = config.conversions.get(key)
    if conversion is None:
        raise NotFoundError(f"no conversion {key!r}")
    entity = config.entities[conversion.source]
    permission = actor.role.permission(entity.key)
    if not permission.read:
        raise PermissionDeniedError(f"your role may not read {entity.key} records")
    errors = [parameter_error(name, "bad_parameter", error="unknown parameter") for name in args
              if name not in PARAMETERS]
    start, end = period_bounds(parse_day(args, "from", errors), parse_day(args, "to", errors), config.timezone)
    source_key = args.get("source_field", "source")
    field = entity.fields.get(source_key)
    if field is None or field.type != "enum" or (field.pii and actor.role.pii != "all"):
        if "source_field" in args:
            errors.append(parameter_error("source_field", "bad_parameter", error="not an enum field"))
        field = None
    if errors:
        raise MalformedRequestError("invalid query parameters", errors)
    converted_at = (select(func.min(RecordLink.at)).where(
        RecordLink.tenant_id == Record.tenant_id, RecordLink.from_id == Record.id,
        RecordLink.conversion == key).scalar_subquery())
    clauses = [Record.tenant_id == actor.tenant_id, Record.entity == entity.key, Record.deleted_at.is_(None),
               *owner_scope(actor, permission.scope, Record.owner_id)]
    if start is not None:
        clauses.append(Record.created_at >= start)
    if end is not None:
        clauses.append(Record.created_at < end)
    dialect = session.get_bind().dialect.name
    leads = select(Record.owner_id.label("owner"),
                   (json_field(field.key, "text") if field else literal(None)).label("source"),
                   Record.created_at.label("created_at"), converted_at.label("converted_at")).where(*clauses).subquery()
    spent = _seconds(leads.c.converted_at, leads.c.created_at, dialect)

    def grouped(column: Any) -> list[dict[str, Any]]:
        rows = session.execute(select(
            column.label("value"), func.count().label("leads"), func.count(leads.c.converted_at).label("converted"),
            func.sum(spent).label("seconds"),
        ).group_by(column).order_by(column))
        return [{"value": r.value, "leads": int(r.leads), "converted": int(r.converted),
                 "rate": rate(int(r.converted), int(r.leads)),
                 "avg_days": days(Decimal(str(r.seconds)), int(r.converted)) if r.converted else None}
                for r in rows]

    total = session.execute(select(func.count(), func.count(leads.c.converted_at))).one()
    return {
        "conversion": key, "entity": entity.key, "source_field": field.key if field else None,
        "period": {"from": args.get("from"), "to": args.get("to")},
        "leads": int(total[0]), "converted": int(total[1]), "rate": rate(int(total[1]), int(total[0])),
        "by_source": grouped(leads.c.source) if field else None,
        "by_owner": grouped(leads.c.owner),
    }
