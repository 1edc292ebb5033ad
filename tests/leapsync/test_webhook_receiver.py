"""The webhook endpoint: authenticity, size and shape checks, storage, duplicates, coalescing."""

from __future__ import annotations

import io
import uuid
from unittest import mock

import msgspec
import pytest
from django.test import Client
from django.urls import reverse

from leapsync.webhooks.envelope import MAX_BODY_BYTES
from leapsync.webhooks.models import (
    RefreshStatus,
    WebhookEvent,
    WebhookRefresh,
    WebhookRejection,
    WebhookState,
)
from tests.leapsync.webhook_helpers import HEADER, SECRET, deliver, envelope

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.LEAP_WEBHOOK_SECRET = SECRET
    settings.LEAP_WEBHOOK_HEADER = "x-leapsync-secret"
    settings.LEAP_WEBHOOK_COALESCE_SECONDS = 0


def rejections() -> dict[str, int]:
    return dict(WebhookRejection.objects.values_list("reason", "count"))


def test_receive_stores_event_and_queues_one_refresh(client, django_capture_on_commit_callbacks):
    meter_id = str(uuid.uuid4())
    body = envelope(meter_id=meter_id, global_enrollment_status="ACTIVE")
    with (
        mock.patch("leapsync.webhooks.services.async_task") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = deliver(client, body)
    assert response.status_code == 200
    assert response.json() == {"received": body["webhook_event_id"], "duplicate": False}
    event = WebhookEvent.objects.get()
    assert event.meter_ids == [meter_id]
    assert event.state == WebhookState.QUEUED
    assert event.status == "ACTIVE"
    assert WebhookRefresh.objects.get().status == RefreshStatus.QUEUED
    queued.assert_called_once()
    assert queued.call_args.args == (
        "leapsync.tasks.run_webhook_refresh",
        event.refresh_id or WebhookRefresh.objects.get().pk,
    )


@pytest.mark.parametrize(
    ("secret", "reason"),
    [(None, "missing_secret"), ("guess", "wrong_secret"), ("", "wrong_secret")],
)
def test_receive_forged_delivery_is_401_and_only_counted(client, secret, reason):
    response = deliver(client, envelope(), secret=secret)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert not WebhookRefresh.objects.exists()
    assert rejections() == {reason: 1}


def test_receive_secret_in_another_header_is_refused(client):
    response = deliver(client, envelope(), secret=None, **{"x-api-key": SECRET})
    assert response.status_code == 401
    assert rejections() == {"missing_secret": 1}


def test_receive_without_configured_secret_refuses_everything(client, settings):
    settings.LEAP_WEBHOOK_SECRET = ""
    assert deliver(client, envelope(), secret="").status_code == 401
    assert deliver(client, envelope()).status_code == 401
    assert not WebhookEvent.objects.exists()
    assert rejections() == {"not_configured": 2}


def test_receive_header_name_is_case_insensitive(client):
    response = deliver(client, envelope(), secret=None, **{"X-LeapSync-Secret": SECRET})
    assert response.status_code == 200


def test_receive_is_exempt_from_csrf_and_login():
    strict = Client(enforce_csrf_checks=True)  # anonymous, no CSRF cookie
    assert deliver(strict, envelope()).status_code == 200


def test_receive_get_is_not_allowed(client):
    response = client.get(
        reverse("webhooks:webhook_receive"), headers={"x-leapsync-secret": SECRET}
    )
    assert response.status_code == 405


def test_receive_oversized_body_is_400_and_not_stored(client):
    body = envelope(padding="x" * MAX_BODY_BYTES)
    response = deliver(client, body)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert rejections() == {"too_large": 1}


def test_receive_forged_oversized_body_is_401(client):
    assert deliver(client, b"x" * (MAX_BODY_BYTES + 10), secret="nope").status_code == 401
    assert rejections() == {"wrong_secret": 1}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"", "malformed_json"),
        (b"\xff\xfe{}", "malformed_json"),
        (b"[]", "invalid_envelope"),
        (b'{"webhook_event_id": "e1"}', "invalid_envelope"),
        (b'{"webhook_event_id": "e1", "payload": {}}', "invalid_envelope"),
        (b'{"payload": {"webhook_event_type": "meter.created"}}', "invalid_envelope"),
        (
            b'{"webhook_event_id": 7, "payload": {"webhook_event_type": "meter.created"}}',
            "invalid_envelope",
        ),
    ],
)
def test_receive_malformed_body_is_400(client, body, reason):
    response = deliver(client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "Bad Request"
    assert not WebhookEvent.objects.exists()
    assert rejections() == {reason: 1}


def test_receive_duplicate_is_acknowledged_and_ignored(client):
    body = envelope()
    first, second, third = (deliver(client, body) for _ in range(3))
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert second.json()["duplicate"] is True
    event = WebhookEvent.objects.get()
    assert event.duplicates == 2 and event.last_duplicate_at is not None
    assert WebhookRefresh.objects.count() == 1


def test_receive_duplicate_id_differs_only_in_case(client):
    body = envelope()
    deliver(client, body)
    body["webhook_event_id"] = body["webhook_event_id"].upper()
    assert deliver(client, body).json()["duplicate"] is True
    assert WebhookEvent.objects.count() == 1


def test_receive_unknown_type_is_stored_and_acknowledged(client):
    response = deliver(client, envelope("meter.enrollment.something-new.updated", extra=[1]))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookState.UNKNOWN
    assert '"extra":[1]' in event.body
    assert not WebhookRefresh.objects.exists()


@pytest.mark.parametrize(
    ("event_type", "fields"),
    [
        ("connect_session.updated", {"partner_reference": "site-1", "status": "COMPLETED"}),
        (
            "connect_session.authorization_updated",
            {"partner_reference": "site-1", "utility_name": "PGE", "status": "FAILED"},
        ),
    ],
)
def test_receive_connect_session_event_is_stored_without_refresh(client, event_type, fields):
    assert deliver(client, envelope(event_type, **fields)).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookState.STORED
    assert event.partner_reference == "site-1"
    assert event.status == fields["status"]
    assert not WebhookRefresh.objects.exists()


def test_receive_group_event_names_every_meter(client):
    ids = [str(uuid.uuid4()) for _ in range(3)]
    body = envelope(
        "meter.enrollment.group.updated",
        market_group_id=str(uuid.uuid4()),
        market_group_name="GRP1",
        start_date_time="2027-05-01T07:00:00Z",
        end_date_time="2027-06-01T07:00:00Z",
        meter_ids=[ids[0], ids[1].upper(), "not-a-uuid", ids[2], ids[0]],
    )
    assert deliver(client, body).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.meter_ids == ids
    assert event.market_group_id == body["payload"]["market_group_id"]
    assert event.state == WebhookState.QUEUED


def test_receive_meter_event_without_valid_meter_id_is_stored_only(client):
    assert deliver(client, envelope(meter_id="../../etc")).status_code == 200
    assert WebhookEvent.objects.get().state == WebhookState.STORED
    assert not WebhookRefresh.objects.exists()


def test_receive_burst_queues_one_refresh_task(client, django_capture_on_commit_callbacks):
    meters = [str(uuid.uuid4()) for _ in range(20)]
    with (
        mock.patch("leapsync.webhooks.services.async_task") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        statuses = {
            deliver(client, envelope(meter_id=meters[i % 20])).status_code for i in range(300)
        }
    assert statuses == {200}
    assert WebhookEvent.objects.filter(state=WebhookState.QUEUED).count() == 300
    assert WebhookRefresh.objects.count() == 1
    assert queued.call_count == 1


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("webhook_event_id", {"webhook_event_id": "evt-\u0000-1"}),
        ("webhook_event_type", {"event_type": "meter.created\u0000"}),
        ("status", {"global_enrollment_status": "ACTIVE\u0000"}),
        ("partner_reference", {"partner_reference": "REF\u0000"}),
        ("market_group_id", {"market_group_id": "\u0000"}),
    ],
)
def test_receive_nul_in_a_stored_field_is_400_and_counted(client, field, fields):
    """PostgreSQL cannot store NUL in text: refused with the field named, never a 500."""
    client.raise_request_exception = False
    response = deliver(client, envelope(**fields))
    assert response.status_code == 400
    assert field in response.json()["message"] and "NUL" in response.json()["message"]
    assert not WebhookEvent.objects.exists()
    assert rejections() == {"nul_character": 1}


def test_receive_event_id_is_checked_once_lower_cased(client):
    """'İ' lower-cases to two characters: 40 of them would not fit the 64-character column."""
    client.raise_request_exception = False
    response = deliver(client, envelope(webhook_event_id="\u0130" * 40))
    assert response.status_code == 400
    assert rejections() == {"invalid_envelope": 1}


def _deliver_chunked(client: Client, content: bytes, *, terminated: bool = True):
    """POST as a chunked request arrives from a WSGI server: no Content-Length, and (gunicorn)
    an input stream that ends with the body. The test client always sets Content-Length."""
    environ = {
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(content),
    }
    if terminated:
        environ["wsgi.input_terminated"] = True
    return client.generic(
        "POST",
        reverse("webhooks:webhook_receive"),
        content_type="application/json",
        headers={HEADER: SECRET},
        **environ,
    )


def test_receive_chunked_body_within_the_limit_is_accepted(client):
    body = envelope(global_enrollment_status="ACTIVE")
    response = _deliver_chunked(client, msgspec.json.encode(body))
    assert response.status_code == 200
    assert response.json() == {"received": body["webhook_event_id"], "duplicate": False}
    assert WebhookEvent.objects.get().status == "ACTIVE"


def test_receive_chunked_body_over_the_limit_is_too_large(client):
    response = _deliver_chunked(client, msgspec.json.encode(envelope(padding="x" * MAX_BODY_BYTES)))
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert rejections() == {"too_large": 1}


def test_receive_chunked_body_a_server_cannot_end_is_411(client):
    """Django's runserver passes a chunked body undecoded and unterminated: not readable."""
    response = _deliver_chunked(client, msgspec.json.encode(envelope()), terminated=False)
    assert response.status_code == 411
    assert rejections() == {"length_required": 1}
