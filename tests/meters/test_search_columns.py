"""Every writer keeps the normalised search columns current: saves (admin, forms, services),
the CSV site import, and the migration that fills them for the rows already stored.

The sync's bulk writers are checked in tests/leapsync (database_differences compares the
columns with the fields after every sync test).
"""

from __future__ import annotations

import importlib
import io
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse

from leapsync.lib.search import search_column
from meters.imports import import_sites
from meters.models import Meter, Site
from meters.pushes import _write_locally
from tests.meters.factories import MeterFactory, SiteFactory

pytestmark = pytest.mark.django_db
search_columns = importlib.import_module("meters.migrations.0010_search_columns")


def test_meter_save_folds_its_fields():
    meter = MeterFactory(
        end_customer_name="Nguyễn Văn An", city="San José", partner_reference="Ł-1"
    )
    meter.refresh_from_db()
    assert meter.search_text == f"nguyen van an\n{meter.street_1.lower()}\nsan jose\n" + (
        meter.electric_service_account_number.lower()
    )
    assert meter.search_reference == "l-1"


def test_meter_save_with_update_fields_refreshes_the_column_of_those_fields():
    meter = MeterFactory(partner_reference="old", end_customer_name="Ann")
    _write_locally(Meter.objects.get(pk=meter.pk), "Łukasz-9")  # the push's local write
    meter.refresh_from_db()
    assert meter.search_reference == "lukasz-9"
    assert "ann" in meter.search_text


def test_site_save_folds_its_fields_as_the_admin_saves_them(admin_client):
    site = SiteFactory(external_id="S-1", name="Plain")
    url = reverse("admin:meters_site_change", args=[site.pk])
    data = {"external_id": "S-1", "name": "Dépôt Łódź", "city": "Kraków", "notes": ""}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    site.refresh_from_db()
    assert site.search_text == "s-1\ndepot lodz\nkrakow"


def test_site_import_folds_new_and_changed_sites_and_the_columns_the_file_lacks():
    SiteFactory(external_id="S-2", name="Old name", city="Gdańsk")
    text = "external_id,name\nS-1,Café Zoë\nS-2,Żabka\n"
    import_sites(io.BytesIO(text.encode()))
    folded = dict(Site.objects.values_list("external_id", "search_text"))
    assert folded == {"S-1": "s-1\ncafe zoe", "S-2": "s-2\nzabka\ngdansk"}


def test_migration_fills_the_search_columns_of_stored_rows():
    meter = MeterFactory(end_customer_name="François", partner_reference="Đ-7")
    site = SiteFactory(external_id="E-1", name="Øresund")
    Meter.objects.update(search_text="", search_reference="")
    Site.objects.update(search_text="")
    search_columns.fill(apps, SimpleNamespace(connection=connection))
    meter.refresh_from_db()
    site.refresh_from_db()
    expected = search_column(getattr(meter, f) for f in Meter.SEARCH_COLUMNS["search_text"])
    assert meter.search_text == expected and "francois" in expected
    assert meter.search_reference == "d-7"
    assert site.search_text == "e-1\noresund"


def test_bulk_create_and_bulk_update_fold_too():
    Site.objects.bulk_create([Site(external_id="B-1", name="Zoë's Café")])
    assert Site.objects.get(external_id="B-1").search_text == "b-1\nzoe's cafe"
    meter = MeterFactory(end_customer_name="Ann", partner_reference="r-1")
    meter.end_customer_name = "Łukasz"
    Meter.objects.bulk_update([meter], ["end_customer_name"])
    meter.refresh_from_db()
    assert meter.search_text.startswith("lukasz\n") and meter.search_reference == "r-1"


@pytest.mark.parametrize(("name", "typed"), [("meter", "nguyen"), ("site", "DEPOT lodz")])
def test_admin_changelists_search_like_the_pages(admin_client, name, typed):
    meter = MeterFactory(end_customer_name="Nguyễn Văn An", site=SiteFactory(name="Dépôt Łódź"))
    MeterFactory(site=SiteFactory())
    response = admin_client.get(reverse(f"admin:meters_{name}_changelist"), {"q": typed})
    found = list(response.context["cl"].result_list)
    assert found == [meter if name == "meter" else meter.site]


def test_admin_meter_changelist_finds_a_short_id(admin_client):
    meter = MeterFactory(meter_id="0002d62f-1a2b-4c3d-8e4f-001122334455")
    MeterFactory()
    response = admin_client.get(reverse("admin:meters_meter_changelist"), {"q": "0002d62f"})
    assert list(response.context["cl"].result_list) == [meter]
