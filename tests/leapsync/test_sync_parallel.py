"""The two streams side by side in two processes (PostgreSQL), and what keeps that safe."""

from __future__ import annotations

import os

import psycopg
import pytest
from django.db import OperationalError, connection

from leapsync.models import RunStatus, SyncCursor
from leapsync.sync import _apply_page, sync_full, sync_incremental
from leapsync.sync.common import RunStats
from leapsync.sync.parallel import can_run_in_parallel
from meters.models import EventKind, Meter, MeterEvent
from tests.helpers import database_differences


def _needs_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the streams run side by side on PostgreSQL only")


def _deadlock() -> OperationalError:
    """What Django raises when PostgreSQL picks this transaction as a deadlock's victim."""
    error = OperationalError("deadlock detected")
    error.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    return error


def _recording(monkeypatch, tmp_path, wrap=None):
    """Wrap both page appliers to note which process applied each page (a file per page)."""
    from leapsync import sync as engine

    for stream, original in list(engine._APPLY.items()):

        def apply(raws, ctx, original=original, stream=stream):
            (tmp_path / f"{stream}-{os.getpid()}-{len(list(tmp_path.iterdir()))}").touch()
            if wrap:
                wrap(stream)
            return original(raws, ctx)

        monkeypatch.setitem(engine._APPLY, stream, apply)


@pytest.mark.django_db(transaction=True)
def test_full_sync_runs_each_stream_in_its_own_process_and_converges(
    simulator, leap, monkeypatch, tmp_path
):
    _needs_postgres()
    assert can_run_in_parallel(["details", "enrollments"])
    _recording(monkeypatch, tmp_path)

    runs = sync_full(client=leap)

    assert [run.status for run in runs] == [RunStatus.SUCCEEDED] * 2
    pids = {
        stream: {name.split("-")[1] for name in os.listdir(tmp_path) if name.startswith(stream)}
        for stream in ("details", "enrollments")
    }
    assert len(pids["details"]) == len(pids["enrollments"]) == 1
    # The first stream runs in this process (no process idles while the others work).
    assert pids["details"] == {str(os.getpid())}
    assert pids["enrollments"] != pids["details"]
    assert database_differences(simulator) == []
    # Both streams met every meter first at about the same moment; one first-seen event each.
    first_seen = MeterEvent.objects.filter(kind=EventKind.FIRST_SEEN)
    assert first_seen.count() == Meter.objects.count() == len(simulator.meter_ids())
    assert first_seen.values("meter_id").distinct().count() == first_seen.count()
    # And again with nothing changed: no events at all.
    events = MeterEvent.objects.count()
    assert [run.status for run in sync_incremental(client=leap)] == [RunStatus.SUCCEEDED] * 2
    assert MeterEvent.objects.count() == events


@pytest.mark.django_db(transaction=True)
def test_a_stream_process_that_dies_fails_its_run_frees_its_lock_and_the_next_run_converges(
    simulator, leap, monkeypatch, tmp_path
):
    _needs_postgres()

    def die_in_enrollments(stream):
        if stream == "enrollments" and len(list(tmp_path.iterdir())) > 4:
            os._exit(9)  # as if the OOM killer took it: no cleanup, no report

    _recording(monkeypatch, tmp_path, wrap=die_in_enrollments)
    details, enrollments = sync_full(client=leap)

    assert details.status == RunStatus.SUCCEEDED
    assert enrollments.status == RunStatus.FAILED
    assert "stopped unexpectedly (exit code 9)" in enrollments.error
    cursor = SyncCursor.objects.get(stream="enrollments")
    assert cursor.locked_by_id is None and cursor.cursor is None

    monkeypatch.undo()
    assert [run.status for run in sync_incremental(client=leap)] == [RunStatus.SUCCEEDED] * 2
    assert database_differences(simulator) == []


@pytest.mark.django_db
def test_inside_a_transaction_the_streams_run_in_this_process(settings):
    # Forked processes could not see the uncommitted rows (this test's own transaction).
    assert not can_run_in_parallel(["details", "enrollments"])
    assert not can_run_in_parallel(["details"])


def test_a_page_picked_as_a_deadlock_victim_is_applied_again_and_counted_once(monkeypatch):
    from leapsync import sync as engine

    deadlock = _deadlock()
    attempts = []

    def apply(raws, ctx):
        ctx.stats.meters_seen += len(raws)
        ctx.stats.warn("odd")
        attempts.append(1)
        if len(attempts) < 3:
            raise deadlock

    monkeypatch.setitem(engine._APPLY, "details", apply)
    stats = RunStats()
    _apply_page("details", [{}, {}], run=None, stats=stats)
    assert len(attempts) == 3
    assert stats.meters_seen == 2
    assert stats.warnings == {"odd": 1}


def test_a_deadlock_that_persists_fails_the_page(monkeypatch):
    from leapsync import sync as engine

    deadlock = _deadlock()

    def apply(raws, ctx):
        raise deadlock

    monkeypatch.setitem(engine._APPLY, "details", apply)
    with pytest.raises(OperationalError):
        _apply_page("details", [{}], run=None, stats=RunStats())


def test_other_database_errors_are_not_retried(monkeypatch):
    from leapsync import sync as engine

    attempts = []

    def apply(raws, ctx):
        attempts.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setitem(engine._APPLY, "details", apply)
    with pytest.raises(OperationalError):
        _apply_page("details", [{}], run=None, stats=RunStats())
    assert len(attempts) == 1


@pytest.mark.django_db(transaction=True)
def test_with_another_threads_connection_open_the_streams_run_here_and_it_survives(
    simulator, leap, monkeypatch, tmp_path
):
    """A fork would make the server close the other thread's connection (libpq's goodbye on
    the socket the child shares); so no fork then, as with a test live server's thread."""
    import threading

    from django.db import connections

    _needs_postgres()
    _recording(monkeypatch, tmp_path)
    opened, release, done = threading.Event(), threading.Event(), []

    def other_thread():
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            opened.set()
            release.wait(60)
            cursor.execute("SELECT 2")  # still alive after the sync
            done.append(cursor.fetchone()[0])
        connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    opened.wait(10)
    try:
        runs = sync_full(client=leap)
    finally:
        release.set()
        thread.join(30)
    assert [run.status for run in runs] == [RunStatus.SUCCEEDED] * 2
    assert {name.split("-")[1] for name in os.listdir(tmp_path)} == {str(os.getpid())}
    assert done == [2]


def test_the_open_connection_scan_passes_over_weak_proxies_whose_object_is_gone():
    """A library may keep a weakref.proxy whose object has died (the API's did): the scan
    for other threads' connections must step over it, not raise ReferenceError."""
    import weakref

    from leapsync.sync import parallel

    class Thing:
        pass

    thing = Thing()
    kept = [weakref.proxy(thing)]
    del thing
    assert kept and parallel._connections_open_elsewhere() in (True, False)


def test_the_open_connection_scan_never_evaluates_a_lazy_object():
    """A lazy object left in memory (the navigation's "My actions" count is one) must not be
    evaluated by the scan: asked for its class, it ran its query and reopened this thread's
    connection just before the fork, and parent and child then shared one socket (a sync
    hung waiting for a reply the other process had read)."""
    from django.utils.functional import SimpleLazyObject

    from leapsync.sync import parallel

    evaluated = []
    kept = SimpleLazyObject(lambda: evaluated.append("evaluated") or 1)
    assert parallel._connections_open_elsewhere() in (True, False)
    assert evaluated == []
    assert kept == 1 and evaluated == ["evaluated"]  # it was a live lazy object all along


@pytest.mark.django_db(transaction=True)
def test_the_scan_leaves_a_fragments_unshown_count_alone_and_the_connection_closed(ops_client):
    """The case the hung sync came from: an htmx fragment shows no navigation, so its context
    keeps the "My actions" count unevaluated. The scan before a fork must leave it so, and this
    thread's connection closed (evaluating the count reopened it)."""
    from django.db import connections
    from django.urls import reverse

    from leapsync.sync import parallel

    response = ops_client.get(reverse("actions:action_list"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    connections.close_all()
    if connection.connection is not None:
        pytest.skip("an in-memory SQLite database keeps its connection open")
    parallel._connections_open_elsewhere()
    assert connection.connection is None
    assert response.context["my_actions_count"] is not None  # it was there to be evaluated
