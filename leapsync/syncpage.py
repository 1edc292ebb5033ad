"""The Sync page's read side: running runs' progress (a split run's per range), a run queued
from the page, schedules.

A run queued from the page carries a token: its django-q2 task is named after it and its runs'
trigger is `ui:<token>`, so the page follows exactly that run, from "queued" to its outcome,
and stops polling once it is over and nothing else runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django_q.models import Schedule, Task

from leapsync.freshness import stream_freshness
from leapsync.models import RangeStatus, RunStatus, SyncRange, SyncRun
from leapsync.sync.ranges import describe_dates

UI_TRIGGER = "ui:"
TOKEN = re.compile(r"[0-9a-f]{16}")
# How often the page polls while a run goes, and while a queued one waits for a worker.
POLL_RUNNING_SECONDS = 2
POLL_QUEUED_SECONDS = 5
# A queued run whose runs all ended this long ago is over even if its task left no record (a
# worker killed mid-task records none).
SETTLED = timedelta(seconds=30)
# django-q2's scheduler looks at its schedules about every 30 seconds.
OVERDUE = timedelta(minutes=2)


def task_name(token: str, label: str) -> str:
    """The django-q2 task's name (shown in admin); the page finds the task by its token."""
    return f"leapsync: {label} from the Sync page ({token})"


@dataclass(frozen=True)
class RangeProgress:
    """One range of a split run: its dates, and how far it is against its estimated pages."""

    part: SyncRange
    dates: str
    percent: int | None


@dataclass(frozen=True)
class RunProgress:
    """Where a running run stands, against its estimated pages (if it has an estimate).

    A split run's pages and meters are its ranges' so far (its own counters are filled when
    its last range ends).
    """

    run: SyncRun
    elapsed: timedelta
    pages: int
    meters_seen: int
    meters_per_second: float
    percent: int | None
    eta: timedelta | None
    ranges: list[RangeProgress]

    @property
    def past_estimate(self) -> bool:
        expected = self.run.pages_expected
        return expected is not None and self.pages > expected


def run_ranges(run: SyncRun) -> list[RangeProgress]:
    """A split run's ranges in order (none for a run in one piece)."""
    return [RangeProgress(part, describe_dates(part), _percent(part)) for part in run.ranges.all()]


def _percent(part: SyncRange) -> int | None:
    if part.status == RangeStatus.SUCCEEDED:
        return 100
    if not part.pages_expected:
        return None
    return min(100, part.pages * 100 // part.pages_expected)


def run_progress(run: SyncRun, now: datetime) -> RunProgress:
    ranges = run_ranges(run)
    pages = sum(r.part.pages for r in ranges) if ranges else run.pages
    seen = sum(r.part.meters_seen for r in ranges) if ranges else run.meters_seen
    elapsed = max(now - run.started_at, timedelta(0))
    seconds = elapsed.total_seconds()
    rate = seen / seconds if seconds > 0 else 0.0
    expected = run.pages_expected
    if not expected:
        return RunProgress(run, elapsed, pages, seen, rate, None, None, ranges)
    percent = min(100, pages * 100 // expected)
    eta = elapsed / pages * max(expected - pages, 0) if pages else None
    return RunProgress(run, elapsed, pages, seen, rate, percent, eta, ranges)


@dataclass
class QueuedRun:
    """A run queued from this page: "queued" (no worker took it yet), "running" or "done"."""

    token: str
    state: str
    runs: list[SyncRun] = field(default_factory=list)
    task_error: str = ""

    @property
    def failed(self) -> list[SyncRun]:
        return [run for run in self.runs if run.status == RunStatus.FAILED]


def queued_run(token: str, now: datetime) -> QueuedRun | None:
    """The state of the run queued with `token` (None for a token this page never made)."""
    if not TOKEN.fullmatch(token):
        return None
    runs = list(SyncRun.objects.filter(trigger=f"{UI_TRIGGER}{token}").order_by("pk"))
    task = Task.objects.filter(name__endswith=f"({token})").only("success", "result").first()
    # A split full run outlives its task (which only queued the ranges).
    if task is not None and not any(run.status == RunStatus.RUNNING for run in runs):
        error = "" if task.success or runs else _last_line(task.result)
        return QueuedRun(token, "done", runs, error)
    if not runs:
        return QueuedRun(token, "queued")
    ended = [run.finished_at for run in runs if run.finished_at is not None]
    if len(ended) == len(runs) and now - max(ended) > SETTLED:
        return QueuedRun(token, "done", runs)
    return QueuedRun(token, "running", runs)


def _last_line(result: Any) -> str:
    """A failed task's result is its traceback: the last line names the error."""
    text = str(result or "The task failed.").strip().splitlines()
    return text[-1][:300] if text else "The task failed."


def live(token: str, now: datetime) -> dict[str, Any]:
    """What the page's polled part shows: progress, the queued run, freshness, and whether
    (and how often) to poll again."""
    running = [
        run_progress(run, now)
        for run in SyncRun.objects.filter(status=RunStatus.RUNNING)
        .order_by("pk")
        .prefetch_related("ranges")
    ]
    queued = queued_run(token, now)
    if running or (queued is not None and queued.state == "running"):
        poll = POLL_RUNNING_SECONDS
    elif queued is not None and queued.state == "queued":
        poll = POLL_QUEUED_SECONDS
    else:
        poll = None
    return {
        "progress": running,
        "queued": queued,
        "freshness": stream_freshness(now),
        "freshness_minutes": settings.SYNC_FRESHNESS_MINUTES,
        "poll_seconds": poll,
    }


@dataclass(frozen=True)
class ScheduleRow:
    """One django-q2 schedule as the page shows it."""

    schedule: Schedule
    timing: str
    overdue: bool


def schedules(now: datetime) -> list[ScheduleRow]:
    """Every django-q2 schedule (leapsync's, from `tasks.schedule_specs`, and any an admin
    made), soonest first; overdue when its next run is past (no cluster is running them)."""
    rows = []
    for schedule in Schedule.objects.order_by("next_run", "name"):
        if schedule.schedule_type == Schedule.MINUTES:
            timing = f"every {schedule.minutes} min"
        elif schedule.schedule_type == Schedule.CRON:
            timing = f"cron {schedule.cron}"
        else:
            timing = schedule.get_schedule_type_display().lower()
        overdue = schedule.next_run is not None and schedule.next_run < now - OVERDUE
        rows.append(ScheduleRow(schedule, timing, overdue))
    return rows
