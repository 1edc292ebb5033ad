"""Stored figures: computed by a task, never in a request; views only read them.

Whole-inventory aggregates take seconds of SQL at 100,000 meters; computed in web workers
(even in a thread) they stalled a 2-core server's pages under load. So a django-q2 task
computes them (`refresh`): every minute by schedule, which recomputes only what is out of
date, and at once when a view finds its figures out of date (`figures` queues it). A view
shows the stored figures with their "as of" meanwhile, or says they are being computed.

Figures are out of date when (`FigureSet.state` against `State.now()`):
- a sync run finished, or an event was written (people's edits that move a figure, such as a
  site mapping, write one), since they were computed; or
- they are older than MAX_AGE (the time-relative ones: 24 h deltas, "within 7 days").
While a sync is running, only MAX_AGE counts: keyed on the pages it writes many times a
second, every view would queue a recompute, and the aggregates would starve the sync itself
(measured before: 50 users during a full sync).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from enrollments.deadlines import Period, calendar, listed_periods
from enrollments.roster import build_roster, previous_period
from leapsync.dashboard.deadlines import deadlines_page
from leapsync.dashboard.figures import inventory_figures
from leapsync.dashboard.models import FigureSet
from leapsync.dashboard.trends import trends_figures
from leapsync.models import RunStatus, SyncRun
from meters.models import MeterEvent

logger = logging.getLogger(__name__)

# Raised whenever a stored value's shape changes (a dataclass gains a field...).
FORMAT = 2
MAX_AGE = timedelta(minutes=5)
# A view queues a recompute of one figure set at most this often (per process).
QUEUE_SECONDS = 30
# Tests compute in the view's own transaction instead of queuing (tests/conftest.py).
REFRESH_INLINE = False
TASK = "leapsync.dashboard.tasks.refresh_figures"

DASHBOARD = "dashboard"
DEADLINES = "deadlines"
CALENDAR = "calendar"
PERIODS = "periods"
TRENDS = "trends"
ROSTER = "roster:"
ALWAYS = (DASHBOARD, DEADLINES, CALENDAR, PERIODS, TRENDS)


@dataclass(frozen=True)
class State:
    """What figures depend on: the latest finished run, the latest event, a run going."""

    finished_run: int | None
    last_event: int | None
    running: bool

    @classmethod
    def now(cls) -> State:
        """Two indexed queries."""
        runs = list(
            SyncRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", flat=True)[:1]
        )
        finished = (
            SyncRun.objects.exclude(status=RunStatus.RUNNING)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
        event = MeterEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
        return cls(finished, event, bool(runs))

    @property
    def key(self) -> str:
        return f"run:{self.finished_run}/event:{self.last_event}"


@dataclass(frozen=True)
class Stored:
    name: str
    value: Any
    computed_at: datetime
    state: str

    def out_of_date(self, state: State, now: datetime) -> bool:
        if now - self.computed_at > MAX_AGE:
            return True
        return not state.running and state.key != self.state


def read(name: str) -> Stored | None:
    row = FigureSet.objects.filter(name=name, format=FORMAT).first()
    if row is None:
        return None
    return Stored(name, pickle.loads(row.data), row.computed_at, row.state)


def figures(name: str) -> Stored | None:
    """The stored figure set `name` for a view; queues a recompute when it is out of date.

    None while it has never been computed (a fresh install, a new roster): the page says so.
    """
    stored = read(name)
    if stored is None or stored.out_of_date(State.now(), timezone.now()):
        request_refresh(name)
        if REFRESH_INLINE:
            stored = read(name)
    return stored


def request_refresh(name: str) -> None:
    if REFRESH_INLINE:
        refresh([name])
        return
    if cache.add(f"dashboard:queued:{name}", 1, QUEUE_SECONDS):
        async_task(TASK, [name], task_name=f"figures {name}"[:100])


def roster_name(period: Period) -> str:
    return f"{ROSTER}{period.program}:{period.name}:{period.start.isoformat()}"


def refresh(names: list[str] | None = None) -> list[str]:
    """Recompute the out-of-date figure sets among `names` (default: every stored one and the
    page-wide ones); drop rosters of periods no longer listed. Returns those recomputed."""
    state, now = State.now(), timezone.now()
    stored = {
        row.name: Stored(row.name, None, row.computed_at, row.state)
        for row in FigureSet.objects.filter(format=FORMAT).only("name", "computed_at", "state")
    }
    if names is None:
        names = sorted({*ALWAYS, *stored})
    periods = _listed_periods(names)
    gone = [n for n in names if n.startswith(ROSTER) and n not in periods]
    FigureSet.objects.filter(name__in=gone).delete()
    done = []
    for name in names:
        if name in gone or (name in stored and not stored[name].out_of_date(state, now)):
            continue
        compute = _computation(name, periods, now)
        if compute is None:
            continue
        try:
            _store(name, state, now, compute)
        except Exception:
            logger.exception("computing the figures %s failed; the previous ones stay", name)
            continue
        done.append(name)
    return done


def _listed_periods(names: list[str]) -> dict[str, Period]:
    """The listed periods by roster name, when `names` needs them (the periods set, a roster):
    a grouping of every listed period row, seconds at a million meters, which the dashboard
    alone (what its page queues) does without."""
    if not any(name == PERIODS or name.startswith(ROSTER) for name in names):
        return {}
    return {roster_name(p): p for p in listed_periods()}


def _computation(
    name: str, periods: dict[str, Period], now: datetime
) -> Callable[[], object] | None:
    if name == DASHBOARD:
        return lambda: inventory_figures(now)
    if name == DEADLINES:
        return lambda: deadlines_page(now)
    if name == CALENDAR:
        return lambda: calendar(now, 60)
    if name == PERIODS:
        return lambda: list(periods.values())
    if name == TRENDS:  # also records today's daily counts (leapsync.dashboard.history)
        return lambda: trends_figures(now)
    if name in periods:
        period = periods[name]
        return lambda: build_roster(period, previous_period(period))
    return None


def _store(name: str, state: State, now: datetime, compute: Callable[[], object]) -> None:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # One core for the aggregates, not both: pages keep being served meanwhile; and
            # memory enough to group in memory rather than sort on disk (measured at 100,000
            # meters: the deadlines' figures 4.8 s -> 3.9 s). LOCAL: this transaction only.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                cursor.execute("SET LOCAL work_mem = '64MB'")
        value = compute()
        FigureSet.objects.update_or_create(
            name=name,
            defaults={
                "format": FORMAT,
                "state": state.key,
                "computed_at": now,
                "data": pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL),
            },
        )
