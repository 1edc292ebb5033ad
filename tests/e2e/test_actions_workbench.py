"""The required actions workbench in a real browser: inbox → action page, assign, status, note
and customer email, each without a page reload; Leap's text shown as text; bulk notify.

Emails land in Django's locmem outbox: the live server runs in this process. Screenshots of
every page visited go to var/e2e-artifacts/ (prefix 30-).
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from actions.catalogue import entry_for, load_catalogue
from actions.models import ActionOwner, NoteKind, RequiredAction, WorkflowStatus
from tests.e2e.helpers import screenshot, sign_in

pytestmark = pytest.mark.e2e
HOSTILE = 'Upload the <b>bill</b><img src=x onerror="window.__injected = 1">'


def inbox_action_ids(page) -> list[int]:
    """The actions the inbox lists on its first page, top to bottom."""
    hrefs = page.locator("#actions tbody a[href^='/actions/']").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    ids = [int(m.group(1)) for h in hrefs if (m := re.fullmatch(r"/actions/(\d+)/", h))]
    return list(dict.fromkeys(ids))


def emailable(pks: list[int]) -> list[RequiredAction]:
    """Of `pks`, in order, the open actions whose customer can be emailed about them."""
    catalogue = load_catalogue()
    by_pk = RequiredAction.objects.select_related("meter").in_bulk(pks)
    return [
        action
        for pk in pks
        if (action := by_pk[pk]).meter.end_customer_email
        and entry_for(action, catalogue).can_email_customer
    ]


def test_work_an_action_from_the_inbox_without_reloading(page, users, synced):
    sign_in(page, users["ops"])
    page.goto(reverse("actions:action_list"))
    screenshot(page, "30-actions-inbox")
    action = emailable(inbox_action_ids(page))[0]
    RequiredAction.objects.filter(pk=action.pk).update(action_description=HOSTILE)
    page.locator(f"#actions tbody a[href='/actions/{action.pk}/']").first.click()
    page.wait_for_url(f"**/actions/{action.pk}/")
    page.evaluate("window.__samePage = true")

    # Leap's description is Leap's text: shown as typed, never as markup.
    assert page.locator(".leap-text").inner_text() == HOSTILE
    assert page.evaluate("window.__injected") is None
    workflow = page.locator("#action-workflow")
    assert "unassigned" in workflow.inner_text()

    workflow.get_by_role("button", name="Assign to me").click()
    workflow.get_by_text(f"assigned to {users['ops']}").wait_for()
    action.refresh_from_db()
    assert action.assignee.username == users["ops"]
    assert action.status == WorkflowStatus.IN_PROGRESS  # taking it starts it
    page.locator("#action-history").get_by_text(f"Assigned to {users['ops']}").wait_for()

    page.get_by_label("Add a note").fill("Called the customer: <i>bill</i> on its way.")
    page.get_by_role("button", name="Add note").click()
    history = page.locator("#action-history")
    history.get_by_text("Called the customer: <i>bill</i> on its way.").wait_for()
    assert action.notes.filter(kind=NoteKind.NOTE).count() == 1
    assert page.get_by_label("Add a note").input_value() == ""  # a fresh form for the next one
    screenshot(page, "31-action-worked")

    # Notify the customer: a preview first, nothing sent until confirmed.
    page.get_by_role("link", name="Preview customer email").click()
    send = page.get_by_role("button", name=f"Send to {action.meter.end_customer_email}")
    send.wait_for()
    preview = page.locator("#action-notify .action-email-preview").first.inner_text()
    assert action.meter.end_customer_name in preview
    page.get_by_text("HTML part (as sent)").click()
    email_body = page.frame_locator("iframe.action-email-preview").locator("body")
    # The email's inline styles apply in its frame (the page's own policy forbids them).
    background = email_body.evaluate("body => getComputedStyle(body).backgroundColor")
    assert background == "rgb(244, 245, 247)"
    assert action.meter.end_customer_name in email_body.inner_text()
    assert mail.outbox == []
    screenshot(page, "32-action-notify-preview")
    send.click()
    page.locator("#action-notify").get_by_text("Email sent.").wait_for()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [action.meter.end_customer_email]
    assert action.meter.end_customer_name in message.body
    assert [kind for _, kind in message.alternatives] == ["text/html"]
    page.locator("#action-workflow").get_by_text("customer notified").wait_for()
    action.refresh_from_db()
    assert action.customer_notified_at is not None
    assert action.status == WorkflowStatus.WAITING_ON_CUSTOMER

    # Done on our side: Leap has the last word (the action stays open until Leap drops it).
    workflow = page.locator("#action-workflow")
    workflow.get_by_label("Status").select_option(WorkflowStatus.DONE)
    workflow.get_by_role("button", name="Save").click()
    page.locator("#action-workflow .badge", has_text="Done (waiting for Leap)").wait_for()
    page.locator("#action-history").get_by_text("Waiting on customer → Done").wait_for()
    action.refresh_from_db()
    assert action.status == WorkflowStatus.DONE
    assert page.evaluate("window.__samePage") is True
    screenshot(page, "33-action-done")


def test_history_refresh_keeps_a_note_being_typed(page, users, synced):
    """A workflow change refreshes the history list only: the half-typed note stays."""
    sign_in(page, users["ops"])
    action = RequiredAction.objects.filter(owner=ActionOwner.PARTNER).order_by("pk").first()
    page.goto(reverse("actions:action_detail", args=[action.pk]))
    note = page.get_by_label("Add a note")
    note.fill("Half a thought about the")
    page.locator("#action-workflow").get_by_role("button", name="Assign to me").click()
    page.locator("#action-history").get_by_text(f"Assigned to {users['ops']}").wait_for()
    assert note.input_value() == "Half a thought about the"
    assert not action.notes.filter(kind=NoteKind.NOTE).exists()


def test_bulk_notify_previews_then_sends_one_email_each(page, users, synced):
    sign_in(page, users["ops"])
    page.goto(reverse("actions:action_list"))
    chosen = emailable(inbox_action_ids(page))[:2]
    assert len(chosen) == 2
    for action in chosen:
        page.get_by_label(f"Select action {action.pk}", exact=True).check()
    page.get_by_role("button", name="Notify customers of selected…").click()
    page.get_by_role("heading", name="Preview: Email each customer").wait_for()
    assert "2 customers will each get their own email" in page.locator("main").inner_text()
    assert mail.outbox == []
    screenshot(page, "34-bulk-notify-preview")

    page.get_by_role("button", name="Send 2 emails").click()
    page.get_by_role("heading", name="Done: Email each customer").wait_for()
    assert "2 sent" in page.locator("main").inner_text()
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        a.meter.end_customer_email for a in chosen
    )
    screenshot(page, "35-bulk-notify-sent")
