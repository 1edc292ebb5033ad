"""The sync pipeline against the in-process simulator: convergence, idempotency, history."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.http import QueryDict

from actions.models import RequiredAction, WorkflowStatus
from enrollments.models import MeterEnrollment, ProgramEnrollment
from leapsync.models import RunStatus, SyncCursor, SyncMode, SyncRun
from leapsync.sync import sync_full, sync_incremental, sync_refresh, sync_stale
from leapsync.sync.locks import held_streams
from meters.filters import MeterFilterSet
from meters.models import EventKind, Meter, MeterEvent
from tests.helpers import database_differences, stream_held_elsewhere

pytestmark = pytest.mark.django_db


def _statuses(runs: list[SyncRun]) -> list[str]:
    return [run.status for run in runs]


def test_full_sync_matches_truth(simulator, leap):
    runs = sync_full(client=leap)
    assert _statuses(runs) == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    assert database_differences(simulator) == []
    assert Meter.objects.count() == len(simulator.meter_ids())
    details, enrollments = runs
    assert details.created == len(simulator.meter_ids())
    assert enrollments.created == len(simulator.meter_ids())
    assert details.pages == enrollments.pages == -(-len(simulator.meter_ids()) // 50)
    assert MeterEvent.objects.filter(kind=EventKind.FIRST_SEEN).count() == Meter.objects.count()


def test_full_sync_twice_writes_nothing(simulator, leap):
    sync_full(client=leap)
    events = MeterEvent.objects.count()
    runs = sync_full(client=leap)
    assert [run.unchanged for run in runs] == [len(simulator.meter_ids())] * 2
    assert [run.created + run.updated for run in runs] == [0, 0]
    assert MeterEvent.objects.count() == events


def test_incremental_after_mutation_converges_with_one_event_per_change(simulator, leap):
    sync_full(client=leap)
    before = MeterEvent.objects.count()
    simulator.mutate(0.1, seed=3)
    runs = sync_incremental(client=leap, now=simulator.now)
    assert [run.mode for run in runs] == [SyncMode.INCREMENTAL] * 2
    assert _statuses(runs) == [RunStatus.SUCCEEDED] * 2
    assert database_differences(simulator) == []
    changed = MeterEvent.objects.count() - before
    assert changed > 0
    # The same changes seen again (the overlap window) write nothing more.
    sync_incremental(client=leap, now=simulator.now)
    sync_full(client=leap)
    assert MeterEvent.objects.count() - before == changed


def test_incremental_fetches_only_changed_meters(simulator, leap):
    sync_full(client=leap)
    simulator.advance(timedelta(hours=2))
    simulator.mutate(0.05, seed=11)
    details, enrollments = sync_incremental(client=leap, now=simulator.now)
    assert 0 < details.meters_seen < len(simulator.meter_ids()) / 2
    assert enrollments.meters_seen == details.meters_seen


def test_cursor_is_leaps_time_and_moves_only_on_success(simulator, leap, monkeypatch):
    sync_full(client=leap)
    cursor = SyncCursor.objects.get(stream="enrollments").cursor
    assert cursor is not None and cursor <= simulator.now
    simulator.advance(timedelta(hours=1))
    simulator.mutate(0.1, seed=5)

    def explode(raws, ctx):
        raise RuntimeError("database went away")

    from leapsync import sync as engine

    original = engine._APPLY["enrollments"]
    monkeypatch.setitem(engine._APPLY, "enrollments", explode)
    failed = sync_incremental(client=leap)[1]
    assert failed.status == RunStatus.FAILED
    assert "database went away" in failed.error
    assert SyncCursor.objects.get(stream="enrollments").cursor == cursor
    assert SyncCursor.objects.get(stream="enrollments").locked_by is None
    monkeypatch.setitem(engine._APPLY, "enrollments", original)
    assert _statuses(sync_incremental(client=leap)) == [RunStatus.SUCCEEDED] * 2
    assert database_differences(simulator) == []
    assert SyncCursor.objects.get(stream="enrollments").cursor > cursor


def test_rollover_needs_the_stale_refresh(simulator, leap):
    sync_full(client=leap)
    action = RequiredAction.objects.open().filter(owner="partner").first()
    assert action is not None
    action.status = WorkflowStatus.IN_PROGRESS
    action.save()
    simulator.rollover()
    # Leap's updated_at did not move: the cursor alone sees nothing new.
    sync_incremental(client=leap, refresh_stale=False)
    assert database_differences(simulator) != []
    runs = sync_stale(client=leap, now=simulator.now)
    assert runs[0].mode == SyncMode.STALE and runs[0].status == RunStatus.SUCCEEDED
    assert database_differences(simulator) == []
    assert ProgramEnrollment.objects.filter(listed=False).exists()
    action.refresh_from_db()
    if action.resolved_at is None:  # still open at Leap: same row, workflow kept
        assert action.status == WorkflowStatus.IN_PROGRESS
    # Nothing is stale any more until the next roll-over.
    assert not MeterEnrollment.objects.filter(stale_after__lte=simulator.now).exists()


def test_incremental_also_rereads_rolled_over_meters(simulator, leap):
    sync_full(client=leap)
    simulator.rollover()
    runs = sync_incremental(client=leap, now=simulator.now)
    assert [run.mode for run in runs] == [
        SyncMode.INCREMENTAL,
        SyncMode.INCREMENTAL,
        SyncMode.STALE,
    ]
    assert database_differences(simulator) == []
    # Nothing stale is left, so the next incremental run makes no stale run.
    assert len(sync_incremental(client=leap, now=simulator.now)) == 2


def test_refresh_rereads_named_meters(simulator, leap):
    sync_full(client=leap)
    simulator.rollover()
    target = simulator.meter_ids()[:3]
    runs = sync_refresh(target, client=leap)
    assert [run.requested_meters for run in runs] == [3, 3]
    assert [run.meters_seen for run in runs] == [3, 3]


def test_second_run_on_a_locked_stream_is_skipped(simulator, leap):
    sync_full(client=leap)
    with stream_held_elsewhere("details"):
        details, enrollments = sync_incremental(client=leap, now=simulator.now)
    assert details.status == RunStatus.SKIPPED
    assert "in progress" in details.error
    assert enrollments.status == RunStatus.SUCCEEDED


def test_lock_of_a_killed_holder_is_free_at_once(simulator, leap):
    """A holder killed mid-run (heartbeat seconds old) never blocks the next run."""
    sync_full(client=leap)
    with stream_held_elsewhere("details") as holder:
        dead = SyncCursor.objects.get(stream="details").locked_by
        holder.kill()
        holder.wait()
        # PostgreSQL frees a dead client's advisory lock when its backend notices the closed
        # socket: a moment later, longer on a loaded machine. Only then is the lock free.
        deadline = time.monotonic() + 10
        while "details" in held_streams() and time.monotonic() < deadline:
            time.sleep(0.05)
        details, _ = sync_incremental(client=leap, now=simulator.now)
    assert details.status == RunStatus.SUCCEEDED
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "Abandoned" in dead.error
    assert SyncCursor.objects.get(stream="details").locked_by is None


def test_stale_lock_of_a_dead_run_is_taken_over(simulator, leap):
    from django.utils import timezone

    dead = SyncRun.objects.create(stream="details", mode="full")
    SyncCursor.objects.create(
        stream="details", locked_by=dead, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    details, _ = sync_full(client=leap)
    assert details.status == RunStatus.SUCCEEDED
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "Abandoned" in dead.error


def test_a_run_shows_its_progress_and_expected_pages_while_it_goes(simulator, leap):
    """The Sync page reads a running run's row: counters page by page, and the estimate."""
    seen = []

    def progress(run, stats):
        row = SyncRun.objects.get(pk=run.pk)
        seen.append((row.pages, row.meters_seen, row.pages_expected))

    first = sync_full(client=leap, streams=("details",), progress=progress)[0]
    assert seen[:2] == [(1, 50, None), (2, 100, None)]  # no full run before: no estimate
    seen.clear()
    sync_full(client=leap, streams=("details",), progress=progress)
    assert seen[0] == (1, 50, first.pages)
    seen.clear()
    sync_incremental(client=leap, streams=("details",), progress=progress)
    assert {expected for *_, expected in seen} <= {None}  # Leap says nothing of how many changed
    meter_ids = simulator.meter_ids()[:120]
    seen.clear()
    run = sync_refresh(meter_ids, client=leap, streams=("details",), progress=progress)[0]
    assert seen[0][2] == 3 == run.pages_expected  # 120 meter_ids, 50 a page
    assert run.requested_meters == 120


def test_sync_keeps_the_search_columns_of_both_streams_current(simulator, leap):
    sync_full(client=leap)
    renamed, referenced = simulator.meters()[:2]
    renamed.details_patch = {("customer", "end_customer_name"): "Nguyễn Văn An"}
    simulator.touch(renamed)
    simulator.set_partner_reference(referenced, "Łukasz-Żółć-7")
    simulator.touch(referenced)
    sync_incremental(client=leap, now=simulator.now)
    assert database_differences(simulator) == []  # every meter's columns match its fields
    found = MeterFilterSet(QueryDict("q=NGUYEN van"), queryset=Meter.objects.all()).qs
    assert [str(m.meter_id) for m in found] == [renamed.meter_id]
    found = MeterFilterSet(QueryDict("q=lukasz-zolc"), queryset=Meter.objects.all()).qs
    assert [str(m.meter_id) for m in found] == [referenced.meter_id]
