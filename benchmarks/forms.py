"""Benchmark: forms generated from the tenant config, against shipping and checking the entity's own schema.

    python benchmarks/forms.py [--scale 0.1] [--only pure|http|web]

All cases use the b2b_solution_sales template, the role sales_rep and the locale zh. Figures are
microseconds per call (lower is better); `ratio` is ours / baseline, so 3.0 means a form costs three
times what its baseline does.

- `document_<entity>_<purpose>` (opportunity and lead, create and edit): `jsonutil.dumps(form_document(...))`,
  with the facts and values `FormService.document` passes (an edit form filled with a record), against
  `jsonutil.dumps(jsonutil.loads(entity.schema_text("zh")))`: what a form costs over shipping the entity's
  JSON Schema. `ours_build` is `form_document` alone, timed in the same chunks, for context.
- `check_opportunity`: `check_submission` of valid opportunity bodies through the create form, with the
  facts the service builds (`RecordFacts` over the normalized data), against
  `list(entity.iter_record_errors(data))` + `entity.is_valid(data)` on the same bodies.
- `http_form_get`: `GET /api/v1/forms/opportunity/create` through the Flask test client against
  `GET /api/v1/meta/entities/opportunity/schema` (both with the bearer token and Accept-Language zh).
- `http_form_post`: `POST /api/v1/records/opportunity?form=create` against `POST /api/v1/records/opportunity`
  with the same bodies (amounts below the template's big-deal automation, so no notifications).
- `web_new_page`: `GET /web/opportunity/new` signed in (token and CSRF token posted to `/web/sign-in`)
  against the baseline of `http_form_get`. The page lists up to 200 customers and contacts in its
  pickers; the tenant holds PICKER_RECORDS of each.

Ours and the baseline alternate in chunks (and which goes first alternates too), so machine noise hits
both alike; `ratio_median` is the median of the per-chunk ratios, a check on that noise. HTTP and web
cases run on SQLite in a fresh file in a temp dir. Progress goes to stderr; the last line of stdout is
the JSON result.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from lowcode_platform import jsonutil  # noqa: E402
from lowcode_platform.accounts.service import create_tenant, create_user  # noqa: E402
from lowcode_platform.app import create_app  # noqa: E402
from lowcode_platform.configuration import TenantConfig, compile_config  # noqa: E402
from lowcode_platform.forms.output import form_document  # noqa: E402
from lowcode_platform.forms.submission import check_submission  # noqa: E402
from lowcode_platform.records.derive import RecordFacts, normalized  # noqa: E402
from lowcode_platform.records.forms import derived_values  # noqa: E402
from lowcode_platform.schema.loading import load_config  # noqa: E402
from lowcode_platform.settings import PROJECT_TEMPLATES, Settings  # noqa: E402
from lowcode_platform.storage.engine import make_engine  # noqa: E402
from lowcode_platform.storage.ids import new_id  # noqa: E402
from lowcode_platform.storage.migrate import upgrade  # noqa: E402

SEED = 20240620
DOCUMENT_CALLS = 4000
CHECK_CALLS = 20000
HTTP_GETS = 2000
HTTP_POSTS = 800
WEB_GETS = 400
CHUNKS = 20
PICKER_RECORDS = 50
ROLE = "sales_rep"
LOCALE = "zh"
ENTITY = "opportunity"
TEMPLATE = PROJECT_TEMPLATES / "b2b_solution_sales"
USERS = (("admin", "admin", None, None), ("boss", "sales_manager", None, "east"), ("rep", ROLE, "boss", "east"))


def log(message: str) -> None:
    print(f"[forms] {message}", file=sys.stderr, flush=True)


COMPANY = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent"]
SUFFIX = ["Ltd", "Inc", "Group", "Technologies", "Trading Co", "科技有限公司"]
PEOPLE = ["Wang Wei", "Li Na", "Zhang Min", "Anna Novak", "James Chen", "Liu Yang", "Ravi Kumar", "Sara Ma"]
WORDS = ("call back next week about pricing demo contract renewal budget approved procurement team "
         "interested in premium plan needs integration with erp decision maker travelling until "
         "follow up send proposal competitor quote lower discount requested pilot project").split()
SOURCES = ["website", "exhibition", "referral", "cold_call", "partner", "advertising"]
PRODUCT_LINES = ["software", "hardware", "services", "maintenance", "training"]


def make_opportunities(count: int, rng: random.Random, customers: Sequence[str],
                       contacts: Sequence[str]) -> list[dict[str, Any]]:
    """`count` opportunity bodies as a sales rep sends them through the create form (parsed: Decimal amounts)."""
    today = date.today()
    rows = []
    for i in range(count):
        row: dict[str, Any] = {
            "name": f"{rng.choice(COMPANY)} {rng.choice(SUFFIX)} {i}",
            "customer": rng.choice(customers),
            "contact": rng.choice(contacts),
            "source": rng.choice(SOURCES),
            # below 1,000,000: the template's big_deal_alert automation stays quiet
            "amount": {"amount": Decimal(rng.randrange(1_000_000, 99_000_000)) / 100, "currency": "CNY"},
            "expected_close_date": (today + timedelta(days=rng.randrange(7, 365))).isoformat(),
            "product_lines": rng.sample(PRODUCT_LINES, rng.randrange(1, 4)),
            "competitors": rng.choice(COMPANY),
            "next_step": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 10))),
            "description": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(10, 80))),
        }
        for optional in ("contact", "source", "product_lines", "competitors", "next_step", "description"):
            if rng.random() < 0.1:
                del row[optional]
        rows.append(jsonutil.loads(jsonutil.dumps(row)))  # as a request parses it
    return rows


def sample_lead() -> dict[str, Any]:
    """A lead as a rep sees it on the edit form."""
    return jsonutil.loads(jsonutil.dumps({
        "name": "Wang Wei", "company": "Acme 科技有限公司", "title": "CTO", "phone": "13812345678",
        "email": "wang.wei@acme.com", "source": "exhibition", "industry": "manufacturing", "status": "contacted",
        "budget": {"amount": Decimal("250000.00"), "currency": "CNY"}, "authority": "decision_maker",
        "need": "clear", "timing": "within_3_months", "expected_purchase_date": "2026-09-30",
        "notes": "met at the Shanghai fair; wants a pilot", "grade": "B",
    }))


# -- timing -------------------------------------------------------------------------------------


def chunked(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    size = max(1, math.ceil(len(items) / parts))
    return [items[i:i + size] for i in range(0, len(items), size)]


def alternate(items: Sequence[Any], steps: dict[str, Callable[[Any], None]], what: str) -> dict[str, Any]:
    """Run every step over every item, alternating in chunks (the order rotating chunk by chunk).

    Returns each step's mean seconds per item, and `ratios`: ours / baseline per chunk.
    """
    names = list(steps)
    spent = dict.fromkeys(names, 0.0)
    ratios = []
    done = 0
    for index, chunk in enumerate(chunked(items, CHUNKS)):
        shift = index % len(names)
        order = names[shift:] + names[:shift]
        if index % 2:
            order.reverse()
        taken = {}
        for name in order:
            step = steps[name]
            started = time.perf_counter()
            for item in chunk:
                step(item)
            taken[name] = time.perf_counter() - started
            spent[name] += taken[name]
        ratios.append(taken["ours"] / taken["baseline"])
        done += len(chunk)
        if index % 5 == 4:
            log(f"  {what}: {done}/{len(items)}")
    return {**{name: spent[name] / len(items) for name in names}, "ratios": ratios}


def case(name: str, timed: dict[str, Any], **extra: Any) -> dict[str, Any]:
    ours, baseline = timed["ours"] * 1e6, timed["baseline"] * 1e6
    median = statistics.median(timed["ratios"])
    log(f"{name}: ours {ours:.1f} us, baseline {baseline:.1f} us, ratio {ours / baseline:.3f} "
        f"(median per chunk {median:.3f})")
    return {"name": name, "unit": "us", "ours": round(ours, 1), "baseline": round(baseline, 1),
            "ratio": round(ours / baseline, 3), "ratio_median": round(median, 3), **extra}


# -- pure cases ---------------------------------------------------------------------------------


def template_config() -> TenantConfig:
    return compile_config(load_config(TEMPLATE).document, 1)


def document_case(config: TenantConfig, entity_key: str, purpose: str, values: dict[str, Any],
                  calls: int) -> dict[str, Any]:
    """One form's document, with the facts `FormService.document` gives it, for a new or a stored record."""
    entity = config.entities[entity_key]
    form = config.forms.get(entity_key, purpose)
    assert form is not None, f"the template has no {purpose} form for {entity_key}"
    scope = config.rules.scopes[entity_key]
    now = datetime.now(timezone.utc)
    system: dict[str, Any] = {"owner": new_id(), "owner_team": "east", "stage": None, "pool": None,
                              "created_at": now, "last_activity_at": None, "stage_entered_at": None, "won_at": None}
    if purpose == "create":
        values = entity.with_defaults({})
    else:
        system["created_at"] = system["last_activity_at"] = now - timedelta(days=12)
    facts = {**values, **derived_values(system, now, config.timezone)}
    schema_text = entity.schema_text(LOCALE)

    def build(_: Any) -> dict[str, Any]:
        return form_document(form, entity, scope, ROLE, LOCALE, facts=facts, values=values)

    def ours(_: Any) -> None:
        jsonutil.dumps(build(_))

    def baseline(_: Any) -> None:
        jsonutil.dumps(jsonutil.loads(schema_text))

    shipped = jsonutil.dumps(build(None))
    document = jsonutil.loads(shipped)
    assert set(document["schema"]["properties"]) <= set(jsonutil.loads(schema_text)["properties"])
    assert document["uiSchema"]["ui:order"], "the form shows the role no field"
    name = f"document_{entity_key}_{purpose}"
    log(f"{name}: {calls} calls each; the document is {len(shipped.encode())} bytes, "
        f"the entity schema {len(schema_text.encode())}")
    items = range(calls)
    for _ in items[: max(1, calls // 10)]:
        ours(None)
        baseline(None)
    timed = alternate(items, {"ours": ours, "baseline": baseline, "build": build}, name)
    return case(name, timed, ours_build=round(timed["build"] * 1e6, 1),
                bytes_ours=len(shipped.encode()), bytes_baseline=len(schema_text.encode()))


def check_case(config: TenantConfig, calls: int) -> dict[str, Any]:
    entity = config.entities[ENTITY]
    form = config.forms.get(ENTITY, "create")
    assert form is not None
    rng = random.Random(SEED)
    bodies = make_opportunities(min(calls, 1000), rng, [new_id() for _ in range(20)], [new_id() for _ in range(20)])
    now = datetime.now(timezone.utc)
    system = {"owner": new_id(), "owner_team": "east", "stage": None, "pool": None, "created_at": now,
              "last_activity_at": None, "stage_entered_at": None, "won_at": None}

    def facts_of(data: Any) -> RecordFacts:  # what FormService._facts builds, the team known already
        return RecordFacts(normalized(entity, data), system, lambda _user: "east")

    def ours(body: dict[str, Any]) -> None:
        check_submission(form, entity, ROLE, body, before=None, facts_of=facts_of, now=now)

    def baseline(body: dict[str, Any]) -> None:
        list(entity.iter_record_errors(body))
        entity.is_valid(body)

    for body in bodies:
        submission = check_submission(form, entity, ROLE, body, before=None, facts_of=facts_of, now=now)
        assert not submission.errors, submission.errors
        assert submission.data == body, "the form dropped part of a valid body"
        assert entity.is_valid(body), body
    items = [bodies[i % len(bodies)] for i in range(calls)]
    log(f"check_opportunity: {calls} calls each over {len(bodies)} bodies")
    for body in bodies[: max(1, len(bodies) // 10)]:
        ours(body)
        baseline(body)
    return case("check_opportunity", alternate(items, {"ours": ours, "baseline": baseline}, "check_opportunity"))


# -- HTTP and web cases -------------------------------------------------------------------------


class Site:
    """A fresh, migrated SQLite database with the template tenant, its users and some customers and contacts."""

    def __init__(self, workdir: Path) -> None:
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        self.app: Flask = create_app(Settings(database_url=url, instance_dir=workdir / "instance"))
        platform = self.app.extensions["lowcode"]
        now = datetime.now(timezone.utc)
        with platform.open_session(write=True) as session:
            create_tenant(session, slug="bench", document=load_config(TEMPLATE).document, author="benchmark", now=now)
        self.tokens: dict[str, str] = {}
        for name, role, manager, team in USERS:
            with platform.open_session(write=True) as session:
                _, self.tokens[name] = create_user(session, platform.config_cache, tenant_slug="bench", name=name,
                                                   role=role, manager=manager, team=team, now=now)
        self.client = self.app.test_client()
        self.headers = {"Authorization": f"Bearer {self.tokens['rep']}", "Accept-Language": LOCALE}
        self.customers = [self.post("/api/v1/records/customer", {"name": f"{COMPANY[i % 10]} {SUFFIX[i % 6]} {i}"})
                          for i in range(PICKER_RECORDS)]
        self.contacts = [self.post("/api/v1/records/contact",
                                   {"name": PEOPLE[i % len(PEOPLE)], "customer": self.customers[i]})
                         for i in range(PICKER_RECORDS)]

    def post(self, path: str, body: dict[str, Any]) -> str:
        response = self.client.post(path, data=jsonutil.dumps(body), headers=self.headers,
                                    content_type="application/json")
        assert response.status_code == 201, (path, response.status_code, response.get_data(as_text=True)[:500])
        return str(jsonutil.loads(response.get_data())["id"])

    def close(self) -> None:
        self.app.extensions["lowcode"].engine.dispose()


def expect(response: Any, status: int, what: str) -> bytes:
    if response.status_code != status:
        raise RuntimeError(f"{what}: {response.status_code} {response.get_data(as_text=True)[:500]}")
    return bytes(response.get_data())


def warm_and_time(name: str, count: int, ours: Callable[[Any], None], baseline: Callable[[Any], None],
                  items: Sequence[Any] | None = None) -> dict[str, Any]:
    items = list(items) if items is not None else list(range(count))
    warm = items[: max(1, min(50, len(items) // 10))]
    for item in warm:
        ours(item)
        baseline(item)
    log(f"{name}: {len(items)} requests each")
    return case(name, alternate(items, {"ours": ours, "baseline": baseline}, name))


def http_get_case(site: Site, count: int) -> dict[str, Any]:
    client, headers = site.client, site.headers
    form_url, schema_url = f"/api/v1/forms/{ENTITY}/create", f"/api/v1/meta/entities/{ENTITY}/schema"
    document = jsonutil.loads(expect(client.get(form_url, headers=headers), 200, form_url))
    schema = jsonutil.loads(expect(client.get(schema_url, headers=headers), 200, schema_url))
    assert document["schema"]["title"] == "新建商机" and schema["title"] == "商机", "not served in zh"
    assert set(document["schema"]["properties"]) <= set(schema["properties"])

    def ours(_: Any) -> None:
        expect(client.get(form_url, headers=headers), 200, form_url)

    def baseline(_: Any) -> None:
        expect(client.get(schema_url, headers=headers), 200, schema_url)

    return warm_and_time("http_form_get", count, ours, baseline)


def http_post_case(site: Site, count: int) -> dict[str, Any]:
    client, headers = site.client, site.headers
    rows = make_opportunities(count, random.Random(SEED + 1), site.customers, site.contacts)
    bodies = [jsonutil.dumps(row).encode() for row in rows]
    form_url, plain_url = f"/api/v1/records/{ENTITY}?form=create", f"/api/v1/records/{ENTITY}"

    def post(url: str, body: bytes) -> dict[str, Any]:
        response = client.post(url, data=body, headers=headers, content_type="application/json")
        return dict(jsonutil.loads(expect(response, 201, f"POST {url}")))

    first_form, first_plain = post(form_url, bodies[0]), post(plain_url, bodies[0])
    assert first_form["data"] == first_plain["data"], (first_form["data"], first_plain["data"])

    def ours(body: bytes) -> None:
        post(form_url, body)

    def baseline(body: bytes) -> None:
        post(plain_url, body)

    return warm_and_time("http_form_post", count, ours, baseline, bodies)


def sign_in(client: FlaskClient, token: str) -> None:
    """Sign in as a browser does: read the CSRF token off the sign-in page, post it with the token."""
    page = expect(client.get("/web/sign-in", headers={"Accept-Language": LOCALE}), 200, "GET /web/sign-in")
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, "the sign-in page has no CSRF token"
    response = client.post("/web/sign-in", data={"token": token, "csrf_token": found.group(1).decode()})
    expect(response, 303, "POST /web/sign-in")


def web_case(site: Site, count: int) -> dict[str, Any]:
    browser = site.app.test_client()
    sign_in(browser, site.tokens["rep"])
    page_url, page_headers = f"/web/{ENTITY}/new", {"Accept-Language": LOCALE}
    schema_url = f"/api/v1/meta/entities/{ENTITY}/schema"
    page = expect(browser.get(page_url, headers=page_headers), 200, page_url).decode()
    assert "data-lowcode-form" in page and "商机名称" in page, "not the zh opportunity form"
    assert site.customers[-1] in page, "the customer picker is not filled"
    log(f"web_new_page: the page is {len(page.encode())} bytes")

    def ours(_: Any) -> None:
        expect(browser.get(page_url, headers=page_headers), 200, page_url)

    def baseline(_: Any) -> None:
        expect(site.client.get(schema_url, headers=site.headers), 200, schema_url)

    return warm_and_time("web_new_page", count, ours, baseline)


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of calls (default 1)")
    parser.add_argument("--only", choices=["pure", "http", "web"], help="run only these cases")
    args = parser.parse_args(argv)

    def scaled(calls: int) -> int:
        return max(CHUNKS, round(calls * args.scale))

    cases = []
    if args.only in (None, "pure"):
        config = template_config()
        stored = {"opportunity": make_opportunities(1, random.Random(SEED), [new_id()], [new_id()])[0],
                  "lead": sample_lead()}
        for entity_key in ("opportunity", "lead"):
            for purpose in ("create", "edit"):
                cases.append(document_case(config, entity_key, purpose, stored[entity_key], scaled(DOCUMENT_CALLS)))
        cases.append(check_case(config, scaled(CHECK_CALLS)))
    if args.only in (None, "http", "web"):
        with tempfile.TemporaryDirectory(prefix="forms_sqlite_") as folder:
            log("preparing a fresh sqlite database with the template tenant")
            site = Site(Path(folder))
            try:
                if args.only in (None, "http"):
                    cases.append(http_get_case(site, scaled(HTTP_GETS)))
                    cases.append(http_post_case(site, scaled(HTTP_POSTS)))
                if args.only in (None, "web"):
                    cases.append(web_case(site, scaled(WEB_GETS)))
            finally:
                site.close()
    print(json.dumps({"benchmark": "forms", "cases": cases}))


if __name__ == "__main__":
    main()
