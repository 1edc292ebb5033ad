"""Running the streams side by side, one process each (this one and forked children).

The details and the enrollments stream share nothing but the Meter rows (upserted by meter_id,
so either may create one), and each has its own lock, cursor and SyncRun. A full sync is CPU
bound in Python (decoding, hashing, building rows) for much of its time, so on a machine with
two or more cores running the streams in two processes nearly halves its wall time.

Only where it is safe: PostgreSQL (SQLite allows one writer at a time), outside a transaction
(a forked process could not see uncommitted rows), in a process allowed to have children
(django-q2 workers are, with `daemonize_workers` off), and with no other thread holding a
database connection (the fork would close it). Everywhere else the streams run one after the
other, as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from leapsync.leap.client import LeapClient
from leapsync.models import RunStatus, SyncRun
from leapsync.sync.runs import release

logger = logging.getLogger("leapsync.sync")

RunOne = Callable[[str, LeapClient | None], SyncRun]
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# A child told to stop records its run and lets its lock go within this; then it is killed.
CHILD_STOP_SECONDS = 10


def run_streams(
    streams: Sequence[str], run_one: RunOne, client: LeapClient | None
) -> list[SyncRun]:
    """`run_one(stream, client)` for each stream: in parallel processes when safe, else in turn."""
    if not can_run_in_parallel(streams):
        return [run_one(stream, client) for stream in streams]
    last_pk = SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    connections.close_all()  # each process opens its own; none may share a socket
    if _connections_open_elsewhere():
        return [run_one(stream, client) for stream in streams]
    context = multiprocessing.get_context("fork")
    # The first stream runs here and the others in children: a process idling while its
    # children work would add its whole footprint to the sync's memory for nothing.
    children = []
    for stream in streams[1:]:
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(
            target=_child,
            args=(stream, run_one, client, writer, os.getpid()),
            name=f"leapsync-sync-{stream}",
        )
        process.start()
        writer.close()
        children.append((stream, process, reader))
    try:
        own = run_one(streams[0], client)
        reports = [(stream, _report(reader), process) for stream, process, reader in children]
    except BaseException:  # this process is being stopped (SIGTERM, Ctrl-C): so are its children
        _stop(process for _, process, _ in children)
        raise
    for _, process, _ in children:
        process.join()
    return [own] + [
        SyncRun.objects.get(pk=run_pk)
        if run_pk is not None
        else _lost(stream, last_pk, process.exitcode)
        for stream, run_pk, process in reports
    ]


def _report(reader: Connection) -> int | None:
    """The pk of the run a child finished, or None if it died before reporting."""
    try:
        run_pk: int = reader.recv()  # what `_child` sends
    except EOFError:
        return None
    return run_pk


def _stop(processes: Iterable[BaseProcess]) -> None:
    """Tell each child still running to stop, give it time to record its run, then kill it."""
    for process in processes:
        if process.is_alive():
            process.terminate()
        process.join(timeout=CHILD_STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


def can_run_in_parallel(streams: Sequence[str]) -> bool:
    return (
        len(streams) > 1
        and settings.SYNC_PARALLEL_STREAMS
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not multiprocessing.current_process().daemon
        and "fork" in multiprocessing.get_all_start_methods()
    )


def _connections_open_elsewhere() -> bool:
    """Whether another thread of this process holds an open database connection.

    A forked child drops the other threads' state, and libpq then says goodbye on each of
    their connections' sockets, which the child shares with this process: the server closes
    those connections under their threads (seen with a test live server's thread). Ours are
    closed just before; if any other is open, the streams run in turn instead.

    Each object's real type is checked, never `isinstance`: that asks an object for its
    `__class__`, which a lazy object answers by evaluating itself (one that runs a query, such
    as the navigation's "My actions" count, would reopen this thread's connection just before
    the fork: parent and child then share one socket and a reply reaches the wrong process, as
    a hung sync in the test suite showed), and a weak proxy whose object has died answers by
    raising ReferenceError.
    """
    import psycopg

    return any(
        issubclass(type(obj), psycopg.Connection) and not obj.closed for obj in gc.get_objects()
    )


def _child(
    stream: str, run_one: RunOne, client: LeapClient | None, writer: Connection, parent: int
) -> None:
    _die_with_parent(parent)
    own = client.for_new_process() if client is not None else None
    try:
        run = run_one(stream, own)
        writer.send(run.pk)
    finally:
        writer.close()
        if own is not None:
            own.close()
        connections.close_all()


def _die_with_parent(parent: int) -> None:
    """Make SIGTERM stop this child cleanly (its run recorded failed, its lock released) and
    have the kernel send it when the parent dies, however it dies (Linux; elsewhere the
    parent's own `finally` terminates its children, which covers all but SIGKILL)."""
    signal.signal(signal.SIGTERM, _stop_run)
    with suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above took effect
        _stop_run(signal.SIGTERM, None)


def _stop_run(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(f"stopped by signal {signal.Signals(signum).name} (the sync was stopped)")


def _lost(stream: str, after_pk: int, exitcode: int | None) -> SyncRun:
    """The stream's process died without reporting: fail its run and free its lock at once."""
    error = f"The {stream} sync process stopped unexpectedly (exit code {exitcode})."
    run = SyncRun.objects.filter(stream=stream, pk__gt=after_pk).order_by("-pk").first()
    if run is None:
        return SyncRun.objects.create(
            stream=stream,
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            error=error,
        )
    if run.status == RunStatus.RUNNING:
        run.status, run.finished_at, run.error = RunStatus.FAILED, timezone.now(), error
        run.save(update_fields=["status", "finished_at", "error"])
        release(run)  # the lock itself died with the process
    logger.warning("%s", error)
    return run
