"""A run's lifecycle: the per-stream lock, heartbeats, the cursor, and the SyncRun record."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from leapsync.models import RangeStatus, RunStatus, SyncCursor, SyncMode, SyncRange, SyncRun
from leapsync.signals import run_finished
from leapsync.sync.common import RunStats
from leapsync.sync.locks import StreamLock, ranges_holder, stream_lock

logger = logging.getLogger("leapsync.sync")

CURSOR_MODES = (SyncMode.FULL, SyncMode.INCREMENTAL)
# The lock each run of this process holds (the run's pk), to check and release it.
_HELD: dict[int, StreamLock] = {}
# The lease's timestamp is rewritten at most this often (seconds) while a run goes.
HEARTBEAT_EVERY = 60.0
_LAST_BEAT: dict[int, float] = {}


class StreamBusy(Exception):
    """Another run holds this stream's lock; this one did nothing (`run` records the skip)."""

    def __init__(self, run: SyncRun) -> None:
        super().__init__(run.error)
        self.run = run


class LockLost(Exception):
    """This run's lock was taken over (its holder was presumed dead); it must stop writing."""


def acquire(stream: str, run: SyncRun) -> bool:
    """Take the stream's lock for `run` (see `locks`); mark runs whose holder died abandoned."""
    lock = stream_lock(stream)
    if not lock.acquire(run):
        return False
    _HELD[run.pk] = lock
    abandoned = SyncRun.objects.filter(stream=stream, status=RunStatus.RUNNING, pk__lt=run.pk)
    SyncRange.objects.filter(
        run__in=abandoned, status__in=(RangeStatus.QUEUED, RangeStatus.RUNNING)
    ).update(status=RangeStatus.CANCELLED, finished_at=timezone.now())
    abandoned.update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        error="Abandoned: the process stopped without finishing (its lock died with it).",
    )
    return True


def heartbeat(run: SyncRun) -> None:
    """Prove this run is alive; raise LockLost if its lock is gone or another run took it.

    Called before every page. The lock itself is checked every time; the lease's timestamp is
    written at most every HEARTBEAT_EVERY (a row write per page bought nothing: a lease is
    presumed dead only after LOCK_STALE_AFTER, many heartbeats later).
    """
    lock = _HELD.get(run.pk)
    if lock is not None and not lock.still_held():
        raise LockLost(f"run {run.pk} lost the {run.stream} lock")
    now = time.monotonic()
    if now - _LAST_BEAT.get(run.pk, -HEARTBEAT_EVERY) < HEARTBEAT_EVERY:
        return
    alive = SyncCursor.objects.filter(stream=run.stream, locked_by=run).update(
        heartbeat_at=timezone.now()
    )
    if not alive:
        raise LockLost(f"run {run.pk} lost the {run.stream} lock")
    _LAST_BEAT[run.pk] = now


def release(run: SyncRun) -> None:
    """Clear the stream's row, if this run still holds it (the lock itself: `let_go`)."""
    SyncCursor.objects.filter(stream=run.stream, locked_by=run).update(
        locked_by=None, holder="", heartbeat_at=None
    )


def let_go(run: SyncRun) -> None:
    """Release the lock this process holds for `run`, after its outcome is committed."""
    _LAST_BEAT.pop(run.pk, None)
    lock = _HELD.pop(run.pk, None)
    if lock is not None:
        lock.release()


def current_cursor(stream: str) -> datetime | None:
    row = SyncCursor.objects.filter(stream=stream).only("cursor").first()
    return row.cursor if row else None


def _acquire_or_skip(stream: str, run: SyncRun) -> None:
    """Take the stream's lock for `run`, or record the run skipped and raise StreamBusy."""
    if not acquire(stream, run):
        run.status = RunStatus.SKIPPED
        run.finished_at = timezone.now()
        run.error = f"Another {stream} run is in progress; this one did nothing."
        run.save(update_fields=["status", "finished_at", "error"])
        raise StreamBusy(run)


@contextmanager
def stream_run(stream: str, mode: str, *, trigger: str, stats: RunStats) -> Iterator[SyncRun]:
    """Run one stream under its lock; record the outcome whatever happens (try/finally).

    Raises StreamBusy (after recording a skipped run) when another run holds the lock.
    The cursor is advanced only here, only on success, and never backwards.
    """
    run = SyncRun.objects.create(stream=stream, mode=mode, trigger=trigger)
    _acquire_or_skip(stream, run)
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
        try:
            _finish(run, stats)
        finally:
            let_go(run)  # even when the outcome could not be written (database gone)
        _announce(run)


@contextmanager
def split_run(stream: str, *, trigger: str) -> Iterator[SyncRun]:
    """Start a full run of `stream` whose ranges will run elsewhere (`ranges.py`).

    Takes the stream's lock like `stream_run` (raising StreamBusy after recording a skipped
    run); once the body has set the ranges up, the lock becomes the ranges' lease on the
    stream's row and this process lets go. If the body fails, the run is recorded failed.
    """
    run = SyncRun.objects.create(stream=stream, mode=SyncMode.FULL, trigger=trigger)
    _acquire_or_skip(stream, run)
    try:
        run.cursor_used = current_cursor(stream)
        run.save(update_fields=["cursor_used"])
        yield run
    except BaseException as error:
        run.status = RunStatus.FAILED
        run.error = f"{type(error).__name__}: {error}"[:5000]
        logger.warning("split run %s (%s) failed to start: %s", run.pk, stream, run.error)
        try:
            _finish(run, RunStats())
        finally:
            let_go(run)
        _announce(run)
        raise
    try:
        SyncCursor.objects.filter(stream=stream, locked_by=run).update(
            holder=ranges_holder(run), heartbeat_at=timezone.now()
        )
    finally:
        let_go(run)


def claim_closing(run: SyncRun) -> bool:
    """Whether this process is the one to close a split run (compare-and-set on its lease,
    which stays a ranges lease, so the stream stays held until the run is closed)."""
    holder = ranges_holder(run)
    return bool(
        SyncCursor.objects.filter(stream=run.stream, locked_by=run, holder=holder).update(
            holder=f"{holder} (closing)", heartbeat_at=timezone.now()
        )
    )


def close_split_run(run: SyncRun, stats: RunStats) -> None:
    """Record a split run's outcome (set on `run`), move the cursor if it succeeded, free the
    stream, and announce it, as `stream_run` does for a run in one process."""
    try:
        _finish(run, stats)
    finally:
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
