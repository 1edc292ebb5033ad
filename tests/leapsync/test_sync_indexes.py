"""A first full load adds secondary indexes and foreign keys at the end, and never loses one
(PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.db import connection

from leapsync.models import RunStatus, SyncCursor
from leapsync.sync import sync_full, sync_incremental
from leapsync.sync.indexes import TABLES, drop, rebuild
from tests.helpers import database_differences

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("indexes are deferred on PostgreSQL only")


def _indexes() -> set[str]:
    """Every index and foreign key of the inventory tables, with its definition."""
    tables = [model._meta.db_table for models in TABLES.values() for model in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE tablename = ANY(%s)"
            " UNION ALL"
            " SELECT conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated"
            " FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
            [tables, tables],
        )
        return {row[0] for row in cursor.fetchall()}


def _spy_on_pages(monkeypatch, folder) -> Callable[[], set[int]]:
    """Note how many indexes there are as each page is applied (in whichever process)."""
    from leapsync import sync as engine

    for stream, original in list(engine._APPLY.items()):

        def apply(raws, ctx, original=original):
            (folder / f"{len(_indexes())}-{uuid.uuid4()}").touch()
            return original(raws, ctx)

        monkeypatch.setitem(engine._APPLY, stream, apply)
    return lambda: {int(path.name.split("-")[0]) for path in folder.iterdir()}


def test_a_first_full_load_runs_without_secondary_indexes_then_has_them_all(
    simulator, leap, monkeypatch, tmp_path
):
    before = _indexes()
    seen = _spy_on_pages(monkeypatch, tmp_path)

    assert [run.status for run in sync_full(client=leap)] == [RunStatus.SUCCEEDED] * 2

    assert max(seen()) < len(before)  # the pages were written without them
    assert _indexes() == before  # and every one is back, exactly as it was
    assert not SyncCursor.objects.exclude(deferred_indexes=[]).exists()
    assert database_differences(simulator) == []


def test_later_runs_keep_their_indexes(simulator, leap, monkeypatch, tmp_path):
    sync_full(client=leap)
    before = _indexes()
    seen = _spy_on_pages(monkeypatch, tmp_path)
    simulator.mutate(0.2, seed=3)
    sync_full(client=leap)
    sync_incremental(client=leap)
    assert seen() == {len(before)}
    assert _indexes() == before


def test_a_failed_first_load_still_rebuilds_its_indexes(simulator, leap, monkeypatch):
    from leapsync import sync as engine

    before = _indexes()

    def crash(raws, ctx):
        raise ConnectionError("Leap went away")

    monkeypatch.setitem(engine._APPLY, "enrollments", crash)
    details, enrollments = sync_full(client=leap)
    assert (details.status, enrollments.status) == (RunStatus.SUCCEEDED, RunStatus.FAILED)
    assert _indexes() == before


def test_indexes_a_killed_run_left_dropped_are_rebuilt_by_the_next_run(simulator, leap):
    before = _indexes()
    SyncCursor.objects.get_or_create(stream="enrollments")
    dropped = drop("enrollments")  # what a run killed before its `finally` leaves behind
    assert dropped and _indexes() < before
    assert any("_fk_" in name for name in dropped)  # foreign keys as well as indexes
    assert len(SyncCursor.objects.get(stream="enrollments").deferred_indexes) == len(dropped)

    sync_incremental(client=leap)

    assert _indexes() == before
    assert rebuild("enrollments") == 0
