"""Bulk work on the actions inbox: the selection (checked rows or every action a filter
matches), each operation's preview with its reasons, the confirm through the services, drift
between the two, queued runs, permissions and the preview's query budget."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from actions import bulk, tasks
from actions.models import ActionNote, ActionOwner, NoteKind, RequiredAction, WorkflowStatus
from actions.services import assign
from meters.models import EventKind, MeterEvent
from tests.meters.factories import MeterFactory, RequiredActionFactory

pytestmark = pytest.mark.django_db
LIST = reverse("actions:action_list")
PREVIEW = reverse("actions:action_bulk_preview")
APPLY = reverse("actions:action_bulk_apply")


def _all(query: str, kind: str, **values) -> dict:
    """The bar's post for "all N matching the filter `query`"."""
    data = {"bulk-all": "on", "bulk-query": query, "bulk-kind": kind}
    return data | {f"bulk-{name}": value for name, value in values.items()}


def _rows(pks, kind: str, **values) -> dict:
    return {"pk": list(pks), "bulk-kind": kind} | {f"bulk-{k}": v for k, v in values.items()}


def _confirm(client, preview):
    return client.post(APPLY, {"token": preview.context["token"]})


def _workflow_events():
    return MeterEvent.objects.filter(kind=EventKind.ACTION_WORKFLOW)


@pytest.fixture
def bob(groups):
    user = get_user_model().objects.create_user("bob", password="unused-pass-1")
    user.groups.add(Group.objects.get(name="Operations"))
    return user


def test_all_matching_touches_exactly_the_filtered_actions(ops_client, settings):
    inside = RequiredActionFactory.create_batch(30, program_identifier="CCA")
    outside = RequiredActionFactory.create_batch(3, program_identifier="OTHER")
    leaps = RequiredActionFactory(program_identifier="CCA", owner=ActionOwner.LEAP)
    resolved = RequiredActionFactory(program_identifier="CCA", resolved_at=timezone.now())
    # The selection is the filter, not the ids: far more rows than the post may have fields.
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    preview = ops_client.post(PREVIEW, _all("program=CCA&page=2", "status", status="done"))
    summary = preview.context["summary"]
    assert summary.counts == {"change": 30} and set(summary.snapshot) == {a.pk for a in inside}
    assert not ActionNote.objects.exists()  # a preview changes nothing
    done = _confirm(ops_client, preview)
    assert done.context["summary"].counts == {"changed": 30}
    changed = RequiredAction.objects.filter(status=WorkflowStatus.DONE)
    assert set(changed.values_list("pk", flat=True)) == {a.pk for a in inside}
    for untouched in [*outside, leaps, resolved]:
        untouched.refresh_from_db()
        assert untouched.status == WorkflowStatus.NEW and not untouched.notes.exists()


def test_preview_says_why_each_row_is_left_alone(ops_client, ops_user):
    mine = RequiredActionFactory(assignee=ops_user, status=WorkflowStatus.IN_PROGRESS)
    fresh = RequiredActionFactory()
    gone = RequiredActionFactory(resolved_at=timezone.now())
    preview = ops_client.post(
        PREVIEW, _rows([mine.pk, fresh.pk, gone.pk], "assign", assignee="otto")
    )
    summary = preview.context["summary"]
    assert summary.counts == {"change": 1, "skip": 2}
    reasons = {row.action.pk: row.message for row in summary.skips}
    assert reasons == {mine.pk: "Already assigned to otto.", gone.pk: bulk.NOT_OPEN}
    assert summary.changes[0].message == "nobody → otto; status New → In progress"
    page = preview.content.decode()
    assert "Already assigned to otto." in page and "Apply to 1 action" in page

    done = _confirm(ops_client, preview)  # the same reasons, the one change made
    assert {row.action.pk: row.message for row in done.context["summary"].skips} == reasons
    assert done.context["summary"].counts == {"changed": 1, "skip": 2}

    status = ops_client.post(PREVIEW, _rows([mine.pk, fresh.pk], "status", status="in_progress"))
    assert [r.message for r in status.context["summary"].skips] == ["Already In progress."] * 2
    due = ops_client.post(PREVIEW, _rows([fresh.pk], "due_date", due_date=""))
    assert [r.message for r in due.context["summary"].skips] == ["No due date already."]


def test_notify_preview_reuses_the_customer_email_rules(ops_client, customer_action):
    no_email = RequiredActionFactory(action_type="IS_AUTHORIZED", action_code="AUTH_0001")
    preview = ops_client.post(PREVIEW, _rows([customer_action.pk, no_email.pk], "notify"))
    summary = preview.context["summary"]
    assert summary.counts == {"change": 1, "skip": 1} and mail.outbox == []
    assert summary.skips[0].message.startswith("No customer email in this meter's details")
    assert "Send 1 email" in preview.content.decode()
    done = _confirm(ops_client, preview)
    assert done.context["summary"].counts == {"sent": 1, "skip": 1}
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert _confirm(ops_client, preview).status_code == 302  # the preview is spent
    assert len(mail.outbox) == 1


def test_notify_refuses_until_the_partners_contact_is_configured(
    ops_client, customer_action, settings
):
    settings.PARTNER_SUPPORT_EMAIL = settings.PARTNER_SUPPORT_URL = ""
    preview = ops_client.post(PREVIEW, _rows([customer_action.pk], "notify"))
    page = preview.content.decode()
    assert preview.context["summary"].counts == {"skip": 1}
    assert "No email can be sent" in page and "PARTNER_SUPPORT_EMAIL" in page
    assert "data-submit-once" not in page
    assert _confirm(ops_client, preview).context["summary"].counts == {"skip": 1}
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("kind", "values", "note_kind", "field"),
    [
        ("status", {"status": "waiting_on_customer"}, NoteKind.STATUS, "status"),
        ("assign", {"assignee": "otto"}, NoteKind.ASSIGNMENT, "assignee"),
        ("due_date", {"due_date": "2030-01-31"}, NoteKind.DUE_DATE, "due_date"),
    ],
)
def test_one_note_and_one_event_per_changed_action(
    ops_client, ops_user, kind, values, note_kind, field
):
    started = RequiredActionFactory.create_batch(3, status=WorkflowStatus.IN_PROGRESS)
    already = RequiredActionFactory(
        status=WorkflowStatus.WAITING_ON_CUSTOMER, assignee=ops_user, due_date=date(2030, 1, 31)
    )
    preview = ops_client.post(PREVIEW, _rows([a.pk for a in [*started, already]], kind, **values))
    done = _confirm(ops_client, preview)
    assert done.context["summary"].counts == {"changed": 3, "skip": 1}
    for action in started:
        assert list(action.notes.values_list("kind", flat=True)) == [note_kind]
        events = _workflow_events().filter(meter_id=action.meter_id)
        assert list(events.values_list("field", flat=True)) == [field]
        assert events.get().user.username == "olivia"
    assert not already.notes.exists()
    assert not _workflow_events().filter(meter_id=already.meter_id).exists()


def test_confirm_leaves_alone_rows_that_changed_since_the_preview(ops_client, ops_user, bob):
    taken, resolved, moved, kept = RequiredActionFactory.create_batch(4, program_identifier="CCA")
    preview = ops_client.post(PREVIEW, _all("program=CCA", "assign", assignee="otto"))
    assert preview.context["summary"].counts == {"change": 4}
    assign(taken, bob, actor=bob)  # someone else took it meanwhile
    RequiredAction.objects.filter(pk=resolved.pk).update(resolved_at=timezone.now())
    RequiredAction.objects.filter(pk=moved.pk).update(program_identifier="OTHER")
    newcomer = RequiredActionFactory(program_identifier="CCA")
    done = _confirm(ops_client, preview)
    summary = done.context["summary"]
    assert summary.counts == {"changed": 1, "skip": 4}
    assert dict(summary.reasons) == {
        "Changed since the preview (now In progress, assigned to bob): left alone.": 1,
        bulk.RESOLVED_SINCE: 1,
        bulk.LEFT_FILTER: 1,
        bulk.NOT_PREVIEWED: 1,
    }
    assignees = dict(RequiredAction.objects.values_list("pk", "assignee__username"))
    assert assignees == {
        taken.pk: "bob",
        resolved.pk: None,
        moved.pk: None,
        kept.pk: "otto",
        newcomer.pk: None,
    }
    page = done.content.decode()
    assert "Changed since the preview" in page and bulk.NOT_PREVIEWED in page


def test_a_preview_is_confirmed_once_and_only_by_whoever_made_it(ops_client, ops_user):
    action = RequiredActionFactory()
    preview = ops_client.post(PREVIEW, _rows([action.pk], "status", status="done"))
    other = Client()
    other.force_login(ops_user)
    refused = _confirm(other, preview)
    assert refused.status_code == 302 and not action.notes.exists()
    assert _confirm(ops_client, preview).context["summary"].counts == {"changed": 1}
    again = _confirm(ops_client, preview)
    assert again.status_code == 302 and action.notes.count() == 1
    assert ops_client.post(APPLY, {"token": "forged"}).status_code == 302


def test_a_run_too_long_for_a_request_is_queued(ops_client, monkeypatch):
    actions = RequiredActionFactory.create_batch(3, program_identifier="CCA")
    monkeypatch.setattr(bulk, "INLINE_ROWS", 2)
    queued = []
    monkeypatch.setattr(bulk, "async_task", lambda name, *args, **kw: queued.append((name, args)))
    preview = ops_client.post(PREVIEW, _all("program=CCA", "status", status="done"))
    done = _confirm(ops_client, preview)
    assert "3</strong> actions queued" in done.content.decode()
    assert not ActionNote.objects.exists()  # nothing done in the request
    [(name, args)] = queued
    assert name == "actions.tasks.apply_bulk"
    result = tasks.apply_bulk(*args)  # what the worker runs
    assert result == "Set the status to Done (waiting for Leap): 3 changed"
    assert all(a.notes.count() == 1 for a in actions)


def test_too_large_a_selection_is_refused_before_anything_is_kept(ops_client, monkeypatch):
    RequiredActionFactory.create_batch(3)
    monkeypatch.setattr(bulk, "MAX_ROWS", 2)
    preview = ops_client.post(PREVIEW, _all("", "status", status="done"))
    assert preview.context["summary"].too_many
    page = preview.content.decode()
    assert "narrow the filter" in page and 'name="token"' not in page
    assert _confirm(ops_client, preview).status_code == 302
    assert not ActionNote.objects.exists()


def test_inbox_offers_all_matching_once_a_page_is_not_all(ops_client):
    RequiredActionFactory.create_batch(51)
    page = ops_client.get(LIST).content.decode()
    assert "Select all <strong>51</strong> actions matching this filter" in page
    assert 'name="bulk-query"' in page and 'value="assign"' in page
    RequiredActionFactory.create_batch(1, program_identifier="CCA")
    small = ops_client.get(LIST, {"program": "CCA"}).content.decode()
    assert "matching this filter" not in small and 'value="program=CCA"' in small


def test_managers_see_no_bulk_controls_and_cannot_post_them(manager_client, ops_client):
    action = RequiredActionFactory()
    page = manager_client.get(LIST).content.decode()
    assert "bulk-kind" not in page and 'name="pk"' not in page
    assert (
        manager_client.post(PREVIEW, _rows([action.pk], "status", status="done")).status_code == 403
    )
    preview = ops_client.post(PREVIEW, _rows([action.pk], "status", status="done"))
    assert manager_client.post(APPLY, {"token": preview.context["token"]}).status_code == 403
    assert not action.notes.exists()


def test_bulk_posts_need_the_csrf_token(ops_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(ops_user)
    action = RequiredActionFactory()
    assert client.post(PREVIEW, _rows([action.pk], "status", status="done")).status_code == 403
    assert client.post(APPLY, {"token": "a" * 32}).status_code == 403


def test_invalid_or_empty_selection_goes_back_to_the_inbox(ops_client):
    action = RequiredActionFactory()
    response = ops_client.post(PREVIEW, _rows([], "status", status="done", query="program=X"))
    assert response.status_code == 302 and response["Location"] == f"{LIST}?program=X"
    response = ops_client.post(PREVIEW, _rows([action.pk], "status"))
    assert response.status_code == 302
    assert ops_client.post(PREVIEW, _rows([action.pk], "delete")).status_code == 302
    assert not action.notes.exists()


def _post_queries(client, data) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.post(PREVIEW, data).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    ("kind", "values"),
    [("assign", {"assignee": "otto"}), ("notify", {}), ("status", {"status": "done"})],
)
def test_preview_query_count_is_flat(ops_client, ops_user, kind, values):
    RequiredActionFactory.create_batch(2, program_identifier="CCA")
    data = _all("program=CCA", kind, **values)
    few = _post_queries(ops_client, data)
    for _ in range(30):
        RequiredActionFactory(program_identifier="CCA", meter=MeterFactory(), assignee=ops_user)
    assert _post_queries(ops_client, data) == few
    # session, user, user perms, group perms, the assignee (assign) or the catalogue (notify),
    # the rows (one read), user groups (menu), the "My actions" count; the preview is kept in
    # the cache.
    assert few <= 8


def test_a_filter_value_that_no_longer_applies_never_widens_the_selection(ops_client, bob):
    theirs = RequiredActionFactory(assignee=bob, status=WorkflowStatus.IN_PROGRESS)
    other = RequiredActionFactory()
    refused = ops_client.post(PREVIEW, _all("assignee=999999", "status", status="done"))
    assert refused.status_code == 302 and not ActionNote.objects.exists()
    preview = ops_client.post(PREVIEW, _all(f"assignee={bob.pk}", "status", status="done"))
    assert set(preview.context["summary"].snapshot) == {theirs.pk}
    bob.groups.clear()  # no longer a choice of the assignee filter
    assert _confirm(ops_client, preview).status_code == 302
    assert not theirs.notes.exists() and not other.notes.exists()


def test_bulk_assign_sends_the_assignee_one_email_listing_them_all(ops_client, bob, monkeypatch):
    bob.email = "bob@example.com"
    bob.save()
    queued = []
    monkeypatch.setattr("actions.bulk.async_task", lambda name, *args: queued.append((name, args)))
    monkeypatch.setattr(
        "actions.services.async_task", lambda *a, **k: pytest.fail("one email per action")
    )
    actions = RequiredActionFactory.create_batch(3, program_identifier="CCA")
    preview = ops_client.post(PREVIEW, _all("program=CCA", "assign", assignee="bob"))
    assert _confirm(ops_client, preview).context["summary"].counts == {"changed": 3}
    ((name, args),) = queued
    assert name == "actions.tasks.send_assignments_alert"
    assert tasks.send_assignments_alert(*args) == "sent 1 email listing 3 actions"
    (email,) = mail.outbox
    assert email.to == ["bob@example.com"]
    assert email.subject == "[leapsync] 3 actions assigned to you"
    assert all(str(a.meter.meter_id) in email.body for a in actions)
    assert "?assignee=me" in email.body
    # Replayed by the cluster: nothing is sent twice.
    assert tasks.send_assignments_alert(*args) == "duplicate"
    assert len(mail.outbox) == 1


def test_bulk_assign_to_oneself_sends_nothing(ops_client, monkeypatch):
    me = get_user_model().objects.get(pk=ops_client.session["_auth_user_id"])
    queued = []
    monkeypatch.setattr("actions.bulk.async_task", lambda name, *args: queued.append(name))
    RequiredActionFactory.create_batch(2, program_identifier="CCA")
    preview = ops_client.post(PREVIEW, _all("program=CCA", "assign", assignee=me.username))
    assert _confirm(ops_client, preview).context["summary"].counts == {"changed": 2}
    assert queued == [] and mail.outbox == []
