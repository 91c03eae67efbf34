"""Helpers of the approval tests: decide a request through the approvers' inboxes."""

from __future__ import annotations

from typing import Any


def task_of(tenant: Any, user: str, approval_id: str) -> str | None:
    """The open task of `user` for the request, if any."""
    items = tenant.call("GET", "/api/v1/approvals/inbox", user).get_json()["items"]
    return next((i["task"] for i in items if i["id"] == approval_id), None)


def approve_through(tenant: Any, approval_id: str, users: tuple[str, ...]) -> dict[str, Any]:
    """Approve the request as each user in turn who holds an open task of it; the request at the end."""
    for user in users:
        task = task_of(tenant, user, approval_id)
        if task is not None:
            response = tenant.call("POST", f"/api/v1/approvals/tasks/{task}/approve", user, json={})
            assert response.status_code == 200, response.get_json()
    return tenant.call("GET", f"/api/v1/approvals/{approval_id}", users[0]).get_json()
