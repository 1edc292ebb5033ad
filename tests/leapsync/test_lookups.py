"""`field__any=[...]` selects what `field__in=[...]` does, however its list is bound."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from meters.models import Meter, Site

pytestmark = pytest.mark.django_db


@pytest.fixture
def meters() -> list[Meter]:
    return [
        Meter.objects.create(meter_id=uuid.uuid4(), partner_reference=f"R-{n}") for n in range(5)
    ]


def _bound_as_one_literal(queryset, kind: str) -> bool:
    """Whether the list went to PostgreSQL as one '{...}' literal cast to `kind`[]."""
    sql, params = queryset.query.get_compiler(connection=connection).as_sql()
    return f"= ANY(%s::{kind}[])" in sql and any(
        isinstance(param, str) and param.startswith("{") for param in params
    )


def test_a_list_of_uuids_selects_those_meters(meters):
    wanted = [meters[0].meter_id, meters[3].meter_id, uuid.uuid4()]
    found = Meter.objects.filter(meter_id__any=wanted)
    assert set(found) == {meters[0], meters[3]}
    if connection.vendor == "postgresql":
        assert _bound_as_one_literal(found, "uuid")  # not adapted element by element


def test_a_list_of_keys_selects_those_meters(meters):
    found = Meter.objects.filter(pk__any=[meters[1].pk, meters[4].pk, 10**12])
    assert set(found) == {meters[1], meters[4]}
    if connection.vendor == "postgresql":
        assert _bound_as_one_literal(found, "bigint")


def test_a_foreign_key_list_selects_through_the_relation(meters):
    site = Site.objects.create(external_id="S-1", name="One")
    meters[2].site = site
    meters[2].save(update_fields=["site"])
    assert list(Meter.objects.filter(site_id__any=[site.pk])) == [meters[2]]


@pytest.mark.parametrize(
    "references",
    [
        ["R-1", "R-2"],
        ['with "quotes", commas', "R-2"],
        ["{braces}", "back\\slash", "R-2"],
    ],
)
def test_other_values_are_bound_as_psycopg_adapts_them(meters, references):
    Meter.objects.filter(pk=meters[0].pk).update(partner_reference=references[0])
    found = Meter.objects.filter(partner_reference__any=references)
    assert set(found) == set(Meter.objects.filter(partner_reference__in=references))
    assert meters[0] in found and meters[2] in found


def test_mixed_uuids_and_strings_keep_psycopgs_adaptation(meters):
    found = Meter.objects.filter(meter_id__any=[meters[0].meter_id, str(meters[1].meter_id)])
    assert set(found) == {meters[0], meters[1]}


def test_an_empty_list_selects_nothing_without_a_query(meters, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert list(Meter.objects.filter(meter_id__any=[])) == []
