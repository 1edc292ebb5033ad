"""Saved views and columns in a real browser: save what is on screen, open the list with it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from leapsync.preferences.models import SavedView
from tests.e2e.helpers import screenshot, sign_in

pytestmark = pytest.mark.e2e


def _rows(page) -> list[str]:
    page.wait_for_selector("#meters tbody tr")
    return page.locator("#meters tbody tr td:first-child").all_inner_texts()


def test_save_the_filters_on_screen_as_my_default_then_hide_a_column(page, users, synced):
    from playwright.sync_api import expect

    sign_in(page, users["ops"])
    page.goto(reverse("meters:meter_list"))
    page.locator("fieldset", has_text="Region").locator("summary").click()
    page.get_by_label("CAISO", exact=True).check()
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query).get("region") == ["CAISO"])
    filtered = _rows(page)
    assert filtered

    page.get_by_text("Save this view ▾").click()
    page.get_by_label("Name").fill("West coast")
    page.get_by_label("Open the list with this view").check()
    page.get_by_role("button", name="Save view").click()
    page.get_by_text("View “West coast” saved.").wait_for()
    view = SavedView.objects.get(name="West coast")
    assert "region=CAISO" in view.query

    # The bare list now opens with it, exactly as it was.
    page.goto(reverse("meters:meter_list"))
    assert parse_qs(urlsplit(page.url).query).get("region") == ["CAISO"]
    assert _rows(page) == filtered
    expect(page.locator(".view-bar summary").first).to_contain_text("West coast")
    screenshot(page, "60-saved-view-default")

    # Hide a column: it stays hidden for this person on every visit.
    page.get_by_text("Columns ▾").click()
    page.locator(".view-bar").get_by_label("Leap updated").uncheck()
    page.get_by_role("button", name="Save columns").click()
    page.get_by_text("Columns saved.").wait_for()
    assert "Leap updated" not in page.locator("#meters thead").inner_text()
    page.goto(reverse("meters:meter_list") + "?reset=1")
    assert "Leap updated" not in page.locator("#meters thead").inner_text()
    assert len(_rows(page)) >= len(filtered)
    screenshot(page, "61-columns-chosen")
