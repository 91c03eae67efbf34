"""Concurrent writers: unique values and optimistic locks hold when requests race (both databases)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


def race(tenant: Any, count: int, request: Any) -> list[int]:
    """Run `request(i)` from `count` threads released at the same moment; their status codes."""
    barrier = threading.Barrier(count)
    statuses: list[int] = [0] * count

    def run(i: int) -> None:
        client = tenant.client.application.test_client()
        barrier.wait()
        statuses[i] = request(client, i).status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_exactly_one_of_racing_creates_wins_a_unique_value(tenant):
    """Of eight concurrent creates with the same unique phone, one answers 201 and seven 422."""
    def create(client: Any, i: int) -> Any:
        return client.post("/api/v1/records/lead", headers=tenant.headers("admin"),
                           json={"name": f"racer {i}", "phone": "13700000000"})

    statuses = race(tenant, 8, create)
    assert Counter(statuses) == {201: 1, 422: 7}
    items = tenant.call("GET", "/api/v1/records/lead?phone=13700000000").get_json()["items"]
    assert len(items) == 1


def test_exactly_one_of_racing_patches_of_a_version_wins(tenant):
    """Of eight concurrent PATCHes of version 1, one answers 200 and seven 409; one audit row is written."""
    record = tenant.create("lead", {"name": "contested"})
    path = f"/api/v1/records/lead/{record['id']}"

    def patch(client: Any, i: int) -> Any:
        return client.patch(path, headers=tenant.headers("admin"), json={"version": 1, "employees": i})

    statuses = race(tenant, 8, patch)
    assert Counter(statuses) == {200: 1, 409: 7}
    history = tenant.call("GET", f"{path}/history").get_json()["items"]
    assert [h["action"] for h in history] == ["create", "update"]
    assert tenant.call("GET", path).get_json()["version"] == 2
