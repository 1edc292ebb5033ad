"""The read endpoints: what they show, that they filter as the pages do, keyset pages, and
query counts flat in the number of rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from actions.models import RequiredAction
from leapsync.sync import sync_full
from meters.filters import MeterFilterSet
from meters.models import Meter, Site
from meters.services import map_meter

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(leap, groups):
    sync_full(client=leap)


def _all_pages(client, url: str) -> list[dict]:
    rows = []
    while url:
        body = client.get(url).json()
        rows += body["results"]
        url = body["next"]
    return rows


def test_meters_list_pages_by_keyset_through_every_meter(api, synced):
    rows = _all_pages(api, reverse("api:meter_list") + "?page_size=50")
    assert len(rows) == Meter.objects.count() == len({r["meter_id"] for r in rows})


def test_meters_list_shows_programs_site_and_reference_push(api, synced, django_user_model):
    meter = Meter.objects.filter(program_enrollments__listed=True).first()
    site = Site.objects.create(external_id="S-9", name="Plant nine")
    map_meter(meter, site, actor=django_user_model.objects.create(username="u"), source="manual")
    body = api.get(reverse("api:meter_detail", args=[meter.meter_id])).json()
    assert body["site"] == {"external_id": "S-9", "name": "Plant nine"}
    programs = {p["program_identifier"] for p in body["programs"]}
    listed = set(
        meter.program_enrollments.filter(listed=True).values_list("program_identifier", flat=True)
    )
    assert programs == listed
    assert body["reference_push"] is None


@pytest.mark.parametrize(
    "query",
    ["global_status=ACTIVE", "global_status=ACTIVE&global_status=PENDING", "reference=set", "q=a"],
)
def test_meters_filter_exactly_as_the_meters_list(api, synced, query):
    filterset = MeterFilterSet(QueryDict(query), queryset=Meter.objects.all())
    assert filterset.is_valid()
    expected = set(filterset.qs.values_list("meter_id", flat=True))
    assert expected
    rows = _all_pages(api, f"{reverse('api:meter_list')}?{query}&page_size=500")
    assert {r["meter_id"] for r in rows} == {str(m) for m in expected}


def test_an_invalid_filter_is_a_problem_naming_the_field(api, synced):
    response = api.get(reverse("api:meter_list") + "?global_status=NOPE")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "global_status"


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    "name", ["api:meter_list", "api:site_list", "api:action_list", "api:change_feed"]
)
def test_list_query_count_is_flat(api, simulator, leap, groups, name):
    url = reverse(name)
    simulator_small = Meter.objects.count()
    assert simulator_small == 0
    sync_full(client=leap)
    Site.objects.bulk_create(Site(external_id=f"S{i}") for i in range(3))
    api.get(url)  # the token's first use of the minute records it (one UPDATE, not counted)
    few = _count(api, url + "?page_size=5" if name != "api:change_feed" else url + "?limit=5")
    Site.objects.bulk_create(Site(external_id=f"T{i}") for i in range(60))
    many = _count(api, url + "?page_size=200" if name != "api:change_feed" else url + "?limit=200")
    assert few == many
    # token, rows, then for the meters: the page's rows with their joins (the page itself
    # is chosen over keys only), their listed programs, their open pushes.
    assert many <= 5


def test_actions_list_shows_workflow_state(api, synced):
    action = RequiredAction.objects.order_by("pk").first()
    rows = _all_pages(api, reverse("api:action_list") + "?page_size=500&status=new")
    row = next(r for r in rows if r["id"] == action.pk)
    assert row["status"] == action.status and row["meter_id"] == str(action.meter.meter_id)


def test_roster_lists_a_periods_meters_in_a_market_group(api, synced):
    from enrollments.models import ProgramEnrollment

    row = ProgramEnrollment.objects.filter(listed=True, market_group_id__isnull=False).first()
    url = reverse("api:roster")
    query = f"?program={row.program_identifier}&delivery_period={row.delivery_period}"
    rows = _all_pages(api, url + query + "&page_size=500")
    assert str(row.meter.meter_id) in {r["meter_id"] for r in rows}
    assert api.get(url).status_code == 400
    assert api.get(url + "?program=X&delivery_period=Y").status_code == 404


def test_deadlines_and_sync_status(api, synced):
    deadlines = api.get(reverse("api:deadlines")).json()
    assert not deadlines["computing"] and deadlines["programs"]
    streams = api.get(reverse("api:sync_status")).json()
    assert {s["stream"] for s in streams} == {"details", "enrollments"}
    assert all(not s["stale"] and s["last_success_run"] for s in streams)


def test_unknown_api_path_is_a_problem_not_the_html_page(api):
    response = api.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_the_meters_hand_built_answer_is_drfs(synced, django_user_model):
    """MeterSerializer builds its dict by hand for speed: it must equal what its declared
    fields (the schema) give through DRF's own path."""
    from django.utils import timezone
    from rest_framework import serializers

    from leapsync.api.serializers import MeterSerializer
    from leapsync.api.views import _meters, with_children
    from meters.services import Integration, set_partner_reference

    person = django_user_model.objects.create(username="u")
    first, second = Meter.objects.order_by("pk")[:2]
    map_meter(
        first, Site.objects.create(external_id="S-1", name="One"), actor=person, source="manual"
    )
    set_partner_reference(second, "NEW-REF", actor=Integration("erp"))
    rows = with_children(list(_meters().order_by("pk")[:40]), timezone.now())
    assert any(row["site"] for row in rows) and any(row["reference_push"] for row in rows)
    assert any(row["programs"] for row in rows)
    for meter in rows:
        fast = MeterSerializer(meter).data
        slow = serializers.Serializer.to_representation(MeterSerializer(), meter)
        assert fast == dict(slow)
        assert list(fast) == list(slow)


def test_roster_query_count_is_flat(api, synced):
    from enrollments.models import ProgramEnrollment

    row = (
        ProgramEnrollment.objects.filter(listed=True, market_group_id__isnull=False)
        .values("program_identifier", "delivery_period")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .first()
    )
    assert row["n"] > 5
    url = reverse("api:roster") + (
        f"?program={row['program_identifier']}&delivery_period={row['delivery_period']}"
    )
    api.get(url)  # the token's last use is recorded once a minute
    # token, the period, its rows with their meters and sites
    assert _count(api, url + "&page_size=2") == _count(api, url + "&page_size=500") == 3
