"""The sync survives its database restarting mid-run and the Leap API being down for an hour."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from leapsync.models import RunStatus, SyncCursor, SyncRun
from leapsync.sync import sync_full, sync_incremental
from tests.helpers import database_differences

pytestmark = pytest.mark.django_db


def _terminate(pid: int) -> None:
    """What a database restart does to our session: kill its backend from outside."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sync_survives_its_database_connection_dying_at_a_page_boundary(
    simulator, leap, monkeypatch, settings
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (pg_terminate_backend)")
    from leapsync import sync as engine

    settings.SYNC_PARALLEL_STREAMS = False  # the streams in this process: its connection dies
    original = engine._APPLY["details"]
    applied = []

    def apply_then_die(raws, ctx):
        original(raws, ctx)
        applied.append(ctx)
        if len(applied) == 3:
            _terminate(connection.connection.info.backend_pid)

    monkeypatch.setitem(engine._APPLY, "details", apply_then_die)
    with pytest.raises(Exception):  # noqa: B017 - psycopg/Django error types vary by moment
        sync_full(client=leap)
    connection.close()  # what the next task on a django-q2 worker starts with
    monkeypatch.setitem(engine._APPLY, "details", original)

    dead = SyncRun.objects.get(stream="details")
    assert dead.status == RunStatus.RUNNING  # it could not record its own end
    assert SyncCursor.objects.get(stream="details").cursor is None

    # Its lock went with its failure (the lock has a connection of its own): the next run
    # takes the stream at once, records the dead run as abandoned, and converges.
    assert [run.status for run in sync_full(client=leap)] == [RunStatus.SUCCEEDED] * 2
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED
    assert "Abandoned" in dead.error
    assert not SyncCursor.objects.filter(locked_by__isnull=False).exists()
    assert database_differences(simulator) == []


def test_leap_down_for_an_hour_shows_stale_data_then_the_next_run_converges(
    simulator, leap, ops_client, settings
):
    """Retries give up, runs are recorded failed, the dashboard and /readyz say the data is
    stale while Leap is down, and the first scheduled run after it converges."""
    settings.SYNC_FRESHNESS_MINUTES = 60
    assert [run.status for run in sync_full(client=leap)] == [RunStatus.SUCCEEDED] * 2
    assert ops_client.get(reverse("readyz")).status_code == 200
    simulator.mutate(0.2, seed=5)
    simulator.faults(1.0, kinds=["503"])
    for hour in (0.5, 1.0, 1.5):  # the hourly schedule keeps trying through the outage
        with time_machine.travel(timedelta(hours=hour)):
            runs = sync_incremental(client=leap)
            assert {run.status for run in runs} == {RunStatus.FAILED}
    with time_machine.travel(timedelta(hours=1.5)):
        page = ops_client.get(reverse("dashboard")).content.decode()
        assert page.count("older than 60 min") == 2
        assert ops_client.get(reverse("readyz")).status_code == 503
        assert not SyncCursor.objects.filter(locked_by__isnull=False).exists()
        simulator.faults(0)
        assert [run.status for run in sync_incremental(client=leap)] == [RunStatus.SUCCEEDED] * 2
        assert ops_client.get(reverse("readyz")).status_code == 200
        assert "older than 60 min" not in ops_client.get(reverse("dashboard")).content.decode()
    assert database_differences(simulator) == []
