"""Delivery periods and enrollment deadlines per program, with the meter counts behind them.

Every figure is computed with the same conditions the meters list applies to the parameters its
link carries (`meters_params`), so a number and the list behind it agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from enrollments.models import EnrollmentDeadline, ProgramEnrollment
from leapsync.leap.enums import EnrollmentStatus
from meters.counts import IN_LEAP, Figure, meters_url

COUNTED_STATUSES = (
    EnrollmentStatus.ACTIVE,
    EnrollmentStatus.ELIGIBLE,
    EnrollmentStatus.PENDING,
    EnrollmentStatus.INELIGIBLE,
)


@dataclass
class Period:
    """One delivery period of one program, as the listed enrollments describe it."""

    program: str
    name: str
    start: datetime
    end: datetime | None
    meters: int = 0

    def contains(self, now: datetime) -> bool:
        return self.start <= now and (self.end is None or now < self.end)

    @property
    def params(self) -> dict[str, str]:
        return {"program": self.program, "delivery_period": self.name}


@dataclass
class Deadline:
    """One enrollment deadline of a period, with its meters by status and blocked meters."""

    period: Period
    deadline: datetime
    activation: datetime | None
    statuses: list[Figure] = field(default_factory=list)
    blocked: Figure | None = None


@dataclass
class ProgramDeadlines:
    program: str
    current: Period | None
    next: Period | None
    deadlines: list[Deadline]


def listed_periods() -> list[Period]:
    """Every listed (program, delivery period) with its meter count, by program and start."""
    rows = (
        ProgramEnrollment.objects.filter(listed=True, meter__missing_from_leap=False)
        .values(
            "program_identifier",
            "delivery_period",
            "delivery_period_start_date_time",
            "delivery_period_end_date_time",
        )
        .annotate(n=Count("pk"))
        .order_by("program_identifier", "delivery_period_start_date_time", "delivery_period")
    )
    return [
        Period(
            program=row["program_identifier"],
            name=row["delivery_period"],
            start=row["delivery_period_start_date_time"],
            end=row["delivery_period_end_date_time"],
            meters=row["n"],
        )
        for row in rows
    ]


def current_and_next(periods: list[Period], now: datetime) -> tuple[Period | None, Period | None]:
    """The period containing `now` (from dates, never list position) and the one after it."""
    current = next((p for p in periods if p.contains(now)), None)
    after = current.end if current and current.end else now
    upcoming = [p for p in periods if p is not current and p.start >= after]
    return current, min(upcoming, key=lambda p: p.start, default=None)


def by_program(periods: list[Period]) -> dict[str, list[Period]]:
    grouped: dict[str, list[Period]] = {}
    for period in periods:
        grouped.setdefault(period.program, []).append(period)
    return grouped


def program_deadlines(now: datetime, programs: list[str] | None = None) -> list[ProgramDeadlines]:
    """Per program: current and next periods and every deadline of both, with counts.

    Three queries whatever the number of meters: periods, deadlines by status, blocked meters.
    """
    result = []
    chosen: list[Period] = []
    for program, periods in by_program(listed_periods()).items():
        if programs and program not in programs:
            continue
        current, upcoming = current_and_next(periods, now)
        shown = [p for p in (current, upcoming) if p]
        chosen += shown
        result.append(ProgramDeadlines(program, current, upcoming, []))
    deadlines = deadlines_of(chosen)
    for item in result:
        item.deadlines = [d for d in deadlines if d.period.program == item.program]
    return result


def deadlines_of(periods: list[Period]) -> list[Deadline]:
    """The deadlines of `periods`, soonest first, each with its meters by status.

    `blocked` is left for the read side (leapsync.dashboard.deadlines), which knows actions.
    """
    if not periods:
        return []
    keys = {(p.program, p.name, p.start): p for p in periods}
    rows = (
        EnrollmentDeadline.objects.filter(_periods_q(periods, "program_enrollment__"))
        .filter(program_enrollment__listed=True, program_enrollment__meter__missing_from_leap=False)
        .values(
            "program_enrollment__program_identifier",
            "program_enrollment__delivery_period",
            "program_enrollment__delivery_period_start_date_time",
            "enrollment_deadline_date_time",
            "activation_date_time",
        )
        .annotate(
            **{
                status.lower(): Count("pk", filter=Q(program_enrollment__enrollment_status=status))
                for status in COUNTED_STATUSES
            }
        )
        .order_by("enrollment_deadline_date_time", "program_enrollment__program_identifier")
    )
    deadlines = []
    for row in rows:
        period = keys[
            (
                row["program_enrollment__program_identifier"],
                row["program_enrollment__delivery_period"],
                row["program_enrollment__delivery_period_start_date_time"],
            )
        ]
        deadline = Deadline(
            period, row["enrollment_deadline_date_time"], row["activation_date_time"]
        )
        day = timezone.localdate(deadline.deadline).isoformat()
        deadline.statuses = [
            Figure(
                status,
                row[status.lower()],
                meters_url({**period.params, "deadline": day, "program_status": status, **IN_LEAP}),
            )
            for status in COUNTED_STATUSES
        ]
        deadlines.append(deadline)
    return deadlines


def _periods_q(periods: list[Period], prefix: str = "") -> Q:
    query = Q(pk__in=[])
    for p in periods:
        query |= Q(
            **{
                f"{prefix}program_identifier": p.program,
                f"{prefix}delivery_period": p.name,
                f"{prefix}delivery_period_start_date_time": p.start,
            }
        )
    return query


@dataclass
class CalendarDay:
    day: object
    items: list[dict] = field(default_factory=list)


def calendar(now: datetime, days: int = 60) -> list[CalendarDay]:
    """Deadlines and period starts in the next `days` days, grouped by local date."""
    until = now + timedelta(days=days)
    periods = [p for p in listed_periods() if now <= p.start < until]
    deadline_rows = (
        EnrollmentDeadline.objects.filter(
            program_enrollment__listed=True,
            enrollment_deadline_date_time__gte=now,
            enrollment_deadline_date_time__lt=until,
        )
        .values(
            "program_enrollment__program_identifier",
            "program_enrollment__delivery_period",
            "enrollment_deadline_date_time",
            "activation_date_time",
        )
        .annotate(n=Count("pk"))
        .order_by()
    )
    items = [
        {
            "at": p.start,
            "kind": "period",
            "program": p.program,
            "period": p.name,
            "meters": p.meters,
            "url": meters_url(p.params),
        }
        for p in periods
    ]
    for row in deadline_rows:
        program = row["program_enrollment__program_identifier"]
        name = row["program_enrollment__delivery_period"]
        day = timezone.localdate(row["enrollment_deadline_date_time"]).isoformat()
        items.append(
            {
                "at": row["enrollment_deadline_date_time"],
                "kind": "deadline",
                "program": program,
                "period": name,
                "activation": row["activation_date_time"],
                "meters": row["n"],
                "url": meters_url({"program": program, "delivery_period": name, "deadline": day}),
            }
        )
    items.sort(key=lambda item: (item["at"], item["program"], item["kind"]))
    grouped: dict[object, CalendarDay] = {}
    for item in items:
        day = timezone.localdate(item["at"])
        grouped.setdefault(day, CalendarDay(day)).items.append(item)
    return list(grouped.values())
