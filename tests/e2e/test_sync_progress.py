"""The Sync page in a real browser: a run started there shows its progress while it goes."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_q.models import Task

from leapsync.models import RunStatus, Stream, SyncRun
from leapsync.sync import sync_full
from tests.e2e.helpers import PASSWORD, screenshot, sign_in

pytestmark = pytest.mark.e2e


def test_a_run_started_on_the_page_shows_live_progress_then_its_outcome(
    page, users, synced, leap, settings, monkeypatch
):
    """Queued, then pages done of the estimate with a progress bar while the run goes (the
    page polls; nobody reloads it), then the outcome, and the polling stops."""
    from playwright.sync_api import expect

    settings.SYNC_PARALLEL_STREAMS = False  # one stream after the other, in this process
    queued: list[tuple[str, tuple, dict]] = []
    monkeypatch.setattr(
        "leapsync.views.async_task", lambda task, *args, **kw: queued.append((task, args, kw))
    )
    get_user_model().objects.create_superuser("ada", "ada@example.com", PASSWORD)
    estimate = SyncRun.objects.get(stream=Stream.DETAILS, status=RunStatus.SUCCEEDED).pages
    assert estimate == 3  # 120 meters, 50 a page: the next full run expects as many

    sign_in(page, "ada")
    page.goto("/sync/")
    page.get_by_role("button", name="Run full now").click()
    status = page.locator("#sync-runs [role=status]")
    expect(status).to_contain_text("Queued: waiting for a worker")
    ((task, args, options),) = queued
    assert task == "leapsync.tasks.run_full" and not args

    seen: dict[str, str | None] = {}

    def watch(run: SyncRun, stats) -> None:
        """After each page the run has stored: look at the page the user is watching."""
        if run.stream != Stream.DETAILS or stats.pages != 2:
            return
        panel = page.locator(".run-progress")
        # The page checks every 5 s while queued, every 2 s while a run goes.
        expect(panel).to_contain_text(f"2 of about {estimate} pages", timeout=15_000)
        expect(panel).to_contain_text("meters/s")
        expect(panel).to_contain_text("ETA")
        expect(status).to_contain_text("The sync you started is running")
        seen["bar"] = panel.locator("progress").get_attribute("value")
        screenshot(page, "09-sync-progress")

    # The worker: what the task cluster does with the queued task.
    started = timezone.now()
    runs = sync_full(client=leap, trigger=options["trigger"], progress=watch)
    assert [run.status for run in runs] == [RunStatus.SUCCEEDED] * 2
    Task.objects.create(
        id=uuid.uuid4().hex,
        name=options["task_name"],
        func=task,
        started=started,
        stopped=timezone.now(),
        success=True,
        result="ok",
    )
    assert seen == {"bar": str(2 * 100 // estimate)}

    expect(status).to_contain_text("The sync you started has finished", timeout=10_000)
    expect(page.locator(".run-progress")).to_have_count(0)
    expect(status).not_to_contain_text("Queued")
    for run in runs:
        expect(status.get_by_role("link", name=f"#{run.pk}")).to_be_visible()
    assert page.locator("#sync-runs").get_attribute("hx-trigger") is None  # polling stopped
    screenshot(page, "10-sync-finished")
