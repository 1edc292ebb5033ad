"""Data migrations of the meters app, run on rows shaped the way older code wrote them."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from meters.models import Meter, PartnerReferenceChange, PushStatus
from tests.meters.factories import MeterFactory

pytestmark = pytest.mark.django_db
push_outcomes = importlib.import_module("meters.migrations.0008_push_outcomes")


def test_push_outcomes_split_failed_and_pushed_and_forget_drifted_digests():
    meter = MeterFactory(partner_reference="second", details_hash="d" * 32)
    meter.identifiers_hash = "i" * 32
    meter.save()
    untouched = MeterFactory(details_hash="e" * 32)

    def change(target: Meter, new: str, status: str, error: str = "") -> PartnerReferenceChange:
        return PartnerReferenceChange.objects.create(
            meter=target, new=new, push_status=status, error=error
        )

    older = change(meter, "first", "pushed")
    latest = change(meter, "second", "pushed")
    refused = change(untouched, "x-1", "failed", "Leap refused: 400 Invalid partner_reference")
    stopped = change(untouched, "x-2", "failed", "Not sent: Leap's partner_reference is now …")
    push_outcomes.forwards(apps, None)
    statuses = dict(PartnerReferenceChange.objects.values_list("pk", "push_status"))
    assert statuses == {
        older.pk: PushStatus.SUPERSEDED,
        latest.pk: PushStatus.ACCEPTED,  # the next sync confirms or flags it
        refused.pk: PushStatus.REFUSED,
        stopped.pk: PushStatus.NOT_SENT,
    }
    meter.refresh_from_db()
    assert meter.details_hash == meter.identifiers_hash == Meter.STALE_DIGEST
    assert Meter.objects.get(pk=untouched.pk).details_hash == "e" * 32
