"""A full sync split into created-date ranges (leapsync/sync/ranges.py), its tasks run in turn.

django-q2 runs each range's task inline here (its sync mode); on a cluster each range is a task
any worker takes. These tests run on SQLite and, with DATABASE_URL, on PostgreSQL (CI).
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any
from uuid import UUID

import pytest
from django.core.management import CommandError, call_command
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Task

from actions.models import RequiredAction
from enrollments.models import (
    EnrollmentDeadline,
    MeterEnrollment,
    ParticipationPeriod,
    ProgramEnrollment,
)
from leapsync.leap.client import LeapClient
from leapsync.models import (
    QuarantinedPayload,
    RangeStatus,
    RunStatus,
    Stream,
    SyncCursor,
    SyncMode,
    SyncRange,
    SyncRun,
)
from leapsync.simulator import LeapSimulator
from leapsync.sync import sync_full, sync_incremental
from leapsync.sync.locks import process_identity
from leapsync.sync.ranges import STEP, close_abandoned, plan, range_filters, split_full
from leapsync.tasks import (
    SyncFailed,
    check_sync_alerts,
    run_full,
    run_full_range,
    run_incremental,
)
from meters.models import EventKind, Meter, MeterEvent
from tests.helpers import API_KEY, count_get_queries, database_differences, simulator_client

pytestmark = pytest.mark.django_db

FullSync = Callable[[], list[SyncRun]]
HTMX = {"HX-Request": "true"}

# Every synced table, with the columns compared only as set or unset: times of our own clock
# (when a row was written, first or last seen, flagged missing, resolved, mapped), which differ
# between two syncs of the same data by the seconds between them; and the run and database
# transaction a row was written in (`sync_run_id`, `txid`, a quarantined record's `run_id`).
# Every other column is compared as is, Leap's own times (created, updated, deadlines,
# periods) included. Primary keys differ between two databases, so rows are matched by natural
# keys instead: a meter's meter_id, a deadline's program enrollment by (meter_id, program,
# delivery period start).
OUR_CLOCK_AND_RUN: dict[type[models.Model], set[str]] = {
    Meter: {"details_synced_at", "first_seen_at", "updated_at", "missing_since", "mapped_at"},
    MeterEvent: {"observed_at", "sync_run_id", "txid"},
    MeterEnrollment: {"synced_at"},
    ProgramEnrollment: set(),
    EnrollmentDeadline: set(),
    ParticipationPeriod: set(),
    RequiredAction: {"first_seen_at", "last_seen_at", "resolved_at", "status_changed_at"},
    QuarantinedPayload: {"run_id", "created_at"},
}


@pytest.fixture
def tasks_inline(settings, monkeypatch):
    """django-q2 runs each queued task at once, in this process (its sync mode)."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)  # django-q2 reads its settings once, at import


def _leap_is(monkeypatch, simulator: LeapSimulator, page_size: int = 50) -> LeapClient:
    """Range tasks build their client from settings: make that client the simulator's."""
    monkeypatch.setattr(
        LeapClient,
        "from_settings",
        classmethod(lambda cls, **kw: simulator_client(simulator, page_size=page_size)),
    )
    return simulator_client(simulator, page_size=page_size)


def snapshot() -> dict[str, Counter[tuple[Any, ...]]]:
    """Every synced table as a multiset of rows, keyed by natural keys (see OUR_CLOCK_AND_RUN)."""
    meter_ids = dict(Meter.objects.values_list("pk", "meter_id"))
    programs = {
        pk: (meter_ids[meter], program, start)
        for pk, meter, program, start in ProgramEnrollment.objects.values_list(
            "pk", "meter_id", "program_identifier", "delivery_period_start_date_time"
        )
    }
    natural = {"meter_id": meter_ids, "program_enrollment_id": programs}
    tables = {}
    for model, set_or_unset in OUR_CLOCK_AND_RUN.items():
        # Every column but the primary key, unless it is a relation (a meter's enrollment).
        fields = [f for f in model._meta.concrete_fields if not f.primary_key or f.is_relation]
        rows: Counter[tuple[Any, ...]] = Counter()
        for row in model.objects.values_list(*(f.attname for f in fields)):
            cells = zip(fields, row, strict=True)
            rows[tuple(_cell(field, value, natural, set_or_unset) for field, value in cells)] += 1
        tables[model.__name__] = rows
    return tables


def _cell(
    field: models.Field,
    value: Any,
    natural: dict[str, dict[int, Any]],
    set_or_unset: set[str],
) -> Any:
    if field.attname in set_or_unset:
        return value is not None
    if field.is_relation and field.attname in natural:
        return natural[field.attname][value]
    return repr(value) if isinstance(value, dict | list) else value


def _differences(left: dict[str, Counter], right: dict[str, Counter]) -> list[str]:
    problems = []
    for table, rows in left.items():
        only_left, only_right = rows - right[table], right[table] - rows
        if only_left or only_right:
            problems.append(
                f"{table}: {sum(only_left.values())} rows only unsplit, e.g. "
                f"{list(only_left)[:2]}; {sum(only_right.values())} only split, e.g. "
                f"{list(only_right)[:2]}"
            )
    return problems


def _ghosts(count: int, *, created: bool = True) -> list[UUID]:
    """Stored meters Leap no longer lists (a full sync flags them missing), created across the
    simulator's three years (or without a created date)."""
    ids = [UUID(int=index + 1) for index in range(count)]
    start = LeapSimulator(meters=0, seed=1).now
    Meter.objects.bulk_create(
        Meter(
            meter_id=meter_id,
            details_hash="gone",
            leap_created_at=start - timedelta(days=90 * (index + 1)) if created else None,
        )
        for index, meter_id in enumerate(ids)
    )
    return ids


def _forget_everything() -> None:
    Meter.objects.all().delete()  # children and events go with them
    QuarantinedPayload.objects.all().delete()
    SyncCursor.objects.all().delete()
    SyncRun.objects.all().delete()


def _split(client: LeapClient, parts: int) -> list[SyncRun]:
    return split_full(parts, client=client)  # the runs as they are once their tasks ran


def _twin_histories(
    monkeypatch, meters: int, parts: int, history: Callable[[LeapSimulator, FullSync], None]
) -> tuple[dict[str, Counter], dict[str, Counter]]:
    """The same history on two twin Leaps (same seed), once with unsplit full syncs and once
    split into `parts` ranges; each database's snapshot at its end."""
    unsplit_leap = LeapSimulator(meters=meters, seed=11, api_key=API_KEY)
    client = simulator_client(unsplit_leap, page_size=500)
    history(unsplit_leap, lambda: sync_full(client=client))
    unsplit = snapshot()
    _forget_everything()
    split_leap = LeapSimulator(meters=meters, seed=11, api_key=API_KEY)
    split_client = _leap_is(monkeypatch, split_leap, page_size=500)
    history(split_leap, lambda: _split(split_client, parts))
    return unsplit, snapshot()


def _succeeds(full: FullSync) -> None:
    assert [run.status for run in full()] == [RunStatus.SUCCEEDED] * 2


def test_split_full_sync_ends_with_the_same_database_as_an_unsplit_one(tasks_inline, monkeypatch):
    """10,000 meters, 4 ranges (their bounds from a probe of Leap's first page), and stored
    meters Leap no longer has (without a created date: the first range's); every synced
    table compared row by row."""

    def first_load(simulator: LeapSimulator, full: FullSync) -> None:
        _ghosts(12, created=False)
        _succeeds(full)  # that an unsplit sync matches Leap is tests/leapsync/test_sync.py's

    unsplit, split = _twin_histories(monkeypatch, 10_000, 4, first_load)
    assert SyncRange.objects.filter(status=RangeStatus.SUCCEEDED).count() == 2 * 4
    assert _differences(unsplit, split) == []
    assert sum(unsplit["Meter"].values()) == 10_012
    missing = sum(count for row, count in unsplit["MeterEvent"].items() if EventKind.MISSING in row)
    assert missing == 12


def test_split_full_sync_after_changes_ends_with_the_same_database(tasks_inline, monkeypatch):
    """A first load, then 10% of Leap changed, meters gone from Leap (created across the
    years, so in every range), and a full sync again: bounds from the stored meters."""

    def changes(simulator: LeapSimulator, full: FullSync) -> None:
        _succeeds(full)
        _ghosts(12)
        simulator.advance(timedelta(hours=2))
        simulator.mutate(0.1, seed=5)
        _succeeds(full)
        assert database_differences(simulator) == []

    unsplit, split = _twin_histories(monkeypatch, 600, 3, changes)
    assert _differences(unsplit, split) == []
    missing = sum(count for row, count in unsplit["MeterEvent"].items() if EventKind.MISSING in row)
    assert missing == 12


@pytest.fixture
def simulator() -> LeapSimulator:
    return LeapSimulator(meters=240, seed=7, api_key=API_KEY)


@pytest.fixture
def leap(simulator, monkeypatch) -> LeapClient:
    return _leap_is(monkeypatch, simulator)


def test_split_runs_record_each_range_and_the_run_closes_when_all_are_done(
    tasks_inline, simulator, leap
):
    details, enrollments = _split(leap, 4)
    for run in (details, enrollments):
        assert run.status == RunStatus.SUCCEEDED
        assert run.mode == SyncMode.FULL
        parts = list(run.ranges.all())
        assert [part.number for part in parts] == [1, 2, 3, 4]
        assert {part.status for part in parts} == {RangeStatus.SUCCEEDED}
        assert run.meters_seen == sum(part.meters_seen for part in parts) == 240
        assert run.pages == sum(part.pages for part in parts)
        assert all(part.meters_seen for part in parts)  # the probe spread them
        cursor = SyncCursor.objects.get(stream=run.stream)
        assert cursor.last_success == run and cursor.locked_by is None
        assert cursor.cursor == max(part.cursor_reached for part in parts)
    assert database_differences(simulator) == []


def test_bounds_follow_the_stored_meters_and_leave_no_gap(tasks_inline, simulator, leap):
    sync_full(client=leap)
    bounds, expected = plan(Stream.DETAILS, 4, leap)
    assert bounds[0].created_from is None and bounds[-1].created_before is None
    assert [b.created_before for b in bounds[:-1]] == [b.created_from for b in bounds[1:]]
    assert expected == 2  # 240 meters / 4 ranges, 50 a page
    per_range = [
        Meter.objects.filter(
            **({"leap_created_at__gte": b.created_from} if b.created_from else {}),
            **({"leap_created_at__lt": b.created_before} if b.created_before else {}),
        ).count()
        for b in bounds
    ]
    assert per_range == [60, 60, 60, 60]


def test_a_meter_created_on_a_range_boundary_is_synced_exactly_once(tasks_inline, simulator, leap):
    sync_full(client=leap)
    bounds, _ = plan(Stream.DETAILS, 2, leap)
    boundary = bounds[1].created_from
    on_it = simulator.meters()[0]
    on_it.created_at = boundary
    simulator.touch(on_it)
    Meter.objects.filter(meter_id=on_it.meter_id).update(leap_created_at=boundary)

    details, _ = _split(leap, 2)
    first, second = details.ranges.all()
    assert first.created_before == second.created_from == boundary
    assert range_filters(second)["created_after_date_time"] == boundary - STEP
    listed = [
        UUID(record["meter_id"])
        for part in (first, second)
        for page in leap.search_meter_details(range_filters(part))
        for record in page.meters
    ]
    assert listed.count(UUID(on_it.meter_id)) == 1
    assert len(listed) == len(set(listed)) == 240
    assert details.meters_seen == 240 and details.missing == 0
    assert not any("asked for by meter_ids" in warning for warning in details.warnings)


def test_missing_meters_are_flagged_only_once_every_range_has_ended(
    tasks_inline, simulator, leap, monkeypatch
):
    sync_full(client=leap)
    gone = _ghosts(3)
    flagged_while_open = []
    real_run_range = run_full_range

    def watching(range_pk: int) -> str:
        """Before each range: while the details run is open, nothing is flagged yet."""
        if SyncRun.objects.filter(stream=Stream.DETAILS, status=RunStatus.RUNNING).exists():
            flagged_while_open.append(Meter.objects.filter(missing_from_leap=True).count())
        return real_run_range(range_pk)

    monkeypatch.setattr("leapsync.tasks.run_full_range", watching)
    details, enrollments = _split(leap, 4)
    assert details.status == enrollments.status == RunStatus.SUCCEEDED
    # Queued alternating: details 1, enrollments 1, ... details 4 start while details is open.
    assert flagged_while_open == [0] * 7
    assert details.missing == 3
    assert set(Meter.objects.filter(missing_from_leap=True).values_list("meter_id", flat=True)) == (
        set(gone)
    )
    assert MeterEvent.objects.filter(kind=EventKind.MISSING, sync_run=details).count() == 3


def _queued(monkeypatch) -> list[int]:
    """Keep the ranges split_full queues (pks), for the test to run as a worker would."""
    queued: list[int] = []
    monkeypatch.setattr("leapsync.sync.ranges.async_task", lambda *a, **kw: queued.append(a[1]))
    return queued


def test_a_failed_range_fails_the_run_and_moves_no_cursor(
    tasks_inline, simulator, leap, monkeypatch
):
    sync_full(client=leap)
    cursor = SyncCursor.objects.get(stream=Stream.DETAILS).cursor
    gone = _ghosts(2)
    simulator.advance(timedelta(hours=1))
    simulator.mutate(0.2, seed=9)
    queued = _queued(monkeypatch)
    (details,) = split_full(3, client=leap, streams=[Stream.DETAILS])
    simulator.faults(1.0, ["500"], seed=1)  # every call fails, past the client's retries
    with pytest.raises(SyncFailed, match="Range 1 of 3"):
        run_full_range(queued[0])
    for range_pk in queued[1:]:  # their tasks, delivered after the failure, do nothing
        assert "cancelled" in run_full_range(range_pk)

    details.refresh_from_db()
    assert details.status == RunStatus.FAILED
    assert details.error.startswith("Range 1 of 3 (meters created from the first before ")
    assert "The next full sync reads every range again." in details.error
    statuses = list(details.ranges.values_list("status", flat=True))
    assert statuses == [RangeStatus.FAILED, RangeStatus.CANCELLED, RangeStatus.CANCELLED]
    assert SyncCursor.objects.get(stream=Stream.DETAILS).cursor == cursor
    assert not Meter.objects.filter(meter_id__in=gone, missing_from_leap=True).exists()

    simulator.faults(0)
    queued.clear()
    (again,) = split_full(3, client=leap, streams=[Stream.DETAILS])
    for range_pk in queued:
        run_full_range(range_pk)
    again.refresh_from_db()
    assert again.status == RunStatus.SUCCEEDED and again.missing == 2
    sync_full(client=leap, streams=[Stream.ENROLLMENTS])
    assert database_differences(simulator) == []


def test_a_range_the_broker_refuses_fails_the_run_at_once(simulator, leap, monkeypatch):
    sync_full(client=leap)

    def broker_down(*args, **kwargs):
        raise ConnectionError("Redis is not answering")

    monkeypatch.setattr("leapsync.sync.ranges.async_task", broker_down)
    (details,) = split_full(3, client=leap, streams=[Stream.DETAILS])
    assert details.status == RunStatus.FAILED
    assert "Could not be queued: ConnectionError: Redis is not answering" in details.error
    assert SyncCursor.objects.get(stream=Stream.DETAILS).locked_by is None
    assert [run.status for run in sync_incremental(client=leap, refresh_stale=False)] == [
        RunStatus.SUCCEEDED
    ] * 2


def test_a_split_run_holds_its_stream_until_it_closes(tasks_inline, simulator, leap, monkeypatch):
    """While ranges are queued or running, no other run of the stream starts: not a second
    full sync, not an incremental (whose cursor would otherwise move mid-way)."""
    sync_full(client=leap)
    queued = _queued(monkeypatch)
    details, _ = split_full(2, client=leap)
    assert details.status == RunStatus.RUNNING and len(queued) == 4
    cursor = SyncCursor.objects.get(stream=Stream.DETAILS)
    assert cursor.locked_by == details and cursor.holder == f"ranges of run {details.pk}"

    busy = sync_incremental(client=leap, refresh_stale=False)
    assert [run.status for run in busy] == [RunStatus.SKIPPED] * 2
    assert [run.status for run in split_full(2, client=leap)] == [RunStatus.SKIPPED] * 2

    for range_pk in queued:
        run_full_range(range_pk)
    details.refresh_from_db()
    assert details.status == RunStatus.SUCCEEDED
    assert [run.status for run in sync_incremental(client=leap, refresh_stale=False)] == [
        RunStatus.SUCCEEDED
    ] * 2


def test_a_range_delivered_twice_runs_once(tasks_inline, simulator, leap, monkeypatch):
    sync_full(client=leap)
    queued = _queued(monkeypatch)
    (details,) = split_full(2, client=leap, streams=[Stream.DETAILS])
    first = queued[0]
    run_full_range(first)
    pages = SyncRange.objects.get(pk=first).pages
    run_full_range(first)
    assert SyncRange.objects.get(pk=first).pages == pages
    details.refresh_from_db()
    assert details.status == RunStatus.RUNNING
    run_full_range(queued[1])
    details.refresh_from_db()
    assert details.status == RunStatus.SUCCEEDED


@pytest.mark.parametrize("task", [check_sync_alerts, run_incremental])
def test_a_split_run_whose_last_worker_died_is_closed_by_the_next_task(
    tasks_inline, simulator, leap, monkeypatch, task
):
    """The task ending the last range would close the run; its worker died mid-range, so the
    next sync task (or the ten-minute alerts check) closes it, naming the range, and the
    stream is free again."""
    sync_full(client=leap)
    queued = _queued(monkeypatch)
    (run,) = split_full(2, client=leap, streams=[Stream.DETAILS])
    run_full_range(queued[0])
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process that has ended: the dead worker
    now = timezone.now()
    SyncRange.objects.filter(pk=queued[1]).update(
        status=RangeStatus.RUNNING,
        holder=process_identity(gone.pid),
        started_at=now,
        heartbeat_at=now,
    )
    held = sync_incremental(client=leap, refresh_stale=False, streams=[Stream.DETAILS])
    assert [r.status for r in held] == [RunStatus.SKIPPED]  # the dead range's lease holds it

    task()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "stopped without finishing" in run.error and "2 of 2" in run.error
    assert SyncRange.objects.get(pk=queued[1]).status == RangeStatus.FAILED
    assert SyncCursor.objects.get(stream=Stream.DETAILS).locked_by_id != run.pk
    details = sync_incremental(client=leap, refresh_stale=False, streams=[Stream.DETAILS])
    assert [r.status for r in details] == [RunStatus.SUCCEEDED]


def test_a_split_run_with_live_ranges_is_left_alone(tasks_inline, simulator, leap, monkeypatch):
    run = _half_done(leap, monkeypatch, 3)
    SyncRange.objects.filter(run=run, number=2).update(
        status=RangeStatus.RUNNING, holder=process_identity(), heartbeat_at=timezone.now()
    )
    assert close_abandoned() == []
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert sorted(run.ranges.values_list("status", flat=True)) == sorted(
        [RangeStatus.SUCCEEDED, RangeStatus.RUNNING, RangeStatus.QUEUED]
    )


def _half_done(leap: LeapClient, monkeypatch, parts: int) -> SyncRun:
    """A split details run with its first range done and the others queued."""
    sync_full(client=leap)
    queued = _queued(monkeypatch)
    (run,) = split_full(parts, client=leap, streams=[Stream.DETAILS])
    run_full_range(queued[0])
    return run


def test_the_sync_page_shows_a_split_runs_ranges_and_its_progress(
    tasks_inline, simulator, leap, monkeypatch, ops_client
):
    run = _half_done(leap, monkeypatch, 4)
    done = SyncRange.objects.get(run=run, number=1)
    content = ops_client.get(reverse("sync_run_list"), headers=HTMX).content.decode()
    assert f"Run #{run.pk}</a>: Full" in content
    assert f"{done.pages} of about {run.pages_expected} pages" in content  # the run's, so far
    assert f"{done.meters_seen} meters ·" in content
    assert content.count("of 4</td>") == 4
    assert content.count("waiting for a worker") == 3
    assert "meters created from the first before" in content
    assert "meters created from" in content and "to the latest" in content

    page = ops_client.get(reverse("sync_run_detail", args=[run.pk])).content.decode()
    assert page.count("of 4</td>") == 4 and 'hx-trigger="every 2s"' in page


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_the_sync_page_query_count_is_flat_in_ranges(
    tasks_inline, simulator, leap, monkeypatch, ops_client, headers
):
    _half_done(leap, monkeypatch, 2)
    url = reverse("sync_run_list")
    few = count_get_queries(ops_client, url, headers)
    split_full(6, client=leap, streams=[Stream.ENROLLMENTS])
    assert count_get_queries(ops_client, url, headers) == few  # all ranges: one query


def test_a_run_started_from_the_page_is_followed_until_its_ranges_end(
    tasks_inline, simulator, leap, monkeypatch, ops_client
):
    """The page's task only splits the run; the page says "running" until the run closes."""
    token = "0123456789abcdef"
    sync_full(client=leap)
    queued = _queued(monkeypatch)
    split_full(2, client=leap, streams=[Stream.DETAILS], trigger=f"ui:{token}")
    Task.objects.create(
        id="f" * 32,
        name=f"leapsync: full sync from the Sync page ({token})",
        func="leapsync.tasks.run_full",
        started=timezone.now(),
        stopped=timezone.now(),
        success=True,
    )
    url = f"{reverse('sync_run_list')}?queued={token}"
    assert "is running" in ops_client.get(url, headers=HTMX).content.decode()
    for range_pk in queued:
        run_full_range(range_pk)
    assert "has finished" in ops_client.get(url, headers=HTMX).content.decode()


def test_leap_sync_full_ranges_splits_and_follows_the_run(tasks_inline, simulator, leap):
    out = StringIO()
    call_command("leap_sync", "--full", "--ranges", "3", stdout=out)
    text = out.getvalue()
    assert text.count("range ") >= 6  # three per stream, each as it ended
    assert "Full details run" in text and "Full enrollments run" in text
    assert SyncRange.objects.filter(status=RangeStatus.SUCCEEDED).count() == 6
    assert database_differences(simulator) == []
    with pytest.raises(CommandError, match="only with --full"):
        call_command("leap_sync", "--ranges", "3")


def test_the_scheduled_full_sync_splits_as_set(tasks_inline, simulator, leap, settings):
    settings.SYNC_FULL_RANGES = 3
    summary = run_full()  # its ranges ran as it queued them (django-q2's sync mode)
    assert "Full details run" in summary and "Full enrollments run" in summary
    assert SyncRun.objects.filter(mode=SyncMode.FULL, status=RunStatus.SUCCEEDED).count() == 2
    assert SyncRange.objects.filter(status=RangeStatus.SUCCEEDED).count() == 6
