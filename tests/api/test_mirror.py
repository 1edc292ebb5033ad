"""A scripted downstream system mirrors meters and mappings through the change feed across
syncs, Leap's changes, staff's mappings and the API's own writes, and ends equal to the
database (and to a fresh read of the API); no event is seen twice."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from leapsync.sync import sync_full, sync_incremental
from meters import services
from meters.models import Meter, MeterEvent, Site
from tests.api.mirror import Mirror, kept

pytestmark = pytest.mark.django_db(transaction=True)  # the feed serves committed events only


def _database() -> dict[str, dict]:
    rows = Meter.objects.select_related("site", "enrollment")
    return {
        str(m.meter_id): {
            "partner_reference": m.partner_reference,
            "global_enrollment_status": m.enrollment.global_enrollment_status
            if hasattr(m, "enrollment")
            else "",
            "missing_from_leap": m.missing_from_leap,
            "is_archived": m.is_archived,
            "site": m.site.external_id if m.site else None,
        }
        for m in rows
    }


def _fresh(api) -> dict[str, dict]:
    rows, url = {}, "/api/v1/meters/?page_size=500"
    while url:
        page = api.get(url).json()
        rows.update({row["meter_id"]: kept(row) for row in page["results"]})
        url = page["next"]
    return rows


def _assert_equal(mirror: Mirror, api) -> None:
    scalars = {
        k: {f: v for f, v in row.items() if f != "programs"} for k, row in mirror.meters.items()
    }
    assert scalars == _database()
    assert mirror.meters == _fresh(api)
    assert len(mirror.events_seen) == len(set(mirror.events_seen))


def test_a_downstream_mirror_follows_syncs_mutations_and_mappings(
    api, simulator, leap, monkeypatch
):
    monkeypatch.setattr(services, "async_task", lambda *args, **kwargs: None)
    person = get_user_model().objects.create_user("pat")
    sync_full(client=leap)
    mirror = Mirror(api)
    mirror.start()
    mirror.follow()
    _assert_equal(mirror, api)

    # Leap changes, meters come and go; syncs bring them.
    for seed in (1, 2):
        simulator.mutate(0.2, seed=seed)
        simulator.add_meter()
        sync_incremental(client=leap)
        mirror.follow()
        _assert_equal(mirror, api)

    # Staff map meters while the mirror pages: each write lands between two of its pages.
    meters = iter(Meter.objects.filter(site__isnull=True).order_by("pk")[:6])
    site = Site.objects.create(external_id="PLANT-1")

    def staff_maps_one() -> None:
        meter = next(meters, None)
        if meter is not None:
            services.map_meter(meter, site, actor=person, source="manual")

    sync_full(client=leap)
    mirror.feed_page = 20
    mirror.follow(between_pages=staff_maps_one)
    mirror.follow()
    _assert_equal(mirror, api)

    # The partner's system upserts sites; meters whose reference names one are mapped.
    referenced = Meter.objects.exclude(partner_reference="").filter(site__isnull=True)[:3]
    sites = [{"external_id": m.partner_reference} for m in referenced]
    assert (
        api.post("/api/v1/sites/", {"sites": sites}, content_type="application/json").json()[
            "mapped"
        ]
        >= 1
    )
    services.unmap_meter(Meter.objects.filter(site=site).first(), actor=person)
    sync_incremental(client=leap)
    mirror.follow()
    _assert_equal(mirror, api)
    assert mirror.events_seen == list(
        MeterEvent.objects.filter(pk__in=mirror.events_seen)
        .order_by("txid", "id")
        .values_list("id", flat=True)
    )
