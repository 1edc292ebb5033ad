"""Customer emails and deadline alerts through a real SMTP server on localhost, parsed as a
mail client would."""

from __future__ import annotations

import email
import socket
from datetime import timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.core.mail import get_connection
from django.utils import timezone

from actions.catalogue import load_catalogue
from actions.models import ActionEmail, EmailStatus
from actions.notify import customer, deadlines
from tests.meters.factories import MeterFactory, RequiredActionFactory

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope.content)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()


def test_smtp_customer_email_carries_the_facts_in_both_parts(
    smtp_server, customer_action, ops_user
):
    assert get_connection().__class__.__module__.endswith("smtp")
    outcome = customer.notify_customer(
        customer_action, load_catalogue(), token="c" * 32, actor=ops_user
    )
    assert outcome.result == "sent", outcome.message
    (raw,) = smtp_server.messages
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["To"] == "ada@example.com"
    assert "REF-42" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "REF-42" in part and "CCA" in part and "CAISO-CCA_2024_NOV" in part
    assert "Ada <b>Lovelace</b>" in text
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in html and "<b>Lovelace" not in html


def test_smtp_server_down_is_recorded(settings, customer_action, ops_user):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 2
    outcome = customer.notify_customer(
        customer_action, load_catalogue(), token="d" * 32, actor=ops_user
    )
    assert outcome.result == "failed"
    customer_action.refresh_from_db()
    assert customer_action.last_email_error and customer_action.customer_notified_at is None


def _due_actions(count: int) -> list:
    return [
        RequiredActionFactory(
            meter=MeterFactory(partner_reference=f"<i>REF-{i}</i>"),
            action_type="NO_MISSING_FIELDS",
            action_code="SERV_0005",
            enrollment_deadline_date_time=timezone.now() + timedelta(days=1, hours=i),
        )
        for i in range(count)
    ]


def test_smtp_deadline_alerts_are_one_message_listing_every_action(smtp_server, ops_user):
    actions = _due_actions(3)
    assert deadlines.send_deadline_alerts() == {"sent": 3}
    (raw,) = smtp_server.messages
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["To"] == "otto@example.com"
    assert message["Subject"] == "[leapsync] 3 actions due within 3 days"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for i, action in enumerate(actions):
        assert f"/actions/{action.pk}/" in text and f"/actions/{action.pk}/" in html
        assert f"<i>REF-{i}</i>" in text and f"&lt;i&gt;REF-{i}&lt;/i&gt;" in html
    assert "<i>" not in html
    assert deadlines.send_deadline_alerts() == {}
    assert len(smtp_server.messages) == 1


def test_smtp_down_fails_every_claim_then_the_next_run_sends_them(settings, ops_user):
    actions = _due_actions(2)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    assert deadlines.send_deadline_alerts() == {"failed": 2}
    claims = ActionEmail.objects.filter(action__in=actions)
    assert [c.status for c in claims] == [EmailStatus.FAILED] * 2
    assert all(c.error for c in claims)
    for action in actions:
        action.refresh_from_db()
        assert action.last_email_error.startswith("Deadline alert to otto@example.com")

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        settings.EMAIL_PORT = controller.port
        assert deadlines.send_deadline_alerts() == {"sent": 2}
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    assert set(claims.values_list("status", flat=True)) == {EmailStatus.SENT}
