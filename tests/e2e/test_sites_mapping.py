"""Sites and mapping in a real browser: the review queue, the inline partner_reference edit, the
CSV site import. Each HTMX action must change its row in place, without a page reload.

Screenshots of every page visited go to var/e2e-artifacts/ (prefix 20-).
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django_q.conf import Conf
from django_q.tasks import async_task

from leapsync.leap.client import LeapClient
from leapsync.leap.references import RULE as PARTNER_REFERENCE_RULE
from meters import candidates, services
from meters.models import MappingSource, Meter, PushStatus, Site
from tests.e2e.conftest import API_KEY
from tests.e2e.helpers import screenshot, sign_in

pytestmark = pytest.mark.e2e


def sites_like_the_meters(count: int = 30) -> list[Site]:
    """One site per meter, as the partner's own records would have it: the same customer and
    address, an account number, and an external_id that is not the meter's partner_reference
    (so the queue must suggest, not match)."""
    sites = []
    for index, meter in enumerate(Meter.objects.order_by("meter_id")[:count]):
        sites.append(
            Site(
                external_id=f"SITE-{index:03}",
                name=meter.end_customer_name or f"Customer {index}",
                street=meter.street_1,
                city=meter.city,
                postal_code=meter.postal_code,
                utility_account_number=meter.electric_service_account_number,
            )
        )
    created = Site.objects.bulk_create(sites)
    candidates.score_all()  # as the task queued by a site import does
    return created


def queue_row(page, meter_id: str):
    return page.locator(f"#queue-row-{meter_id}")


def row_meter_ids(page, having_button: str) -> list[str]:
    """The meter_ids of the queue rows offering `having_button`, top to bottom."""
    rows = page.locator("#review-table tbody tr").filter(
        has=page.get_by_role("button", name=having_button, exact=True)
    )
    return [row.get_attribute("id").removeprefix("queue-row-") for row in rows.all()]


def test_review_queue_accept_pick_and_no_site_without_reload(page, users, synced):
    sites_like_the_meters()
    sign_in(page, users["ops"])
    page.goto(reverse("meters:mapping_queue"))
    screenshot(page, "20-review-queue")
    page.evaluate("window.__samePage = true")  # gone if anything reloaded the page
    accept, pick, no_site = row_meter_ids(page, "Accept")[:3]

    # Accept the best suggestion.
    row = queue_row(page, accept)
    suggested = row.locator(".suggestion-cell a .mono").first.inner_text()
    row.get_by_role("button", name="Accept", exact=True).click()
    queue_row(page, accept).get_by_text("✓ Mapped to").wait_for()
    assert suggested in queue_row(page, accept).inner_text()
    meter = Meter.objects.select_related("site").get(meter_id=accept)
    assert (meter.site.external_id, meter.mapping_source) == (suggested, MappingSource.SUGGESTION)

    # Pick another site by searching for it.
    other = Site.objects.exclude(external_id=suggested).order_by("-external_id").first()
    row = queue_row(page, pick)
    row.get_by_text("Pick another site…").click()
    row.get_by_label("Search sites").fill(other.external_id)
    results = row.locator(".site-picker-results li").filter(has_text=other.external_id)
    results.get_by_role("button", name="Map").click()
    queue_row(page, pick).get_by_text("✓ Mapped to").wait_for()
    assert other.external_id in queue_row(page, pick).inner_text()
    meter = Meter.objects.select_related("site").get(meter_id=pick)
    assert (meter.site, meter.mapping_source) == (other, MappingSource.MANUAL)

    # No site yet.
    queue_row(page, no_site).get_by_role("button", name="No site yet").click()
    queue_row(page, no_site).locator(".badge", has_text="No site yet").wait_for()
    assert Meter.objects.get(meter_id=no_site).no_site_yet
    screenshot(page, "21-review-queue-worked")
    assert page.evaluate("window.__samePage") is True

    # Each change is in the meter's history, with who made it.
    page.goto(reverse("meters:meter_detail", args=[pick]))
    assert users["ops"] in page.locator("main").inner_text()
    assert other.external_id in page.locator("main").inner_text()


def test_review_queue_shows_the_strongest_candidate_first(page, users, synced):
    """After a site import, the account number match leads and a name-only match (a New York
    meter, a Hartford site) comes after it, whatever their meter_ids."""
    by_name, by_account = (
        Meter.objects.exclude(electric_service_account_number="")
        .exclude(end_customer_name="")
        .order_by("meter_id")[:2]
    )
    Site.objects.bulk_create(
        [
            Site(
                external_id="HARTFORD-1",
                name=by_name.end_customer_name,
                street="1 Asylum St",
                city="Hartford",
                state_or_province_code="CT",
                postal_code="06103",
            ),
            Site(
                external_id="ACCOUNT-1",
                name="Someone Else",
                utility_account_number=by_account.electric_service_account_number,
            ),
        ]
    )
    candidates.score_all()
    sign_in(page, users["ops"])
    page.goto(reverse("meters:mapping_queue"))
    rows = page.locator("#review-table tbody tr")
    first = rows.nth(0)
    assert first.get_attribute("id") == f"queue-row-{by_account.meter_id}"
    assert "ACCOUNT-1" in first.inner_text() and "account number exact" in first.inner_text()
    second = rows.nth(1)
    assert second.get_attribute("id") == f"queue-row-{by_name.meter_id}"
    assert re.search(r"name \d+ · address \d+ · postal 0 · reference", second.inner_text())
    screenshot(page, "29-review-queue-strongest-first")

    # Filtered to name matches, the name-only candidate is the only row.
    page.get_by_label("Match reason").select_option("name")
    page.wait_for_url(re.compile(r"reason=name"))
    rows.nth(1).wait_for(state="detached")
    assert rows.nth(0).get_attribute("id") == f"queue-row-{by_name.meter_id}"


def client_factory(simulator):
    """LeapClient.from_settings() replacement: a fresh client on the in-process simulator."""

    def make(cls, **kwargs) -> LeapClient:
        return LeapClient(
            "http://leap.test", API_KEY, transport=simulator.transport(), sleep=lambda s: None
        )

    return classmethod(make)


def test_inline_reference_edit_checks_leaps_rule_then_reaches_leap(
    page, users, synced, simulator, monkeypatch, settings
):
    queued: list[tuple] = []
    monkeypatch.setattr(services, "async_task", lambda *args: queued.append(args))
    meter = Meter.objects.exclude(partner_reference="").order_by("meter_id").first()
    meter_id = str(meter.meter_id)
    sign_in(page, users["ops"])
    page.goto(reverse("meters:meter_detail", args=[meter_id]))
    page.evaluate("window.__samePage = true")
    cell = page.locator(f"#reference-{meter_id}")

    cell.get_by_role("link", name="Edit").click()
    field = page.get_by_label("partner_reference", exact=True)
    field.fill("bad/ref?")
    page.get_by_role("button", name="Save & send to Leap").click()
    cell.locator(".errorlist").get_by_text(PARTNER_REFERENCE_RULE).wait_for()
    assert field.get_attribute("aria-invalid") == "true"
    assert not queued
    screenshot(page, "22-reference-refused")

    field.fill("SITE-E2E-1")
    page.get_by_role("button", name="Save & send to Leap").click()
    cell.locator(".badge", has_text=PushStatus.PENDING.label).wait_for()
    text = cell.inner_text()
    assert meter.partner_reference in text and "SITE-E2E-1" in text  # both, until Leap confirms
    assert page.evaluate("window.__samePage") is True
    screenshot(page, "23-reference-waiting")
    assert [name for name, *_ in queued] == [services.PUSH_TASK]
    assert simulator.find(meter_id).partner_reference == meter.partner_reference

    # The queued push, run the way django-q2 runs it, inline (sync mode).
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)  # django-q2 reads its settings once, at import
    monkeypatch.setattr(LeapClient, "from_settings", client_factory(simulator))
    for args in queued:
        async_task(*args)
    assert simulator.find(meter_id).partner_reference == "SITE-E2E-1"
    change = meter.reference_changes.get()
    # Leap accepted it, and the refresh the push queued (run inline too) read it back.
    assert change.push_status == PushStatus.CONFIRMED

    page.reload()
    cell = page.locator(f"#reference-{meter_id}")
    assert "SITE-E2E-1" in cell.inner_text()
    assert cell.locator(".badge", has_text=PushStatus.PENDING.label).count() == 0
    screenshot(page, "24-reference-confirmed")


SITES_CSV = """external_id,name,street,postal_code,utility_account_number
{reference},Matched By Reference,1 Main St,94105,
,Row Without An Id,2 Main St,94105,
SITE-NEW-1,Brand New Site,3 Oak Ave,94110,ACCT-1
SITE-NEW-1,The Same Id Again,4 Oak Ave,94110,
SITE-NEW-2,Another Site,5 Elm Rd,94112,ACCT-2
"""


def test_site_import_previews_bad_rows_then_imports_and_maps(page, users, synced):
    meter = Meter.objects.exclude(partner_reference="").order_by("meter_id").first()
    assert Meter.objects.filter(partner_reference=meter.partner_reference).count() == 1
    body = SITES_CSV.format(reference=meter.partner_reference).encode()
    sign_in(page, users["ops"])
    page.goto(reverse("meters:site_import"))
    screenshot(page, "25-site-import")
    page.get_by_label("CSV file").set_input_files(
        {"name": "sites.csv", "mimeType": "text/csv", "buffer": body}
    )
    page.get_by_role("button", name="Upload and preview").click()

    preview = page.locator("section", has=page.get_by_role("heading", name="Preview of sites.csv"))
    preview.wait_for()
    figures = dict(
        zip(
            preview.locator(".figure .label").all_inner_texts(),
            preview.locator(".figure .value").all_inner_texts(),
            strict=True,
        )
    )
    assert figures["rows read"] == "5"
    assert figures["new sites"] == "3"
    assert figures["bad rows (skipped)"] == "2"
    bad_rows = preview.locator(".import-errors tbody tr").all_inner_texts()
    assert any(row.startswith("3") and "external_id is empty" in row for row in bad_rows)
    assert any(row.startswith("5") and "repeats line 4" in row for row in bad_rows)
    assert not Site.objects.exists()  # nothing written before the confirmation
    screenshot(page, "26-site-import-preview")

    preview.get_by_role("button", name="Import 3 sites").click()
    page.wait_for_url(f"**{reverse('meters:site_list')}")
    message = page.get_by_text(re.compile(r"Imported sites\.csv: 3 new"))
    assert "2 bad rows skipped" in message.inner_text()
    assert "1 meter mapped by reference" in message.inner_text()
    assert set(Site.objects.values_list("external_id", flat=True)) == {
        meter.partner_reference,
        "SITE-NEW-1",
        "SITE-NEW-2",
    }
    meter.refresh_from_db()
    assert meter.site.external_id == meter.partner_reference
    assert meter.mapping_source == MappingSource.REFERENCE_MATCH
    screenshot(page, "27-site-list")

    page.get_by_role("link", name=meter.partner_reference, exact=True).click()
    page.wait_for_url(re.compile(r"/sites/\d+/$"))
    assert str(meter.meter_id) in page.locator("main").inner_text()
    screenshot(page, "28-site")
