"""The per-stream lock dies with its holder: a killed run never blocks the next one for more
than seconds, a skipped run says so and exits non-zero, and /readyz tells the truth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leapsync.models import RunStatus, Stream, SyncCursor, SyncRun
from leapsync.simulator import LeapSimulator, serve
from leapsync.sync import sync_full, sync_incremental
from leapsync.sync.locks import LOCK_STALE_AFTER, held_streams, identity_alive, process_identity
from leapsync.tasks import SyncSkipped, run_incremental
from tests.helpers import API_KEY, stream_held_elsewhere

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_process_identity_tells_a_live_process_from_a_dead_one():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = process_identity(child.pid)
    assert identity_alive(identity) is True
    assert identity_alive(process_identity()) is True
    child.kill()
    child.wait()
    assert identity_alive(identity) is False
    # A reused PID is not the same process: its start time differs.
    host, pid, _ = process_identity().split(":")
    assert identity_alive(f"{host}:{pid}:1") is False
    assert identity_alive("another-host:1:1") is None  # cannot be asked: heartbeat decides
    assert identity_alive("") is None


def test_a_stream_held_elsewhere_is_held_until_its_holder_dies(simulator, leap):
    sync_full(client=leap)
    with stream_held_elsewhere(Stream.DETAILS) as holder:
        assert held_streams() == {Stream.DETAILS}
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 5
        while held_streams() and time.monotonic() < deadline:
            time.sleep(0.05)  # the server notices the dropped connection
        assert held_streams() == set()


def test_leap_sync_exits_3_when_a_stream_is_busy(simulator, leap, settings, monkeypatch):
    monkeypatch.setattr("leapsync.leap.client.LeapClient.from_settings", lambda: leap)
    busy = pytest.raises(CommandError, match="skipped details")
    with stream_held_elsewhere(Stream.DETAILS), busy as raised:
        call_command("leap_sync", "--incremental", stdout=StringIO(), stderr=StringIO())
    assert raised.value.returncode == 3
    assert SyncRun.objects.filter(stream="details", status=RunStatus.SKIPPED).count() == 1
    assert SyncRun.objects.get(stream="enrollments").status == RunStatus.SUCCEEDED


def test_scheduled_task_raises_when_a_stream_is_busy(simulator, leap, monkeypatch):
    monkeypatch.setattr("leapsync.leap.client.LeapClient.from_settings", lambda: leap)
    with stream_held_elsewhere(Stream.ENROLLMENTS), pytest.raises(SyncSkipped, match="skipped"):
        run_incremental()


def test_readyz_reports_a_stream_whose_run_is_stuck(simulator, leap, settings):
    settings.SYNC_FRESHNESS_MINUTES = 60
    sync_full(client=leap)
    assert Client().get(reverse("readyz")).status_code == 200
    with stream_held_elsewhere(Stream.DETAILS) as holder:
        # A live holder is a run in progress, not a problem.
        assert Client().get(reverse("readyz")).json()["streams"]["details"] == "fresh"
        holder.kill()
        holder.wait()
        time.sleep(0.2 if connection.vendor == "postgresql" else 0)
        response = Client().get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json() == {
        "status": "stuck",
        "streams": {"details": "stuck", "enrollments": "fresh"},
    }
    # The next run takes the stream at once and clears it.
    assert [run.status for run in sync_incremental(client=leap)] == [RunStatus.SUCCEEDED] * 2
    assert Client().get(reverse("readyz")).status_code == 200


def test_a_holder_on_another_host_is_trusted_until_its_heartbeat_is_stale(simulator, leap):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL's advisory lock needs no heartbeat")
    sync_full(client=leap)
    holder = SyncRun.objects.create(stream="details", mode="full", status=RunStatus.RUNNING)
    cursor = SyncCursor.objects.filter(stream="details")
    cursor.update(locked_by=holder, holder="another-host:42:1", heartbeat_at=timezone.now())
    assert sync_incremental(client=leap)[0].status == RunStatus.SKIPPED
    cursor.update(heartbeat_at=timezone.now() - LOCK_STALE_AFTER - timedelta(seconds=1))
    assert sync_incremental(client=leap)[0].status == RunStatus.SUCCEEDED


# --- a real leap_sync process, killed mid-run (PostgreSQL: it needs a database both see) ---------


@pytest.fixture
def slow_served_leap(monkeypatch) -> Iterator[str]:
    """The simulator over HTTP, answering each request after 0.15 s: a run takes a while."""
    simulator = LeapSimulator(meters=3000, seed=3, api_key=API_KEY)
    handle = simulator.handle

    def slow(*args, **kwargs):
        time.sleep(0.15)
        return handle(*args, **kwargs)

    monkeypatch.setattr(simulator, "handle", slow)
    server = serve(simulator, port=0)
    yield server.url
    server.stop()


def _database_url() -> str:
    """The test database, for a process of its own."""
    db = connection.settings_dict
    user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{user}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def _leap_sync(url: str, *args: str) -> subprocess.Popen:
    env = os.environ | {
        "DEBUG": "1",
        "DATABASE_URL": _database_url(),
        "LEAP_BASE_URL": url,
        "LEAP_API_KEY": API_KEY,
        "LEAP_PAGE_SIZE": "100",
        "SYNC_PARALLEL_STREAMS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "leap_sync", "--verbosity", "0", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _both_streams_running() -> bool:
    return SyncRun.objects.filter(status=RunStatus.RUNNING, pages__gte=1).count() == 2


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a separate process needs a database both can see (PostgreSQL)")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_killing_leap_sync_stops_its_children_and_frees_both_streams(
    postgres_only, slow_served_leap, settings
):
    settings.SYNC_FRESHNESS_MINUTES = 60
    process = _leap_sync(slow_served_leap, "--full")
    _wait_until(_both_streams_running)
    children = _children(process.pid)
    assert len(children) == 1  # the details stream runs in leap_sync, enrollments in a child
    os.kill(process.pid, signal.SIGKILL)  # the parent only, as `kill -9 PID` would
    process.wait()
    _wait_until(lambda: not any(_alive(child) for child in children), seconds=10)
    # The child was told to stop: it recorded its run and let its lock go. The parent's own
    # lock died with it (a session lock), its run left running for the next run to take over.
    _wait_until(lambda: not held_streams(), seconds=5)
    enrollments = SyncRun.objects.get(stream="enrollments")
    assert enrollments.status == RunStatus.FAILED
    assert "SIGTERM" in enrollments.error
    next_run = _leap_sync(slow_served_leap, "--incremental")
    assert next_run.wait(timeout=120) == 0, next_run.stderr.read().decode()
    details = SyncRun.objects.filter(stream="details").earliest("pk")
    assert details.status == RunStatus.FAILED
    assert "Abandoned" in details.error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_killed_outright_is_taken_over_at_once_and_readyz_says_stuck(
    postgres_only, slow_served_leap, settings
):
    settings.SYNC_FRESHNESS_MINUTES = 60
    process = _leap_sync(slow_served_leap, "--full")
    _wait_until(_both_streams_running)
    os.killpg(process.pid, signal.SIGKILL)  # parent and children, no chance to record
    process.wait()
    _wait_until(lambda: not held_streams(), seconds=5)
    killed = list(SyncRun.objects.all())
    assert {run.status for run in killed} == {RunStatus.RUNNING}
    response = Client().get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["streams"] == {"details": "stuck", "enrollments": "stuck"}

    # The next run does not wait for a lease to expire: it takes both streams at once.
    next_run = _leap_sync(slow_served_leap, "--incremental")
    assert next_run.wait(timeout=120) == 0, next_run.stderr.read().decode()
    killed = SyncRun.objects.filter(pk__in=[run.pk for run in killed])
    assert {run.status for run in killed} == {RunStatus.FAILED}
    assert all("Abandoned" in run.error for run in killed)
    assert Client().get(reverse("readyz")).json() == {
        "status": "ok",
        "streams": {"details": "fresh", "enrollments": "fresh"},
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_leap_sync_on_busy_streams_exits_3(postgres_only, slow_served_leap):
    first = _leap_sync(slow_served_leap, "--full")
    _wait_until(_both_streams_running)
    second = _leap_sync(slow_served_leap, "--incremental")
    assert second.wait(timeout=60) == 3
    assert b"another run holds the stream" in second.stderr.read()
    os.killpg(first.pid, signal.SIGTERM)
    first.wait(timeout=30)


def test_the_lease_is_renewed_once_a_minute_not_once_a_page(simulator, leap, monkeypatch):
    from leapsync.sync import runs

    beats = []

    def count(execute, sql, params, many, context):
        if sql.startswith('UPDATE "leapsync_synccursor" SET "heartbeat_at"'):
            beats.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        run = sync_full(client=leap, streams=("details",))[0]
    assert run.pages > 1 and len(beats) == 1  # the first page's
    beats.clear()
    monkeypatch.setattr(runs, "HEARTBEAT_EVERY", 0.0)
    with connection.execute_wrapper(count):
        run = sync_full(client=leap, streams=("details",))[0]
    assert len(beats) == run.pages  # due every page, it is written every page
