"""Pushing partner_reference changes to the in-process Leap simulator: accepted, confirmed by a
sync, not applied, refused, not sent, unreachable."""

from __future__ import annotations

import uuid
from collections import Counter

import msgspec
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from leapsync import tasks
from leapsync.leap.client import LeapClient
from leapsync.models import SyncRun
from leapsync.sync import sync_full, sync_incremental, sync_refresh
from meters import pushes, services
from meters.models import EventKind, Meter, PushStatus, Site
from meters.pushes import judge_accepted, push_change
from meters.services import set_partner_reference
from tests.helpers import database_differences
from tests.leapsync.conftest import API_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("uma")


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "async_task", lambda *args: calls.append(args))
    return calls


@pytest.fixture
def synced(leap):
    sync_full(client=leap)
    return Meter.objects.exclude(partner_reference="").order_by("meter_id").first()


def _leap_reference(simulator, meter: Meter):
    return simulator.find(str(meter.meter_id)).partner_reference


def test_push_accepted_updates_leap_and_the_meter_then_a_sync_confirms(
    simulator, leap, synced, user, queued
):
    change = set_partner_reference(synced, "SITE-0001", actor=user)
    assert push_change(change.pk, client=leap).endswith("accepted")
    change.refresh_from_db()
    assert change.push_status == PushStatus.ACCEPTED and change.pushed_at and change.attempts == 1
    assert not change.confirmed_at
    assert msgspec.json.decode(change.leap_answer)["partner_reference"] == "SITE-0001"
    assert _leap_reference(simulator, synced) == "SITE-0001"
    meter = Meter.objects.get(pk=synced.pk)
    assert meter.partner_reference == "SITE-0001"
    event = meter.events.get(kind=EventKind.PARTNER_REFERENCE, user=user)
    assert (event.old, event.new) == (change.old, "SITE-0001")
    # The next sync reads Leap's value back: it agrees, so no new reference event; confirmed.
    sync_incremental(client=leap)
    assert meter.events.filter(kind=EventKind.PARTNER_REFERENCE).count() == 1
    change.refresh_from_db()
    assert change.push_status == PushStatus.CONFIRMED and change.confirmed_at
    assert not database_differences(simulator)


def test_push_leap_accepts_but_does_not_apply_a_full_sync_restores_leaps_value(
    simulator, leap, synced, user, queued
):
    leaps_value = synced.partner_reference
    simulator.apply_reference_updates = False  # Leap answers 200 and loses the write
    change = set_partner_reference(synced, "SITE-LOST", actor=user)
    push_change(change.pk, client=leap)
    change.refresh_from_db()
    assert change.push_status == PushStatus.ACCEPTED
    assert Meter.objects.get(pk=synced.pk).partner_reference == "SITE-LOST"

    (details, _) = sync_full(client=leap)
    meter = Meter.objects.get(pk=synced.pk)
    assert meter.partner_reference == leaps_value == _leap_reference(simulator, synced)
    correction = meter.events.get(kind=EventKind.PARTNER_REFERENCE, sync_run=details)
    assert (correction.old, correction.new) == ("SITE-LOST", leaps_value)
    change.refresh_from_db()
    assert change.push_status == PushStatus.NOT_APPLIED and not change.confirmed_at
    assert f"sync run #{details.pk} read “{leaps_value}” back" in change.error
    assert not database_differences(simulator)
    # A second full sync changes nothing more.
    events = meter.events.count()
    sync_full(client=leap)
    assert meter.events.count() == events
    assert Meter.objects.get(pk=synced.pk).partner_reference == leaps_value


def test_not_applied_change_is_confirmed_once_leap_returns_it(
    simulator, leap, synced, user, queued
):
    simulator.apply_reference_updates = False
    change = set_partner_reference(synced, "SITE-LATE", actor=user)
    push_change(change.pk, client=leap)
    sync_full(client=leap)
    change.refresh_from_db()
    assert change.push_status == PushStatus.NOT_APPLIED
    simulator.apply_reference_updates = True
    services.retry_push(change, actor=user)
    push_change(change.pk, client=leap)
    sync_incremental(client=leap)
    change.refresh_from_db()
    assert change.push_status == PushStatus.CONFIRMED and change.error == ""
    assert Meter.objects.get(pk=synced.pk).partner_reference == "SITE-LATE"


def test_accepted_push_queues_a_read_back_that_confirms_it(
    simulator, leap, synced, user, queued, monkeypatch, django_capture_on_commit_callbacks
):
    tasks_run = []

    def run_task(name, meter_ids, trigger):
        tasks_run.append(name)
        sync_refresh(meter_ids, client=leap, trigger=trigger)

    monkeypatch.setattr(pushes, "async_task", run_task)
    change = set_partner_reference(synced, "SITE-READ-BACK", actor=user)
    with django_capture_on_commit_callbacks(execute=True):
        push_change(change.pk, client=leap)
    assert tasks_run == [pushes.REFRESH_TASK]
    change.refresh_from_db()
    assert change.push_status == PushStatus.CONFIRMED


def test_a_page_read_before_the_push_neither_confirms_nor_flags_it(
    simulator, leap, synced, user, queued
):
    digest = synced.details_hash  # what a page read before Leap accepted the change carries
    change = set_partner_reference(synced, "SITE-RACE", actor=user)
    push_change(change.pk, client=leap)
    run = SyncRun.objects.create(stream="details", mode="full")
    assert judge_accepted({synced.meter_id: digest}, run_pk=run.pk) == 0
    change.refresh_from_db()
    assert change.push_status == PushStatus.ACCEPTED


def test_push_refused_by_leap_is_labelled_leap_refused_with_its_answer(leap, synced, user, queued):
    unknown = Meter.objects.create(meter_id=uuid.uuid4(), partner_reference="x-ref")
    change = set_partner_reference(unknown, "SITE-0002", actor=user)
    push_change(change.pk, client=leap)
    change.refresh_from_db()
    assert change.push_status == PushStatus.REFUSED and change.attempts == 1
    assert change.get_push_status_display() == "Leap refused"
    assert "Leap refused" in change.error and "Meter not found" in change.error
    assert msgspec.json.decode(change.leap_answer)["status"] == 404
    assert Meter.objects.get(pk=unknown.pk).partner_reference == "x-ref"


def test_push_with_leap_unreachable_stays_pending_and_retry_succeeds(
    simulator, synced, user, queued
):
    client = LeapClient(
        "http://leap.test",
        API_KEY,
        transport=simulator.transport(),
        max_retries=1,
        sleep=lambda seconds: None,
    )
    change = set_partner_reference(synced, "SITE-0003", actor=user)
    simulator.faults(1.0, ["503"])
    push_change(change.pk, client=client)
    change.refresh_from_db()
    assert change.push_status == PushStatus.PENDING and change.attempts == 1
    assert change.error.startswith("Leap unreachable")
    assert Meter.objects.get(pk=synced.pk).partner_reference == change.old  # never silently ahead
    simulator.faults(0.0)
    services.retry_push(change, actor=user)
    push_change(change.pk, client=client)
    change.refresh_from_db()
    assert change.push_status == PushStatus.ACCEPTED and change.attempts == 2
    assert _leap_reference(simulator, synced) == "SITE-0003"


def test_push_stopped_by_the_stale_check_is_not_sent_not_refused(
    simulator, leap, synced, user, queued, ops_client
):
    change = set_partner_reference(synced, "SITE-0004", actor=user)
    Meter.objects.filter(pk=synced.pk).update(partner_reference="set-in-portal")  # a sync ran
    push_change(change.pk, client=leap)
    change.refresh_from_db()
    assert change.push_status == PushStatus.NOT_SENT and "Not sent" in change.error
    assert _leap_reference(simulator, synced) != "SITE-0004"
    pages = [
        ops_client.get(reverse("meters:reference_change_list")),
        ops_client.get(reverse("meters:meter_detail", args=[synced.meter_id])),
    ]
    for page in pages:
        content = page.content.decode()
        assert PushStatus.NOT_SENT.label in content and "Leap refused" not in content


def test_push_of_superseded_change_sends_nothing(leap, synced, user, queued):
    first = set_partner_reference(synced, "SITE-0005", actor=user)
    set_partner_reference(synced, "SITE-0006", actor=user)
    assert push_change(first.pk, client=leap).endswith("nothing to push")


def test_end_to_end_edit_in_the_ui_reaches_the_simulator(
    simulator, leap, synced, ops_client, monkeypatch, django_capture_on_commit_callbacks
):
    """Inline edit → change recorded → django-q task (run inline here) → Leap has the value."""
    monkeypatch.setattr(services, "async_task", lambda name, pk: tasks.push_partner_reference(pk))
    monkeypatch.setattr(LeapClient, "from_settings", classmethod(lambda cls, **kw: leap))
    monkeypatch.setattr(LeapClient, "close", lambda self: None)
    site = Site.objects.create(external_id="SITE-E2E", name="E2E")
    services.map_meter(
        synced, site, actor=get_user_model().objects.get(username="olivia"), source="manual"
    )
    url = reverse("meters:meter_reference_from_site", args=[synced.meter_id])
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(
            url, {"loaded": synced.partner_reference}, headers={"HX-Request": "true"}
        )
    assert response.status_code == 200
    truth = simulator.truth()
    details = truth.get("details", truth)
    raw = details[str(synced.meter_id)]
    raw = raw.get("details", raw)
    assert raw["partner_reference"] == "SITE-E2E"
    assert Meter.objects.get(pk=synced.pk).partner_reference == "SITE-E2E"


def test_sync_maps_new_meters_by_reference(simulator, leap):
    counts = Counter(m.partner_reference for m in simulator.meters() if m.partner_reference)
    unique = [ref for ref, n in counts.items() if n == 1][:10]
    Site.objects.bulk_create(Site(external_id=r, name=r) for r in unique)
    sync_full(client=leap)
    mapped = Meter.objects.filter(mapping_source="reference_match")
    assert set(mapped.values_list("partner_reference", flat=True)) == set(unique)
    assert all(m.site.external_id == m.partner_reference for m in mapped.select_related("site"))
