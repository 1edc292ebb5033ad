"""Finding a meter in a real browser: accents and case ignored, short ids, the list's total."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from meters.models import Meter
from tests.e2e.helpers import screenshot, sign_in

pytestmark = pytest.mark.e2e


def _rename(meter: Meter, **fields: str) -> None:
    for name, value in fields.items():
        setattr(meter, name, value)
    meter.save()


def _search_list(page, text: str, column: int = 3) -> list[str]:
    """Type into the meters list's search box; one column of the table it swaps in."""
    page.fill("#id_q", text)
    # HTMX pushes the URL in the same task that swaps the table in.
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query).get("q") == [text])
    return page.locator(f"#meters tbody tr td:nth-child({column})").all_inner_texts()


def test_search_finds_names_with_or_without_accents(page, users, synced):
    first, second = Meter.objects.exclude(city="San José").order_by("meter_id")[:2]
    _rename(first, end_customer_name="Nguyễn Văn An")
    _rename(second, end_customer_name="Francois Lukasz")
    in_san_jose = Meter.objects.filter(city="San José").count()
    assert in_san_jose, "the simulator's meters should include some in San José"
    sign_in(page, users["ops"])
    page.goto("/meters/")
    assert page.locator("#meter-table .total").inner_text() == "120 meters"
    assert _search_list(page, "nguyen van") == ["Nguyễn Văn An"]
    screenshot(page, "find-01-without-accents")
    addresses = _search_list(page, "SAN JOSE", column=4)
    assert len(addresses) == min(in_san_jose, 50)
    assert all("San José" in address for address in addresses)
    assert _search_list(page, "François Łukasz") == ["Francois Lukasz"]
    assert page.locator("#meter-table .total").inner_text() == "1 meter"
    screenshot(page, "find-02-with-accents")


def test_short_id_goes_straight_to_the_meter(page, users, synced):
    meter = Meter.objects.order_by("meter_id")[60]
    short = str(meter.meter_id)[:8]
    url = reverse("meters:meter_detail", args=[meter.meter_id])
    sign_in(page, users["ops"])
    page.goto("/")
    page.fill("#global-search", short)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"**{url}")
    screenshot(page, "find-03-short-id")
    page.goto("/meters/")
    page.fill("#id_q", short.upper())  # the list's live search: HX-Redirect
    page.wait_for_url(f"**{url}")


def test_page_past_the_end_shows_the_last_page_and_says_so(page, users, synced):
    sign_in(page, users["ops"])
    page.goto("/meters/?page=9999")
    note = page.get_by_role("status").filter(has_text="past the end")
    assert note.inner_text() == "Page 9,999 is past the end: showing the last page, 3."
    assert page.locator(".pager [aria-current=page]").text_content() == "Page 3"
    page.get_by_role("link", name="Page 1").click()
    page.wait_for_url(re.compile(r"[?&]page=1"))
    assert page.locator("#meters tbody tr").count() == 50
    screenshot(page, "find-04-pages")
