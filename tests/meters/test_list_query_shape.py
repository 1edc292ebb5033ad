"""The meters list's SQL stays cheap at scale: no DISTINCT where rows cannot repeat, and deep
pages select their keys first."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from meters.filters import MeterFilterSet
from meters.models import Meter
from tests.meters.factories import MeterFactory, SiteFactory

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


def _page_queries(client, page: int) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"{reverse('meters:meter_list')}?page={page}")
    assert response.status_code == 200
    assert response.context["table"].page.number == page
    return [q["sql"] for q in captured.captured_queries]


def test_meter_list_deep_page_runs_as_many_queries_as_the_first(ops_client):
    for _ in range(3):
        MeterFactory.create_batch(45, open_actions=1, status="ACTIVE", site=SiteFactory())
    first, deep = _page_queries(ops_client, 1), _page_queries(ops_client, 3)
    # session, user, user perms, group perms, user groups, the total, the page's keys, its rows;
    # the person's saved views, list preference and groups (to share a view with), and the
    # navigation's "My actions" count
    assert len(deep) == len(first) <= 12


def test_meter_list_deep_page_skips_keys_not_joined_rows(ops_client):
    MeterFactory.create_batch(60, open_actions=1, status="ACTIVE")
    queries = _page_queries(ops_client, 2)
    # The OFFSET runs over the meters table alone: no join, no open-action subquery to skip.
    (keys,) = [q for q in queries if "OFFSET 50" in q]
    assert "JOIN" not in keys and "actions_requiredaction" not in keys
    (rows,) = [q for q in queries if "actions_requiredaction" in q and "assignee_id" not in q]
    assert "OFFSET" not in rows and " IN (" in rows


def test_meter_list_deep_page_keeps_the_sort_order(ops_client):
    meters = [MeterFactory(end_customer_name=f"Name {i:03}") for i in range(60)]
    response = ops_client.get(f"{reverse('meters:meter_list')}?sort=-end_customer_name&page=2")
    listed = [row.record.pk for row in response.context["table"].paginated_rows]
    assert listed == [m.pk for m in reversed(meters)][50:]
    names = [m.end_customer_name for m in reversed(meters)][50:]
    content = response.content.decode()
    assert [content.index(name) for name in names] == sorted(content.index(n) for n in names)
