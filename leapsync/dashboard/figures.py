"""The dashboard's figures, computed by a task (leapsync.dashboard.store), never in a request.

Each count comes from the meters FilterSet with the same parameters its link carries, so a
number and the list behind it can never disagree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.functions import Coalesce
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from enrollments.models import EnrollmentDeadline, MeterEnrollment, ProgramEnrollment
from leapsync.dashboard.deadlines import as_datetime
from leapsync.freshness import stream_freshness
from leapsync.leap.enums import ENROLLMENT_STATUSES, EnrollmentStatus
from leapsync.models import RunStatus, SyncRun
from meters.counts import IN_LEAP, Figure, meters_url
from meters.filters import DEADLINE_BUCKETS, MeterFilterSet
from meters.models import EventKind, Meter, MeterEvent

# The dashboard's status changes are against this long ago.
DELTA_WINDOW = timedelta(days=1)


def filtered_count(params: dict[str, str]) -> int:
    data = QueryDict(urlencode(params))  # a QueryDict, as in a request: multi-value widgets need it
    return MeterFilterSet(data, queryset=Meter.objects.all()).qs.count()


def inventory_figures(now: datetime) -> dict:
    """The whole-inventory figures of the dashboard: each an aggregate over every meter (about
    3 s of SQL together at 1,000,000 meters on a busy 2-core machine, most of it reading
    indexes rather than rows; docs/benchmarks.md), hence computed by the figures task."""
    return {
        "statuses": status_figures(now),
        "readiness": readiness_figures(),
        "action_buckets": action_figures(),
        "deadlines": next_deadlines(now),
        "group_alerts": market_group_alerts(now),
    }


def status_figures(now: datetime) -> list[Figure]:
    """Meters (still in Leap) by global status, with the change against 24 hours ago."""
    since = now - DELTA_WINDOW
    changed = _events_since(_COUNT_CHANGES, since).values("meter")
    # Per status, its meters and, among them, those with an event that can move them (the
    # "counted now" side of the change): every enrollment's, less those of the few meters
    # gone from Leap, from the status index alone (a join to a million meter rows to read
    # missing_from_leap took most of the figures' time).
    counts: Counter[str] = Counter()
    deltas: Counter[str] = Counter()
    for sign, rows in ((1, MeterEnrollment.objects.all()), (-1, _enrollments_of_missing())):
        by_status = (
            rows.values_list("global_enrollment_status")
            .annotate(n=Count("pk"), moved=Count("pk", filter=Q(meter__in=changed)))
            .order_by()
        )
        for status, n, moved in by_status:
            counts[status] += sign * n
            deltas[status] += sign * moved
    deltas.subtract(counted_then(since))
    statuses = [s.value for s in EnrollmentStatus] + sorted(
        s for s, n in counts.items() if n and s and s not in ENROLLMENT_STATUSES
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


# The events that change which status figure a meter counts in: its arrival, and the moves
# of a meter that was there before.
_PRESENCE = (EventKind.MISSING, EventKind.RETURNED)
_MOVES = (EventKind.GLOBAL_STATUS, *_PRESENCE)
_COUNT_CHANGES = (EventKind.FIRST_SEEN, *_MOVES)


def _events_since(kinds: tuple[str, ...], since: datetime) -> QuerySet[MeterEvent]:
    return MeterEvent.objects.filter(kind__in=kinds, observed_at__gte=since)


def _enrollments_of_missing() -> QuerySet[MeterEnrollment]:
    return MeterEnrollment.objects.filter(meter__missing_from_leap=True)


def counted_then(since: datetime) -> Counter[str]:
    """Per global status, the meters with an event since `since` that counted in it then.

    A status figure's change is its meters now minus its meters then. Only meters with an
    event since can differ, so only they are counted on both sides; status_figures counts
    them now, this function then, in SQL. A meter counted then was in Leap with that status:
    - first seen since: not there then (after a first load, every meter: none is read here);
    - in Leap unless its first missing/returned event since is a return (none: as now);
    - its status the `old` of its first status change since (none: its status now).
    (A meter first seen before `since` whose enrollment arrived only after it, with no
    event, is taken to have had its status then too.)
    """
    changed = _events_since(_COUNT_CHANGES, since)

    def first(kinds: tuple[str, ...], field: str) -> Subquery:
        events = changed.filter(meter=OuterRef("pk"), kind__in=kinds)
        return Subquery(events.order_by("observed_at", "pk").values(field)[:1])

    first_seen = changed.filter(meter=OuterRef("pk"), kind=EventKind.FIRST_SEEN)
    then = Coalesce(
        first((EventKind.GLOBAL_STATUS,), "old"),
        "enrollment__global_enrollment_status",
        output_field=TextField(),
    )
    rows = (
        Meter.objects.filter(pk__in=_events_since(_MOVES, since).values("meter"))
        .filter(~Exists(first_seen))
        .alias(presence=first(_PRESENCE, "kind"))
        .filter(Q(presence=EventKind.MISSING) | Q(presence__isnull=True, missing_from_leap=False))
        .annotate(status_then=then)
        .filter(status_then__isnull=False)
        .values_list("status_then")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return Counter(dict(rows))


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
    """Per program, its next enrollment deadline among listed periods, soonest first.

    One query: the programs are read from the deadlines' (program, time) index by skipping
    from one to the next, and each program's next deadline is the first upcoming entry of its
    own in that index. (Joining every upcoming deadline to its period and grouping took 1.8 s
    at 1,000,000 meters: 3.1 million deadlines for 21 programs.)
    """
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_DEADLINES_SQL, [connection.ops.adapt_datetimefield_value(now)])
        rows = [(program, as_datetime(next_at)) for program, next_at in cursor.fetchall()]
    result = []
    for program, deadline in sorted(rows, key=lambda row: (row[1], row[0])):
        params = {"program": program, "deadline": timezone.localdate(deadline).isoformat()}
        result.append({"program": program, "deadline": deadline, "url": meters_url(params)})
    return result


_DEADLINE, _PERIOD = EnrollmentDeadline._meta.db_table, ProgramEnrollment._meta.db_table
_NEXT_DEADLINES_SQL = f"""
    WITH RECURSIVE programs(program) AS (
        SELECT MIN(program_identifier) FROM {_DEADLINE}
        UNION ALL
        SELECT (
            SELECT MIN(program_identifier) FROM {_DEADLINE}
            WHERE program_identifier > programs.program
        )
        FROM programs
        WHERE programs.program IS NOT NULL
    )
    SELECT program, next_at FROM (
        SELECT programs.program, (
            SELECT deadline.enrollment_deadline_date_time
            FROM {_DEADLINE} deadline
            JOIN {_PERIOD} period ON period.id = deadline.program_enrollment_id
            WHERE deadline.program_identifier = programs.program
              AND deadline.enrollment_deadline_date_time >= %s
              AND period.listed
            ORDER BY deadline.enrollment_deadline_date_time
            LIMIT 1
        ) AS next_at
        FROM programs
        WHERE programs.program IS NOT NULL
    ) upcoming
    WHERE next_at IS NOT NULL
"""


@dataclass
class StreamHealth:
    stream: str
    label: str
    last_success: SyncRun | None
    stale: bool
    last_failure: SyncRun | None
    latest: SyncRun | None


def sync_health(now: datetime) -> list[StreamHealth]:
    """Each stream's freshness (leapsync.freshness), with its latest and latest failed run."""
    health = []
    for fresh in stream_freshness(now):
        runs = SyncRun.objects.filter(stream=fresh.stream)
        health.append(
            StreamHealth(
                stream=fresh.stream,
                label=fresh.label,
                last_success=fresh.last_success,
                stale=fresh.stale,
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
