"""The meters list's SQL stays cheap at scale: no DISTINCT where rows cannot repeat."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from meters.filters import MeterFilterSet
from meters.models import Meter
from tests.meters.factories import MeterFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query",
    [
        "global_status=ACTIVE",
        "global_status=ACTIVE&global_status=PENDING",
        "region=PJM&meter_type=UTILITY_METER",
    ],
)
def test_meter_filter_multi_value_filters_add_no_distinct(query):
    # DISTINCT over the list's wide rows makes PostgreSQL sort every match before the first page.
    filterset = MeterFilterSet(QueryDict(query), queryset=Meter.objects.for_list())
    assert filterset.is_valid()
    assert not filterset.qs.query.distinct


def test_meter_filter_multi_value_lists_each_meter_once():
    active = MeterFactory(status="ACTIVE", transmission_region="PJM", meter_type="DEVICE")
    pending = MeterFactory(status="PENDING", transmission_region="PJM", meter_type="DEVICE")
    MeterFactory(status="ELIGIBLE", transmission_region="PJM", meter_type="DEVICE")
    query = "global_status=ACTIVE&global_status=PENDING&region=PJM&region=CAISO&meter_type=DEVICE"
    filterset = MeterFilterSet(QueryDict(query), queryset=Meter.objects.for_list())
    assert sorted(m.pk for m in filterset.qs) == sorted([active.pk, pending.pk])
