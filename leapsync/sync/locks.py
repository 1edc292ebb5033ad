"""The per-stream lock: one run per stream at a time, and a lock that dies with its holder.

A run killed mid-way (SIGKILL, a gunicorn worker timed out, a machine lost) must never block
the next run for more than seconds, so the truth about "held" is never a row someone forgot
to clear:

- PostgreSQL: a session-level advisory lock, taken on a connection of the lock's own. The
  server releases it the moment that connection drops, whatever killed the holder, on any
  machine. The sync's own connection can be closed and reopened (a database restart) without
  touching the lock's.
- SQLite (one machine by nature): the holder's identity (host, PID and the process's start
  time, so a reused PID is not mistaken for it) is written on the stream's SyncCursor row with
  a compare-and-set UPDATE; a lock whose holder process is gone is free at once. A holder on
  another host, which cannot be asked, is presumed dead once its heartbeat is older than
  LOCK_STALE_AFTER.

Either way the SyncCursor row also records which run holds the stream (`locked_by`), for the
Sync page, admin and `/readyz`.

A full run split into ranges (`ranges.py`) runs on any number of processes and machines, so no
process holds it: its run takes the lock as above, then turns it into a lease on the row
(`holder` = `ranges_holder(run)`), kept alive by the ranges' heartbeats and presumed dead only
after LOCK_STALE_AFTER without one. Both locks count such a lease as held.
"""

from __future__ import annotations

import logging
import os
import socket
from contextlib import suppress
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

from leapsync.models import Stream, SyncCursor, SyncRun

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

logger = logging.getLogger("leapsync.sync")

# Last resort only: a holder whose process cannot be checked (another host, SQLite) and that
# has written no heartbeat for this long is presumed dead. Heartbeats come with every page.
LOCK_STALE_AFTER = timedelta(minutes=15)
# The holder written on the stream's row while a split full run's ranges hold the stream.
RANGES_HOLDER = "ranges of run "
# The advisory lock's two keys: leapsync's namespace ("LS") and the stream.
ADVISORY_NAMESPACE = 0x4C53
ADVISORY_KEYS: dict[str, int] = {Stream.DETAILS: 1, Stream.ENROLLMENTS: 2}


# --- who holds it --------------------------------------------------------------------------------


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # Field 22; the command name (field 2) may hold spaces, so count from its ")".
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def process_identity(pid: int | None = None) -> str:
    """`host:pid:start` of a process (this one by default): who holds a lock."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def identity_alive(identity: str) -> bool | None:
    """Whether the process behind `identity` still runs; None when it cannot be told."""
    host, _, rest = identity.partition(":")
    pid_text, _, start = rest.partition(":")
    if not identity or host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return not start or _start_ticks(pid) in ("", start)


def ranges_holder(run: SyncRun) -> str:
    """The lease holder of a split run, whose ranges run in processes nobody can name."""
    return f"{RANGES_HOLDER}{run.pk}"


def _ranges_lease_alive(locked_by: int | None, holder: str, beat: datetime | None) -> bool:
    """Whether a split run's ranges hold the stream (their lease, alive by its heartbeat)."""
    return locked_by is not None and holder.startswith(RANGES_HOLDER) and _lease_alive(holder, beat)


# --- the lock itself -----------------------------------------------------------------------------


class StreamLock:
    """SQLite and any other database: a lease on the SyncCursor row, checked against its holder."""

    def __init__(self, stream: str) -> None:
        self.stream = stream

    def acquire(self, run: SyncRun) -> bool:
        """Take the stream for `run` with one compare-and-set UPDATE; False when it is busy."""
        SyncCursor.objects.get_or_create(stream=self.stream)
        row = SyncCursor.objects.values("locked_by", "holder", "heartbeat_at").get(
            stream=self.stream
        )
        if row["locked_by"] is not None and _lease_alive(row["holder"], row["heartbeat_at"]):
            return False
        unchanged = Q(stream=self.stream, holder=row["holder"]) & (
            Q(locked_by=row["locked_by"]) if row["locked_by"] else Q(locked_by__isnull=True)
        )
        taken = SyncCursor.objects.filter(unchanged).update(
            locked_by=run, holder=process_identity(), heartbeat_at=timezone.now()
        )
        return taken == 1

    def still_held(self) -> bool:
        """The lease is renewed by the heartbeat itself; nothing else can take it silently."""
        return True

    def release(self) -> None:
        """Nothing beyond clearing the row, which the run's bookkeeping does."""


class AdvisoryLock(StreamLock):
    """PostgreSQL: a session-level advisory lock on a connection of its own."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._connection: psycopg.Connection[TupleRow] | None = None

    def acquire(self, run: SyncRun) -> bool:
        """The advisory lock, unless a split run's ranges hold the stream (their lease is on
        the row: checked under the advisory lock, so two runs never both pass)."""
        if not self._try_lock():
            return False
        SyncCursor.objects.get_or_create(stream=self.stream)
        row = SyncCursor.objects.values_list("locked_by", "holder", "heartbeat_at").get(
            stream=self.stream
        )
        if _ranges_lease_alive(*row):
            self.release()
            return False
        SyncCursor.objects.filter(stream=self.stream).update(
            locked_by=run, holder=process_identity(), heartbeat_at=timezone.now()
        )
        return True

    def still_held(self) -> bool:
        """True while our lock connection lives; after it dropped (a database restart), only
        if the lock could be taken again before anyone else took it."""
        if self._connection_alive():
            return True
        logger.warning("the %s lock's connection dropped; taking the lock again", self.stream)
        self._close()
        try:
            return self._try_lock()
        except DatabaseError:
            return False

    def _connection_alive(self) -> bool:
        if self._connection is None:  # dropped before, and not taken again since
            return False
        try:
            self._connection.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure of that connection means it is gone
            return False
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        # Closing the connection releases the lock all the same, if unlocking fails.
        with suppress(Exception):
            self._connection.execute("SELECT pg_advisory_unlock(%s, %s)", self._keys())
        self._close()

    def _keys(self) -> tuple[int, int]:
        return ADVISORY_NAMESPACE, ADVISORY_KEYS[self.stream]

    def _try_lock(self) -> bool:
        self._connection = open_lock_connection()
        [(taken,)] = self._connection.execute(  # one row of one column
            "SELECT pg_try_advisory_lock(%s, %s)", self._keys()
        ).fetchall()
        if not taken:
            self._close()
        return bool(taken)

    def _close(self) -> None:
        if self._connection is not None:
            with suppress(Exception):  # already broken
                self._connection.close()
            self._connection = None


def open_lock_connection() -> psycopg.Connection[TupleRow]:
    """A new autocommit connection with the default database's settings (no transaction
    ever stays open on it, so it holds nothing but the lock)."""
    import psycopg

    params = connection.get_connection_params()
    for django_only in ("cursor_factory", "prepare_threshold", "server_side_binding", "context"):
        params.pop(django_only, None)
    params["application_name"] = "leapsync stream lock"
    try:
        return psycopg.connect(**params, autocommit=True)
    except psycopg.Error as error:
        raise DatabaseError(f"could not open the stream lock's connection: {error}") from error


def stream_lock(stream: str) -> StreamLock:
    """The lock for `stream` on the default database's engine."""
    return AdvisoryLock(stream) if connection.vendor == "postgresql" else StreamLock(stream)


# --- is it held? (read-only: /readyz, the Sync page, webhook refreshes) --------------------------


def _lease_alive(holder: str, heartbeat_at: datetime | None) -> bool:
    alive = identity_alive(holder)
    if alive is False:
        return False
    return heartbeat_at is not None and heartbeat_at >= timezone.now() - LOCK_STALE_AFTER


@cache
def _advisory_lock_sql() -> str:
    return (
        "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        f"AND classid = {ADVISORY_NAMESPACE} AND objsubid = 2"
    )


def held_streams() -> set[str]:
    """The streams whose lock a live holder has now (never takes or waits for a lock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_advisory_lock_sql())
            keys = {objid for (objid,) in cursor.fetchall()}
        leases = SyncCursor.objects.filter(holder__startswith=RANGES_HOLDER).values_list(
            "stream", "locked_by", "holder", "heartbeat_at"
        )
        leased = {
            stream for stream, by, holder, beat in leases if _ranges_lease_alive(by, holder, beat)
        }
        return {stream for stream, key in ADVISORY_KEYS.items() if key in keys} | leased
    rows = SyncCursor.objects.filter(locked_by__isnull=False).values_list(
        "stream", "holder", "heartbeat_at"
    )
    return {stream for stream, holder, beat in rows if _lease_alive(holder, beat)}
