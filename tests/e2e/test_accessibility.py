"""Every page, for each role whose page differs, checked by axe-core (vendor/axe.min.js) and at a
phone's (390 px) and a desktop's (1280 px) width.

axe must find nothing of impact "serious" or "critical", on the page as loaded and on the
fragments HTMX loads into it. At both widths the page never scrolls sideways as a whole: a wide
table scrolls inside its own panel.

axe is run through `page.evaluate` (the DevTools protocol), not `add_script_tag`: the
Content-Security-Policy forbids inline script, so an injected <script> would be refused, and the
policy stays on while the pages are checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from actions.models import RequiredAction
from leapsync.models import RunStatus, Stream, SyncMode, SyncRun
from leapsync.webhooks.models import WebhookEvent
from meters.models import Meter, Site
from tests.e2e import test_page_gallery as gallery
from tests.e2e.conftest import VIEWPORT
from tests.e2e.helpers import sign_in
from tests.e2e.test_actions_workbench import emailable, inbox_action_ids
from tests.e2e.test_sites_mapping import SITES_CSV
from tests.meters.factories import ParticipationPeriodFactory

pytestmark = pytest.mark.e2e
# The page gallery's data (every page has something to show) and its clock, as fixtures here too.
admin, gallery_data, _clock = (
    gallery.admin,
    gallery.gallery_data,
    gallery._our_clock_at_the_simulators,
)
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
BLOCKING = ("serious", "critical")
WIDTHS = (1280, 390)  # desktop, phone
NEXT_FRAME = "() => new Promise(resolve => requestAnimationFrame(() => resolve()))"
HEIGHT = 844


# Django's own admin stylesheet, which we do not write (no custom admin templates): its
# changelist's "Show all" link, at phone width, is told from the text around it by colour only.
DJANGO_ADMIN_OWN = {"link-in-text-block"}


def axe_problems(page, ignore: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """axe's violations of impact "serious" or "critical": rule, impact, help and targets."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    results = page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(" ")),
            }));
        }"""
    )
    problems = []
    for violation in results:
        if violation["impact"] not in BLOCKING or violation["id"] in ignore:
            continue
        targets = violation["targets"]
        shown = ", ".join(targets[:5]) + (
            f" (+{len(targets) - 5} more)" if len(targets) > 5 else ""
        )
        problems.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {shown}")
    return problems


def sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


# The innermost elements reaching past the right edge, as "tag#id.class" (for the message);
# not those a .table-wrap scrolls (an absolutely positioned one escapes it unless it is inside).
OVERFLOWING = """() => {
    const scrolled = element => element.parentElement
        && element.parentElement.closest(".table-wrap")
        && !["absolute", "fixed"].includes(getComputedStyle(element).position);
    const past = [...document.body.querySelectorAll("*")].filter(element =>
        element.getBoundingClientRect().right + window.scrollX > window.innerWidth + 0.5
        && !scrolled(element));
    const innermost = past.filter(element => !past.some(other => other !== element
        && element.contains(other)));
    return innermost.slice(0, 5).map(element => element.tagName.toLowerCase()
        + (element.id ? "#" + element.id : "")
        + [...element.classList].map(name => "." + name).join(""));
}"""


class Checker:
    """Runs axe on a page or fragment and the width check on pages; collects every failure."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def axe(self, page, name: str) -> None:
        ignore = DJANGO_ADMIN_OWN if page.url.split("/", 3)[3].startswith("admin/") else set()
        self.failures += [f"{name}: {problem}" for problem in axe_problems(page, ignore)]

    def page(self, page, name: str) -> None:
        """The page as shown now, at each width: axe, and no sideways scroll."""
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": HEIGHT})
            page.evaluate(NEXT_FRAME)
            self.axe(page, f"{name} at {width} px")
            if (overflow := sideways(page)) > 0:
                culprits = ", ".join(page.evaluate(OVERFLOWING))
                self.failures.append(
                    f"{name}: scrolls sideways by {overflow} px at {width} px — {culprits}"
                )
        page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})

    def visit(self, page, name: str, url: str, status: int = 200) -> None:
        response = page.goto(url)
        assert response.status == status, (name, url, response.status)
        settle(page)
        self.page(page, name)

    def whole_at_desktop(self, page, name: str, selector: str) -> None:
        """Each box `selector` shows all its columns at 1280 px, without scrolling."""
        for index, box in enumerate(page.locator(selector).all()):
            if (hidden := box.evaluate("box => box.scrollWidth - box.clientWidth")) > 0:
                self.failures.append(
                    f"{name}: {hidden} px of {selector} #{index} hidden at 1280 px"
                )

    def report(self) -> str:
        return "axe (serious, critical) and widths:\n" + "\n".join(self.failures)


def settle(page) -> None:
    """Wait until figures being computed have filled in and HTMX has nothing in flight."""
    page.wait_for_load_state("load")
    page.locator("p.notice[hx-trigger^='every']").first.wait_for(state="detached")
    page.wait_for_function("!document.querySelector('.htmx-request')")


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Callable]:
    """Another signed-in person's page, each in a fresh context (cookies of its own)."""
    contexts = []

    def make(username: str | None):
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        if username:
            sign_in(page, username)
        return page

    yield make
    for context in contexts:
        context.close()


def admin_pages() -> list[tuple[str, str]]:
    """Every page an admin can open, with realistic data behind each."""
    meter = Meter.objects.exclude(reference_changes=None).order_by("meter_id").first()
    action = RequiredAction.objects.order_by("pk").first()
    return [
        ("dashboard", reverse("dashboard")),
        ("meters", reverse("meters:meter_list")),
        ("meters-filtered", reverse("meters:meter_list") + "?region=PJM&region=ERCOT"),
        ("meter", reverse("meters:meter_detail", args=[meter.meter_id])),
        ("sites", reverse("meters:site_list")),
        ("site", reverse("meters:site_detail", args=[Site.objects.order_by("pk").first().pk])),
        ("review-queue", reverse("meters:mapping_queue")),
        ("review-queue-mapped", reverse("meters:mapping_queue") + "?show=mapped"),
        ("bulk-accept-preview", reverse("meters:mapping_bulk_preview") + "?threshold=40"),
        ("shared-references", reverse("meters:shared_reference_list")),
        ("reference-pushes", reverse("meters:reference_change_list")),
        ("site-import", reverse("meters:site_import")),
        ("reference-import", reverse("meters:reference_import")),
        ("actions-inbox", reverse("actions:action_list")),
        ("actions-leap", reverse("actions:action_list") + "?side=leap"),
        ("action", reverse("actions:action_detail", args=[action.pk])),
        ("action-notify", reverse("actions:action_notify", args=[action.pk])),
        ("deadlines", reverse("enrollments:deadline_list")),
        ("calendar", reverse("enrollments:deadline_calendar")),
        ("market-groups", reverse("enrollments:market_group_list")),
        ("participation", reverse("enrollments:transition_list") + "?days=120"),
        ("digest-subscription", reverse("enrollments:digest_subscription")),
        ("digest-preview", reverse("enrollments:digest_preview")),
        ("sync", reverse("sync_run_list")),
        ("sync-run", reverse("sync_run_detail", args=[SyncRun.objects.order_by("pk").first().pk])),
        ("webhooks", reverse("webhooks:webhook_event_list")),
        (
            "webhook",
            reverse(
                "webhooks:webhook_event_detail", args=[WebhookEvent.objects.order_by("pk")[0].pk]
            ),
        ),
        ("changes", reverse("meters:change_log")),
        ("changes-filtered", reverse("meters:change_log") + "?kind=first_seen&kind=site_mapped"),
        ("trends", reverse("trends")),
        ("profile", reverse("preferences:profile")),
        ("password-change", reverse("password_change")),
        ("django-admin", reverse("admin:index")),
        ("django-admin-meters", reverse("admin:meters_meter_changelist")),
    ]


# What ops staff and managers see differently: write controls, the Import CSV tab, the forms.
ROLE_PAGES = (
    "dashboard",
    "meters",
    "meter",
    "sites",
    "review-queue",
    "actions-inbox",
    "action",
    "deadlines",
    "sync",
    "changes",
    "profile",
)


@pytest.fixture
def production_sized_runs(gallery_data) -> None:
    """Runs as at 100,000 meters: six-digit counters, a failure, a run started from the page."""
    counts = {"pages": 200, "meters_seen": 100_000, "created": 1_500, "updated": 98_000}
    counts |= {"unchanged": 500, "quarantined": 12, "missing": 250, "events": 250_000}
    counts["warnings_count"] = 1_234
    runs = [
        SyncRun(stream=stream, mode=SyncMode.FULL, status=RunStatus.SUCCEEDED, trigger="schedule")
        for stream in (Stream.DETAILS, Stream.ENROLLMENTS)
    ]
    runs.append(
        SyncRun(
            stream=Stream.ENROLLMENTS,
            mode=SyncMode.STALE,
            status=RunStatus.FAILED,
            trigger="ui:0123456789abcdef",
            error="LeapUnavailableError: 503 Service Unavailable after 5 attempts",
        )
    )
    for run in runs:
        run.save()
    SyncRun.objects.filter(pk__in=[run.pk for run in runs]).update(
        finished_at=F("started_at") + timedelta(minutes=42), **counts
    )
    SyncRun.objects.create(
        stream=Stream.DETAILS, mode=SyncMode.INCREMENTAL, status=RunStatus.SKIPPED
    )


@pytest.fixture
def overridden_period(gallery_data) -> Meter:
    """A meter whose PARTICIPATE period an IDLE one overlaps (its bar is drawn as overridden)."""
    meter = Meter.objects.order_by("meter_id").last()
    now = timezone.now()
    ParticipationPeriodFactory(meter=meter, start_time=now - timedelta(days=10))
    ParticipationPeriodFactory(
        meter=meter,
        participation_preference="IDLE",
        start_time=now + timedelta(days=5),
        end_time=now + timedelta(days=20),
        is_open_ended=False,
    )
    return meter


def test_every_page_passes_axe_and_fits_a_phone_and_a_desktop(
    new_page, gallery_data, users, production_sized_runs, overridden_period
):
    check = Checker()
    anonymous = new_page(None)
    check.visit(anonymous, "sign-in", reverse("login"))

    page = new_page(gallery_data["admin"])
    pages = admin_pages()
    for name, url in pages:
        check.visit(page, f"admin {name}", url)
    overridden = reverse("meters:meter_detail", args=[overridden_period.meter_id])
    check.visit(page, "admin meter with an overridden period", overridden)
    assert page.locator(".timeline-bar.overridden").count() >= 1
    page.goto(dict(pages)["sync"])
    check.whole_at_desktop(page, "admin sync", ".table-wrap")
    check_fragments(page, check)

    by_name = dict(pages)
    for role in ("ops", "manager"):
        page = new_page(users[role])
        for name in ROLE_PAGES:
            check.visit(page, f"{role} {name}", by_name[name])
    check.visit(page, "manager digest-subscription", by_name["digest-subscription"])
    check.visit(new_page(users["ops"]), "forbidden", by_name["digest-subscription"], status=403)

    assert not check.failures, check.report()


def check_fragments(page, check: Checker) -> None:
    """Fragments HTMX swaps into a page, and pages a form posts to, each checked once in."""
    page.goto(reverse("dashboard"))
    page.locator(".usermenu summary").click()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        menu = page.locator(".usermenu .menu").bounding_box()
        if menu["x"] < 0 or menu["x"] + menu["width"] > width:
            check.failures.append(f"user menu: off the screen at {width} px ({menu})")
    page.get_by_role("link", name="Django admin").wait_for()
    check.page(page, "admin dashboard, user menu open")

    page.goto(reverse("meters:meter_list"))
    page.evaluate("window.__samePage = true")  # gone if anything reloaded the page
    regions = page.get_by_role("group", name="Region")
    regions.locator("summary").click()
    regions.get_by_label("PJM", exact=True).check()
    regions.get_by_label("ERCOT", exact=True).check()
    page.wait_for_url(re.compile(r"region=ERCOT&region=PJM"))
    settle(page)
    assert regions.locator("summary").inner_text() == "ERCOT, PJM"
    assert page.evaluate("window.__samePage") is True
    check.page(page, "admin meters, two regions ticked")

    meter = Meter.objects.exclude(reference_changes=None).order_by("meter_id").first()
    page.goto(reverse("meters:meter_detail", args=[meter.meter_id]))
    page.locator(f"#reference-{meter.meter_id}").get_by_role("link", name="Edit").click()
    page.get_by_role("button", name="Save & send to Leap").wait_for()
    check.page(page, "admin meter, partner_reference form")

    page.goto(reverse("actions:action_list"))
    action = emailable(inbox_action_ids(page))[0]
    page.goto(reverse("actions:action_detail", args=[action.pk]))
    page.get_by_role("link", name="Preview customer email").click()
    page.get_by_role("button", name=f"Send to {action.meter.end_customer_email}").wait_for()
    check.page(page, "admin action, email preview")

    page.goto(reverse("meters:mapping_queue"))
    row = page.locator("#review-table tbody tr").filter(has=page.get_by_text("Pick another site…"))
    row = row.first
    row.get_by_text("Pick another site…").click()
    row.get_by_label("Search sites").fill("SITE-0")
    row.locator(".site-picker-results li").first.wait_for()
    check.page(page, "admin review queue, site picker results")

    page.get_by_label("Bulk accept this filter’s candidates scoring at least").fill("40")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_url("**/sites/review/bulk/**")
    settle(page)
    check.page(page, "admin review queue, bulk accept preview")

    page.goto(reverse("meters:site_import"))
    csv_file = SITES_CSV.format(reference="SITE-000").encode()
    page.get_by_label("CSV file").set_input_files(
        {"name": "sites.csv", "mimeType": "text/csv", "buffer": csv_file}
    )
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("heading", name="Preview of sites.csv").wait_for()
    check.page(page, "admin site import preview")

    meter = Meter.objects.order_by("meter_id").first()
    references = f"meter_id,partner_reference\r\n{meter.meter_id},A11Y-1\r\nnot-an-id,x\r\n"
    page.goto(reverse("meters:reference_import"))
    page.get_by_label("CSV file").set_input_files(
        {"name": "refs.csv", "mimeType": "text/csv", "buffer": references.encode()}
    )
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("heading", name="Preview of refs.csv").wait_for()
    check.page(page, "admin partner_reference import preview")

    page.goto(reverse("actions:action_list"))
    for pk in inbox_action_ids(page)[:3]:
        page.get_by_label(f"Select action {pk}", exact=True).check()
    page.get_by_role("button", name="Notify customers of selected…").click()
    page.get_by_role("heading", level=1).filter(has_text="Preview:").wait_for()
    check.page(page, "admin bulk notify preview")

    page.goto(reverse("actions:action_list"))
    for pk in inbox_action_ids(page)[:3]:
        page.get_by_label(f"Select action {pk}", exact=True).check()
    page.get_by_role("button", name="Set status…").click()
    page.get_by_role("heading", level=1).filter(has_text="Preview:").wait_for()
    check.page(page, "admin bulk status preview")

    page.goto(reverse("meters:meter_list"))
    for summary in ("Views ▾", "Save this view ▾", "Columns ▾"):
        page.locator(".view-bar summary", has_text=summary).click()
    check.page(page, "admin meters list, views bar open")

    page.goto(reverse("enrollments:market_group_list"))
    period = page.get_by_label("Delivery period", exact=True)
    period.select_option(index=period.locator("option").count() - 1)
    page.wait_for_url(re.compile(r"[?&]period="))
    settle(page)
    check.page(page, "admin market groups, another period")
