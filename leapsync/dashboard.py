"""The dashboard's figures. Each count comes from the meters FilterSet with the same parameters
its link carries, so a number and the list behind it can never disagree."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.db.models import Count, Max, Min, Q
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from enrollments.models import EnrollmentDeadline, MeterEnrollment
from leapsync.leap.enums import ENROLLMENT_STATUSES, EnrollmentStatus
from leapsync.models import RunStatus, Stream, SyncCursor, SyncRun
from meters.filters import DEADLINE_BUCKETS, MeterFilterSet
from meters.models import EventKind, Meter, MeterEvent

logger = logging.getLogger(__name__)
IN_LEAP = {"missing": "false"}
T = TypeVar("T")
# The cached figures' lifetime, and how often they are recomputed while a sync is running:
# the time-relative ones (24 h deltas, deadline buckets, "within 7 days") roll over within this
# long of the clock crossing a boundary. Recomputing every figure is ~5 s of SQL at 100,000
# meters; once a minute, that burst alone stalled a 2-core server's pages for seconds in every
# minute under load (measured with 50 users). Once per 5 minutes bounds it.
CACHE_SECONDS = 300
# How long previous figures may be shown while new ones are being computed: a day, so that the
# first view after a quiet night shows last evening's figures (with their "as of") for the
# seconds a recompute takes, rather than computing them in the request.
STALE_SECONDS = 24 * 3600
# Recompute out-of-date figures in a thread while the view shows the previous ones. Tests turn
# it off: a thread has its own connection and cannot see a test's uncommitted rows.
RECOMPUTE_IN_BACKGROUND = True
# The site-wide lock of the recompute in progress (its value: which figure).
RECOMPUTING = "leapsync:cached:computing"
# How long the lock is kept, at most, should its holder die mid-recompute.
LOCK_SECONDS = 120
# How long a view with nothing cached waits for its turn before computing anyway.
FIRST_WAIT_SECONDS = 30
# The cache key version of the entries: raised whenever their shape changes, so that a deploy
# never reads what the previous release left in a shared cache.
ENTRY_FORMAT = 3


@dataclass
class Figure:
    label: str
    value: int
    url: str
    delta: int | None = None
    status: str = ""


def meters_url(params: dict[str, str]) -> str:
    return f"{reverse('meters:meter_list')}?{urlencode(params)}"


def filtered_count(params: dict[str, str]) -> int:
    data = QueryDict(urlencode(params))  # a QueryDict, as in a request: multi-value widgets need it
    return MeterFilterSet(data, queryset=Meter.objects.all()).qs.count()


def inventory_figures(now: datetime) -> dict:
    """The whole-inventory figures, computed once per change rather than once per view.

    Each is an aggregate over every meter (~2 s of SQL together at 100,000 meters), so they
    are cached with what changes them (`FiguresState`): the latest finished sync run and the
    latest MeterEvent (people's edits that move a figure, such as a site mapping, write one).
    A change therefore shows as soon as the recompute it starts is done (see `cached`), or
    within CACHE_SECONDS while a sync is running; `computed_at` is shown as "as of".
    """
    return cached(
        "dashboard",
        lambda: {
            "computed_at": now,
            "statuses": status_figures(now),
            "readiness": readiness_figures(),
            "action_buckets": action_figures(),
            "deadlines": next_deadlines(now),
            "group_alerts": market_group_alerts(now),
        },
    )


def cached(name: str, compute: Callable[[], T]) -> T:
    """`compute()`, kept while the inventory is unchanged (`FiguresState`), for CACHE_SECONDS.

    For whole-inventory aggregates on any page (the dashboard, the deadlines page, the market
    group roster): a sync or an edit makes them out of date. Out-of-date figures are shown
    while a thread, in whichever web worker noticed first, computes the new ones; the page's
    "as of" says how old they are. `compute` takes seconds of SQL at 100,000 meters, and under
    load (measured: 50 users during a full sync) views that waited for it, or computed it all
    at once, stalled the whole site. So one figure at a time is recomputed, site-wide (one
    lock for all of them), and only a view with nothing cached at all (after a deploy) waits.
    """
    state = _figures_state()
    entry_key = f"leapsync:cached:{name}"
    entry = cache.get(entry_key, version=ENTRY_FORMAT)  # (state computed for, computed at, value)
    if entry is not None and state.keeps(entry[0]) and time.time() - entry[1] < CACHE_SECONDS:
        return entry[2]
    if not cache.add(RECOMPUTING, entry_key, LOCK_SECONDS):
        if entry is not None:
            return entry[2]  # another figure is being recomputed: this one next time
        return _first(entry_key, state, compute)
    if entry is None or not RECOMPUTE_IN_BACKGROUND:
        return _compute(entry_key, state, compute, RECOMPUTING)
    worker = threading.Thread(
        target=_compute_in_background,
        args=(entry_key, state, compute, RECOMPUTING),
        name=f"recompute {name}",
        daemon=True,
    )
    worker.start()
    return entry[2]


def _first(entry_key: str, state: FiguresState, compute: Callable[[], T]) -> T:
    """Nothing cached and another view is computing: wait for a turn rather than pile on."""
    for _ in range(int(FIRST_WAIT_SECONDS / 0.2)):
        time.sleep(0.2)
        entry = cache.get(entry_key, version=ENTRY_FORMAT)
        if entry is not None:
            return entry[2]
        if cache.add(RECOMPUTING, entry_key, LOCK_SECONDS):
            return _compute(entry_key, state, compute, RECOMPUTING)
    return _compute(entry_key, state, compute)


def _compute(
    entry_key: str, state: FiguresState, compute: Callable[[], T], lock_key: str = ""
) -> T:
    try:
        value = compute()
        cache.set(entry_key, (state, time.time(), value), STALE_SECONDS, version=ENTRY_FORMAT)
    finally:
        if lock_key:
            cache.delete(lock_key)
    return value


def _compute_in_background(
    entry_key: str, state: FiguresState, compute: Callable[[], object], lock_key: str
) -> None:
    try:
        if connection.vendor == "postgresql":
            # One core for the aggregates, not every core: pages keep being served meanwhile;
            # and memory enough to group in memory rather than sort on disk (measured at
            # 100,000 meters: the deadlines' figures 4.8 s -> 3.9 s). This thread's own
            # connection, closed below: the settings go with it.
            with connection.cursor() as cursor:
                cursor.execute("SET max_parallel_workers_per_gather = 0")
                cursor.execute("SET work_mem = '64MB'")
        _compute(entry_key, state, compute, lock_key)
    except Exception:
        logger.exception("recomputing %s failed; the previous figures stay", entry_key)
    finally:
        connections.close_all()  # this thread's own connections, not the request's


@dataclass(frozen=True)
class FiguresState:
    """What the cached figures depend on: the latest finished run, and the latest MeterEvent.

    While a sync is going it writes pages, and events, many times a second: keyed on those,
    every view would recompute every figure, and under load those aggregates would starve the
    sync itself (measured: 50 users during a full sync). So while any run is going, nothing
    but CACHE_SECONDS makes the figures out of date; once the last run is over, they are
    recomputed at once. (A full sync's two streams end at different times: recomputing when
    the first ended put seconds of aggregates beside the second, for figures that were half
    old anyway.) A run starting changes no figure, so it does not make them out of date.
    """

    finished_run: tuple | None
    last_event: int | None
    running: bool

    def keeps(self, computed_for: FiguresState) -> bool:
        """Whether figures computed in state `computed_for` are still those of this state."""
        return self.running or (
            computed_for.finished_run == self.finished_run
            and computed_for.last_event == self.last_event
        )


def _figures_state() -> FiguresState:
    """Two indexed queries: the latest finished run with any running ones, the last event."""
    latest_finished = SyncRun.objects.exclude(status=RunStatus.RUNNING).order_by("-pk")
    runs = list(
        SyncRun.objects.filter(
            Q(pk__in=latest_finished.values("pk")[:1]) | Q(status=RunStatus.RUNNING)
        ).values_list("pk", "status", "finished_at")
    )
    finished = [(pk, at) for pk, status, at in runs if status != RunStatus.RUNNING]
    running = len(finished) < len(runs)
    last_event = None
    if not running:
        last_event = MeterEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    return FiguresState(finished[0] if finished else None, last_event, running)


def status_figures(now: datetime) -> list[Figure]:
    """Meters (still in Leap) by global status, with the net change over the last 24 hours."""
    counts = dict(
        MeterEnrollment.objects.filter(meter__missing_from_leap=False)
        .values_list("global_enrollment_status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    deltas: dict[str, int] = {}
    changes = (
        MeterEvent.objects.filter(
            kind=EventKind.GLOBAL_STATUS, observed_at__gte=now - timedelta(days=1)
        )
        .values_list("old", "new")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for old, new, n in changes:
        deltas[old] = deltas.get(old, 0) - n
        deltas[new] = deltas.get(new, 0) + n
    statuses = [s.value for s in EnrollmentStatus] + sorted(
        s for s in counts if s and s not in ENROLLMENT_STATUSES
    )
    return [
        Figure(
            label=status,
            value=counts.get(status, 0),
            url=meters_url({"global_status": status, **IN_LEAP}),
            delta=deltas.get(status, 0),
            status=status,
        )
        for status in statuses
    ]


def readiness_figures() -> list[Figure]:
    specs = [
        ("ACTIVE, not mapped to a site", {"global_status": "ACTIVE", "mapping": "unmapped"}),
        (
            "ACTIVE, turning IDLE or DISENROLL within 7 days",
            {"global_status": "ACTIVE", "turns_idle_within": "7"},
        ),
    ]
    return [_figure(label, {**params, **IN_LEAP}) for label, params in specs]


def action_figures() -> list[Figure]:
    """Meters with open partner actions, by the actions' enrollment deadline."""
    buckets = [(key, label) for key, label in DEADLINE_BUCKETS if key != "none"]
    return [_figure(label, {"action_deadline": key, **IN_LEAP}) for key, label in buckets]


def _figure(label: str, params: dict[str, str]) -> Figure:
    return Figure(label=label, value=filtered_count(params), url=meters_url(params))


def next_deadlines(now: datetime) -> list[dict]:
    """Per program, the next enrollment deadline and how many listed periods it applies to."""
    rows = (
        EnrollmentDeadline.objects.filter(
            enrollment_deadline_date_time__gte=now, program_enrollment__listed=True
        )
        .values("program_enrollment__program_identifier")
        .annotate(next=Min("enrollment_deadline_date_time"))
        .order_by("next")
    )
    result = []
    for row in rows:
        program, deadline = row["program_enrollment__program_identifier"], row["next"]
        params = {"program": program, "deadline": timezone.localdate(deadline).isoformat()}
        result.append({"program": program, "deadline": deadline, "url": meters_url(params)})
    return result


@dataclass
class StreamHealth:
    stream: str
    label: str
    last_success: SyncRun | None
    stale: bool
    last_failure: SyncRun | None
    latest: SyncRun | None


def sync_health(now: datetime) -> list[StreamHealth]:
    cursors = {c.stream: c for c in SyncCursor.objects.select_related("last_success")}
    freshness = timedelta(minutes=settings.SYNC_FRESHNESS_MINUTES)
    health = []
    for stream, label in Stream.choices:
        cursor = cursors.get(stream)
        success = cursor.last_success if cursor else None
        finished = success.finished_at if success else None
        runs = SyncRun.objects.filter(stream=stream)
        health.append(
            StreamHealth(
                stream=stream,
                label=label,
                last_success=success,
                stale=finished is None or now - finished > freshness,
                last_failure=runs.filter(status=RunStatus.FAILED).first(),
                latest=runs.first(),
            )
        )
    return health


def recent_events(limit: int = 15) -> list[MeterEvent]:
    return list(
        MeterEvent.objects.select_related("meter", "user").order_by("-observed_at", "-id")[:limit]
    )


@dataclass
class GroupAlert:
    """Market group moves of one program and delivery period, seen in the alert window."""

    program: str
    period: str
    moves: int
    latest: datetime
    url: str


def market_group_alerts(now: datetime, days: int = 7) -> list[GroupAlert]:
    """Market group changes the sync saw lately, per program and period (Use Case C).

    Leap lists only current and upcoming periods, so every such change matters to a dispatch
    system that works by group: each links to that period's roster.
    """
    rows = (
        MeterEvent.objects.filter(
            kind=EventKind.MARKET_GROUP, observed_at__gte=now - timedelta(days=days)
        )
        .values("program_identifier", "delivery_period")
        .annotate(moves=Count("pk"), latest=Max("observed_at"))
        .order_by("-latest")[:20]
    )
    alerts = []
    for row in rows:
        program, period = row["program_identifier"], row["delivery_period"]
        query = urlencode({"program": program, "period": period})
        url = f"{reverse('enrollments:market_group_list')}?{query}"
        alerts.append(GroupAlert(program, period, row["moves"], row["latest"], url))
    return alerts
