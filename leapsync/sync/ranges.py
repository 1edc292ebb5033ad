"""A full sync split into created-date ranges, each a django-q2 task any cluster node may take.

`split_full(parts)` starts one full run per stream, as `sync_full` does, but reads it in
`parts` ranges of Leap's `created_at` (the search's `created_after_date_time` and
`created_before_date_time` filters), each queued as its own task (`leapsync.tasks
.run_full_range`). With a Redis broker any number of `qcluster` nodes share them.

- **Bounds**: where meters are stored, at the quantiles of their stored created dates (so each
  range holds about as many meters); on a first load, evenly by date between the earliest
  created date on Leap's first page and now. The first range has no lower bound and the last
  no upper one, so no meter falls outside: a meter created while the run goes falls in the
  last. Leap's filters are exclusive at both ends, so a range starting at `b` asks for meters
  created after `b` minus one microsecond (the timestamps' finest step): a meter created
  exactly at `b` belongs to that range only.
- **The lock**: the run takes its stream's lock as any run does, then turns it into a lease
  its ranges keep alive (`runs.split_run`, `locks`). Until the run is closed no other run of
  the stream starts: not a second full sync, and not an incremental, so no cursor moves while
  a split run is mid-way. Each range claims its own row (`SyncRange`) with a compare-and-set,
  so a task delivered twice runs once.
- **The end**: each range records the stored meters of its dates that Leap returned neither in
  the listing nor when asked for by meter_ids. The task that ends the last range closes the
  run: only if every range succeeded are those meters flagged missing and the cursor moved,
  to the largest Leap time any range saw. A failed range cancels the ranges not started,
  stops the running ones at their next page, and fails the run with the range's error; the
  next full sync reads every range again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import pairwise, zip_longest
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_q.tasks import async_task  # type: ignore[import-untyped]

from leapsync.leap.client import LeapClient
from leapsync.leap.payloads import PayloadError, parse_datetime
from leapsync.models import RangeStatus, RunStatus, Stream, SyncRange, SyncRun
from leapsync.sync import (
    STREAMS,
    SearchFilters,
    consume,
    flag_missing,
    indexes,
    recheck_unseen,
    relaxed_commits,
    search_pages,
    stored_meters,
    unseen_meters,
)
from leapsync.sync.common import RunStats
from leapsync.sync.locks import LOCK_STALE_AFTER, identity_alive, process_identity
from leapsync.sync.planner import PlannerStatistics
from leapsync.sync.prefetch import prefetched
from leapsync.sync.runs import StreamBusy, claim_closing, close_split_run, split_run
from meters.models import Meter

logger = logging.getLogger("leapsync.sync")

RANGE_TASK = "leapsync.tasks.run_full_range"
# Leap's created_after/created_before filters are both exclusive; its timestamps carry
# microseconds at most, so "after b minus this" is "from b on".
STEP = timedelta(microseconds=1)
OPEN = (RangeStatus.QUEUED, RangeStatus.RUNNING)


class RangeCancelled(Exception):
    """Another range of the run failed (or the run is over): this one stops at its next page."""


@dataclass(frozen=True)
class Bounds:
    """Meters created from `created_from` (inclusive) to `created_before` (exclusive)."""

    created_from: datetime | None
    created_before: datetime | None


# --- starting a split run ------------------------------------------------------------------------


def split_full(
    parts: int,
    *,
    client: LeapClient | None = None,
    streams: Sequence[str] = STREAMS,
    trigger: str = "command",
) -> list[SyncRun]:
    """Start a full run of each stream in `parts` created-date ranges and queue the ranges.

    Returns each stream's run: running (its ranges queued), or skipped (the stream was busy)
    or failed (it could not be planned). The ranges are queued alternating between streams,
    so however many workers there are, both streams move.
    """
    own_client = client is None
    client = client or LeapClient.from_settings()
    runs: list[SyncRun] = []
    queued: list[list[SyncRange]] = []
    try:
        for stream in streams:
            run, ranges = _start(stream, parts, client, trigger)
            runs.append(run)
            queued.append(ranges)
    finally:
        if own_client:
            client.close()
    for batch in zip_longest(*queued):
        for part in batch:
            if part is not None:
                _queue(part)
    return list(SyncRun.objects.filter(pk__in=[run.pk for run in runs]).order_by("pk"))


def _queue(part: SyncRange) -> None:
    """Queue the range's task; if the broker refuses it, the range fails (and so the run)."""
    if not SyncRange.objects.filter(pk=part.pk, status=RangeStatus.QUEUED).exists():
        return  # cancelled: a range queued before it failed
    try:
        async_task(RANGE_TASK, part.pk, task_name=task_name(part))
    except Exception as error:
        # django-q2's sync mode runs the task here and raises its error: that range has ended.
        if not SyncRange.objects.filter(pk=part.pk, status=RangeStatus.QUEUED).exists():
            raise
        part.status = RangeStatus.FAILED
        part.error = f"Could not be queued: {type(error).__name__}: {error}"[:5000]
        logger.warning("%s: %s", part, part.error)
        _end(part, RunStats())


def task_name(part: SyncRange) -> str:
    return f"leapsync: full {part.run.stream} run #{part.run_id}, range {part.number}"


def _start(
    stream: str, parts: int, client: LeapClient, trigger: str
) -> tuple[SyncRun, list[SyncRange]]:
    started: list[SyncRun] = []
    try:
        with split_run(stream, trigger=trigger) as run:
            started.append(run)
            bounds, expected = plan(stream, parts, client)
            ranges = SyncRange.objects.bulk_create(
                SyncRange(
                    run=run,
                    number=number,
                    created_from=b.created_from,
                    created_before=b.created_before,
                    pages_expected=expected,
                )
                for number, b in enumerate(bounds, 1)
            )
            run.pages_expected = expected * len(ranges) if expected else None
            run.save(update_fields=["pages_expected"])
            _defer_indexes(stream)
    except StreamBusy as busy:
        logger.info("%s", busy.run.error)
        return busy.run, []
    except Exception:  # recorded on the run by split_run
        if not started:
            raise
        logger.exception("could not split the full %s run", stream)
        return started[0], []
    return run, ranges


def plan(stream: str, parts: int, client: LeapClient) -> tuple[list[Bounds], int | None]:
    """The ranges' bounds, and the pages each is expected to read (None: no estimate)."""
    dated = Meter.objects.filter(missing_from_leap=False, leap_created_at__isnull=False)
    count = dated.count()
    expected = None
    if count >= parts:
        ordered = dated.order_by("leap_created_at").values_list("leap_created_at", flat=True)
        cuts = [ordered[count * i // parts] for i in range(1, parts)]
        expected = -(-count // (parts * client.page_size))
    else:
        cuts = _probed_cuts(stream, parts, client)
    edges: list[datetime | None] = [None, *sorted(set(cuts)), None]
    return [Bounds(low, high) for low, high in pairwise(edges)], expected


def _probed_cuts(stream: str, parts: int, client: LeapClient) -> list[datetime]:
    """Nothing stored yet: cut evenly between the earliest created date on Leap's first page
    and now (Leap documents no order for its lists; a later meter lands in the open last
    range whatever the cuts)."""
    search = (
        client.search_meter_details if stream == Stream.DETAILS else client.search_meter_enrollments
    )
    page = next(search({}), None)
    created = [stamp for record in (page.meters if page else []) if (stamp := _created(record))]
    if not created:
        return []
    first = min(created)
    step = (max(*created, timezone.now()) - first) / parts
    return [first + step * i for i in range(1, parts)]


def _created(record: Any) -> datetime | None:
    try:
        return parse_datetime(record["audit"]["created_at"])
    except (PayloadError, TypeError, KeyError):
        return None


def _defer_indexes(stream: str) -> None:
    """A first load builds the stream's indexes at its end (`indexes`), here at the close."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    indexes.rebuild(stream)  # whatever a run that died left dropped
    if indexes.is_first_load(stream):
        indexes.drop(stream)


# --- one range -----------------------------------------------------------------------------------


def range_filters(part: SyncRange) -> SearchFilters:
    """The search filters that list exactly the meters of this range's dates."""
    filters: SearchFilters = {}
    if part.created_from is not None:
        filters["created_after_date_time"] = part.created_from - STEP
    if part.created_before is not None:
        filters["created_before_date_time"] = part.created_before
    return filters


def run_range(range_pk: int, *, client: LeapClient | None = None) -> SyncRange:
    """Run one range (the task's body); close the run if it was the last one open.

    Records the range's outcome rather than raising (the caller reads `status`). A range
    already taken, ended, or whose run is over does nothing.
    """
    part = _claim(range_pk)
    if part.status != RangeStatus.RUNNING or part.holder != process_identity():
        return part
    stats = RunStats()
    own_client = client is None
    client = client or LeapClient.from_settings()
    try:
        with relaxed_commits():
            _read(part, stats, client)
        part.status = RangeStatus.SUCCEEDED
    except RangeCancelled:
        part.status = RangeStatus.CANCELLED
    except Exception as error:  # noqa: BLE001 - recorded on the range; the run fails with it
        part.status = RangeStatus.FAILED
        part.error = f"{type(error).__name__}: {error}"[:5000]
        logger.warning("%s failed: %s", part, part.error)
    finally:
        if own_client:
            client.close()
        if part.status == RangeStatus.RUNNING:  # stopped by a signal
            part.status, part.error = RangeStatus.FAILED, "The range's worker was stopped."
        _end(part, stats)
    return part


def _claim(range_pk: int) -> SyncRange:
    now = timezone.now()
    SyncRange.objects.filter(
        pk=range_pk, status=RangeStatus.QUEUED, run__status=RunStatus.RUNNING
    ).update(
        status=RangeStatus.RUNNING, holder=process_identity(), started_at=now, heartbeat_at=now
    )
    part = SyncRange.objects.select_related("run").get(pk=range_pk)
    if part.status == RangeStatus.QUEUED:  # its run is over (failed, or taken over)
        SyncRange.objects.filter(pk=range_pk, status=RangeStatus.QUEUED).update(
            status=RangeStatus.CANCELLED, finished_at=now
        )
        part.refresh_from_db()
    return part


def _read(part: SyncRange, stats: RunStats, client: LeapClient) -> None:
    """List the range's meters, ask for the stored ones it missed by meter_ids, and keep
    those Leap still did not return for the run's close."""
    run, stream = part.run, part.run.stream
    planner = PlannerStatistics()
    save = partial(_save_progress, part)
    pages = prefetched(search_pages(client, stream, [range_filters(part)]))
    consume(stream, pages, run, stats, planner, None, save)
    unseen = unseen_meters(_stored(part), stats.seen)
    recheck_unseen(client, stream, unseen, run, stats, planner, None, save)
    part.unseen = [pk for pk, _ in unseen if pk not in stats.seen]


def _stored(part: SyncRange) -> QuerySet[Meter]:
    """The stream's stored meters created in this range's dates (a meter without a created
    date belongs to the first range)."""
    meters = stored_meters(part.run.stream)
    if part.created_from is not None:
        meters = meters.filter(leap_created_at__gte=part.created_from)
    if part.created_before is not None:
        before = Q(leap_created_at__lt=part.created_before)
        if part.created_from is None:
            before |= Q(leap_created_at__isnull=True)
        meters = meters.filter(before)
    return meters


def _save_progress(part: SyncRange, run: SyncRun, stats: RunStats) -> None:
    """After each page: store the range's counters (one UPDATE, which is also its heartbeat);
    raise RangeCancelled when another range failed (it set this one's error) or the range was
    taken from this worker."""
    stats.save_onto(part)
    part.heartbeat_at = timezone.now()
    saved = SyncRange.objects.filter(
        pk=part.pk, status=RangeStatus.RUNNING, holder=part.holder, error=""
    ).update(**_progress_fields(part))
    if not saved:
        raise RangeCancelled(str(part))


def _progress_fields(part: SyncRange) -> dict[str, Any]:
    names = (*SyncRange.COUNTERS, "warnings", "cursor_reached", "heartbeat_at")
    return {name: getattr(part, name) for name in names}


def _end(part: SyncRange, stats: RunStats) -> None:
    """Record the range's outcome; a failure stops its siblings; then close the run if no
    range is left open."""
    stats.save_onto(part)
    part.finished_at = timezone.now()
    if part.status == RangeStatus.CANCELLED and not part.error:
        part.error = "Stopped: the run is over."
    fields = [*_progress_fields(part), "status", "finished_at", "error", "unseen"]
    part.save(update_fields=fields)
    if part.status == RangeStatus.FAILED:
        _stop_siblings(part)
    close_if_done(part.run)


def _stop_siblings(part: SyncRange) -> None:
    """Cancel the ranges not started; tell the running ones to stop (at their next page)."""
    reason = f"Stopped: range {part.number} failed."
    siblings = SyncRange.objects.filter(run_id=part.run_id).exclude(pk=part.pk)
    siblings.filter(status=RangeStatus.QUEUED).update(
        status=RangeStatus.CANCELLED, finished_at=timezone.now(), error=reason
    )
    siblings.filter(status=RangeStatus.RUNNING, error="").update(error=reason)


# --- closing the run -----------------------------------------------------------------------------


def close_if_done(run: SyncRun) -> bool:
    """Close the run once no range is open; True if this call closed it.

    A range whose worker died (its process gone, or silent for LOCK_STALE_AFTER) is failed
    first. Exactly one caller closes the run (`runs.claim_closing`).
    """
    _fail_dead(run)
    parts = list(SyncRange.objects.filter(run=run))
    if any(part.status in OPEN for part in parts) or not claim_closing(run):
        return False
    run.refresh_from_db()
    stats = totals(parts)
    try:
        failed = next((p for p in parts if p.status == RangeStatus.FAILED), None)
        failed = failed or next((p for p in parts if p.status != RangeStatus.SUCCEEDED), None)
        if failed is None:
            _flag_unseen(run, stats, parts)
            run.status = RunStatus.SUCCEEDED
        else:
            run.status, run.error = RunStatus.FAILED, failure(failed, len(parts))
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            indexes.rebuild(run.stream)
    except Exception as error:
        run.status, run.error = RunStatus.FAILED, f"{type(error).__name__}: {error}"[:5000]
        logger.exception("closing split run %s failed", run.pk)
    finally:
        close_split_run(run, stats)
    return True


def close_abandoned() -> list[SyncRun]:
    """Close the split runs left open by a dead worker; the runs closed.

    The task that ends a run's last range closes the run. Should that task's worker die
    mid-range, nothing else would: the run would hold its stream (no incremental, no full
    sync) until its lease went stale, and then end as "abandoned" without saying which range
    stopped. So every sync task and the ten-minute alerts check call this first: a range whose
    worker is gone from this host is failed at once, one silent for LOCK_STALE_AFTER anywhere,
    and the run closes as `close_if_done` closes it. One query when no split run is open.
    """
    running = SyncRun.objects.filter(status=RunStatus.RUNNING, ranges__isnull=False).distinct()
    return [run for run in running if close_if_done(run)]


def _fail_dead(run: SyncRun) -> None:
    stale = timezone.now() - LOCK_STALE_AFTER
    for part in SyncRange.objects.filter(run=run, status=RangeStatus.RUNNING):
        beat = part.heartbeat_at
        if identity_alive(part.holder) is False or beat is None or beat < stale:
            taken = SyncRange.objects.filter(
                pk=part.pk, status=RangeStatus.RUNNING, holder=part.holder
            ).update(
                status=RangeStatus.FAILED,
                finished_at=timezone.now(),
                error="The worker running this range stopped without finishing it.",
            )
            if taken:
                _stop_siblings(part)


def totals(parts: Iterable[SyncRange]) -> RunStats:
    """The run's counters: its ranges' summed (warnings capped as a run's are)."""
    total = RunStats()
    for part in parts:
        counted = RunStats(**{name: getattr(part, name) for name in _SUMMED})
        counted.warnings.update(part.warnings or {})
        counted.cursor_reached = part.cursor_reached
        total.merge(counted)
    return total


_SUMMED = tuple(name for name in SyncRange.COUNTERS if name != "warnings_count")


def _flag_unseen(run: SyncRun, stats: RunStats, parts: list[SyncRange]) -> None:
    """Flag the meters no range saw, unless Leap returned no meter at all (as `sync_full`)."""
    unseen = sorted({pk for part in parts for pk in part.unseen})
    if unseen and not stats.meters_seen:
        stats.warn(f"Leap returned no meters at all; {len(unseen)} stored meters not flagged")
        return
    flag_missing(run, stats, unseen)


def failure(part: SyncRange, count: int) -> str:
    """The run's error when a range failed: which range, its dates, and why."""
    reason = part.error or "it did not finish"
    return (
        f"Range {part.number} of {count} ({describe_dates(part)}) {part.status}: {reason} "
        "The next full sync reads every range again."
    )


def describe_dates(part: SyncRange) -> str:
    """The range's created dates in words, for errors, logs and the Sync page."""
    low, high = part.created_from, part.created_before
    start = f"from {low:%Y-%m-%d %H:%M:%S.%f}" if low else "from the first"
    end = f"before {high:%Y-%m-%d %H:%M:%S.%f}" if high else "to the latest"
    return f"meters created {start} {end}"
