"""Suggestion ranking: normalisation, and the right site first for the seeded hard cases."""

from __future__ import annotations

import pytest

from meters.matching import normalise_account, normalise_address, rank, suggest
from meters.models import Site
from tests.meters.factories import MeterFactory, SiteFactory


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("12 Main Street, Apt. 4B", "12 main st #4b"),
        ("400 N. Oak Avenue Suite 200", "400 north oak ave ste 200"),
        ("7 Elm Road Unit 3", "7 ELM RD, #3"),
    ],
)
def test_normalise_address_unifies_case_punctuation_suffixes_and_units(left, right):
    assert normalise_address(left) == normalise_address(right)


def test_normalise_account_ignores_formatting():
    assert normalise_account("12-345 6a") == normalise_account("123456A")


def _site(**kwargs) -> Site:
    return Site(**{"external_id": "X", "name": "", "street": "", "postal_code": "", **kwargs})


def _meter(**kwargs):
    return MeterFactory.build(
        **{"partner_reference": "", "electric_service_account_number": "", **kwargs}
    )


def test_rank_typo_in_name_and_address_still_puts_the_right_site_first():
    meter = _meter(
        end_customer_name="Jonathan Smith", street_1="12 Main Street", postal_code="94110"
    )
    right = _site(
        external_id="S-1", name="Jonathon Smith", street="12 Main St", postal_code="94110"
    )
    near = _site(external_id="S-2", name="Joan Smithers", street="14 Main St", postal_code="94110")
    far = _site(external_id="S-3", name="Jonathan Smith", street="99 Pine Ave", postal_code="10001")
    ranked = rank(meter, [near, far, right])
    assert ranked[0].site.external_id == "S-1"
    assert ranked[0].parts["postal_code"] == 100
    assert ranked[0].parts["address"] == 100  # "Street" and "St" are the same


def test_rank_exact_account_number_outranks_a_perfect_name_and_address():
    meter = _meter(
        end_customer_name="Ann Lee",
        street_1="1 Oak Ave",
        postal_code="94110",
        electric_service_account_number="ACC-42",
    )
    lookalike = _site(external_id="S-1", name="Ann Lee", street="1 Oak Avenue", postal_code="94110")
    account = _site(external_id="S-2", name="A. Lee Trust", utility_account_number="acc 42")
    ranked = rank(meter, [lookalike, account])
    assert [s.site.external_id for s in ranked] == ["S-2", "S-1"]
    assert ranked[0].account_match and ranked[0].score == 100
    assert ranked[1].score < 100


def test_rank_missing_reference_uses_the_details():
    meter = _meter(end_customer_name="Bay Bakery", street_1="5 Market St", postal_code="94105")
    right = _site(
        external_id="S-9", name="Bay Bakery Inc", street="5 Market Street", postal_code="94105"
    )
    other = _site(external_id="S-8", name="Bay Books", street="50 Market St", postal_code="94105")
    assert rank(meter, [other, right])[0].site.external_id == "S-9"


def test_rank_shared_reference_tells_meters_apart_by_their_details():
    """Two meters authorised through one link share a reference but sit at different sites."""
    first = _meter(partner_reference="CUST-7", end_customer_name="Kim Park", street_1="1 A St")
    second = _meter(partner_reference="CUST-7", end_customer_name="Kim Park", street_1="900 Z Blvd")
    home = _site(external_id="CUST-7", name="Kim Park", street="1 A Street")
    shop = _site(external_id="CUST-7-SHOP", name="Kim Park", street="900 Z Boulevard")
    assert rank(first, [home, shop])[0].site.external_id == "CUST-7"
    assert rank(second, [home, shop])[0].site.external_id == "CUST-7-SHOP"


def test_rank_stale_reference_no_site_has_falls_back_to_details():
    meter = _meter(partner_reference="OLD-1", end_customer_name="Mia Wong", street_1="3 Pine Ln")
    right = _site(external_id="NEW-1", name="Mia Wong", street="3 Pine Lane")
    assert rank(meter, [right])[0].site.external_id == "NEW-1"


def test_rank_explains_the_score_parts():
    meter = _meter(end_customer_name="Ann Lee", street_1="1 Oak Ave", postal_code="94110")
    suggestion = rank(meter, [_site(name="Ann Lee", street="1 Oak Ave", postal_code="94110")])[0]
    assert set(suggestion.parts) == {"name", "address", "postal_code", "reference"}
    assert "name 100" in suggestion.explain()


@pytest.mark.django_db
def test_suggest_uses_one_query_for_a_page_of_meters(django_assert_num_queries):
    sites = SiteFactory.create_batch(5, postal_code="94110")
    meters = MeterFactory.create_batch(10, postal_code="94110")
    with django_assert_num_queries(1):
        suggestions = suggest(meters)
    assert len(suggestions) == 10
    assert {s.site.pk for s in suggestions[meters[0].pk]} <= {site.pk for site in sites}
