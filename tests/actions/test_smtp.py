"""A customer email through a real SMTP server on localhost, parsed as a mail client would."""

from __future__ import annotations

import email
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.core.mail import get_connection

from actions import notify
from actions.catalogue import load_catalogue

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
    outcome = notify.notify_customer(
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
    outcome = notify.notify_customer(
        customer_action, load_catalogue(), token="d" * 32, actor=ops_user
    )
    assert outcome.result == "failed"
    customer_action.refresh_from_db()
    assert customer_action.last_email_error and customer_action.customer_notified_at is None
