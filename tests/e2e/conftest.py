"""Browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server.

The tests skip, with the reason, when Chromium or Playwright is missing. Each test gets a fresh
browser context (no cookies) at 1280 x 800, the width the staff UI is checked at.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from leapsync.leap.client import LeapClient
from leapsync.simulator import LeapSimulator
from leapsync.sync import sync_full, sync_refresh
from tests.e2e.helpers import PASSWORD
from tests.helpers import simulator_client

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
API_KEY = "e2e-key"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One Chromium per test module.

    Playwright's sync API keeps an asyncio loop running on this thread, which Django's ORM
    takes for an async context; the fixtures and tests here use the ORM only between browser
    steps, never concurrently, so the guard is lifted for exactly as long as the browser lives.
    """
    if not CHROMIUM.exists():
        _unavailable(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("browser tests need playwright (pip install -r requirements/test.txt)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


def _unavailable(reason: str) -> None:
    """Skip; but CI (E2E_REQUIRED=1) fails, so a broken install never passes as green."""
    if os.environ.get("E2E_REQUIRED") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def page(browser, live_server) -> Iterator:
    context = browser.new_context(
        base_url=live_server.url, viewport=VIEWPORT, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def simulator() -> LeapSimulator:
    return LeapSimulator(meters=120, seed=11, api_key=API_KEY)


@pytest.fixture
def leap(simulator: LeapSimulator) -> Iterator[LeapClient]:
    client = simulator_client(simulator, api_key=API_KEY)
    yield client
    client.close()


@pytest.fixture
def synced(browser, transactional_db, leap, monkeypatch) -> None:
    """The database filled through a full sync; "Sync this meter" talks to the same simulator.

    The action catalogue is seeded first, as on a deployment: the data migration's rows do not
    survive a transactional flush, and the sync copies a type's entry for each new code.
    """
    importlib.import_module("actions.migrations.0003_seed_catalogue").seed(apps, None)
    sync_full(client=leap)

    def worker(name: str, meter_ids: list[str], trigger: str) -> None:
        """What the task cluster does with a queued "Sync this meter"."""
        sync_refresh(meter_ids, client=leap, trigger=trigger)

    monkeypatch.setattr("meters.views.async_task", worker)


@pytest.fixture
def users(browser, transactional_db) -> dict[str, str]:
    """Usernames by role, each with PASSWORD, in the groups deploys create."""
    call_command("setup_leapsync", verbosity=0)
    User = get_user_model()
    for username, group in (("olivia", "Operations"), ("max", "Managers")):
        user = User.objects.create_user(username, password=PASSWORD)
        user.groups.add(Group.objects.get(name=group))
    return {"ops": "olivia", "manager": "max"}
