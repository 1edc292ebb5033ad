"""Customer notifications and operations alerts: rendered right, sent once, failures recorded."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from actions.catalogue import load_catalogue
from actions.models import (
    ActionEmail,
    ActionNote,
    EmailKind,
    EmailStatus,
    NoteKind,
    WorkflowStatus,
)
from actions.notify import assignment, claims, customer, deadlines
from actions.tasks import follow_up
from leapsync.claims import EXPIRY
from leapsync.tasks import ensure_schedules
from tests.meters.factories import MeterFactory, RequiredActionFactory

pytestmark = pytest.mark.django_db
TOKEN = "a" * 32


def _send(action, user, token=TOKEN):
    return customer.notify_customer(action, load_catalogue(), token=token, actor=user)


def test_notify_preview_renders_the_meters_facts(customer_action):
    email, problem = customer.preview_customer_email(customer_action, load_catalogue())
    assert problem == ""
    assert "REF-42" in email.subject and "Ada <b>Lovelace</b>" in email.text
    assert mail.outbox == []


def test_notify_sends_both_parts_and_records_it(customer_action, ops_user):
    outcome = _send(customer_action, ops_user)
    assert outcome.result == "sent"
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    html = message.alternatives[0][0]
    assert "Ada <b>Lovelace</b>" in message.body and "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in html
    for part in (message.body, html):
        assert "REF-42" in part and "CCA" in part
    customer_action.refresh_from_db()
    assert customer_action.customer_notified_at is not None
    assert customer_action.status == WorkflowStatus.WAITING_ON_CUSTOMER
    assert ActionNote.objects.filter(action=customer_action, kind=NoteKind.CUSTOMER_EMAIL).exists()


def test_notify_refuses_without_customer_email(customer_action, ops_user):
    customer_action.meter.end_customer_email = ""
    customer_action.meter.save()
    outcome = _send(customer_action, ops_user)
    assert outcome.result == "refused" and "No customer email" in outcome.message
    assert mail.outbox == [] and not ActionEmail.objects.exists()


def test_notify_refuses_until_the_partners_contact_is_configured(
    customer_action, ops_user, settings
):
    """Without it the email would end with "Questions?" and nothing after it."""
    settings.PARTNER_SUPPORT_EMAIL = settings.PARTNER_SUPPORT_URL = ""
    email, problem = customer.preview_customer_email(customer_action, load_catalogue())
    assert email is None and "PARTNER_SUPPORT_EMAIL or PARTNER_SUPPORT_URL" in problem
    outcome = _send(customer_action, ops_user)
    assert outcome.result == "refused" and outcome.message == problem
    assert mail.outbox == [] and not ActionEmail.objects.exists()


@pytest.mark.parametrize("setting", ["PARTNER_SUPPORT_EMAIL", "PARTNER_SUPPORT_URL"])
def test_notify_sends_with_either_contact_and_names_it(
    customer_action, ops_user, settings, setting
):
    settings.PARTNER_SUPPORT_EMAIL = settings.PARTNER_SUPPORT_URL = ""
    value = "help@partner.example" if setting.endswith("EMAIL") else "https://partner.example/help"
    setattr(settings, setting, value)
    assert _send(customer_action, ops_user).result == "sent"
    (message,) = mail.outbox
    assert "Questions? " in message.body and value in message.body.split("Questions?")[1]
    assert value in message.alternatives[0][0].split("Questions?")[1]


def test_notify_refuses_when_staff_must_fix_it(ops_user):
    action = RequiredActionFactory(
        action_type="NO_MISSING_FIELDS",
        action_code="SERV_0005",
        meter=MeterFactory(end_customer_email="x@example.com"),
    )
    assert _send(action, ops_user).result == "refused"


def test_notify_never_sends_twice_for_one_click(customer_action, ops_user):
    assert _send(customer_action, ops_user).result == "sent"
    assert _send(customer_action, ops_user).result == "duplicate"
    assert len(mail.outbox) == 1
    assert _send(customer_action, ops_user, token="b" * 32).result == "sent"
    assert len(mail.outbox) == 2


def test_notify_failure_is_recorded_and_can_be_retried(customer_action, ops_user):
    with mock.patch(
        "django.core.mail.backends.locmem.EmailBackend.send_messages",
        side_effect=ConnectionRefusedError("smtp down"),
    ):
        outcome = _send(customer_action, ops_user)
    assert outcome.result == "failed" and "smtp down" in outcome.message
    customer_action.refresh_from_db()
    assert "smtp down" in customer_action.last_email_error
    assert customer_action.customer_notified_at is None
    assert ActionEmail.objects.get().status == EmailStatus.FAILED
    assert ActionNote.objects.filter(kind=NoteKind.EMAIL_FAILED).exists()
    assert _send(customer_action, ops_user).result == "sent"  # a failed claim may be retried
    customer_action.refresh_from_db()
    assert customer_action.last_email_error == ""


def _staff_action(**kwargs):
    return RequiredActionFactory(
        action_type="NO_MISSING_FIELDS",
        action_code="SERV_0005",
        enrollment_deadline_date_time=timezone.now() + timedelta(days=2),
        **kwargs,
    )


def test_alerts_deadline_goes_to_operations_group_once(ops_user):
    action = _staff_action()
    RequiredActionFactory(enrollment_deadline_date_time=timezone.now() + timedelta(days=10))
    assert deadlines.send_deadline_alerts() == {"sent": 1}
    (message,) = mail.outbox
    assert message.to == ["otto@example.com"]
    assert message.subject == "[leapsync] 1 action due within 3 days"
    assert "Partner must supply missing configuration" in message.body
    assert f"/actions/{action.pk}/" in message.alternatives[0][0]
    assert deadlines.send_deadline_alerts() == {}
    follow_up()
    assert len(mail.outbox) == 1


def test_alerts_deadline_prefers_the_assignee(ops_user, django_user_model):
    boss = django_user_model.objects.create_user("boss", email="boss@example.com")
    _staff_action(assignee=boss)
    deadlines.send_deadline_alerts()
    assert mail.outbox[0].to == ["boss@example.com"]


def test_alerts_rolled_deadline_gets_its_own_alert(ops_user):
    action = _staff_action()
    deadlines.send_deadline_alerts()
    action.enrollment_deadline_date_time += timedelta(hours=12)
    action.save()
    deadlines.send_deadline_alerts()
    assert len(mail.outbox) == 2


def test_alerts_assignment_sent_once(ops_user, django_user_model):
    from actions.services import assign

    action = _staff_action()
    boss = django_user_model.objects.create_user("boss", email="boss@example.com")
    with mock.patch("actions.services.async_task") as queued:
        assign(action, ops_user, actor=boss)
    note = ActionNote.objects.get(kind=NoteKind.ASSIGNMENT)
    assert assignment.send_assignment_alert(action.pk, note.pk).startswith("sent")
    assert assignment.send_assignment_alert(action.pk, note.pk).startswith("duplicate")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["otto@example.com"]
    assert queued.call_count == 0  # queued on commit; the test transaction never commits


def test_alerts_assignment_to_oneself_emails_nobody(
    ops_user, django_user_model, django_capture_on_commit_callbacks
):
    from actions.services import assign

    action = _staff_action()
    boss = django_user_model.objects.create_user("boss", email="boss@example.com")
    with (
        mock.patch("actions.services.async_task") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assign(action, ops_user, actor=ops_user)
    assert queued.call_count == 0
    note = ActionNote.objects.get(kind=NoteKind.ASSIGNMENT)
    # an alert queued before this rule (or by a replay) sends nothing either
    assert assignment.send_assignment_alert(action.pk, note.pk).startswith("nothing to alert")
    assert mail.outbox == [] and not ActionEmail.objects.exists()
    with (
        mock.patch("actions.services.async_task") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assign(action, boss, actor=ops_user)
    queued.assert_called_once_with(
        "actions.tasks.send_assignment_alert",
        action.pk,
        ActionNote.objects.filter(kind=NoteKind.ASSIGNMENT).latest("pk").pk,
    )


def test_alerts_schedule_is_declared_once(db):
    ensure_schedules()
    ensure_schedules()
    from django_q.models import Schedule

    assert Schedule.objects.filter(func="actions.tasks.follow_up").count() == 1


def test_notify_claim_left_by_a_crashed_sender_is_sent_once_after_it_expires(
    customer_action, ops_user
):
    claims.claim_email(customer_action, EmailKind.CUSTOMER, TOKEN, to="ada@example.com", subject="")
    # the sender died here: claim taken, email never sent
    assert _send(customer_action, ops_user).result == "duplicate"
    with time_machine.travel(timezone.now() + EXPIRY + timedelta(minutes=1)):
        assert _send(customer_action, ops_user).result == "sent"
        assert _send(customer_action, ops_user).result == "duplicate"
    assert len(mail.outbox) == 1
    claim = ActionEmail.objects.get()
    assert (claim.status, claim.attempts) == (EmailStatus.SENT, 2)
