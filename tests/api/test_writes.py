"""The writes: site upsert (the CSV import's rules, mapping after) and partner_reference (the
UI's service: audit trail, queued push, the token's name in history)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leapsync import tasks
from leapsync.leap.client import LeapClient
from leapsync.sync import sync_full
from meters import services
from meters.models import EventKind, Meter, MeterEvent, PartnerReferenceChange, PushStatus, Site

pytestmark = pytest.mark.django_db
SITES = "/api/v1/sites/"


def _upsert(client, sites, query=""):
    return client.post(SITES + query, {"sites": sites}, content_type="application/json")


def test_site_upsert_creates_updates_and_is_idempotent(api):
    sites = [{"external_id": "S-1", "name": "One"}, {"external_id": "S-2", "city": "Oslo"}]
    first = _upsert(api, sites).json()
    assert (first["created"], first["updated"], first["unchanged"]) == (2, 0, 0)
    again = _upsert(api, sites).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    changed = _upsert(api, [{"external_id": "S-1", "city": "Bergen"}]).json()
    assert changed["updated"] == 1
    site = Site.objects.get(external_id="S-1")
    assert (site.name, site.city) == ("One", "Bergen")  # a field left out keeps its value


def test_site_upsert_skips_bad_records_as_the_csv_import_skips_bad_rows(api):
    body = _upsert(
        api,
        [
            {"external_id": "S-1"},
            {"external_id": "  "},
            {"external_id": "S-1"},
            {"external_id": "S-3", "postal_code": "x" * 17},
            {"name": "no id"},
            {"external_id": "S-4", "city": 5},
            {"external_id": "S-5", "colour": "blue"},
        ],
    ).json()
    assert body["created"] == 2 and body["error_count"] == 5
    assert [e["index"] for e in body["errors"]] == [1, 2, 3, 4, 5]
    assert body["errors"][1]["detail"] == "external_id S-1 repeats record 0"
    assert body["ignored_fields"] == ["colour"]
    assert set(Site.objects.values_list("external_id", flat=True)) == {"S-1", "S-5"}


def test_site_upsert_dry_run_writes_nothing(api):
    body = _upsert(api, [{"external_id": "S-1"}], "?dry_run=true").json()
    assert body["created"] == 1 and not Site.objects.exists()


@pytest.mark.parametrize("payload", [{}, {"sites": []}, {"sites": "x"}, {"sites": [1]}, []])
def test_site_upsert_refuses_a_body_of_the_wrong_shape(api, payload):
    response = api.post(SITES, payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"].startswith("sites")


def test_site_upsert_maps_meters_whose_reference_names_a_site(api, leap):
    sync_full(client=leap)
    meter = Meter.objects.exclude(partner_reference="").filter(site__isnull=True).first()
    body = _upsert(api, [{"external_id": meter.partner_reference, "name": "Plant"}]).json()
    assert body["mapped"] >= 1
    meter.refresh_from_db()
    assert meter.site.external_id == meter.partner_reference
    event = meter.events.get(kind=EventKind.SITE_MAPPED)
    assert (event.token_name, event.user, event.new) == ("erp", None, meter.partner_reference)


def test_partner_reference_is_recorded_with_the_tokens_name_and_pushed_by_the_queue(
    api, leap, simulator, ops_client, monkeypatch, django_capture_on_commit_callbacks
):
    sync_full(client=leap)
    meter = Meter.objects.order_by("pk").first()
    queued = []
    monkeypatch.setattr(services, "async_task", lambda name, pk: queued.append(pk))
    url = reverse("api:meter_reference", args=[meter.meter_id])
    with django_capture_on_commit_callbacks(execute=True):
        response = api.put(url, {"partner_reference": "SITE-77"}, content_type="application/json")
    assert response.status_code == 202
    body = response.json()
    assert body["reference_push"]["push_status"] == PushStatus.PENDING
    assert body["reference_push"]["made_by"] == "API: erp"
    change = PartnerReferenceChange.objects.get(pk__in=queued)  # queued, never sent in-request
    assert (change.by, change.token_name, change.new) == (None, "erp", "SITE-77")
    # The queue's push (run here) writes the event with the token's name.
    monkeypatch.setattr(LeapClient, "from_settings", classmethod(lambda cls, **kw: leap))
    monkeypatch.setattr(LeapClient, "close", lambda self: None)
    monkeypatch.setattr("meters.pushes.async_task", lambda *args, **kwargs: None)
    tasks.push_partner_reference(change.pk)
    event = MeterEvent.objects.get(meter=meter, kind=EventKind.PARTNER_REFERENCE)
    assert (event.token_name, event.user, event.new) == ("erp", None, "SITE-77")
    page = ops_client.get(reverse("meters:change_log")).content.decode()
    assert "API: erp" in page


def test_partner_reference_breaking_the_rule_is_a_400_on_the_field(api, leap):
    sync_full(client=leap)
    meter = Meter.objects.order_by("pk").first()
    url = reverse("api:meter_reference", args=[meter.meter_id])
    response = api.put(url, {"partner_reference": "bad\nvalue"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "partner_reference"
    assert not PartnerReferenceChange.objects.exists()


def test_partner_reference_of_an_unknown_meter_is_a_404(api):
    url = reverse("api:meter_reference", args=["00000000-0000-0000-0000-000000000009"])
    response = api.put(url, {"partner_reference": "X"}, content_type="application/json")
    assert response.status_code == 404


def test_a_body_over_the_request_limit_is_a_413_problem(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = _upsert(api, [{"external_id": f"S-{n}", "name": "x" * 50} for n in range(50)])
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not Site.objects.exists()
