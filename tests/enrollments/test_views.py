"""Enrollment pages: access, full page and fragment, and query counts flat as rows grow."""

from __future__ import annotations

import pytest
from django.urls import reverse

from enrollments.filters import TransitionFilterSet
from enrollments.models import ParticipationPeriod
from tests.meters.factories import MeterFactory, ParticipationPeriodFactory, SiteFactory

PAGES = [
    "enrollments:deadline_list",
    "enrollments:deadline_calendar",
    "enrollments:market_group_list",
    "enrollments:transition_list",
]


@pytest.mark.parametrize("name", PAGES)
def test_enrollment_page_anonymous_redirects_to_login(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("name", PAGES)
def test_enrollment_page_outsider_is_forbidden(outsider_client, name):
    assert outsider_client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_enrollment_page_renders_with_data(ops_client, synced, name):
    response = ops_client.get(reverse(name))
    assert response.status_code == 200


@pytest.mark.parametrize("typed", ["nguyen", "Łódź-7", "SITE-ÉTÉ", "Refused by the customer"])
def test_transition_search_ignores_accents_and_case(db, typed):
    site = SiteFactory(external_id="SITE-ete-1")
    meter = MeterFactory(end_customer_name="Nguyễn Văn An", partner_reference="lodz-7", site=site)
    hit = ParticipationPeriodFactory(meter=meter, reason="refused by the customer")
    ParticipationPeriodFactory(reason="moved")
    search = TransitionFilterSet.base_filters["q"]
    assert list(search.filter(ParticipationPeriod.objects.all(), typed)) == [hit]
