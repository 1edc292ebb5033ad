"""The staff UI in a real browser: sign in, filter, open and sync a meter, export, permissions.

Every page visited is saved as a screenshot under var/e2e-artifacts/ for a person to look at.
"""

from __future__ import annotations

import csv
import re

import pytest
from django.urls import reverse

from leapsync.leap.enums import EnrollmentStatus
from leapsync.models import SyncRun
from meters.models import EventKind, Meter, MeterEvent
from tests.e2e.helpers import screenshot, sign_in

pytestmark = pytest.mark.e2e
HOSTILE = "<b>bold</b><script>window.__injected = 1</script>"


def meter_url(meter: Meter) -> str:
    return reverse("meters:meter_detail", args=[meter.meter_id])


def column_texts(page, header: str) -> list[str]:
    """The cells of one column of the meters table, found by its header text."""
    return page.evaluate(
        """header => {
            const heads = [...document.querySelectorAll("#meters thead th")];
            const index = heads.findIndex(th => th.textContent.trim() === header);
            return [...document.querySelectorAll("#meters tbody tr")]
                .map(tr => tr.children[index].textContent.trim());
        }""",
        header,
    )


def test_sign_in_through_the_login_form(page, users, synced):
    page.goto("/meters/")
    assert "/accounts/login/" in page.url
    screenshot(page, "01-login")
    sign_in(page, users["ops"])
    page.goto("/")
    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"
    assert users["ops"] in page.locator(".usermenu summary").inner_text()
    screenshot(page, "02-dashboard")


def test_sign_in_with_a_wrong_password_is_refused(page, users):
    page.goto("/")
    page.get_by_label("Username").fill(users["ops"])
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    assert "/accounts/login/" in page.url
    screenshot(page, "01b-login-refused")


def test_meters_filter_swaps_the_table_and_pushes_the_url(page, users, synced):
    sign_in(page, users["ops"])
    page.goto("/meters/")
    screenshot(page, "03-meters")
    assert page.locator("#meters tbody tr").count() == 50  # first page of 120
    page.evaluate("window.__samePage = true")  # gone if the filter reloaded the whole page

    status_filter = page.get_by_role("group", name="Global status")
    status_filter.locator("summary").click()
    status_filter.get_by_label(EnrollmentStatus.ACTIVE.label, exact=True).check()
    page.wait_for_url(re.compile(r"[?&]global_status=ACTIVE"))
    page.wait_for_function("document.querySelectorAll('#meters tbody tr').length > 0")

    active = Meter.objects.filter(enrollment__global_enrollment_status=EnrollmentStatus.ACTIVE)
    rows = page.locator("#meters tbody tr")
    assert 0 < active.count() < Meter.objects.count()
    assert rows.count() == min(active.count(), 50)
    statuses = set(column_texts(page, "Global status"))
    assert len(statuses) == 1, statuses
    assert page.evaluate("window.__samePage") is True
    screenshot(page, "04-meters-filtered")

    page.go_back()
    page.wait_for_url(lambda url: "global_status" not in url)
    page.go_forward()
    page.wait_for_url(re.compile(r"global_status=ACTIVE"))


def test_meters_export_downloads_exactly_the_filtered_rows(page, users, synced):
    sign_in(page, users["ops"])
    page.goto("/meters/?region=PJM&region=ERCOT")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Export CSV")).click()
    assert download.value.suggested_filename.endswith(".csv")
    with open(download.value.path(), encoding="utf-8", newline="") as exported:
        rows = list(csv.DictReader(exported))
    expected = Meter.objects.filter(transmission_region__in=["PJM", "ERCOT"])
    assert rows, "the filter should match some of the simulator's meters"
    assert {row["meter_id"] for row in rows} == {
        str(m) for m in expected.values_list("meter_id", flat=True)
    }
    assert {row["transmission_region"] for row in rows} <= {"PJM", "ERCOT"}


def test_open_a_meter_and_sync_it_shows_what_changed(page, users, synced):
    meter = Meter.objects.exclude(partner_reference="").order_by("meter_id").first()
    MeterEvent.objects.filter(meter=meter).delete()
    # Our copy drifted from Leap's: the sync must put Leap's values back and say so.
    Meter.objects.filter(pk=meter.pk).update(
        partner_reference="stale-ref", details_hash="", identifiers_hash=""
    )
    sign_in(page, users["ops"])
    page.goto(f"/meters/?q={meter.meter_id}")  # one match: straight to the meter
    page.wait_for_url(f"**{meter_url(meter)}")
    assert "stale-ref" in page.locator("main").inner_text()
    screenshot(page, "05-meter")

    assert page.locator("main form[method=post]").count() >= 1
    page.get_by_role("button", name=re.compile("Sync this meter")).click()
    result = page.locator("#meter-sync")
    result.get_by_text(re.compile(r"Synced from Leap: \d+ changes?")).wait_for()
    assert "stale-ref" in result.inner_text()
    assert meter.partner_reference in result.inner_text()
    assert MeterEvent.objects.filter(meter=meter, kind=EventKind.PARTNER_REFERENCE).exists()
    screenshot(page, "06-meter-synced")


def test_leap_text_with_markup_shows_as_text(page, users, synced):
    meter = Meter.objects.order_by("meter_id").first()
    Meter.objects.filter(pk=meter.pk).update(end_customer_name=HOSTILE)
    sign_in(page, users["ops"])
    for url in (meter_url(meter), "/meters/"):  # the list's first row, in meter_id order
        page.goto(url)
        assert HOSTILE in page.locator("main").inner_text()
        assert page.evaluate("window.__injected") is None


def test_sync_pages_render(page, users, synced):
    sign_in(page, users["ops"])
    page.goto("/sync/")
    assert page.get_by_role("heading", level=1).inner_text() == "Sync"
    screenshot(page, "07-sync-runs")
    run = SyncRun.objects.order_by("pk").first()
    page.goto(reverse("sync_run_detail", args=[run.pk]))
    assert f"#{run.pk}" in page.get_by_role("heading", level=1).inner_text()
    screenshot(page, "08-sync-run")


def test_manager_sees_no_write_buttons_and_a_forged_post_is_refused(page, users, synced):
    meter = Meter.objects.order_by("meter_id").first()
    sign_in(page, users["manager"])
    page.goto(meter_url(meter))
    assert page.get_by_role("button", name=re.compile("Sync this meter")).count() == 0
    assert page.locator("main form[method=post]").count() == 0  # no write of any kind offered
    screenshot(page, "09-meter-as-manager")
    sync_url = reverse("meters:meter_sync", args=[meter.meter_id])
    runs_before = SyncRun.objects.count()

    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    forged = page.request.post(sync_url, form={"csrfmiddlewaretoken": token})
    assert forged.status == 403
    assert "You are not allowed to do that" in forged.text()  # the permission, not CSRF
    without_token = page.request.post(sync_url, form={})
    assert without_token.status == 403
    assert "CSRF" in without_token.text()
    assert SyncRun.objects.count() == runs_before

    # The same forged form submitted by the browser lands on the readable 403 page.
    with page.expect_navigation() as navigation:
        page.evaluate(
            """([url, token]) => {
                const form = Object.assign(document.createElement("form"),
                                           {method: "post", action: url});
                form.append(Object.assign(document.createElement("input"),
                                          {name: "csrfmiddlewaretoken", value: token}));
                document.body.append(form);
                form.submit();
            }""",
            [sync_url, token],
        )
    assert navigation.value.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "You are not allowed to do that"
    screenshot(page, "10-forbidden")
    assert SyncRun.objects.count() == runs_before


@pytest.mark.parametrize("path", ["/", "/meters/", "first-meter"])
def test_pages_fit_a_tablet_without_sideways_scrolling(page, users, synced, path):
    if path == "first-meter":
        path = meter_url(Meter.objects.order_by("meter_id").first())
    page.set_viewport_size({"width": 820, "height": 1180})
    sign_in(page, users["ops"])
    page.goto(path)
    # Wide tables may scroll inside their own box; the page itself must not.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    name = "dashboard" if path == "/" else "meters" if path == "/meters/" else "meter"
    screenshot(page, f"11-tablet-{name}")
    assert overflow <= 0
