"""Every page of sites and mapping, the actions workbench and enrollment tracking, at desktop
(1280 px) and tablet (820 px) width, with realistic data: saved under var/e2e-artifacts/ (prefix 50-)
for a person to look at. Each page must render and never scroll sideways as a whole (wide
tables scroll inside their own box).
"""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from enrollments.models import DigestCadence, DigestSubscription
from leapsync.simulator.timeutil import DEFAULT_START
from leapsync.sync import sync_incremental
from meters import services
from meters.models import MappingSource, Meter, PartnerReferenceChange, PushStatus, Site
from meters.services import map_meter, map_unmapped_by_reference, set_partner_reference
from tests.e2e.helpers import PASSWORD, screenshot, sign_in
from tests.e2e.test_actions_workbench import HOSTILE, emailable, inbox_action_ids
from tests.e2e.test_sites_mapping import SITES_CSV, sites_like_the_meters

pytestmark = pytest.mark.e2e
WIDTHS = [{"width": 1280, "height": 900}, {"width": 820, "height": 1180}]  # desktop, tablet
SECRET = "gallery-webhook-secret"


@pytest.fixture(autouse=True)
def _our_clock_at_the_simulators(settings):
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    with time_machine.travel(DEFAULT_START, tick=True):
        yield


@pytest.fixture
def admin(browser, transactional_db) -> str:
    """A superuser sees every page and every control (bulk accept, all subscriptions)."""
    get_user_model().objects.create_superuser("ada", "ada@example.com", PASSWORD)
    return "ada"


@pytest.fixture
def gallery_data(synced, users, admin, simulator, leap, settings, monkeypatch) -> dict:
    """Sites, mappings, pushes waiting and refused, worked actions, moved market groups,
    webhook deliveries and a digest subscription: each page has something to show."""
    user = get_user_model().objects.get(username=admin)
    sites_like_the_meters(40)
    map_unmapped_by_reference()
    for meter, site in zip(
        Meter.objects.filter(site=None).order_by("meter_id")[:5],
        Site.objects.order_by("external_id")[:5],
        strict=False,
    ):
        map_meter(meter, site, actor=user, source=MappingSource.SUGGESTION)
    monkeypatch.setattr(services, "async_task", lambda *args: None)  # the pushes stay pending
    for index, meter in enumerate(Meter.objects.exclude(site=None).order_by("meter_id")[:3]):
        set_partner_reference(meter, meter.site.external_id, actor=user)
        if index == 0:
            PartnerReferenceChange.objects.filter(meter=meter).update(
                push_status=PushStatus.REFUSED,
                attempts=1,
                error="Leap refused: 422 partner_reference contains characters Leap rejects",
            )
    simulator.mutate(0.4, seed=5)
    sync_incremental(client=leap)
    settings.LEAP_WEBHOOK_SECRET = SECRET
    webhook = Client()
    for meter_id in Meter.objects.order_by("meter_id").values_list("meter_id", flat=True)[:3]:
        body = {
            "webhook_event_id": f"evt-{meter_id}",
            "payload": {
                "webhook_event_type": "meter.enrollment.global-status.updated",
                "meter_id": str(meter_id),
                "transmission_region": "CAISO",
                "global_enrollment_status": "ACTIVE",
            },
        }
        response = webhook.post(
            reverse("webhooks:webhook_receive"),
            data=body,
            content_type="application/json",
            headers={settings.LEAP_WEBHOOK_HEADER: SECRET},
        )
        assert response.status_code < 300, response.content
    DigestSubscription.objects.create(user=user, cadence=DigestCadence.WEEKLY, window_days=30)
    return {"admin": admin}


def no_sideways_scroll(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_every_new_page_at_desktop_and_tablet_width(page, gallery_data):
    sign_in(page, gallery_data["admin"])
    overflowing = []

    def shot(name: str) -> None:
        width = page.viewport_size["width"]
        screenshot(page, f"50-{width}-{name}")
        if no_sideways_scroll(page) > 0:
            overflowing.append(f"{width}:{name}")

    for viewport in WIDTHS:
        page.set_viewport_size(viewport)
        for name, url in (
            ("sites", reverse("meters:site_list")),
            ("site", reverse("meters:site_detail", args=[Site.objects.order_by("pk").first().pk])),
            ("review-queue", reverse("meters:mapping_queue")),
            ("review-queue-mapped", reverse("meters:mapping_queue") + "?show=mapped"),
            ("shared-references", reverse("meters:shared_reference_list")),
            ("reference-pushes", reverse("meters:reference_change_list")),
            ("actions-inbox", reverse("actions:action_list")),
            ("actions-leap", reverse("actions:action_list") + "?side=leap"),
            ("deadlines", reverse("enrollments:deadline_list")),
            ("calendar", reverse("enrollments:deadline_calendar")),
            ("roster", reverse("enrollments:market_group_list")),
            ("participation", reverse("enrollments:transition_list") + "?days=120"),
            ("digest-subscription", reverse("enrollments:digest_subscription")),
            ("digest-preview", reverse("enrollments:digest_preview")),
            ("webhooks", reverse("webhooks:webhook_event_list")),
        ):
            response = page.goto(url)
            assert response.status == 200, (name, url)
            shot(name)

        page.goto(reverse("meters:site_import"))
        page.get_by_label("CSV file").set_input_files(
            {
                "name": "sites.csv",
                "mimeType": "text/csv",
                "buffer": SITES_CSV.format(reference="SITE-000").encode(),
            }
        )
        page.get_by_role("button", name="Upload and preview").click()
        page.get_by_role("heading", name="Preview of sites.csv").wait_for()
        shot("site-import-preview")

        page.goto(reverse("actions:action_list"))
        chosen = emailable(inbox_action_ids(page))[:3]
        for action in chosen:
            page.get_by_label(f"Select action {action.pk}", exact=True).check()
        page.get_by_role("button", name="Notify customers of selected…").click()
        page.get_by_role("heading", level=1).filter(has_text="Preview:").wait_for()
        shot("bulk-notify-preview")

        action = chosen[0]
        type(action).objects.filter(pk=action.pk).update(action_description=HOSTILE)
        page.goto(reverse("actions:action_detail", args=[action.pk]))
        shot("action")
        page.get_by_role("link", name="Preview customer email").click()
        page.get_by_role("button", name=f"Send to {action.meter.end_customer_email}").wait_for()
        shot("action-notify-preview")

        meter = Meter.objects.exclude(reference_changes=None).order_by("meter_id").first()
        page.goto(reverse("meters:meter_detail", args=[meter.meter_id]))
        shot("meter-with-pending-push")

    assert not overflowing, overflowing
