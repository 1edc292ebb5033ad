"""The sync pipeline: Leap pages -> parse -> upsert -> change events -> cursor.

Entry points (each runs the details and the enrollments stream, one SyncRun each; side by side
in two processes where that is safe, see `parallel`):
`sync_full`, `sync_incremental`, `sync_refresh(meter_ids)` and `sync_stale`. They record
failures on their runs rather than raising, so one stream failing never stops the other;
callers read the returned runs' `status`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Protocol, TypedDict
from uuid import UUID

from django.conf import settings
from django.db import OperationalError, connection, reset_queries, transaction
from django.db.models import QuerySet
from django.utils import timezone

from enrollments.models import MeterEnrollment
from leapsync.leap.client import LeapClient, Page
from leapsync.leap.errors import LeapError, LeapNotFoundError
from leapsync.lib.iterables import batched
from leapsync.models import RunStatus, Stream, SyncMode, SyncRun
from leapsync.sync.common import PageContext, RunStats, SeenMeters
from leapsync.sync.details import apply_details_page
from leapsync.sync.enrollments import apply_enrollments_page
from leapsync.sync.indexes import deferred_for_first_load
from leapsync.sync.parallel import run_streams
from leapsync.sync.planner import PlannerStatistics
from leapsync.sync.prefetch import prefetched
from leapsync.sync.runs import StreamBusy, current_cursor, heartbeat, stream_run
from meters.models import EventKind, Meter, MeterEvent

__all__ = ["StreamBusy", "sync_full", "sync_incremental", "sync_refresh", "sync_stale"]

logger = logging.getLogger("leapsync.sync")

STREAMS: tuple[str, ...] = (Stream.DETAILS, Stream.ENROLLMENTS)
# Leap's search accepts at most 1000 meter_ids per call.
REFRESH_BATCH = 1000
# The streams may run side by side (see `parallel`); a page PostgreSQL picks as a deadlock
# victim is applied again, this many times in all.
DEADLOCK_RETRIES = 3

Progress = Callable[[SyncRun, RunStats], None]
# Stores a run's counters after each page (`save_progress`; a range of a split run has its own).
SaveProgress = Callable[[SyncRun, RunStats], None]
_APPLY: dict[str, Callable[[list[Any], PageContext], None]] = {
    Stream.DETAILS: apply_details_page,
    Stream.ENROLLMENTS: apply_enrollments_page,
}


class SearchFilters(TypedDict, total=False):
    """The filters a run sends Leap's search (none: every meter)."""

    meter_ids: list[UUID]
    last_modified_date_time: datetime
    # A range of a split full run (`ranges`); Leap's bounds are exclusive at both ends.
    created_after_date_time: datetime
    created_before_date_time: datetime


class _Search(Protocol):
    """`LeapClient.search_meter_details` or `search_meter_enrollments`."""

    def __call__(
        self, filters: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> Iterator[Page]: ...


def sync_full(
    *,
    client: LeapClient | None = None,
    streams: Sequence[str] = STREAMS,
    trigger: str = "command",
    progress: Progress | None = None,
) -> list[SyncRun]:
    """Every meter of every stream; meters Leap no longer returns are flagged missing.

    A stored meter a listing left out is first asked for by meter_ids (`recheck_unseen`).
    """

    def run_one(stream: str, client: LeapClient | None) -> SyncRun:
        return _run(stream, SyncMode.FULL, [{}], client=client, trigger=trigger, progress=progress)

    return run_streams(streams, run_one, client)


def sync_incremental(
    *,
    client: LeapClient | None = None,
    streams: Sequence[str] = STREAMS,
    trigger: str = "command",
    progress: Progress | None = None,
    refresh_stale: bool = True,
    now: datetime | None = None,
) -> list[SyncRun]:
    """Meters Leap changed since each stream's cursor minus the overlap (full if no cursor).

    With `refresh_stale`, meters whose delivery period or action deadline has passed by `now`
    are then re-read too (a stale run, only when there are any): Leap does not move
    `updated_at` for those roll-overs, so the cursor alone would miss them.
    """

    def run_one(stream: str, client: LeapClient | None) -> SyncRun:
        cursor = current_cursor(stream)
        if cursor is None:
            return _run(
                stream, SyncMode.FULL, [{}], client=client, trigger=trigger, progress=progress
            )
        since = cursor - timedelta(minutes=settings.SYNC_OVERLAP_MINUTES)
        return _run(
            stream,
            SyncMode.INCREMENTAL,
            [{"last_modified_date_time": since}],
            client=client,
            trigger=trigger,
            progress=progress,
        )

    runs = run_streams(streams, run_one, client)
    if refresh_stale and Stream.ENROLLMENTS in streams and stale_meter_ids(now)[:1]:
        runs += sync_stale(now=now, client=client, trigger=trigger, progress=progress)
    return runs


def sync_refresh(
    meter_ids: Iterable[UUID | str],
    *,
    client: LeapClient | None = None,
    streams: Sequence[str] = STREAMS,
    trigger: str = "command",
    progress: Progress | None = None,
    mode: str = SyncMode.REFRESH,
) -> list[SyncRun]:
    """Re-read the given meters (batches of 1000 ids); ids Leap does not return are missing."""
    ids = sorted({UUID(str(meter_id)) for meter_id in meter_ids})
    filters: list[SearchFilters] = [
        {"meter_ids": list(batch)} for batch in batched(ids, REFRESH_BATCH)
    ]
    return [
        _run(
            stream, mode, filters, client=client, trigger=trigger, progress=progress, requested=ids
        )
        for stream in streams
    ]


def sync_stale(
    *,
    now: datetime | None = None,
    client: LeapClient | None = None,
    trigger: str = "command",
    progress: Progress | None = None,
) -> list[SyncRun]:
    """Re-read meters whose stored delivery period or action deadline has passed.

    Leap does not move `updated_at` for those roll-overs, so incremental sync never sees them.
    """
    return sync_refresh(
        stale_meter_ids(now),
        client=client,
        streams=(Stream.ENROLLMENTS,),
        trigger=trigger,
        progress=progress,
        mode=SyncMode.STALE,
    )


def stale_meter_ids(now: datetime | None = None) -> QuerySet[MeterEnrollment, UUID]:
    """meter_ids whose enrollment answer has rolled over by `now` (default: our clock)."""
    return MeterEnrollment.objects.filter(stale_after__lte=now or timezone.now()).values_list(
        "meter__meter_id", flat=True
    )


def _run(
    stream: str,
    mode: str,
    filter_list: list[SearchFilters],
    *,
    client: LeapClient | None,
    trigger: str,
    progress: Progress | None,
    requested: list[UUID] | None = None,
) -> SyncRun:
    stats = RunStats()
    run = None
    own_client = client is None
    client = client or LeapClient.from_settings()
    planner = PlannerStatistics()
    try:
        with relaxed_commits(), stream_run(stream, mode, trigger=trigger, stats=stats) as run:
            run.requested_meters = len(requested or ())
            run.pages_expected = expected_pages(stream, mode, filter_list, client.page_size)
            run.save(update_fields=["requested_meters", "pages_expected"])
            with deferred_for_first_load(stream, mode):
                pages = prefetched(search_pages(client, stream, filter_list))
                consume(stream, pages, run, stats, planner, progress)
            if mode == SyncMode.FULL:
                unseen = unseen_meters(stored_meters(stream), stats.seen)
                if stats.seen:  # else Leap returned nothing, and nothing is flagged
                    recheck_unseen(client, stream, unseen, run, stats, planner, progress)
                _flag_missing(run, stats, iter(unseen))
            elif requested is not None:
                _flag_missing(run, stats, _stored_ids(stream, among=requested))
    except StreamBusy as busy:
        logger.info("%s", busy.run.error)
        return busy.run
    except Exception:  # recorded on the run by stream_run; the next stream still runs
        if run is None:
            raise
        return run
    finally:
        if own_client:
            client.close()
    return run


def save_progress(run: SyncRun, stats: RunStats) -> None:
    """After each page (one UPDATE), store the counters so far: the Sync page shows them while
    the run goes."""
    stats.save_onto(run)
    run.save(update_fields=[*SyncRun.COUNTERS, "warnings", "cursor_reached"])


def consume(
    stream: str,
    pages: Iterable[Page],
    run: SyncRun,
    stats: RunStats,
    planner: PlannerStatistics,
    progress: Progress | None,
    save: SaveProgress = save_progress,
) -> None:
    """Apply each page in turn, saving the counters after each one (`save`)."""
    for page in pages:
        heartbeat(run)
        _apply_page(stream, page.meters, run, stats)
        stats.pages += 1
        planner.after_page(stream, stats.created + stats.updated)
        save(run, stats)
        reset_queries()  # with DEBUG on, Django would keep every query of the run
        if progress:
            progress(run, stats)


def recheck_unseen(
    client: LeapClient,
    stream: str,
    unseen: list[tuple[int, UUID]],
    run: SyncRun,
    stats: RunStats,
    planner: PlannerStatistics,
    progress: Progress | None,
    save: SaveProgress = save_progress,
) -> None:
    """Ask Leap by meter_ids for the stored meters a full listing did not return.

    Leap documents no snapshot for its page tokens: a meter can be left out of a listing when
    other meters change while it is being paged. Absence from one listing is therefore not
    proof, and those meters are asked for by name first (1000 ids a call, the filter's
    limit); the ones returned are applied like any page, only the rest are flagged missing.
    If Leap cannot answer, the meters of that batch are flagged as before, with a warning.
    """
    if not unseen:
        return
    ids = [meter_id for _, meter_id in unseen]
    for batch in batched(ids, REFRESH_BATCH):
        try:
            pages = search_pages(client, stream, [{"meter_ids": list(batch)}])
            consume(stream, pages, run, stats, planner, progress, save)
        except LeapError as error:
            stats.warn(
                "could not re-check meters absent from the full listing "
                f"({error.status} {error.title}); flagged missing unconfirmed"
            )
    found = sum(pk in stats.seen for pk, _ in unseen)
    if found:
        stats.warn(
            f"{found} of {len(ids)} meters absent from the full listing were returned when "
            "asked for by meter_ids; not flagged missing"
        )


def _apply_page(stream: str, raws: list[Any], run: SyncRun, stats: RunStats) -> None:
    """Apply one page in its transaction; retry it if PostgreSQL broke a deadlock with it.

    Its counters are kept apart and added to the run's only once it committed, so a retried
    page counts once.
    """
    for attempt in range(1, DEADLOCK_RETRIES + 1):
        page_stats = RunStats()
        try:
            _APPLY[stream](raws, PageContext(run, page_stats, timezone.now()))
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != "40P01" or attempt == DEADLOCK_RETRIES:
                raise
            logger.info("%s page hit a deadlock (attempt %s); retrying it", stream, attempt)
            continue
        stats.merge(page_stats)
        return


@contextmanager
def relaxed_commits() -> Iterator[None]:
    """On PostgreSQL, don't wait for the WAL flush at each page's commit during a run.

    A database crash may then lose the last fraction of a second of commits, but never
    consistency: the lost ones are a suffix, and the cursor only moves in the last commit, so
    the next run re-reads whatever was lost. Restored afterwards for other work on the
    connection (the audit trail of pushes to Leap keeps synchronous commits).
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO DEFAULT")


def expected_pages(
    stream: str, mode: str, filter_list: list[SearchFilters], page_size: int
) -> int | None:
    """About how many pages a run will read, for the Sync page's progress (None: no idea).

    Leap's lists carry no total count. A full run reads about as many pages as the stream's
    last full run did; a targeted or stale refresh, its meter_ids over the page size. How
    many meters an incremental run will find changed is unknown until its last page.
    """
    if mode == SyncMode.FULL:
        last = SyncRun.objects.filter(
            stream=stream, mode=SyncMode.FULL, status=RunStatus.SUCCEEDED
        ).values_list("pages", flat=True)
        return last.first() or None
    if mode in (SyncMode.REFRESH, SyncMode.STALE):
        sizes = [len(filters.get("meter_ids") or ()) for filters in filter_list]
        return sum(-(-size // page_size) for size in sizes) or None
    return None


def search_pages(
    client: LeapClient, stream: str, filter_list: list[SearchFilters]
) -> Iterator[Page]:
    search = (
        client.search_meter_details if stream == Stream.DETAILS else client.search_meter_enrollments
    )
    for filters in filter_list:
        yield from _search_by_ids(search, filters)


def _search_by_ids(search: _Search, filters: SearchFilters) -> Iterator[Page]:
    """`search(filters)`'s pages; with a meter_ids filter, tolerant of Leap's 404.

    Leap's spec declares 404 "Meter not found" on both search endpoints without saying when: a
    strict server may answer it when any (or every) named meter is unknown. So a 404 before
    the first page halves the list and asks again, down to single ids: an id answered 404 on
    its own is not in Leap (the caller flags it missing), and every other meter is still read.
    Without meter_ids, or after pages were applied, a 404 fails the run as any error does.
    """
    ids = filters.get("meter_ids") or []
    pages = search(filters, raw=True)
    try:
        first = next(pages, None)
    except LeapNotFoundError:
        if not ids:
            raise
        if len(ids) > 1:
            half = len(ids) // 2
            yield from _search_by_ids(search, {**filters, "meter_ids": ids[:half]})
            yield from _search_by_ids(search, {**filters, "meter_ids": ids[half:]})
        return
    if first is not None:
        yield first
        yield from pages


def stored_meters(stream: str) -> QuerySet[Meter]:
    """The meters this stream has stored and not yet flagged missing."""
    meters = Meter.objects.filter(missing_from_leap=False)
    if stream == Stream.DETAILS:
        return meters.exclude(details_hash="")
    return meters.filter(enrollment__isnull=False)


def unseen_meters(stored: QuerySet[Meter], seen: SeenMeters) -> list[tuple[int, UUID]]:
    """(pk, meter_id) of the `stored` meters a full run has not seen, in meter_id order.

    Every stored meter is checked, so for all of them only the keys are read, unordered: at
    a million meters, reading (pk, meter_id) in meter_id order took 9 to 25 s, the keys alone
    1 to 2.6 s. The meter_ids are read for the unseen ones only (usually none).
    """
    keys = stored.order_by().values_list("pk", flat=True).iterator(chunk_size=20_000)
    pks = [pk for pk in keys if pk not in seen]
    rows: list[tuple[int, UUID]] = []
    for chunk in batched(pks, 5000):
        rows += Meter.objects.filter(pk__any=chunk).order_by().values_list("pk", "meter_id")
    return sorted(rows, key=itemgetter(1))


def _stored_ids(stream: str, among: list[UUID] | None = None) -> Iterator[tuple[int, UUID]]:
    """(pk, meter_id) of meters this stream has stored and not yet flagged missing."""
    rows = stored_meters(stream).values_list("pk", "meter_id").iterator(chunk_size=5000)
    if among is None:
        return rows
    # Filtered here rather than in SQL: a stale refresh may name more meters than SQLite
    # accepts parameters in one statement.
    wanted = set(among)
    return (row for row in rows if row[1] in wanted)


def _flag_missing(run: SyncRun, stats: RunStats, stored: Iterator[tuple[int, UUID]]) -> None:
    """Flag stored meters this run did not see; never delete them (their history stays)."""
    missing = [pk for pk, _ in stored if pk not in stats.seen]
    if missing and not stats.seen:
        stats.warn(f"Leap returned no meters at all; {len(missing)} stored meters not flagged")
        return
    flag_missing(run, stats, missing)


def flag_missing(run: SyncRun, stats: RunStats, missing: list[int]) -> None:
    """Flag these meters (pks) missing from Leap, with an event each, in chunks of 1000."""
    now = timezone.now()
    for chunk in batched(missing, 1000):
        with transaction.atomic():
            Meter.objects.filter(pk__any=chunk).update(missing_from_leap=True, missing_since=now)
            MeterEvent.objects.bulk_create(
                MeterEvent(
                    meter_id=pk,
                    kind=EventKind.MISSING,
                    field="missing_from_leap",
                    old="false",
                    new="true",
                    observed_at=now,
                    sync_run=run,
                )
                for pk in chunk
            )
    stats.missing += len(missing)
    stats.events += len(missing)
