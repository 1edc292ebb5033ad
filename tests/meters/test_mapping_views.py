"""Sites, review queue and partner_reference views: access, pages, fragments, actions, query counts."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils.html import escape
from pytest_django.asserts import assertTemplateUsed

from leapsync.leap.references import RULE
from meters import candidates, services
from meters.models import Meter, PartnerReferenceChange, PushStatus
from tests.conftest import _client_for
from tests.helpers import count_get_queries
from tests.meters.factories import MeterFactory, SiteFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
LISTS = [
    ("meters:site_list", "meters/site_list.html", "meters/partials/site_table.html"),
    ("meters:mapping_queue", "meters/review_queue.html", "meters/partials/review_table.html"),
    (
        "meters:reference_change_list",
        "meters/reference_changes.html",
        "meters/partials/reference_change_table.html",
    ),
]


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "async_task", lambda *args: calls.append(args))
    return calls


def _seed(n: int) -> None:
    for i in range(n):
        site = SiteFactory(postal_code="94110", name=f"Customer {i}")
        meter = MeterFactory(postal_code="94110", status="ACTIVE" if i % 2 else "ELIGIBLE")
        mapped = MeterFactory(site=site, partner_reference=site.external_id)
        PartnerReferenceChange.objects.create(meter=meter, old="a", new=f"new-{i}")
        PartnerReferenceChange.objects.create(meter=mapped, old="b", new=f"x-{i}")
    candidates.score_all()


@pytest.mark.parametrize("name", [n for n, _, _ in LISTS] + ["meters:shared_reference_list"])
def test_pages_need_sign_in_and_a_group(client, outsider_client, name):
    url = reverse(name)
    assert client.get(url).status_code == 302
    assert outsider_client.get(url).status_code == 403


@pytest.mark.parametrize(("name", "page", "partial"), LISTS)
def test_list_pages_full_and_fragment(manager_client, name, page, partial):
    _seed(2)
    full = manager_client.get(reverse(name))
    assertTemplateUsed(full, page)
    assert full["Vary"].find("HX-Request") >= 0
    fragment = manager_client.get(reverse(name), headers=HTMX)
    assertTemplateUsed(fragment, partial)
    assert "<html" not in fragment.content.decode()


@pytest.mark.parametrize("headers", [{}, HTMX])
@pytest.mark.parametrize("name", [n for n, _, _ in LISTS] + ["meters:shared_reference_list"])
def test_list_query_counts_are_flat(ops_client, name, headers):
    _seed(2)
    few = count_get_queries(ops_client, reverse(name), headers)
    _seed(12)
    assert count_get_queries(ops_client, reverse(name), headers) == few
    # session, user, perms (user, group), count, rows, prefetched changes, candidate sites, ...
    assert few <= 12


def test_queue_puts_unmapped_active_meters_first_with_suggestions(ops_client):
    SiteFactory(external_id="S-ACME", name="Acme Bakery", postal_code="94110")
    eligible = MeterFactory(end_customer_name="Zed", status="ELIGIBLE", postal_code="1")
    active = MeterFactory(end_customer_name="Acme Bakery", status="ACTIVE", postal_code="94110")
    MeterFactory(site=SiteFactory(), status="ACTIVE")
    candidates.score_all()
    content = ops_client.get(reverse("meters:mapping_queue")).content.decode()
    assert content.index(str(active.meter_id)[:8]) < content.index(str(eligible.meter_id)[:8])
    assert "S-ACME" in content and "name 100" in content


def test_accept_suggestion_is_an_htmx_row_swap(ops_client):
    site = SiteFactory()
    meter = MeterFactory()
    url = reverse("meters:meter_map", args=[meter.meter_id])
    response = ops_client.post(
        url,
        {"site": site.pk, "source": "suggestion"},
        headers={**HTMX, "HX-Target": f"queue-row-{meter.meter_id}"},
    )
    assertTemplateUsed(response, "meters/partials/queue_row.html")
    assert "Mapped to" in response.content.decode()
    meter.refresh_from_db()
    assert meter.site == site and meter.mapping_source == "suggestion"


def test_no_site_yet_and_undo_from_the_meter_page_panel(ops_client):
    meter = MeterFactory()
    headers = {**HTMX, "HX-Target": "meter-mapping"}
    response = ops_client.post(
        reverse("meters:meter_no_site", args=[meter.meter_id]), headers=headers
    )
    assertTemplateUsed(response, "meters/partials/meter_mapping.html")
    assert Meter.objects.get(pk=meter.pk).no_site_yet
    ops_client.post(reverse("meters:meter_unmap", args=[meter.meter_id]), headers=headers)
    assert not Meter.objects.get(pk=meter.pk).no_site_yet


def test_managers_see_but_cannot_change(manager_client):
    meter = MeterFactory()
    site = SiteFactory()
    for name, data in [
        ("meters:meter_map", {"site": site.pk}),
        ("meters:meter_no_site", {}),
        ("meters:meter_reference_edit", {"partner_reference": "abc-1"}),
    ]:
        assert manager_client.post(reverse(name, args=[meter.meter_id]), data).status_code == 403
    assert manager_client.post(reverse("meters:site_import")).status_code == 403
    detail = manager_client.get(reverse("meters:meter_detail", args=[meter.meter_id]))
    assert "partner_reference changes made here" in detail.content.decode()
    assert "Save &amp; send to Leap" not in detail.content.decode()


def test_site_picker_search_finds_sites(ops_client):
    SiteFactory(external_id="S-77", name="Harbor Foods")
    meter = MeterFactory()
    response = ops_client.get(
        reverse("meters:site_search"), {"meter": meter.meter_id, "site_q": "harbor"}, headers=HTMX
    )
    assert "S-77" in response.content.decode()


def test_bulk_accept_previews_then_applies_exactly_the_preview(ops_client):
    site = SiteFactory(name="Ann Lee", street="1 Oak Ave", postal_code="94110")
    good = MeterFactory(
        end_customer_name="Ann Lee",
        street_1="1 Oak Avenue",
        postal_code="94110",
        partner_reference="",
    )
    weak = MeterFactory(end_customer_name="Somebody", postal_code="94110", partner_reference="")
    candidates.score_all()
    preview = ops_client.get(
        reverse("meters:mapping_bulk_preview"), {"threshold": 80}, headers=HTMX
    )
    assertTemplateUsed(preview, "meters/partials/bulk_accept.html")
    assert preview.context["meters"] == [good] and preview.context["total"] == 1
    assert not Meter.objects.filter(site__isnull=False).exists()  # a preview writes nothing
    ops_client.post(
        reverse("meters:mapping_bulk_accept"),
        {"threshold": 80, "as_of": preview.context["as_of"]},
    )
    assert Meter.objects.get(pk=good.pk).site == site
    assert Meter.objects.get(pk=weak.pk).site is None


def test_inline_reference_edit_form_save_and_both_values_shown(
    ops_client, queued, django_capture_on_commit_callbacks
):
    meter = MeterFactory(partner_reference="leap-value")
    url = reverse("meters:meter_reference_edit", args=[meter.meter_id])
    form = ops_client.get(url, headers=HTMX)
    assertTemplateUsed(form, "meters/partials/reference_form.html")
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(
            url, {"partner_reference": "new-value", "loaded": "leap-value"}, headers=HTMX
        )
    assertTemplateUsed(response, "meters/partials/reference_cell.html")
    content = response.content.decode()
    assert "leap-value" in content and "new-value" in content
    assert PushStatus.PENDING.label in content
    assert len(queued) == 1


def test_inline_reference_edit_rejects_bad_values_and_stale_pages(ops_client, queued):
    meter = MeterFactory(partner_reference="leap-value")
    url = reverse("meters:meter_reference_edit", args=[meter.meter_id])
    bad = ops_client.post(url, {"partner_reference": "a#b", "loaded": "leap-value"}, headers=HTMX)
    assert bad.status_code == 200 and "3–256 characters" in bad.content.decode()
    stale = ops_client.post(url, {"partner_reference": "mine", "loaded": "older"}, headers=HTMX)
    assert "since this page was loaded" in stale.content.decode()
    assert not queued and not PartnerReferenceChange.objects.exists()


def _hidden_fields(page: str) -> dict[str, str]:
    """The fields that bind an edit to what the page showed."""
    found = dict(re.findall(r'<input type="hidden" name="(\w+)"(?: value="([^"]*)")?', page))
    return {name: found[name] for name in ("loaded", "open_change") if name in found}


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
def test_second_save_from_an_out_of_date_page_is_a_conflict_not_saved(
    ops_client, queued, headers, django_capture_on_commit_callbacks
):
    other = _client_for("user1", "Operations")
    meter = MeterFactory(partner_reference="value-a")
    url = reverse("meters:meter_reference_edit", args=[meter.meter_id])
    first_page = _hidden_fields(other.get(url, headers=HTMX).content.decode())
    second_page = _hidden_fields(ops_client.get(url, headers=HTMX).content.decode())
    assert first_page == second_page == {"loaded": "value-a", "open_change": ""}
    with django_capture_on_commit_callbacks(execute=True):
        saved = other.post(url, {**first_page, "partner_reference": "value-b"}, headers=HTMX)
    assert "Saved" in saved.content.decode()
    response = ops_client.post(
        url, {**second_page, "partner_reference": "value-c"}, headers=headers, follow=True
    )
    content = response.content.decode()
    assert "Saved" not in content and "saved; sending" not in content
    assert escape("Another change (“value-b”, by user1 at ") in content
    assert "reload and edit again" in content
    assert list(PartnerReferenceChange.objects.values_list("new", flat=True)) == ["value-b"]
    assert len(queued) == 1
    if headers:  # the form comes back bound to the change now open: saving again is deliberate
        change = PartnerReferenceChange.objects.get()
        assert _hidden_fields(content) == {"loaded": "value-a", "open_change": str(change.pk)}


def test_set_from_site_on_an_out_of_date_page_is_a_conflict(ops_client, queued):
    meter = MeterFactory(partner_reference="value-a", site=SiteFactory(external_id="SITE-77"))
    url = reverse("meters:meter_reference_from_site", args=[meter.meter_id])
    change = PartnerReferenceChange.objects.create(meter=meter, old="value-a", new="value-b")
    stale = ops_client.post(url, {"loaded": "value-a", "open_change": ""}, headers=HTMX)
    assert "Not changed: Another change (“value-b”" in stale.content.decode()
    bound = ops_client.post(url, {"loaded": "value-a", "open_change": change.pk}, headers=HTMX)
    assert "Set from the site" in bound.content.decode()
    assert PartnerReferenceChange.objects.get(new="SITE-77").old == "value-a"


HOSTILE = ["ab\ncd", "ab\tcd", "ab\u202ecd", "ab\u200bcd", "ab\ufeffcd", "ab\u2029cd"]


@pytest.mark.parametrize("value", HOSTILE)
def test_inline_reference_edit_refuses_invisible_characters_showing_the_rule(
    ops_client, queued, value
):
    meter = MeterFactory(partner_reference="leap-value")
    url = reverse("meters:meter_reference_edit", args=[meter.meter_id])
    data = {"partner_reference": value, "loaded": "leap-value"}
    htmx = ops_client.post(url, data, headers=HTMX)
    assertTemplateUsed(htmx, "meters/partials/reference_form.html")
    page = htmx.content.decode()
    assert htmx.status_code == 200 and 'aria-invalid="true"' in page
    assert page.count(escape(RULE)) == 2  # the error, and the help text under the field
    plain = ops_client.post(url, data, follow=True)
    assert f"partner_reference not changed: {escape(RULE)}" in plain.content.decode()
    assert not queued and not PartnerReferenceChange.objects.exists()
    assert Meter.objects.get(pk=meter.pk).partner_reference == "leap-value"


def test_retry_from_the_list(ops_client, queued):
    meter = MeterFactory()
    change = PartnerReferenceChange.objects.create(
        meter=meter, old="", new="abc-1", push_status=PushStatus.REFUSED, error="Leap refused: x"
    )
    page = ops_client.get(reverse("meters:reference_change_list")).content.decode()
    assert "Leap refused: x" in page
    response = ops_client.post(
        reverse("meters:reference_retry", args=[change.pk]),
        headers={**HTMX, "HX-Target": f"reference-change-{change.pk}"},
    )
    assertTemplateUsed(response, "meters/partials/reference_change_row.html")
    change.refresh_from_db()
    assert change.push_status == PushStatus.PENDING


def test_bulk_set_reference_from_site(ops_client, queued):
    mapped = MeterFactory(site=SiteFactory(external_id="SITE-55"))
    unmapped = MeterFactory()
    response = ops_client.post(
        reverse("meters:reference_bulk_from_site"), {"meter": [mapped.meter_id, unmapped.meter_id]}
    )
    assert response.status_code == 302
    assert list(PartnerReferenceChange.objects.values_list("new", flat=True)) == ["SITE-55"]


def test_site_detail_lists_its_meters(manager_client):
    site = SiteFactory()
    meter = MeterFactory(site=site, status="ACTIVE")
    content = manager_client.get(reverse("meters:site_detail", args=[site.pk])).content.decode()
    assert str(meter.meter_id) in content and "ACTIVE" in content


def test_nav_lights_up_sites_not_meters(ops_client):
    content = ops_client.get(reverse("meters:site_list")).content.decode()
    assert f'href="{reverse("meters:site_list")}" aria-current="page"' in content
    assert f'href="{reverse("meters:meter_list")}" aria-current="page"' not in content


@pytest.mark.parametrize("typed", ["HARBOR foods", "Hárbor", "s-77", "1 Main"])
def test_site_picker_search_ignores_accents_and_case(ops_client, typed):
    SiteFactory(external_id="S-77", name="Hårbor Fóods", street="1 Main St")
    meter = MeterFactory()
    response = ops_client.get(
        reverse("meters:site_search"), {"meter": meter.meter_id, "site_q": typed}, headers=HTMX
    )
    assert "S-77" in response.content.decode()
