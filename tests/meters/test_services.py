"""Mapping and partner_reference services: history, reference matching, refusals, pushes queued."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from leapsync.leap.references import RULE
from meters import services
from meters.models import EventKind, MappingSource, Meter, MeterEvent, PushStatus
from meters.services import (
    ReferenceRefused,
    Seen,
    map_by_reference,
    map_meter,
    map_unmapped_by_reference,
    mark_no_site,
    retry_push,
    set_partner_reference,
    set_references_from_sites,
    unmap_meter,
)
from tests.meters.factories import MeterFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("olivia")


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "async_task", lambda *args: calls.append(args))
    return calls


def test_map_meter_records_who_when_old_new_and_source(user):
    meter, first, second = MeterFactory(), SiteFactory(), SiteFactory()
    assert map_meter(meter, first, actor=user, source=MappingSource.SUGGESTION)
    assert map_meter(meter, second, actor=user, source=MappingSource.MANUAL)
    assert not map_meter(meter, second, actor=user, source=MappingSource.MANUAL)
    meter.refresh_from_db()
    assert (meter.site, meter.mapping_source, meter.mapped_by) == (second, "manual", user)
    events = list(MeterEvent.objects.filter(meter=meter, kind=EventKind.SITE_MAPPED))
    assert [(e.old, e.new, e.field, e.user) for e in reversed(events)] == [
        ("", first.external_id, "accepted suggestion", user),
        (first.external_id, second.external_id, "chosen by hand", user),
    ]


def test_mark_no_site_and_unmap_are_recorded(user):
    meter = MeterFactory(site=SiteFactory(external_id="S-1"))
    assert mark_no_site(meter, actor=user)
    assert Meter.objects.get(pk=meter.pk).no_site_yet
    assert unmap_meter(meter, actor=user)
    meter.refresh_from_db()
    assert meter.site is None and not meter.no_site_yet
    kinds = list(meter.events.values_list("old", "new").order_by("id"))
    assert kinds == [("S-1", "no site yet"), ("no site yet", "")]


def test_map_by_reference_maps_unique_matches_only(django_assert_max_num_queries):
    site = SiteFactory(external_id="REF-1")
    SiteFactory(external_id="REF-2")
    unique = MeterFactory(partner_reference="REF-1")
    shared = MeterFactory.create_batch(2, partner_reference="REF-2")
    nothing = MeterFactory(partner_reference="NO-SITE")
    ids = [m.meter_id for m in (unique, *shared, nothing)]
    with django_assert_max_num_queries(5):  # select; savepoint, update, insert, release
        assert map_by_reference(ids) == 1
    unique.refresh_from_db()
    assert unique.site == site and unique.mapping_source == MappingSource.REFERENCE_MATCH
    assert unique.events.get().kind == EventKind.SITE_MAPPED
    assert Meter.objects.filter(site__isnull=True).count() == 3


def test_map_by_reference_is_one_query_when_nothing_matches(django_assert_num_queries):
    meters = MeterFactory.create_batch(3)
    with django_assert_num_queries(1):
        assert map_by_reference([m.meter_id for m in meters]) == 0


def test_map_unmapped_by_reference_skips_mapped_and_no_site_meters(user):
    SiteFactory(external_id="A-1")
    SiteFactory(external_id="A-2")
    SiteFactory(external_id="A-3")
    MeterFactory(partner_reference="A-1")
    MeterFactory(partner_reference="A-2", no_site_yet=True)
    other = SiteFactory()
    MeterFactory(partner_reference="A-3", site=other)
    assert map_unmapped_by_reference() == 1
    assert map_unmapped_by_reference() == 0


@pytest.mark.parametrize("value", ["ab", "x" * 257, "a/b", "has space?", "bad#1", "<b>x</b>"])
def test_set_partner_reference_refuses_what_leap_would(user, queued, value):
    meter = MeterFactory()
    with pytest.raises(ReferenceRefused, match="3–256 characters"):
        set_partner_reference(meter, value, actor=user)
    assert not meter.reference_changes.exists() and not queued


@pytest.mark.parametrize(
    "value",
    ["ab\ncd", "ab\tcd", "ab\x00cd", "ab\u202ecd", "ab\u200bcd", "ab\ufeffcd", "ab\u2028cd"],
)
def test_set_partner_reference_refuses_invisible_characters(user, queued, value):
    meter = MeterFactory(partner_reference="old-ref")
    with pytest.raises(ReferenceRefused) as refused:
        set_partner_reference(meter, f"  {value}\n", actor=user)
    assert str(refused.value).startswith(RULE)
    assert not meter.reference_changes.exists() and not queued


def test_set_partner_reference_strips_whitespace_at_either_end(user, queued):
    meter = MeterFactory(partner_reference="old-ref")
    assert set_partner_reference(meter, "\t new-ref \n", actor=user).new == "new-ref"


def test_set_partner_reference_records_and_queues_the_push_on_commit(
    user, queued, django_capture_on_commit_callbacks
):
    meter = MeterFactory(partner_reference="old-ref")
    with django_capture_on_commit_callbacks(execute=True):
        change = set_partner_reference(meter, "new-ref", actor=user, seen=Seen("old-ref", None))
    assert (change.old, change.new, change.by, change.push_status) == (
        "old-ref",
        "new-ref",
        user,
        PushStatus.PENDING,
    )
    assert queued == [("leapsync.tasks.push_partner_reference", change.pk)]
    # The meter keeps Leap's value until Leap confirms.
    assert Meter.objects.get(pk=meter.pk).partner_reference == "old-ref"


def test_set_partner_reference_refuses_when_leap_value_changed_since_loaded(user, queued):
    meter = MeterFactory(partner_reference="from-sync")
    with pytest.raises(ReferenceRefused, match="changed from “seen-earlier” to “from-sync”"):
        set_partner_reference(meter, "mine", actor=user, seen=Seen("seen-earlier", None))
    assert not meter.reference_changes.exists()


def test_a_second_save_from_the_same_page_sees_the_first_as_a_conflict(user, queued):
    other = get_user_model().objects.create_user("user1")
    meter = MeterFactory(partner_reference="value-a")
    page = Seen("value-a", None)  # both users loaded the page before either saved
    first = set_partner_reference(meter, "value-b", actor=other, seen=page)
    with pytest.raises(ReferenceRefused) as conflict:
        set_partner_reference(meter, "value-c", actor=user, seen=page)
    message = str(conflict.value)
    assert message.startswith("Another change (“value-b”, by user1 at ")
    assert "waiting for leap" in message and "reload and edit again" in message
    first.refresh_from_db()
    assert first.push_status == PushStatus.PENDING
    assert list(meter.reference_changes.values_list("new", flat=True)) == ["value-b"]


def test_a_save_bound_to_the_open_change_replaces_it(user, queued):
    meter = MeterFactory(partner_reference="value-a")
    first = set_partner_reference(meter, "value-b", actor=user, seen=Seen("value-a", None))
    second = set_partner_reference(meter, "value-c", actor=user, seen=Seen("value-a", first.pk))
    first.refresh_from_db()
    assert (first.push_status, second.push_status) == (PushStatus.SUPERSEDED, PushStatus.PENDING)


def test_a_new_edit_supersedes_the_unconfirmed_one(user, queued):
    meter = MeterFactory(partner_reference="old-ref")
    first = set_partner_reference(meter, "first", actor=user)
    second = set_partner_reference(meter, "second", actor=user)
    first.refresh_from_db()
    assert first.push_status == PushStatus.SUPERSEDED
    assert second.push_status == PushStatus.PENDING
    assert set_partner_reference(meter, "old-ref", actor=user) is None  # back to Leap's: cancels
    second.refresh_from_db()
    assert second.push_status == PushStatus.SUPERSEDED


def test_set_references_from_sites_sets_mapped_and_skips_the_rest(user, queued):
    mapped = MeterFactory(site=SiteFactory(external_id="SITE-9"))
    unmapped = MeterFactory()
    already = MeterFactory(partner_reference="SITE-8", site=SiteFactory(external_id="SITE-8"))
    changes, skipped = set_references_from_sites([mapped, unmapped, already], actor=user)
    assert [c.new for c in changes] == ["SITE-9"]
    assert [reason for _, reason in skipped] == ["not mapped to a site", "already set"]


def test_retry_push_requeues_only_open_changes(user, queued, django_capture_on_commit_callbacks):
    meter = MeterFactory()
    change = set_partner_reference(meter, "new-ref", actor=user)
    change.push_status = PushStatus.REFUSED
    change.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert retry_push(change, actor=user)
    change.refresh_from_db()
    assert change.push_status == PushStatus.PENDING
    assert queued[-1] == ("leapsync.tasks.push_partner_reference", change.pk)
    change.push_status = PushStatus.CONFIRMED
    change.save()
    assert not retry_push(change, actor=user)
