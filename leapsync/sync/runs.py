"""A run's lifecycle: the per-stream lock, heartbeats, the cursor, and the SyncRun record."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from leapsync.models import RunStatus, SyncCursor, SyncMode, SyncRun
from leapsync.signals import run_finished
from leapsync.sync.common import RunStats

logger = logging.getLogger("leapsync.sync")

# A lock holder that has not written a heartbeat for this long is presumed dead (killed
# process, lost machine). One page, even after the client's retries, takes far less.
LOCK_STALE_AFTER = timedelta(minutes=15)

CURSOR_MODES = (SyncMode.FULL, SyncMode.INCREMENTAL)


class StreamBusy(Exception):
    """Another run holds this stream's lock; this one did nothing (`run` records the skip)."""

    def __init__(self, run: SyncRun) -> None:
        super().__init__(run.error)
        self.run = run


class LockLost(Exception):
    """This run's lock was taken over (it was presumed dead); it must stop writing."""


def acquire(stream: str, run: SyncRun) -> bool:
    """Take the stream's lock with one conditional UPDATE: atomic on SQLite and PostgreSQL."""
    SyncCursor.objects.get_or_create(stream=stream)
    now = timezone.now()
    free = Q(locked_by__isnull=True) | Q(heartbeat_at__lt=now - LOCK_STALE_AFTER)
    taken = (
        SyncCursor.objects.filter(free, stream=stream).update(locked_by=run, heartbeat_at=now) == 1
    )
    if taken:
        abandoned = SyncRun.objects.filter(stream=stream, status=RunStatus.RUNNING).exclude(
            pk=run.pk
        )
        abandoned.update(
            status=RunStatus.FAILED,
            finished_at=now,
            error="Abandoned: the process stopped without finishing (its lock went stale).",
        )
    return taken


def heartbeat(run: SyncRun) -> None:
    """Prove this run is alive; raise LockLost if another run has taken the lock over."""
    alive = SyncCursor.objects.filter(stream=run.stream, locked_by=run).update(
        heartbeat_at=timezone.now()
    )
    if not alive:
        raise LockLost(f"run {run.pk} lost the {run.stream} lock")


def release(run: SyncRun) -> None:
    SyncCursor.objects.filter(stream=run.stream, locked_by=run).update(
        locked_by=None, heartbeat_at=None
    )


def current_cursor(stream: str) -> datetime | None:
    row = SyncCursor.objects.filter(stream=stream).only("cursor").first()
    return row.cursor if row else None


@contextmanager
def stream_run(stream: str, mode: str, *, trigger: str, stats: RunStats) -> Iterator[SyncRun]:
    """Run one stream under its lock; record the outcome whatever happens (try/finally).

    Raises StreamBusy (after recording a skipped run) when another run holds the lock.
    The cursor is advanced only here, only on success, and never backwards.
    """
    run = SyncRun.objects.create(stream=stream, mode=mode, trigger=trigger)
    if not acquire(stream, run):
        run.status = RunStatus.SKIPPED
        run.finished_at = timezone.now()
        run.error = f"Another {stream} run is in progress; this one did nothing."
        run.save(update_fields=["status", "finished_at", "error"])
        raise StreamBusy(run)
    try:
        run.cursor_used = current_cursor(stream)
        yield run
        run.status = RunStatus.SUCCEEDED
    except BaseException as error:
        run.status = RunStatus.FAILED
        run.error = f"{type(error).__name__}: {error}"[:5000]
        logger.warning("sync run %s (%s %s) failed: %s", run.pk, mode, stream, run.error)
        raise
    finally:
        _finish(run, stats)
        _announce(run)


def _finish(run: SyncRun, stats: RunStats) -> None:
    stats.save_onto(run)
    run.finished_at = timezone.now()
    with transaction.atomic():
        run.save()
        # A targeted or stale refresh sees only some meters: moving the cursor past changes
        # to the others would lose them.
        if run.status == RunStatus.SUCCEEDED and run.mode in CURSOR_MODES:
            _advance_cursor(run, stats.cursor_reached)
        release(run)


def _announce(run: SyncRun) -> None:
    for receiver, outcome in run_finished.send_robust(sender=SyncRun, run=run):
        if isinstance(outcome, Exception):
            logger.error(
                "after sync run %s: %s failed: %r", run.pk, receiver, outcome, exc_info=outcome
            )


def _advance_cursor(run: SyncRun, reached: datetime | None) -> None:
    cursor = SyncCursor.objects.get(stream=run.stream)
    cursor.last_success = run
    if reached is not None and (cursor.cursor is None or reached > cursor.cursor):
        cursor.cursor = reached
    cursor.save(update_fields=["cursor", "last_success"])
