"""partner_reference from a CSV file in a real browser: upload, the preview's counts, confirm,
and the progress panel polling until every push has settled.

Screenshots go to var/e2e-artifacts/ (prefix 60-).
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse
from django_q.conf import Conf
from django_q.tasks import async_task

from leapsync.leap.client import LeapClient
from meters import services
from meters.models import Meter, PartnerReferenceChange, PushStatus
from tests.e2e.helpers import screenshot, sign_in
from tests.e2e.test_sites_mapping import client_factory

pytestmark = pytest.mark.e2e


def test_reference_csv_preview_confirm_and_progress(
    page, users, synced, simulator, monkeypatch, settings
):
    queued: list[tuple] = []
    monkeypatch.setattr(services, "async_task", lambda *args: queued.append(args))
    first, second, same = Meter.objects.exclude(partner_reference="").order_by("meter_id")[:3]
    body = (
        "meter_id,partner_reference,comment\r\n"
        f"{first.meter_id},CSV-E2E-1,first\r\n"
        f"{second.meter_id},CSV-E2E-2,\r\n"
        f"{same.meter_id},{same.partner_reference},already so\r\n"
        f"{uuid.uuid4()},CSV-E2E-3,nobody\r\n"
        "not-an-id,bad/ref,\r\n"
    ).encode()
    sign_in(page, users["ops"])
    page.goto(reverse("meters:reference_change_list"))
    page.get_by_role("link", name="References from CSV").click()
    page.get_by_label("CSV file").set_input_files(
        {"name": "refs.csv", "mimeType": "text/csv", "buffer": body}
    )
    page.get_by_role("button", name="Upload and preview").click()

    preview = page.locator("section", has=page.get_by_role("heading", name="Preview of refs.csv"))
    preview.wait_for()
    figures = dict(
        zip(
            preview.locator(".figure .label").all_inner_texts(),
            preview.locator(".figure .value").all_inner_texts(),
            strict=True,
        )
    )
    assert figures["rows read"] == "5"
    assert figures["changed"] == "2" and figures["unchanged"] == "1"
    assert figures["unknown meter"] == "2" and figures["new (the meter has none)"] == "0"
    assert "Columns ignored: comment" in preview.inner_text()
    assert not PartnerReferenceChange.objects.exists()
    screenshot(page, "60-reference-import-preview")

    preview.get_by_role("button", name="Send 2 changes to Leap").click()
    page.wait_for_url(re.compile(r"/sites/references/import/\d+/$"))
    panel = page.locator("#reference-import-progress")
    assert panel.get_attribute("data-settled") == "false"
    assert "2 of 2 still on their way" in panel.inner_text()
    screenshot(page, "61-reference-import-waiting")

    # The queued pushes, run the way django-q2 runs them, inline (sync mode); the panel,
    # polling, follows them to Leap's confirmation and stops.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)  # django-q2 reads its settings once, at import
    monkeypatch.setattr(LeapClient, "from_settings", client_factory(simulator))
    assert [name for name, *_ in queued] == [services.PUSH_TASK] * 2
    for args in queued:
        async_task(*args)
    panel.locator(".progress-state", has_text="All 2 settled.").wait_for()
    assert panel.get_attribute("data-settled") == "true"
    counts = dict(
        zip(
            panel.locator(".figure .label").all_inner_texts(),
            panel.locator(".figure .value").all_inner_texts(),
            strict=True,
        )
    )
    assert counts[PushStatus.CONFIRMED.label] == "2"
    assert simulator.find(str(first.meter_id)).partner_reference == "CSV-E2E-1"
    assert simulator.find(str(second.meter_id)).partner_reference == "CSV-E2E-2"
    screenshot(page, "62-reference-import-settled")

    panel.get_by_role("link", name="See these changes").click()
    rows = page.locator("#reference-change-table tbody tr")
    assert rows.count() == 2
    assert "CSV-E2E-1" in page.locator("#reference-change-table").inner_text()
    screenshot(page, "63-reference-import-changes")
