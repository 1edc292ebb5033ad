"""The Trends page in a real browser: charts with their numbers, a chart's link leads to the
list with the same count, and the page never scrolls sideways on a phone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from leapsync.simulator.timeutil import DEFAULT_START
from meters.models import EventKind, Meter, MeterEvent
from tests.e2e.helpers import screenshot, sign_in

pytestmark = pytest.mark.e2e
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _our_clock_at_the_simulators():
    with time_machine.travel(DEFAULT_START, tick=True):
        yield


@pytest.fixture
def history(synced) -> None:
    """A month of history: the meters first seen over 30 days, some ACTIVE only lately."""
    now = timezone.now()
    meters = list(Meter.objects.order_by("meter_id").values_list("pk", flat=True))
    for n, pk in enumerate(meters):
        MeterEvent.objects.filter(meter_id=pk, kind=EventKind.FIRST_SEEN).update(
            observed_at=now - timedelta(days=30 - n % 25)
        )
    active = Meter.objects.filter(enrollment__global_enrollment_status="ACTIVE")
    for n, meter in enumerate(active.order_by("meter_id")[:30]):
        MeterEvent.objects.create(
            meter=meter,
            kind=EventKind.GLOBAL_STATUS,
            field="global_enrollment_status",
            old="ELIGIBLE",
            new="ACTIVE",
            observed_at=now - timedelta(days=n % 10, hours=1),
        )


def no_sideways_scroll(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_a_chart_leads_to_the_list_with_its_count(page, users, history):
    sign_in(page, users["ops"])
    page.get_by_role("link", name="Trends").click()
    page.wait_for_url("**/trends/")
    chart = page.locator("figure.chart").filter(has_text="Meters by global status").first
    assert chart.locator("svg.chart-svg path.line").count() >= 1
    chart.get_by_text("The numbers").click()
    assert chart.locator("details table tbody tr").count() >= 25
    assert "History starts" in page.locator("#history-note").inner_text()
    screenshot(page, "trends-1280")
    entry = chart.locator(".legend a").filter(has_text="ACTIVE")
    today = int(entry.locator(".legend-value").inner_text())
    entry.click()
    page.wait_for_url(re.compile(r"/meters/\?global_status=ACTIVE&missing=false"))
    assert page.locator("#meter-table .total").inner_text() == f"{today} meters"

    page.set_viewport_size(PHONE)
    page.goto("/trends/")
    assert page.locator("figure.chart svg").count() == 8  # with the first program's
    screenshot(page, "trends-390")
    assert no_sideways_scroll(page) <= 0
