"""`lowcode pools backfill-deals` (both databases): after an upgrade, the customers and contacts of deals won
earlier get the deal's date, so that a no-deal recycle rule counts from it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update

from lowcode_platform.schema.loading import load_config
from lowcode_platform.settings import PROJECT_TEMPLATES
from lowcode_platform.storage.tables import Record

USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"),
         ("rep1", "sales_rep", "boss", "east"))
WON_EARLY = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)
WON_LATER = datetime(2026, 3, 9, 2, 0, tzinfo=timezone.utc)


def deal_at(app: Any, record_id: str) -> datetime | None:
    with app.extensions["lowcode"].open_session() as session:
        return session.scalar(select(Record.deal_at).where(Record.id == record_id))


def won_before_the_upgrade(app: Any, record_id: str, moment: datetime) -> None:
    """A deal won before pools existed: its own `won_at` (and `deal_at`, as migration 0006 fills it), and
    nothing on the records it refers to."""
    with app.extensions["lowcode"].open_session(write=True) as session:
        session.execute(update(Record).where(Record.id == record_id).values(won_at=moment, deal_at=moment))
        session.commit()


def test_the_customers_and_contacts_of_won_deals_get_the_latest_deal_date(make_tenant: Any, app: Any,
                                                                          lowcode: Any) -> None:
    """Two deals of one customer won in January and March: the customer and the contact get March; a customer
    without a won deal, and a deal still open, leave theirs empty; a second run stamps nothing more."""
    tenant = make_tenant(load_config(PROJECT_TEMPLATES / "b2b_solution_sales").document, USERS)
    customer = tenant.create("customer", {"name": "Acme"}, "rep1")
    contact = tenant.create("contact", {"name": "Chen", "customer": customer["id"]}, "rep1")
    other = tenant.create("customer", {"name": "Beta"}, "rep1")
    money = {"amount": 1000, "currency": "CNY"}
    deals = [tenant.create("opportunity", {"name": f"D{i}", "customer": customer["id"], "contact": contact["id"],
                                           "amount": money, "expected_close_date": "2026-12-31"}, "rep1")
             for i in range(2)]
    tenant.create("opportunity", {"name": "Open", "customer": other["id"], "amount": money,
                                  "expected_close_date": "2026-12-31"}, "rep1")
    won_before_the_upgrade(app, deals[0]["id"], WON_EARLY)
    won_before_the_upgrade(app, deals[1]["id"], WON_LATER)
    result = lowcode("pools", "backfill-deals", "--tenant", tenant.slug)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1]) == {"tenant": tenant.slug, "stamped": 2}
    assert deal_at(app, customer["id"]) == WON_LATER and deal_at(app, contact["id"]) == WON_LATER
    assert deal_at(app, other["id"]) is None
    again = lowcode("pools", "backfill-deals", "--tenant", tenant.slug)
    assert json.loads(again.output.splitlines()[-1])["stamped"] == 0
