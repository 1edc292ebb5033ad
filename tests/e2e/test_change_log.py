"""The change log in a real browser: from a meter's history to its slice, filters, older pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from meters.models import EventKind, Meter, MeterEvent
from tests.e2e.helpers import screenshot, sign_in

pytestmark = pytest.mark.e2e


def _shown(page) -> list[int]:
    page.wait_for_selector("#changes tbody tr")
    return [
        int(v)
        for v in page.locator("#changes tbody tr[data-event]").evaluate_all(
            "rows => rows.map(r => r.dataset.event)"
        )
    ]


def test_from_a_meter_to_its_changes_then_filter_and_page(page, users, synced):
    from playwright.sync_api import expect

    meter = Meter.objects.order_by("meter_id").first()
    sign_in(page, users["ops"])
    page.goto(reverse("meters:meter_detail", args=[meter.meter_id]))
    page.get_by_role("link", name="in the change log").click()
    expected = list(
        MeterEvent.objects.filter(meter=meter)
        .order_by("-observed_at", "-pk")
        .values_list("pk", flat=True)
    )
    assert _shown(page) == expected[:50]
    screenshot(page, "50-change-log-meter")

    # The whole log, narrowed to one kind with its checkbox: the table swaps, the URL follows.
    page.goto(reverse("meters:change_log"))
    page.locator("fieldset", has_text="Kind of change").locator("summary").click()
    page.get_by_label(EventKind.FIRST_SEEN.label).check()
    page.wait_for_url("**kind=first_seen**")
    first_seen = list(
        MeterEvent.objects.filter(kind=EventKind.FIRST_SEEN)
        .order_by("-observed_at", "-pk")
        .values_list("pk", flat=True)
    )
    assert len(first_seen) > 50
    expect(page.locator("#changes tbody tr[data-event]").first).to_have_attribute(
        "data-event", str(first_seen[0])
    )
    assert _shown(page) == first_seen[:50]
    page.get_by_role("link", name="Older ›").click()
    page.wait_for_url("**before=**")
    expect(page.locator("#changes tbody tr[data-event]").first).to_have_attribute(
        "data-event", str(first_seen[50])
    )
    assert _shown(page) == first_seen[50:100]
    assert "kind=first_seen" in page.url  # the filter is kept across pages
    screenshot(page, "51-change-log-older")
