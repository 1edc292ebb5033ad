"""Enrollment tracking in a real browser: deadline figures that link to exactly the meters they
count, the 60-day calendar, the market group roster following Leap after a sync, participation
changes, and the managers' digest (subscribe, then preview).

Our clock is set to the simulator's, so "current period" and "upcoming" mean the same on both
sides. Screenshots of every page visited go to var/e2e-artifacts/ (prefix 40-).
"""

from __future__ import annotations

import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from enrollments.deadlines import program_deadlines
from enrollments.models import DigestSubscription
from leapsync.simulator.timeutil import DEFAULT_START
from leapsync.sync import sync_incremental
from meters.models import EventKind, MeterEvent
from tests.e2e.helpers import screenshot, sign_in

pytestmark = pytest.mark.e2e
PER_PAGE = 50  # the meters list's page size


@pytest.fixture(autouse=True)
def _our_clock_at_the_simulators(settings):
    # The session cookie must not carry an expiry date computed from the travelled clock.
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    with time_machine.travel(DEFAULT_START, tick=True):
        yield


def meter_rows(page) -> int:
    page.wait_for_selector("#meters tbody tr")
    return page.locator("#meters tbody tr:not(:has(td[colspan]))").count()


def test_deadline_figures_link_to_the_meters_they_count(page, users, synced):
    sign_in(page, users["ops"])
    page.goto(reverse("enrollments:deadline_list"))
    assert "America/Los_Angeles" in page.locator(".page-head").inner_text()  # the zone named
    screenshot(page, "40-deadlines")
    links = page.locator("table.deadlines tbody td.num a")
    figures = [
        (int(text), href)
        for text, href in zip(
            links.all_inner_texts(),
            links.evaluate_all("links => links.map(a => a.getAttribute('href'))"),
            strict=True,
        )
    ]
    checked = [(n, href) for n, href in figures if 0 < n < PER_PAGE]
    assert len(checked) >= 3, figures
    for value, href in checked[:6]:
        page.goto(reverse("enrollments:deadline_list"))
        page.locator(f"table.deadlines a[href='{href}']").first.click()
        page.wait_for_url("**/meters/?*")
        assert meter_rows(page) == value, href

    page.goto(reverse("enrollments:deadline_calendar"))
    assert page.get_by_role("heading", level=1).inner_text().startswith("Next 60 days")
    assert page.locator(".agenda-day").count() > 0
    screenshot(page, "41-deadline-calendar")


def _groups(simulator) -> dict:
    """{(program, period): {meter_id: market_group_id}} from Leap's own answer."""
    groups: dict = {}
    for meter_id, payloads in simulator.truth().items():
        for p in payloads["enrollment"].get("program_enrollment") or []:
            if p.get("market_group_id"):
                key = (p["program_identifier"], p["delivery_period"])
                groups.setdefault(key, {})[meter_id] = p["market_group_id"]
    return groups


def roster_counts(page) -> dict[str, int]:
    """{group id: meters} as the roster's group table shows them."""
    rows = page.locator("#groups-heading ~ .table-wrap tbody tr").all()
    return {
        row.locator("td").nth(1).inner_text(): int(row.locator("td").nth(2).inner_text())
        for row in rows
    }


def test_roster_follows_leap_after_a_sync_and_the_digest_says_so(
    page, users, synced, simulator, leap, live_server, settings
):
    settings.SITE_URL = live_server.url  # as `make run PORT=...` sets it: where it is served
    before = _groups(simulator)
    report = simulator.mutate(0.4, seed=5)
    assert report["changes"].get("market_group")
    after = _groups(simulator)
    current = {
        (p.program, p.name)
        for item in program_deadlines(timezone.now())
        for p in filter(None, (item.current, item.next))
    }
    moves = {
        key: {
            m for m in set(before.get(key, {})) & set(after[key]) if before[key][m] != after[key][m]
        }
        for key in after
        if key in current
    }
    program, period = max(moves, key=lambda key: len(moves[key]))
    moved = moves[(program, period)]
    assert moved

    sign_in(page, users["ops"])
    roster_url = reverse("enrollments:market_group_list") + f"?program={program}&period={period}"
    page.goto(roster_url)
    counts = roster_counts(page)
    expected = {}
    for group in before[(program, period)].values():
        expected[group] = expected.get(group, 0) + 1
    assert counts == expected
    screenshot(page, "42-roster-before")

    sync_incremental(client=leap)
    page.goto(roster_url)
    expected = {}
    for group in after[(program, period)].values():
        expected[group] = expected.get(group, 0) + 1
    assert roster_counts(page) == expected
    since_sync = page.locator("#roster-heading").locator("xpath=ancestor::section[1]")
    changes = since_sync.locator("h3", has_text="Since the previous sync").locator("xpath=..")
    shown = changes.inner_text()
    assert all(meter_id in shown or meter_id[:8] in shown for meter_id in moved), shown
    screenshot(page, "43-roster-after-sync")

    page.goto(reverse("enrollments:transition_list") + "?days=120")
    assert page.get_by_role("heading", level=1).inner_text() == "Upcoming participation changes"
    screenshot(page, "44-participation-changes")

    # The manager subscribes, then previews today's digest: the moves are in it.
    get_user_model().objects.filter(username=users["manager"]).update(email="max@example.com")
    page.context.clear_cookies()
    sign_in(page, users["manager"])
    page.goto(reverse("enrollments:digest_subscription"))
    page.get_by_label("Cadence").select_option("daily")
    page.get_by_label("Look-ahead window (days)").fill("40")
    page.get_by_role("button", name="Save").click()
    page.get_by_text(f"Digest subscription of {users['manager']} saved.").wait_for()
    subscription = DigestSubscription.objects.get(user__username=users["manager"])
    assert (subscription.cadence, subscription.window_days) == ("daily", 40)
    screenshot(page, "45-digest-subscription")

    page.get_by_role("link", name="Preview today's digest").click()
    page.wait_for_url(f"**{reverse('enrollments:digest_preview')}")
    text = page.locator("pre.email-text").inner_text()
    assert "== Market group changes (current and upcoming periods) ==" in text
    total = MeterEvent.objects.filter(kind=EventKind.MARKET_GROUP).count()
    listed = re.findall(r"^\* [0-9a-f-]{36} ", text, flags=re.MULTILINE)
    assert total and listed
    assert any(meter_id in text for meter_id in moved)
    html_part = page.frame_locator("iframe.email-preview").locator("body")
    assert "Market group changes" in html_part.inner_text()  # the HTML part, rendered
    # with the email's inline styles, which only the frame's own response allows
    background = html_part.evaluate("body => getComputedStyle(body).backgroundColor")
    assert background == "rgb(244, 245, 247)"
    screenshot(page, "46-digest-preview")

    # Its links lead back into the app, where it is really served, to the meter they name.
    hrefs = [a.get_attribute("href") for a in html_part.locator("a[href]").all()]
    assert hrefs and all(href.startswith(live_server.url + "/") for href in hrefs), hrefs
    meter_href = next(h for h in hrefs if re.search(r"/meters/[0-9a-f-]{36}/$", h))
    page.goto(meter_href)
    meter_id = meter_href.rstrip("/").rsplit("/", 1)[1]
    assert meter_id in page.get_by_role("heading", level=1).inner_text()
    list_href = next(h for h in hrefs if "/meters/?" in h)
    page.goto(list_href)
    assert meter_rows(page) > 0, list_href
