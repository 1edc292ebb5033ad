"""Coalesced targeted refreshes: queued events drained into few runs against the simulator."""

from __future__ import annotations

import pytest
from django_q.models import Schedule

from leapsync.models import SyncRun
from leapsync.sync import sync_full
from leapsync.webhooks.models import RefreshStatus, WebhookEvent, WebhookRefresh, WebhookState
from leapsync.webhooks.services import DEFER_SECONDS, queue_refresh, run_refresh
from meters.models import Meter
from tests.helpers import database_differences, stream_held_elsewhere
from tests.leapsync.webhook_helpers import SECRET, deliver, envelope

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.LEAP_WEBHOOK_SECRET = SECRET
    settings.LEAP_WEBHOOK_COALESCE_SECONDS = 0


def _events_for(client, meter_ids, repeat=1):
    for _ in range(repeat):
        for meter_id in meter_ids:
            assert deliver(client, envelope(meter_id=meter_id)).status_code == 200


def test_refresh_rereads_named_meters_and_links_runs(client, simulator, leap):
    sync_full(client=leap)
    report = simulator.mutate(0.05, seed=4)
    _events_for(client, report["meter_ids"] + report["created"])
    refresh = run_refresh(WebhookRefresh.objects.get().pk, client=leap)
    assert refresh.status == RefreshStatus.SUCCEEDED
    assert refresh.meter_count == len(report["meter_ids"]) + len(report["created"])
    assert refresh.details_run.trigger == "webhook"
    assert refresh.enrollments_run.mode == "refresh"
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {WebhookState.REFRESHED}
    assert not WebhookEvent.objects.filter(refresh__isnull=True).exists()
    assert database_differences(simulator) == []  # new meters created, changed ones re-read


def test_refresh_burst_for_few_meters_makes_one_refresh(client, simulator, leap):
    sync_full(client=leap)
    meters = simulator.meter_ids()[:5]
    _events_for(client, meters, repeat=40)  # 200 events, 5 meters
    refresh = run_refresh(WebhookRefresh.objects.get().pk, client=leap)
    assert (refresh.event_count, refresh.meter_count) == (200, 5)
    assert refresh.details_run.requested_meters == 5
    assert SyncRun.objects.filter(trigger="webhook").count() == 2  # one per stream
    assert WebhookRefresh.objects.count() == 1


def test_refresh_events_after_claim_queue_the_next_refresh(client, simulator, leap):
    sync_full(client=leap)
    first, second = simulator.meter_ids()[:2]
    _events_for(client, [first])
    run_refresh(WebhookRefresh.objects.get().pk, client=leap)
    _events_for(client, [second])
    queued = WebhookRefresh.objects.get(status=RefreshStatus.QUEUED)
    assert run_refresh(queued.pk, client=leap).meter_count == 1
    assert WebhookRefresh.objects.filter(status=RefreshStatus.SUCCEEDED).count() == 2


def test_refresh_runs_once_even_if_its_task_is_delivered_twice(client, simulator, leap):
    sync_full(client=leap)
    _events_for(client, simulator.meter_ids()[:1])
    pk = WebhookRefresh.objects.get().pk
    run_refresh(pk, client=leap)
    again = run_refresh(pk, client=leap)
    assert again.status == RefreshStatus.SUCCEEDED
    assert SyncRun.objects.filter(trigger="webhook").count() == 2


def test_refresh_waits_out_the_coalescing_window(client, simulator, leap, settings):
    settings.LEAP_WEBHOOK_COALESCE_SECONDS = 5
    sync_full(client=leap)
    _events_for(client, simulator.meter_ids()[:1])
    slept = []
    run_refresh(WebhookRefresh.objects.get().pk, client=leap, sleep=slept.append)
    assert len(slept) == 1 and 4 < slept[0] <= 5


def test_refresh_defers_while_a_sync_holds_the_lock(client, simulator, leap):
    sync_full(client=leap)
    _events_for(client, simulator.meter_ids()[:3])
    with stream_held_elsewhere("details"):
        refresh = run_refresh(WebhookRefresh.objects.get().pk, client=leap)
    assert refresh.status == RefreshStatus.DEFERRED
    assert WebhookEvent.objects.filter(state=WebhookState.QUEUED, refresh=None).count() == 3
    again = WebhookRefresh.objects.get(status=RefreshStatus.QUEUED)
    schedule = Schedule.objects.get(func="leapsync.tasks.run_webhook_refresh")
    assert schedule.args == repr((again.pk,))
    assert (schedule.next_run - again.created_at).total_seconds() >= DEFER_SECONDS - 1
    assert not SyncRun.objects.filter(trigger="webhook").exists()


def test_refresh_failure_marks_events_failed(client, simulator, leap):
    sync_full(client=leap)
    _events_for(client, simulator.meter_ids()[:2])
    simulator.faults(1.0, ["500"])
    refresh = run_refresh(WebhookRefresh.objects.get().pk, client=leap)
    assert refresh.status == RefreshStatus.FAILED
    assert "unavailable" in refresh.error.lower()
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {WebhookState.FAILED}


def test_refresh_with_nothing_queued_is_empty(db):
    refresh = queue_refresh()
    assert run_refresh(refresh.pk).status == RefreshStatus.EMPTY
    assert not Meter.objects.exists()


def test_queue_refresh_keeps_one_queued(db):
    assert queue_refresh() is not None
    assert queue_refresh() is None
    assert WebhookRefresh.objects.count() == 1
