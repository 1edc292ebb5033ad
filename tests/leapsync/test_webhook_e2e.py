"""End to end: the simulator changes a meter -> webhook -> refresh -> the meter page shows it.

No poll runs: the only sync runs after the initial full sync are the webhook's targeted ones.
"""

from __future__ import annotations

from uuid import UUID

import msgspec
import pytest
from django.test import Client
from django.urls import reverse
from django_q.conf import Conf

from enrollments.models import MeterEnrollment
from leapsync.leap.client import LeapClient
from leapsync.models import SyncRun
from leapsync.simulator import LeapSimulator, serve
from leapsync.simulator.webhooks import EVENT_TYPES
from leapsync.sync import sync_full
from leapsync.webhooks.models import RefreshStatus, WebhookEvent, WebhookRefresh, WebhookState
from leapsync.webhooks.services import run_refresh
from tests.leapsync.conftest import API_KEY
from tests.leapsync.webhook_helpers import HEADER, SECRET

GLOBAL_STATUS = "meter.enrollment.global-status.updated"


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.LEAP_WEBHOOK_SECRET = SECRET
    settings.LEAP_WEBHOOK_HEADER = HEADER
    settings.LEAP_WEBHOOK_COALESCE_SECONDS = 0


def _status_changes(events: list[dict]) -> dict[str, str]:
    """meter_id -> new global status, for the status events that announce a real change."""
    stored = dict(
        MeterEnrollment.objects.values_list("meter__meter_id", "global_enrollment_status")
    )
    return {
        p["meter_id"]: p["global_enrollment_status"]
        for p in (e["payload"] for e in events)
        if p["webhook_event_type"] == GLOBAL_STATUS
        and stored[UUID(p["meter_id"])] != p["global_enrollment_status"]
    }


def _assert_page_shows(client: Client, meter_id: str, status: str) -> None:
    response = client.get(reverse("meters:meter_detail", args=[meter_id]))
    assert response.status_code == 200
    assert response.context["enrollment"].global_enrollment_status == status
    assert status.replace("_", " ") in response.content.decode()


@pytest.mark.django_db
def test_webhook_end_to_end_in_process(
    simulator, leap, ops_client, django_capture_on_commit_callbacks
):
    sync_full(client=leap)
    receiver = Client()  # anonymous, as Leap is
    delivered: list[dict] = []

    def to_django(url: str, headers: dict, body: bytes) -> int:
        delivered.append(msgspec.json.decode(body))
        return receiver.post(
            url, data=body, content_type="application/json", headers=headers
        ).status_code

    simulator.webhooks.sender = to_django
    simulator.webhooks.subscribe(
        reverse("webhooks:webhook_receive"), EVENT_TYPES, [(HEADER.upper(), SECRET)]
    )
    polls = SyncRun.objects.count()
    with django_capture_on_commit_callbacks():  # the queued task is run below, on the simulator
        simulator.mutate(0.2, seed=8)
    changes = _status_changes(delivered)
    assert changes, "the mutation changed no global status"
    assert all(d.delivered for d in simulator.webhooks.deliveries)
    assert WebhookEvent.objects.count() == len(delivered)

    refresh = run_refresh(WebhookRefresh.objects.get().pk, client=leap)

    assert refresh.status == RefreshStatus.SUCCEEDED
    assert WebhookRefresh.objects.count() == 1  # every event of the burst coalesced
    assert not WebhookEvent.objects.filter(state=WebhookState.QUEUED).exists()
    new_runs = SyncRun.objects.order_by("pk")[polls:]
    assert {(run.mode, run.trigger) for run in new_runs} == {("refresh", "webhook")}
    for meter_id, status in changes.items():
        _assert_page_shows(ops_client, meter_id, status)


@pytest.mark.django_db(transaction=True)
def test_webhook_end_to_end_over_http(live_server, settings, ops_client, monkeypatch):
    """Simulator and Django both really served; the queued task runs in django-q2's sync mode."""
    simulator = LeapSimulator(meters=120, seed=4, api_key=API_KEY)
    server = serve(simulator, port=0)
    settings.LEAP_BASE_URL, settings.LEAP_API_KEY = server.url, API_KEY
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)  # django-q2 reads its settings once, at import
    try:
        with LeapClient.from_settings() as client:
            sync_full(client=client)
        polls = SyncRun.objects.count()
        simulator.webhooks.retry_scale = 0.001
        simulator.webhooks.subscribe(
            live_server.url + reverse("webhooks:webhook_receive"), EVENT_TYPES, [(HEADER, SECRET)]
        )
        simulator.mutate(0.1, seed=8)
        assert simulator.webhooks.join(timeout=60)
        delivered = [msgspec.json.decode(d.body) for d in simulator.webhooks.deliveries]
        assert all(d.delivered for d in simulator.webhooks.deliveries)
    finally:
        server.stop()
    changes = _status_changes(delivered)
    assert not changes, "a status the webhooks announced is still not stored"
    status_events = [e for e in delivered if e["payload"]["webhook_event_type"] == GLOBAL_STATUS]
    assert status_events
    assert set(WebhookEvent.objects.values_list("state", flat=True)) <= {
        WebhookState.REFRESHED,
        WebhookState.STORED,
    }
    new_runs = SyncRun.objects.order_by("pk")[polls:]
    assert {(run.mode, run.trigger) for run in new_runs} == {("refresh", "webhook")}
    for event in status_events:
        payload = event["payload"]
        _assert_page_shows(ops_client, payload["meter_id"], payload["global_enrollment_status"])
