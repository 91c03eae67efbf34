"""The approval pages (server-rendered, no JavaScript): the inbox at /web/approvals with approve and reject
forms, and the requests panel of a record's edit page with recall for the submitter. Both databases."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.approvals.support import (
    USERS,
    approval,
    document,
    fixed_clock,
    flow,
    patch,
    qualifiable,
    requested,
    stage,
    step,
    task_of,
)
from tests.web.test_pages import csrf_of


@pytest.fixture
def make(make_tenant: Any) -> Any:
    """`make(flows)`: a tenant of the approval test config (tests/approvals/support.py) with these flows."""
    return lambda flows: make_tenant(document(flows), USERS)


def review(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"review": flow({"stage": "qualified"}, *steps)}


def inbox_errors(html: str) -> list[str]:
    block = re.search(r'<div class="errors" role="alert" id="inbox-errors">(.*?)</div>', html, re.S)
    return re.findall(r'<p class="error">([^<]*)</p>', block.group(1)) if block else []


def task_card(html: str, task: str) -> str:
    """The inbox card of one task."""
    match = re.search(rf'<li class="card approval-task" data-task="{task}">(.*?)</li>', html, re.S)
    assert match, html
    return match.group(1)


def approvals_panel(html: str) -> str:
    match = re.search(r'<section class="approvals card".*?</section>', html, re.S)
    assert match, html
    return match.group(0)


def post(client: Any, path: str, page: str = "/web/approvals", **form: str) -> Any:
    """Post a form of `page` as a browser would: with the CSRF token the page carries."""
    token = csrf_of(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **form})


# -- the inbox ----------------------------------------------------------------------------------------------

def test_the_inbox_lists_a_task_with_its_record_and_what_it_asks(make: Any, browser: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """boss's card: the flow and step, the lead's title linking to its page, the stage it would enter, the
    due time, and an approve and a reject form posting to the task."""
    fixed_clock(monkeypatch)  # the request is made through the API at 2026-03-10 01:00 UTC
    tenant = make(review(step("manager", timeout_hours=4)))
    lead = qualifiable(tenant, name="Acme Robotics")
    request = requested(tenant, lead)
    task = task_of(tenant, "boss", request["id"])
    page = browser(tenant, "boss").get("/web/approvals")
    assert page.status_code == 200
    card = task_card(page.text, task)
    assert "<h2>Review · Manager</h2>" in card
    assert f'<a href="/web/lead/{lead["id"]}/edit">Acme Robotics</a>' in card
    assert '<strong class="request">Qualified</strong>' in card
    assert "due 2026-03-10 05:00 UTC" in card
    assert f'action="/web/approvals/tasks/{task}/approve"' in card and f'action="/web/approvals/tasks/{task}/reject"' in card


def test_a_field_change_is_summarised_with_its_labels_and_values(make: Any, browser: Any) -> None:
    """A request to change the discount names the field by its label and the value asked for."""
    tenant = make({"disc": flow({"fields": ["discount"]}, when={"$gt": {"discount": 10}})})
    lead = qualifiable(tenant)
    request = patch(tenant, lead, discount=15).get_json()["approval"]
    page = browser(tenant, "boss").get("/web/approvals")
    assert '<strong class="request">Discount: 15</strong>' in task_card(page.text, task_of(tenant, "boss", request["id"]))


def test_an_empty_inbox_says_so(make: Any, browser: Any) -> None:
    """A user with no open task sees the empty-inbox message, and the header links to the inbox."""
    tenant = make(review())
    page = browser(tenant, "vp").get("/web/approvals")
    assert page.status_code == 200 and '<p class="empty">Nothing waits for your approval.</p>' in page.text
    assert '<a class="inbox-link" href="/web/approvals">Approvals</a>' in page.text


def test_the_header_has_no_inbox_link_without_flows(make_tenant: Any, browser: Any) -> None:
    """A tenant without approval flows shows no inbox link."""
    tenant = make_tenant(document({}), USERS)
    assert 'class="inbox-link"' not in browser(tenant, "rep1").get("/web/lead").text


def test_approving_from_the_page_moves_the_record(make: Any, browser: Any) -> None:
    """Approve with a comment: 303 back to the inbox, which is now empty; the lead is in `qualified` and the
    comment is in the trail."""
    tenant = make(review())
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    client = browser(tenant, "boss")
    response = post(client, f"/web/approvals/tasks/{task_of(tenant, 'boss', request['id'])}/approve", comment="good")
    assert response.status_code == 303 and response.headers["Location"].endswith("/web/approvals")
    assert "Nothing waits for your approval." in client.get(response.headers["Location"]).text
    assert stage(tenant, lead) == "qualified"
    assert [(t["status"], t["comment"]) for t in approval(tenant, request["id"])["trail"]] == [("approved", "good")]


def test_rejecting_without_a_comment_shows_the_error(make: Any, browser: Any) -> None:
    """A blank comment: 422, the inbox again with the error and the task still there; the lead stays."""
    tenant = make(review())
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    task = task_of(tenant, "boss", request["id"])
    response = post(browser(tenant, "boss"), f"/web/approvals/tasks/{task}/reject", comment="  ")
    assert response.status_code == 422
    assert inbox_errors(response.text) == ["Comment: is required"]
    assert f'data-task="{task}"' in response.text
    assert approval(tenant, request["id"])["status"] == "pending" and stage(tenant, lead) == "new"


def test_rejecting_with_a_comment_ends_the_request(make: Any, browser: Any) -> None:
    """With a comment the rejection goes through: 303, the request rejected, the lead in `new`."""
    tenant = make(review())
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    response = post(browser(tenant, "boss"), f"/web/approvals/tasks/{task_of(tenant, 'boss', request['id'])}/reject",
                    comment="visit them first")
    assert response.status_code == 303
    shown = approval(tenant, request["id"])
    assert shown["status"] == "rejected" and shown["trail"][0]["comment"] == "visit them first"
    assert stage(tenant, lead) == "new"


def test_sending_back_from_the_page(make: Any, browser: Any) -> None:
    """The director rejects with `back_to` manager: the request is back with boss."""
    tenant = make(review(step("manager"), step("director", {"role": "director"})))
    request = requested(tenant, qualifiable(tenant))
    tenant.call("POST", f"/api/v1/approvals/tasks/{task_of(tenant, 'boss', request['id'])}/approve", "boss", json={})
    task = task_of(tenant, "director", request["id"])
    response = post(browser(tenant, "director"), f"/web/approvals/tasks/{task}/reject", comment="check", back_to="manager")
    assert response.status_code == 303
    assert approval(tenant, request["id"])["step"] == "manager" and task_of(tenant, "boss", request["id"])


def test_the_send_back_choice_offers_only_this_and_earlier_steps(make: Any, browser: Any) -> None:
    """At the first of two steps, the request can only be sent back to that step: the select does not offer
    the later `director` step (choosing it could only fail)."""
    tenant = make(review(step("manager"), step("director", {"role": "director"})))
    request = requested(tenant, qualifiable(tenant))
    task = task_of(tenant, "boss", request["id"])
    card = task_card(browser(tenant, "boss").get("/web/approvals").text, task)
    assert '<option value="manager">' in card
    assert '<option value="director">' not in card


def test_a_decision_needs_the_csrf_token(make: Any, browser: Any) -> None:
    """A decision posted without the session's CSRF token is refused (400) and decides nothing."""
    tenant = make(review())
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    task = task_of(tenant, "boss", request["id"])
    client = browser(tenant, "boss")
    assert client.post(f"/web/approvals/tasks/{task}/approve", data={"comment": "ok"}).status_code == 400
    assert client.post(f"/web/approvals/tasks/{task}/approve",
                       data={"comment": "ok", "csrf_token": "forged"}).status_code == 400
    assert approval(tenant, request["id"])["status"] == "pending" and stage(tenant, lead) == "new"


def test_deciding_a_task_decided_meanwhile_shows_the_conflict(make: Any, browser: Any) -> None:
    """vp2's page still shows the task vp has just approved: vp2's approval answers 409 with the reason."""
    tenant = make(review(step("vps", {"role": "vp"})))
    request = requested(tenant, qualifiable(tenant))
    task = task_of(tenant, "vp2", request["id"])
    client = browser(tenant, "vp2")
    token = csrf_of(client.get("/web/approvals").text)
    tenant.call("POST", f"/api/v1/approvals/tasks/{task_of(tenant, 'vp', request['id'])}/approve", "vp", json={})
    response = client.post(f"/web/approvals/tasks/{task}/approve", data={"csrf_token": token})
    assert response.status_code == 409
    assert inbox_errors(response.text) == ["this task was decided already (the request is approved)"]


def test_a_task_whose_record_was_deleted_does_not_break_the_inbox(make: Any, browser: Any) -> None:
    """rep1 deletes a lead whose move waits for boss: boss's inbox page still opens and lists his other task."""
    tenant = make(review())
    kept, deleted = qualifiable(tenant, name="Kept"), qualifiable(tenant, name="Deleted")
    other = requested(tenant, kept)
    requested(tenant, deleted)
    assert tenant.call("DELETE", f"/api/v1/records/lead/{deleted['id']}", "rep1").status_code == 200
    page = browser(tenant, "boss").get("/web/approvals")
    assert page.status_code == 200
    assert f'data-task="{task_of(tenant, "boss", other["id"])}"' in page.text


# -- the record's page --------------------------------------------------------------------------------------

def test_a_move_from_the_page_that_needs_approval_waits(make: Any, browser: Any) -> None:
    """The stage form's move to `qualified` becomes a request: back on the edit page the lead is still new
    and the panel shows the request waiting."""
    tenant = make(review())
    lead = qualifiable(tenant)
    client = browser(tenant, "rep1")
    edit = f"/web/lead/{lead['id']}/edit"
    response = post(client, f"/web/lead/{lead['id']}/stage", page=edit, to="qualified")
    assert response.status_code == 303 and response.headers["Location"].endswith(edit)
    page = client.get(edit).text
    assert '<span class="current-stage">New</span>' in page
    assert "Review: <strong>waiting for approval</strong>" in approvals_panel(page)
    assert stage(tenant, lead) == "new"


def test_the_submitter_can_recall_from_the_records_page(make: Any, browser: Any) -> None:
    """rep1's page has a recall button for his pending request; posting it recalls the request and returns
    to the page, which shows it recalled without the button."""
    tenant = make(review())
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    client = browser(tenant, "rep1")
    edit = f"/web/lead/{lead['id']}/edit"
    panel = approvals_panel(client.get(edit).text)
    assert f'action="/web/approvals/{request["id"]}/recall"' in panel and ">Recall</button>" in panel
    response = post(client, f"/web/approvals/{request['id']}/recall", page=edit)
    assert response.status_code == 303 and response.headers["Location"].endswith(edit)
    assert approval(tenant, request["id"])["status"] == "recalled"
    panel = approvals_panel(client.get(edit).text)
    assert "Review: <strong>recalled</strong>" in panel and "/recall" not in panel


def test_only_the_submitter_sees_and_may_use_the_recall_button(make: Any, browser: Any) -> None:
    """rep2 may read the lead and sees the request, without a recall button; a forged recall post is 403."""
    tenant = make(review())
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    client = browser(tenant, "rep2")
    edit = f"/web/lead/{lead['id']}/edit"
    panel = approvals_panel(client.get(edit).text)
    assert "waiting for approval" in panel and "/recall" not in panel
    assert post(client, f"/web/approvals/{request['id']}/recall", page=edit).status_code == 403
    assert approval(tenant, request["id"])["status"] == "pending"


def test_a_recall_needs_the_csrf_token(make: Any, browser: Any) -> None:
    """A recall posted without the CSRF token is refused and recalls nothing."""
    tenant = make(review())
    request = requested(tenant, qualifiable(tenant))
    assert browser(tenant, "rep1").post(f"/web/approvals/{request['id']}/recall", data={}).status_code == 400
    assert approval(tenant, request["id"])["status"] == "pending"


def test_the_panel_shows_who_decided_what(make: Any, browser: Any) -> None:
    """After boss approves with a comment, the record's panel names him, his decision and his comment."""
    tenant = make(review(step("manager"), step("director", {"role": "director"})))
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    tenant.call("POST", f"/api/v1/approvals/tasks/{task_of(tenant, 'boss', request['id'])}/approve", "boss",
                json={"comment": "fine"})
    panel = approvals_panel(browser(tenant, "rep1").get(f"/web/lead/{lead['id']}/edit").text)
    assert "boss approved (fine)" in panel


# -- Chinese ------------------------------------------------------------------------------------------------

def test_the_inbox_in_chinese(make: Any, browser: Any) -> None:
    """With ?lang=zh: the heading, the flow and step labels, the stage asked for, and the form texts."""
    tenant = make(review(step("manager"), step("director", {"role": "director"})))
    request = requested(tenant, qualifiable(tenant))
    task = task_of(tenant, "boss", request["id"])
    page = browser(tenant, "boss").get("/web/approvals?lang=zh").text
    assert "<h1>待审批</h1>" in page
    card = task_card(page, task)
    assert "<h2>评审 · 步骤manager</h2>" in card and "线索:" in card
    assert '<strong class="request">已确认</strong>' in card
    for word in (">备注</label>", ">备注 *</label>", ">同意</button>", ">驳回</button>", ">退回到</label>", "（结束申请）"):
        assert word in card, word


def test_an_empty_inbox_and_an_error_in_chinese(make: Any, browser: Any) -> None:
    """The empty-inbox message and a rejection's missing-comment error, in Chinese."""
    tenant = make(review())
    assert "暂无待审批事项。" in browser(tenant, "vp").get("/web/approvals?lang=zh").text
    request = requested(tenant, qualifiable(tenant))
    client = browser(tenant, "boss")
    client.get("/web/approvals?lang=zh")
    response = post(client, f"/web/approvals/tasks/{task_of(tenant, 'boss', request['id'])}/reject", comment="")
    assert response.status_code == 422 and inbox_errors(response.text) == ["备注: 为必填项"]


def test_the_records_panel_in_chinese(make: Any, browser: Any) -> None:
    """The panel's heading, the request's status and the recall button, in Chinese."""
    tenant = make(review())
    lead = qualifiable(tenant)
    requested(tenant, lead)
    panel = approvals_panel(browser(tenant, "rep1").get(f"/web/lead/{lead['id']}/edit?lang=zh").text)
    assert '<h2 id="approvals-heading">审批</h2>' in panel
    assert "评审: <strong>审批中</strong>" in panel and ">撤回</button>" in panel


def test_the_panels_decisions_in_chinese(make: Any, browser: Any) -> None:
    """Each decision of the trail is in the page's language: boss's approval reads 已通过, not `approved`."""
    tenant = make(review(step("manager"), step("director", {"role": "director"})))
    lead = qualifiable(tenant)
    request = requested(tenant, lead)
    tenant.call("POST", f"/api/v1/approvals/tasks/{task_of(tenant, 'boss', request['id'])}/approve", "boss", json={})
    panel = approvals_panel(browser(tenant, "rep1").get(f"/web/lead/{lead['id']}/edit?lang=zh").text)
    assert "boss 已通过" in panel and "approved" not in panel


# -- escaping -----------------------------------------------------------------------------------------------

def test_titles_values_and_comments_are_escaped(make: Any, browser: Any) -> None:
    """Markup in a lead's name, in a value asked for and in a comment is shown as text on both pages."""
    tenant = make({"review": flow({"stage": "qualified"}, step("manager"), step("director", {"role": "director"})),
                   "renaming": flow({"fields": ["notes"]}, step("vps", {"role": "vp"}))})
    lead = qualifiable(tenant, name="<script>alert(1)</script>")
    request = requested(tenant, lead)
    renaming = patch(tenant, lead, notes="<b>bold</b> & co").get_json()["approval"]
    tenant.call("POST", f"/api/v1/approvals/tasks/{task_of(tenant, 'boss', request['id'])}/approve", "boss",
                json={"comment": '<img src=x onerror="alert(2)">'})
    inbox_page = browser(tenant, "director").get("/web/approvals").text
    assert "<script>alert(1)</script>" not in inbox_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in task_card(inbox_page, task_of(tenant, "director", request["id"]))
    vp_page = browser(tenant, "vp").get("/web/approvals").text
    assert "Notes: &lt;b&gt;bold&lt;/b&gt; &amp; co" in task_card(vp_page, task_of(tenant, "vp", renaming["id"]))
    panel = approvals_panel(browser(tenant, "rep1").get(f"/web/lead/{lead['id']}/edit").text)
    assert "<img" not in panel and "&lt;img src=x onerror=" in panel
