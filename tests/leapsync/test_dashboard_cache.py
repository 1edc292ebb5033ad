"""The dashboard's cached figures: reused while nothing changes, recomputed after a change.

In production the view after a change shows the previous figures while a thread computes the
new ones (the last test); elsewhere the tests compute them in the view (tests/conftest.py).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from leapsync import dashboard
from leapsync.dashboard import CACHE_SECONDS
from leapsync.models import RunStatus, SyncRun
from meters.services import map_meter
from tests.helpers import count_get_queries
from tests.meters.factories import MeterEventFactory, MeterFactory, SiteFactory

pytestmark = pytest.mark.django_db


def active_count(client) -> int:
    statuses = client.get(reverse("dashboard")).context["statuses"]
    return next(f.value for f in statuses if f.status == "ACTIVE")


def unmapped_count(client) -> int:
    return client.get(reverse("dashboard")).context["readiness"][0].value


def test_dashboard_figures_are_reused_while_nothing_changes(ops_client):
    MeterFactory(status="ACTIVE")
    url = reverse("dashboard")
    computed = count_get_queries(ops_client, url)
    reused = count_get_queries(ops_client, url)
    # A factory row writes no event and no run: nothing tells the cache, so the figure stays.
    MeterFactory(status="ACTIVE")
    assert active_count(ops_client) == 1
    # The whole-inventory aggregates (statuses and deltas, 2 readiness, 4 deadline buckets,
    # next deadlines, market group alerts) are skipped.
    assert computed - reused >= 9


def test_dashboard_shows_the_time_of_its_figures(ops_client):
    response = ops_client.get(reverse("dashboard"))
    computed_at = response.context["computed_at"]
    assert timezone.now() - computed_at < timedelta(seconds=5)
    shown = f"{timezone.localtime(computed_at):%H:%M}</time>"
    assert "Figures as of <time" in response.content.decode()
    assert shown in response.content.decode()


def test_dashboard_figures_follow_a_new_event_at_once(ops_client):
    MeterFactory(status="ACTIVE")
    assert active_count(ops_client) == 1
    MeterEventFactory(meter=MeterFactory(status="ACTIVE"))
    assert active_count(ops_client) == 2


def test_dashboard_figures_follow_a_mapping_by_staff_at_once(ops_client):
    meter = MeterFactory(status="ACTIVE")
    assert unmapped_count(ops_client) == 1
    actor = get_user_model().objects.get(username="olivia")
    map_meter(meter, SiteFactory(), actor=actor, source="manual")
    assert unmapped_count(ops_client) == 0


def test_dashboard_figures_follow_a_finished_sync_run_at_once(ops_client):
    MeterFactory(status="ACTIVE")
    assert active_count(ops_client) == 1
    MeterFactory(status="ACTIVE")
    SyncRun.objects.create(stream="details", mode="incremental", status=RunStatus.SUCCEEDED)
    assert active_count(ops_client) == 2


def test_a_run_starting_does_not_make_the_figures_out_of_date(ops_client):
    MeterFactory(status="ACTIVE")
    assert active_count(ops_client) == 1
    reused = count_get_queries(ops_client, reverse("dashboard"))
    SyncRun.objects.create(stream="details", mode="full")  # running
    MeterFactory(status="ACTIVE")  # (a factory row tells nobody: only a recompute would show it)
    assert count_get_queries(ops_client, reverse("dashboard")) <= reused + 1
    assert active_count(ops_client) == 1


def test_during_a_running_sync_figures_are_recomputed_once_per_period_not_per_page(ops_client):
    details = SyncRun.objects.create(stream="details", mode="full")
    # A later run of the other stream is the latest; the first one still writes pages.
    enrollments = SyncRun.objects.create(stream="enrollments", mode="full")
    assert active_count(ops_client) == 0
    MeterFactory(status="ACTIVE")
    MeterEventFactory()
    SyncRun.objects.filter(pk=details.pk).update(pages=1)
    assert active_count(ops_client) == 0  # pages and events of a run don't recompute them
    with time_machine.travel(timezone.now() + timedelta(seconds=CACHE_SECONDS)):
        assert active_count(ops_client) == 1
        MeterFactory(status="ACTIVE")
        finished = {"status": RunStatus.SUCCEEDED, "finished_at": timezone.now()}
        SyncRun.objects.filter(pk=details.pk).update(**finished)
        assert active_count(ops_client) == 1  # one stream done, the other still going
        SyncRun.objects.filter(pk=enrollments.pk).update(**finished)
        assert active_count(ops_client) == 2  # the sync's end shows at once


def test_dashboard_figures_expire_so_time_buckets_roll_over(ops_client):
    MeterFactory(status="ACTIVE")
    assert active_count(ops_client) == 1
    MeterFactory(status="ACTIVE")
    with time_machine.travel(timezone.now() + timedelta(seconds=CACHE_SECONDS + 1)):
        assert active_count(ops_client) == 2


def test_while_one_view_recomputes_the_figures_others_get_the_previous_ones(ops_client):
    from django.core.cache import cache

    MeterFactory(status="ACTIVE")
    assert active_count(ops_client) == 1
    MeterFactory(status="ACTIVE")
    MeterEventFactory()  # the figures are out of date now
    cache.add("leapsync:cached:computing", True)  # as if another worker were at it
    assert active_count(ops_client) == 1
    cache.delete("leapsync:cached:computing")
    assert active_count(ops_client) == 2


@pytest.mark.django_db(transaction=True)
def test_out_of_date_figures_are_shown_while_a_thread_recomputes_them(ops_client, monkeypatch):
    monkeypatch.setattr(dashboard, "RECOMPUTE_IN_BACKGROUND", True)
    MeterFactory(status="ACTIVE")
    assert active_count(ops_client) == 1  # nothing cached yet: computed in the view
    MeterFactory(status="ACTIVE")
    MeterEventFactory()
    assert active_count(ops_client) == 1  # the previous figures, at once
    for worker in threading.enumerate():
        if worker.name == "recompute dashboard":
            worker.join(timeout=30)
    assert active_count(ops_client) == 2  # the thread's figures
    assert active_count(ops_client) == 2


@pytest.mark.django_db(transaction=True)
def test_a_failed_recompute_keeps_the_previous_figures_and_frees_the_lock(
    ops_client, monkeypatch, caplog
):
    from django.core.cache import cache

    monkeypatch.setattr(dashboard, "RECOMPUTE_IN_BACKGROUND", True)
    MeterFactory(status="ACTIVE")
    assert active_count(ops_client) == 1
    MeterEventFactory(meter=MeterFactory(status="ACTIVE"))
    monkeypatch.setattr(dashboard, "status_figures", _fail)
    assert active_count(ops_client) == 1
    for worker in threading.enumerate():
        if worker.name == "recompute dashboard":
            worker.join(timeout=30)
    assert "recomputing leapsync:cached:dashboard failed" in caplog.text
    assert cache.get("leapsync:cached:computing") is None
    monkeypatch.undo()
    monkeypatch.setattr(dashboard, "RECOMPUTE_IN_BACKGROUND", False)
    assert active_count(ops_client) == 2


def _fail(now):
    raise RuntimeError("database went away")


def test_what_an_earlier_release_cached_is_never_read(ops_client):
    from django.core.cache import cache

    # A shared cache outlives deploys: entries of another shape sit under the same name.
    cache.set("leapsync:cached:dashboard", ("leapsync:figures:abc", 0.0, "old"))
    cache.set("leapsync:cached:deadlines", "anything")
    MeterFactory(status="ACTIVE")
    assert active_count(ops_client) == 1
    assert ops_client.get(reverse("enrollments:deadline_list")).status_code == 200


def test_one_figure_at_a_time_is_recomputed_site_wide(ops_client):
    from django.core.cache import cache

    MeterFactory(status="ACTIVE")
    assert active_count(ops_client) == 1
    MeterEventFactory(meter=MeterFactory(status="ACTIVE"))
    cache.add(dashboard.RECOMPUTING, "deadlines", dashboard.LOCK_SECONDS)  # another figure's turn
    assert active_count(ops_client) == 1  # the previous figures, not a second recompute
    cache.delete(dashboard.RECOMPUTING)
    assert active_count(ops_client) == 2


def test_with_nothing_cached_a_view_waits_for_the_one_computing(ops_client, monkeypatch):
    from django.core.cache import cache

    MeterFactory(status="ACTIVE")
    cache.add(dashboard.RECOMPUTING, "dashboard", dashboard.LOCK_SECONDS)
    waited = []

    def sleep(seconds):  # meanwhile, the other view finishes
        waited.append(seconds)
        entry = (dashboard._figures_state(), time.time(), "their figures")
        cache.set("leapsync:cached:x", entry, version=dashboard.ENTRY_FORMAT)

    monkeypatch.setattr(dashboard.time, "sleep", sleep)
    assert dashboard.cached("x", lambda: "my figures") == "their figures"
    assert waited
    cache.delete("leapsync:cached:x", version=dashboard.ENTRY_FORMAT)
    cache.delete(dashboard.RECOMPUTING)
    assert dashboard.cached("x", lambda: "my figures") == "my figures"
