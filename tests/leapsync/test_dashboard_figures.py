"""The stored figures: reused while nothing changes, recomputed by a task after a change.

In production a view with out-of-date figures shows them and queues the figures task (the
tests at the end); elsewhere the tests compute them in the view (tests/conftest.py).
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from enrollments.deadlines import Period
from enrollments.models import MeterEnrollment
from leapsync.dashboard import store
from leapsync.dashboard.figures import next_deadlines
from leapsync.dashboard.models import FigureSet
from leapsync.dashboard.tasks import refresh_figures
from leapsync.models import RunStatus, SyncRun
from leapsync.tasks import ensure_schedules
from meters.models import EventKind, Meter, MeterEvent
from meters.services import map_meter
from tests.helpers import count_get_queries
from tests.meters.factories import (
    EnrollmentDeadlineFactory,
    MeterEnrollmentFactory,
    MeterEventFactory,
    MeterFactory,
    ProgramEnrollmentFactory,
    SiteFactory,
)

pytestmark = pytest.mark.django_db
MAX_AGE_SECONDS = store.MAX_AGE.total_seconds()


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
    # A factory row writes no event and no run: nothing says the figures are out of date.
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
    with time_machine.travel(timezone.now() + timedelta(seconds=MAX_AGE_SECONDS)):
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
    with time_machine.travel(timezone.now() + timedelta(seconds=MAX_AGE_SECONDS + 1)):
        assert active_count(ops_client) == 2


@pytest.fixture
def queued(monkeypatch):
    """As in production: a view queues the figures task (here: records it) and never computes."""
    monkeypatch.setattr(store, "REFRESH_INLINE", False)
    with mock.patch("leapsync.dashboard.store.async_task") as async_task:
        yield async_task


def test_with_no_figures_stored_the_page_says_so_and_queues_the_task(ops_client, queued):
    MeterFactory(status="ACTIVE")
    with mock.patch("leapsync.dashboard.figures.status_figures", side_effect=AssertionError):
        response = ops_client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert "being computed" in response.content.decode()
    assert queued.call_args.args == (store.TASK, [store.DASHBOARD])
    refresh_figures()  # the worker's turn
    assert active_count(ops_client) == 1


def test_out_of_date_figures_are_shown_while_the_task_is_queued_once(ops_client, queued):
    MeterFactory(status="ACTIVE")
    refresh_figures()
    MeterEventFactory(meter=MeterFactory(status="ACTIVE"))  # out of date now
    with mock.patch("leapsync.dashboard.figures.status_figures", side_effect=AssertionError):
        assert active_count(ops_client) == 1  # the stored figures, at once
        assert active_count(ops_client) == 1
    assert queued.call_count == 1  # queued once, not once per view
    refresh_figures()
    assert active_count(ops_client) == 2


def test_the_task_recomputes_only_what_is_out_of_date():
    MeterFactory(status="ACTIVE")
    first = refresh_figures()
    assert all(name in first for name in store.ALWAYS)
    assert "none out of date" in refresh_figures()
    MeterEventFactory()
    assert "dashboard" in refresh_figures()


def test_a_failed_computation_keeps_the_previous_figures(caplog):
    MeterFactory(status="ACTIVE")
    refresh_figures()
    before = store.read(store.DASHBOARD)
    MeterEventFactory()
    with mock.patch("leapsync.dashboard.figures.status_figures", side_effect=RuntimeError("x")):
        done = store.refresh()
    assert store.DASHBOARD not in done and store.DEADLINES in done  # the others still go
    assert "computing the figures dashboard failed" in caplog.text
    assert store.read(store.DASHBOARD).computed_at == before.computed_at


def test_figures_an_earlier_release_stored_are_never_read(ops_client):
    FigureSet.objects.create(
        name=store.DASHBOARD,
        format=store.FORMAT - 1,
        state="",
        computed_at=timezone.now(),
        data=b"not a pickle of today's shape",
    )
    MeterFactory(status="ACTIVE")
    assert store.read(store.DASHBOARD) is None
    assert active_count(ops_client) == 1


def test_the_dashboard_alone_is_computed_without_grouping_every_listed_period():
    """What the dashboard's page queues when it has no figures: the listed periods (rosters'
    names, the periods set) are not needed, and take seconds at a million meters."""
    MeterFactory(status="ACTIVE")
    with mock.patch("leapsync.dashboard.store.listed_periods", side_effect=AssertionError):
        assert store.refresh([store.DASHBOARD]) == [store.DASHBOARD]
    assert store.PERIODS in store.refresh([store.PERIODS])


def test_rosters_of_periods_no_longer_listed_are_dropped():
    start = timezone.now()
    gone = store.roster_name(Period("PJM", "2020-01", start, None))
    FigureSet.objects.create(name=gone, format=store.FORMAT, state="", computed_at=start, data=b"")
    store.refresh()
    assert not FigureSet.objects.filter(name=gone).exists()


def test_the_figures_task_runs_every_minute():
    schedules = {s.func: s for s, _ in ensure_schedules()}
    assert schedules["leapsync.dashboard.tasks.refresh_figures"].minutes == 1


def _counts() -> dict[str, int]:
    from enrollments.models import MeterEnrollment

    rows = MeterEnrollment.objects.filter(meter__missing_from_leap=False)
    return {s: rows.filter(global_enrollment_status=s).count() for s in ("ACTIVE", "PENDING")}


def _change_status(meter, old: str, new: str) -> None:
    meter.enrollment.global_enrollment_status = new
    meter.enrollment.save()
    MeterEventFactory(meter=meter, old=old, new=new)


def test_the_24_hour_change_is_the_count_now_minus_the_count_a_day_ago():
    """A scripted day: new meters, status changes back and forth, one gone, one back."""
    from leapsync.dashboard.figures import status_figures

    day_ago = timezone.now() - timedelta(days=1)
    with time_machine.travel(day_ago - timedelta(hours=1)):
        old = [MeterFactory(status="ACTIVE") for _ in range(4)]
        pending = MeterFactory(status="PENDING")
        gone_before = MeterFactory(status="ACTIVE", missing_from_leap=True)
    before = _counts()
    assert before == {"ACTIVE": 4, "PENDING": 1}
    # Within the last day:
    for _ in range(3):  # new meters (the first sync: every meter is new)
        MeterEventFactory(meter=MeterFactory(status="ACTIVE"), kind=EventKind.FIRST_SEEN)
    _change_status(old[0], "ACTIVE", "PENDING")
    _change_status(old[1], "ACTIVE", "PENDING")
    _change_status(old[1], "PENDING", "ACTIVE")  # and back: no change over the day
    _change_status(pending, "PENDING", "ACTIVE")
    old[2].missing_from_leap = True
    old[2].save()
    MeterEventFactory(meter=old[2], kind=EventKind.MISSING, old="False", new="True")
    gone_before.missing_from_leap = False
    gone_before.save()
    MeterEventFactory(meter=gone_before, kind=EventKind.RETURNED, old="True", new="False")
    after = _counts()
    figures = {f.status: f for f in status_figures(timezone.now())}
    for status in ("ACTIVE", "PENDING"):
        assert figures[status].value == after[status]
        assert figures[status].delta == after[status] - before[status], status
    assert figures["ACTIVE"].delta == 3 - 1 + 1 - 1 + 1  # new, to PENDING, from PENDING, gone, back


def test_on_the_first_sync_every_meter_counts_as_new():
    from leapsync.dashboard.figures import status_figures

    for status in ("ACTIVE", "ACTIVE", "PENDING"):
        MeterEventFactory(meter=MeterFactory(status=status), kind=EventKind.FIRST_SEEN)
    figures = {f.status: f for f in status_figures(timezone.now())}
    assert (figures["ACTIVE"].delta, figures["PENDING"].delta) == (2, 1)


def test_a_meter_first_seen_today_counts_once_in_its_status_now_whatever_it_did_since():
    """It was not there a day ago: moved, gone or back since, it adds one to its status now,
    or nothing if it is gone now; it never takes one from a status."""
    from leapsync.dashboard.figures import status_figures

    moved, gone, back = (MeterFactory(status=s) for s in ("PENDING", "ACTIVE", "ELIGIBLE"))
    for meter in (moved, gone, back):
        MeterEventFactory(meter=meter, kind=EventKind.FIRST_SEEN)
    _change_status(moved, "ACTIVE", "PENDING")
    gone.missing_from_leap = True
    gone.save()
    MeterEventFactory(meter=gone, kind=EventKind.MISSING, old="False", new="True")
    MeterEventFactory(meter=back, kind=EventKind.MISSING, old="False", new="True")
    MeterEventFactory(meter=back, kind=EventKind.RETURNED, old="True", new="False")
    figures = {f.status: f for f in status_figures(timezone.now())}
    assert {s: (f.value, f.delta) for s, f in figures.items() if f.value or f.delta} == {
        "PENDING": (1, 1),
        "ELIGIBLE": (1, 1),
    }


def test_a_meter_gone_from_leap_counts_in_no_status_and_its_leaving_is_a_change():
    from leapsync.dashboard.figures import status_figures

    with time_machine.travel(timezone.now() - timedelta(days=2)):
        stays, leaves = MeterFactory(status="ACTIVE"), MeterFactory(status="ACTIVE")
        MeterFactory(status="ACTIVE", missing_from_leap=True)  # gone long ago
        MeterFactory(status="A_STATUS_LEAP_ADDED", missing_from_leap=True)
    leaves.missing_from_leap = True
    leaves.save()
    MeterEventFactory(meter=leaves, kind=EventKind.MISSING, old="False", new="True")
    MeterEventFactory(meter=stays, kind=EventKind.PARTNER_REFERENCE)  # moves no count
    figures = {f.status: f for f in status_figures(timezone.now())}
    assert (figures["ACTIVE"].value, figures["ACTIVE"].delta) == (1, -1)
    assert "A_STATUS_LEAP_ADDED" not in figures  # only meters gone from Leap have it


def test_status_figures_are_three_queries_however_many_meters_changed(
    django_assert_num_queries,
):
    """No meter is read one by one, nor in chunks: the first load of a large inventory (every
    meter first seen today) is counted in SQL, in as many queries as a quiet day."""
    from leapsync.dashboard.figures import status_figures

    meters = Meter.objects.bulk_create(MeterFactory.build_batch(FIRST_LOAD), batch_size=500)
    MeterEnrollment.objects.bulk_create(
        (MeterEnrollmentFactory.build(meter=m, global_enrollment_status="ACTIVE") for m in meters),
        batch_size=500,
    )
    MeterEvent.objects.bulk_create(
        (MeterEventFactory.build(meter=m, kind=EventKind.FIRST_SEEN) for m in meters),
        batch_size=500,
    )
    # counts and changed meters per status, the same for meters gone from Leap, then the
    # meters that moved since (a status change, gone or back), each as it was then
    with django_assert_num_queries(3):
        figures = status_figures(timezone.now())
    active = next(f for f in figures if f.status == "ACTIVE")
    assert (active.value, active.delta) == (FIRST_LOAD, FIRST_LOAD)


# More meters than the figures once read per query when rebuilding each changed meter.
FIRST_LOAD = 5001


def test_next_deadlines_are_each_programs_soonest_upcoming_deadline_of_a_listed_period(
    django_assert_num_queries,
):
    now = timezone.now()

    def deadline(program: str, days: float, *, listed: bool = True) -> None:
        period = ProgramEnrollmentFactory(program_identifier=program, listed=listed)
        EnrollmentDeadlineFactory(
            program_enrollment=period, enrollment_deadline_date_time=now + timedelta(days=days)
        )

    deadline("PJM-CAPACITY", 9)
    deadline("PJM-CAPACITY", 4)
    deadline("PJM-CAPACITY", 2, listed=False)  # an unlisted period's deadline counts for nothing
    deadline("PJM-CAPACITY", -1)  # passed
    deadline("ELRP", 6)
    deadline("CCA", -3)  # only passed deadlines: no figure
    deadline("", 5)  # a period without a program, as Leap may send it
    with django_assert_num_queries(1):
        rows = next_deadlines(now)
    assert [(row["program"], row["deadline"]) for row in rows] == [
        ("PJM-CAPACITY", now + timedelta(days=4)),
        ("", now + timedelta(days=5)),
        ("ELRP", now + timedelta(days=6)),
    ]
    assert all(row["url"].startswith(reverse("meters:meter_list")) for row in rows)
