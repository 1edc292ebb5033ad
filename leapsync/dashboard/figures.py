"""The dashboard's figures, computed by a task (leapsync.dashboard.store), never in a request.

Each count comes from the meters FilterSet with the same parameters its link carries, so a
number and the list behind it can never disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Count, Max, Min
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from enrollments.models import EnrollmentDeadline, MeterEnrollment
from leapsync.freshness import stream_freshness
from leapsync.leap.enums import ENROLLMENT_STATUSES, EnrollmentStatus
from leapsync.lib.iterables import batched
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
    """The whole-inventory figures of the dashboard: each an aggregate over every meter (~2 s
    of SQL together at 100,000 meters), hence computed by the figures task."""
    return {
        "statuses": status_figures(now),
        "readiness": readiness_figures(),
        "action_buckets": action_figures(),
        "deadlines": next_deadlines(now),
        "group_alerts": market_group_alerts(now),
    }


def status_figures(now: datetime) -> list[Figure]:
    """Meters (still in Leap) by global status, with the change against 24 hours ago."""
    counts = dict(
        MeterEnrollment.objects.filter(meter__missing_from_leap=False)
        .values_list("global_enrollment_status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    deltas = status_deltas(now - DELTA_WINDOW)
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


# The events that change which status figure a meter counts in.
_COUNT_CHANGES = (
    EventKind.FIRST_SEEN,
    EventKind.GLOBAL_STATUS,
    EventKind.MISSING,
    EventKind.RETURNED,
)


def status_deltas(since: datetime) -> dict[str, int]:
    """Per global status: meters counted in it now minus meters counted in it at `since`.

    A meter is counted in a status when it is in Leap and its enrollment has that status. Only
    meters with an event since `since` can count differently then; for each, its state then is
    rebuilt from its earliest events since: not there yet if first seen since; the `old` of
    its first status change; in Leap unless its first missing/returned event is a return. (A
    meter first seen before `since` whose enrollment arrived only after it, with no event, is
    taken to have had its status then too.)
    """
    changed = MeterEvent.objects.filter(kind__in=_COUNT_CHANGES, observed_at__gte=since)
    then: dict[int, dict[str, object]] = {}
    events = changed.order_by("meter_id", "observed_at", "pk").values_list(
        "meter_id", "kind", "old"
    )
    for meter, kind, old in events.iterator(chunk_size=5000):
        state = then.setdefault(meter, {})
        if kind == EventKind.FIRST_SEEN:
            state["absent"] = True
        elif kind == EventKind.GLOBAL_STATUS:
            state.setdefault("status", old)
        else:
            state.setdefault("absent", kind == EventKind.RETURNED)
    deltas: Counter[str] = Counter()
    # Their state now, read by primary key in chunks: as one `IN (events since)` through a
    # server-side cursor PostgreSQL planned for the first rows, and took 38 s for the 100,000
    # meters a first sync leaves (1,000,000 in all).
    for chunk in batched(then, STATE_CHUNK):
        now = Meter.objects.filter(pk__in=chunk).values_list(
            "pk", "missing_from_leap", "enrollment__global_enrollment_status"
        )
        _count_changes(deltas, then, now)
    return dict(deltas)


STATE_CHUNK = 5000


def _count_changes(
    deltas: Counter[str], then: dict[int, dict[str, object]], now: Iterable[tuple]
) -> None:
    for pk, missing, status in now:
        state = then[pk]
        if not missing and status is not None:
            deltas[status] += 1
        if not state.get("absent", missing):
            before = state.get("status", status)
            if before is not None:
                deltas[str(before)] -= 1


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
