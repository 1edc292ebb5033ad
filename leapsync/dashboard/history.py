"""Daily counts for the Trends page: recorded each day, and rebuilt from history for the days
before the first record.

A day's counts are those at its end (local midnight), today's those of now. They are rebuilt
by undoing history: start from the live tables, walk the events back in time, and at each
day's end count what the state then was. The same code counts today (no event undone), with
the conditions the meters list applies to each count's link, so today's count and its list
agree.

What history allows, and what it does not:
- global status, in Leap or not, first seen: exact (each change writes an event with its old
  value);
- site mapping: exact for mappings made through the app (each writes an event with the old
  site); a site deleted since, which unmaps its meters without an event, is not undone;
- shared partner_reference: exact (each change of a reference writes an event);
- per program status: a status change of a delivery period is undone exactly; but a period's
  appearing in or dropping off Leap's lists writes no event, so a period listed now is taken as
  listed on every earlier day, and one no longer listed as listed until its end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from enrollments.models import MeterEnrollment, ProgramEnrollment
from leapsync.dashboard.figures import filtered_count
from leapsync.dashboard.models import DailyCount
from meters.counts import IN_LEAP as IN_LEAP_PARAMS
from meters.models import EventKind, Meter, MeterEvent
from meters.services import NO_SITE_LABEL

# The Trends page shows this many days (today included).
DAYS = 90
GLOBAL = "global_status"
MAPPING = "mapping"
INVENTORY = "inventory"
PROGRAM = "program:"
MAPPED, UNMAPPED, SHARED, IN_LEAP = "mapped", "unmapped", "shared", "in_leap"

_KINDS = (
    EventKind.FIRST_SEEN,
    EventKind.MISSING,
    EventKind.RETURNED,
    EventKind.GLOBAL_STATUS,
    EventKind.PROGRAM_STATUS,
    EventKind.SITE_MAPPED,
    EventKind.PARTNER_REFERENCE,
)


@dataclass
class _Meter:
    exists: bool
    missing: bool
    status: str | None
    mapped: bool
    reference: str
    # (program, delivery period) -> [status, listed now, period end]
    periods: dict[tuple[str, str], list] = field(default_factory=dict)


def day_end(day: date) -> datetime:
    """The instant a local day ends (the next day's local midnight)."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def history_start() -> date | None:
    """The local day of the first recorded event: no day before it can be rebuilt."""
    first = MeterEvent.objects.order_by("observed_at").values_list("observed_at", flat=True)
    at = first.first()
    return timezone.localdate(at) if at else None


def _live_state() -> dict[int, _Meter]:
    meters = {
        pk: _Meter(True, missing, status, site is not None, reference)
        for pk, missing, status, site, reference in Meter.objects.values_list(
            "pk",
            "missing_from_leap",
            "enrollment__global_enrollment_status",
            "site_id",
            "partner_reference",
        ).iterator(chunk_size=5000)
    }
    rows = ProgramEnrollment.objects.values_list(
        "meter_id",
        "program_identifier",
        "delivery_period",
        "enrollment_status",
        "listed",
        "delivery_period_end_date_time",
    )
    for meter, program, period, status, listed, end in rows.iterator(chunk_size=5000):
        known = meters[meter].periods.get((program, period))
        if known is None or (listed and not known[1]):
            meters[meter].periods[(program, period)] = [status, listed, end]
    return meters


def _undo(meters: dict[int, _Meter], event: tuple) -> None:
    """Put the state back to what it was just before `event`."""
    meter_pk, kind, old, program, period = event
    meter = meters.get(meter_pk)
    if meter is None:
        return
    if kind == EventKind.FIRST_SEEN:
        meter.exists = False
    elif kind == EventKind.MISSING:
        meter.missing = False
    elif kind == EventKind.RETURNED:
        meter.missing = True
    elif kind == EventKind.GLOBAL_STATUS:
        meter.status = old or None
    elif kind == EventKind.SITE_MAPPED:
        meter.mapped = old not in ("", NO_SITE_LABEL)
    elif kind == EventKind.PARTNER_REFERENCE:
        meter.reference = old
    elif kind == EventKind.PROGRAM_STATUS:
        row = meter.periods.setdefault((program, period), [old, True, None])
        row[0] = old


def _count(meters: dict[int, _Meter], end: datetime, today: bool) -> Counter[tuple[str, str]]:
    """The counts of the state in `meters`, as the meters list would count them then."""
    counts: Counter[tuple[str, str]] = Counter()
    references = Counter(m.reference for m in meters.values() if m.exists and m.reference)
    counts[(INVENTORY, IN_LEAP)] += 0  # a recorded day always has this row, even at zero
    for meter in meters.values():
        if not meter.exists or meter.missing:
            continue
        counts[(INVENTORY, IN_LEAP)] += 1
        if meter.status:
            counts[(GLOBAL, meter.status)] += 1
        counts[(MAPPING, MAPPED if meter.mapped else UNMAPPED)] += 1
        if meter.reference and references[meter.reference] > 1:
            counts[(MAPPING, SHARED)] += 1
        statuses = set()
        for (program, _), (status, listed, period_end) in meter.periods.items():
            # Today: the list's rule (listed rows). Before: see the module's docstring.
            counted = listed if today else listed or (period_end is not None and period_end > end)
            if counted and status:
                statuses.add((f"{PROGRAM}{program}", status))
        for key in statuses:
            counts[key] += 1
    return counts


def live_counts() -> Counter[tuple[str, str]]:
    """Today's counts in SQL (five aggregates), each with the meters list's conditions for
    its link: the figures refresh writes them every few minutes without loading every meter."""
    in_leap = Meter.objects.filter(missing_from_leap=False)
    counts: Counter[tuple[str, str]] = Counter()
    mapping = in_leap.aggregate(total=Count("pk"), mapped=Count("pk", filter=Q(site__isnull=False)))
    counts[(INVENTORY, IN_LEAP)] = mapping["total"]
    for key, n in ((MAPPED, mapping["mapped"]), (UNMAPPED, mapping["total"] - mapping["mapped"])):
        if n:
            counts[(MAPPING, key)] = n
    shared = filtered_count({"reference": "shared", **IN_LEAP_PARAMS})
    if shared:
        counts[(MAPPING, SHARED)] = shared
    statuses = (
        MeterEnrollment.objects.filter(meter__missing_from_leap=False)
        .exclude(global_enrollment_status="")
        .values_list("global_enrollment_status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for status, n in statuses:
        counts[(GLOBAL, status)] = n
    programs = (
        ProgramEnrollment.objects.filter(listed=True, meter__missing_from_leap=False)
        .exclude(enrollment_status="")
        .values_list("program_identifier", "enrollment_status")
        .annotate(n=Count("meter_id", distinct=True))
        .order_by()
    )
    for program, status, n in programs:
        counts[(f"{PROGRAM}{program}", status)] = n
    return counts


def rebuild(days: Iterable[date], now: datetime) -> dict[date, Counter[tuple[str, str]]]:
    """The counts at the end of each of `days` (now for today), in one walk back through
    history from the live tables."""
    today = timezone.localdate(now)
    wanted = sorted({d for d in days if d <= today}, reverse=True)
    if not wanted:
        return {}
    meters = _live_state()
    events = (
        MeterEvent.objects.filter(kind__in=_KINDS, observed_at__gte=day_end(wanted[-1]))
        .order_by("-observed_at", "-pk")
        .values_list(
            "observed_at", "meter_id", "kind", "old", "program_identifier", "delivery_period"
        )
    )
    # Newest first; each day undoes the events observed from its end onwards.
    pending = events.iterator(chunk_size=5000)
    upcoming = next(pending, None)
    result = {}
    for day in wanted:
        end = now if day == today else day_end(day)
        while upcoming is not None and upcoming[0] >= end:
            _undo(meters, upcoming[1:])
            upcoming = next(pending, None)
        result[day] = _count(meters, end, day == today)
    return result


def store_days(counts: dict[date, Counter[tuple[str, str]]], *, rebuilt: bool) -> None:
    """Replace the stored rows of each day in `counts`."""
    with transaction.atomic():
        DailyCount.objects.filter(day__in=list(counts)).delete()
        DailyCount.objects.bulk_create(
            DailyCount(day=day, series=series, key=key, count=n, rebuilt=rebuilt)
            for day, day_counts in counts.items()
            for (series, key), n in day_counts.items()
        )


def record_today(now: datetime) -> None:
    """Today's counts, from the live tables (the figures refresh, every few minutes)."""
    store_days({timezone.localdate(now): live_counts()}, rebuilt=False)


def fill(now: datetime, days: int = DAYS, *, rebuild_again: bool = False) -> list[date]:
    """The daily task (and the backfill command): today's counts; yesterday's final counts
    when it was counted on the day (its last count was taken minutes before its end); and
    every day of the last `days` not stored yet (a first run, days the cluster was down; with
    `rebuild_again`, also those rebuilt before) rebuilt from history as far as it goes, and
    marked so. Days counted on the day are kept. Returns the days written."""
    today = timezone.localdate(now)
    yesterday = today - timedelta(days=1)
    start = history_start() or today
    window = {today - timedelta(days=n) for n in range(days)}
    stored = dict(
        DailyCount.objects.filter(day__gte=min(window), series=INVENTORY, key=IN_LEAP).values_list(
            "day", "rebuilt"
        )
    )
    kept = {d for d, rebuilt in stored.items() if not (rebuild_again and rebuilt)}
    missing = {d for d in window if d >= start and d not in kept and d != today}
    recount = {yesterday} if stored.get(yesterday) is False else set()
    counts = rebuild(missing | recount, now)
    counts[today] = live_counts()
    store_days({d: c for d, c in counts.items() if d in missing}, rebuilt=True)
    store_days({d: c for d, c in counts.items() if d not in missing}, rebuilt=False)
    return sorted(counts)
