"""The Trends page's figures, computed by the figures task (leapsync.dashboard.store).

Plain values only (dates, numbers, strings, URLs): the page turns them into charts. Each
count that a list shows today carries that list's link, and is computed with the list's own
conditions: the daily counts as leapsync.dashboard.history counts them, the open actions
through the inbox's FilterSet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from actions.filters import AGE_BUCKETS, ActionFilterSet
from actions.inbox import inbox_queryset
from actions.models import ActionOwner, RequiredAction
from enrollments.deadlines import by_program, listed_periods
from enrollments.models import EnrollmentDeadline
from leapsync.dashboard import history
from leapsync.dashboard.models import DailyCount
from leapsync.leap.enums import EnrollmentStatus
from leapsync.models import SyncRun
from meters.counts import IN_LEAP, meters_url

WEEKS = 12
RUNS = 100
# The deadlines timeline starts this many days before today and ends a week after the last
# listed period or deadline, within TIMELINE_AFTER days and at least TIMELINE_MIN_AFTER.
TIMELINE_BEFORE, TIMELINE_MIN_AFTER, TIMELINE_AFTER = 30, 60, 365

MAPPING_KEYS = (
    (history.MAPPED, "Mapped to a site", {"mapping": "mapped"}),
    (history.UNMAPPED, "Not mapped", {"mapping": "unmapped"}),
    (history.SHARED, "Shared partner_reference", {"reference": "shared"}),
)


@dataclass
class Series:
    """One line of a chart: a value per day (None: not recorded), and the list behind it."""

    key: str
    label: str
    values: list[int | None]
    url: str

    @property
    def today(self) -> int | None:
        return self.values[-1] if self.values else None


@dataclass
class DailyTrends:
    days: list[date]
    rebuilt: list[bool]
    global_status: list[Series]
    mapping: list[Series]
    programs: dict[str, list[Series]] = field(default_factory=dict)

    @property
    def rebuilt_until(self) -> date | None:
        """The last day rebuilt from history rather than counted on the day."""
        rebuilt = [day for day, was in zip(self.days, self.rebuilt, strict=True) if was]
        return rebuilt[-1] if rebuilt else None


def trends_figures(now: datetime) -> dict:
    """Everything the Trends page shows; today's daily counts are recorded first."""
    if DailyCount.objects.exists():
        history.record_today(now)
    else:  # the first run: days before today rebuilt from history as far as it goes
        history.fill(now)
    return {
        "history_start": history.history_start(),
        "daily": daily_trends(now),
        "weekly_actions": weekly_actions(now),
        "action_ages": action_ages(now),
        "runs": sync_runs(),
        "timeline": timeline(now),
    }


def daily_trends(now: datetime) -> DailyTrends:
    """The stored daily counts of the last history.DAYS days (one bounded query)."""
    today = timezone.localdate(now)
    rows = DailyCount.objects.filter(day__gt=today - timedelta(days=history.DAYS)).values_list(
        "day", "series", "key", "count", "rebuilt"
    )
    counts: dict[tuple[str, str], dict[date, int]] = {}
    recorded: dict[date, bool] = {}
    for day, series, key, count, rebuilt in rows:
        counts.setdefault((series, key), {})[day] = count
        if series == history.INVENTORY:
            recorded[day] = rebuilt
    days = sorted(recorded)

    def values(series: str, key: str) -> list[int | None]:
        by_day = counts.get((series, key), {})
        return [by_day.get(day, 0) for day in days]

    known = [s.value for s in EnrollmentStatus]

    def statuses(series: str) -> list[str]:
        seen = {key for s, key in counts if s == series}
        return [s for s in known if s in seen] + sorted(seen - set(known))

    def status_series(series: str, params: dict[str, str]) -> list[Series]:
        field_name = "global_status" if series == history.GLOBAL else "program_status"
        return [
            Series(
                status,
                status,
                values(series, status),
                meters_url({**params, field_name: status, **IN_LEAP}),
            )
            for status in statuses(series)
        ]

    programs = sorted(
        s.removeprefix(history.PROGRAM) for s, _ in counts if s.startswith(history.PROGRAM)
    )
    return DailyTrends(
        days=days,
        rebuilt=[recorded[d] for d in days],
        global_status=status_series(history.GLOBAL, {}),
        mapping=[
            Series(key, label, values(history.MAPPING, key), meters_url({**params, **IN_LEAP}))
            for key, label, params in MAPPING_KEYS
        ],
        programs={
            program: status_series(f"{history.PROGRAM}{program}", {"program": program})
            for program in programs
        },
    )


@dataclass
class Week:
    start: date
    opened: int
    resolved: int


def weekly_actions(now: datetime) -> list[Week]:
    """Partner actions Leap first listed, and those it resolved, per week (Monday to Sunday)."""
    today = timezone.localdate(now)
    first = today - timedelta(days=today.weekday() + 7 * (WEEKS - 1))
    since = history.day_end(first - timedelta(days=1))
    actions = RequiredAction.objects.filter(owner=ActionOwner.PARTNER)

    def per_day(field_name: str) -> dict[date, int]:
        rows = (
            actions.filter(**{f"{field_name}__gte": since})
            .annotate(day=TruncDate(field_name, tzinfo=timezone.get_current_timezone()))
            .values("day")
            .annotate(n=Count("pk"))
            .order_by()
        )
        return {row["day"]: row["n"] for row in rows}

    opened, resolved = per_day("first_seen_at"), per_day("resolved_at")
    weeks = [Week(first + timedelta(weeks=n), 0, 0) for n in range(WEEKS)]
    for week in weeks:
        for offset in range(7):
            day = week.start + timedelta(days=offset)
            week.opened += opened.get(day, 0)
            week.resolved += resolved.get(day, 0)
    return weeks


@dataclass
class Bucket:
    key: str
    label: str
    value: int
    url: str


def action_ages(now: datetime) -> list[Bucket]:
    """Open partner actions by how long ago Leap first listed them, each counted by the
    inbox's own FilterSet with its link's parameters."""
    result = []
    for key, label in AGE_BUCKETS:
        params = {"age": key}
        filterset = ActionFilterSet(
            QueryDict(urlencode(params)), queryset=inbox_queryset(ActionOwner.PARTNER)
        )
        url = f"{reverse('actions:action_list')}?{urlencode(params)}"
        result.append(Bucket(key, label, filterset.qs.count(), url))
    return result


@dataclass
class Run:
    pk: int
    started_at: datetime
    stream: str
    mode: str
    status: str
    seconds: float | None
    meters: int
    rate: float | None
    warnings: int
    quarantined: int


def sync_runs() -> list[Run]:
    """The last RUNS runs, oldest first."""
    runs = SyncRun.objects.order_by("-pk").only(
        "pk",
        "started_at",
        "finished_at",
        "stream",
        "mode",
        "status",
        "meters_seen",
        "warnings_count",
        "quarantined",
    )[:RUNS]
    result = []
    for run in reversed(list(runs)):
        seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
        rate = run.meters_seen / seconds if seconds else None
        result.append(
            Run(
                run.pk,
                run.started_at,
                run.stream,
                run.mode,
                run.status,
                seconds,
                run.meters_seen,
                rate,
                run.warnings_count,
                run.quarantined,
            )
        )
    return result


@dataclass
class TimelinePeriod:
    name: str
    start: datetime
    end: datetime | None
    meters: int
    url: str


@dataclass
class TimelineDeadline:
    period: str
    deadline: datetime
    activation: datetime | None
    meters: int
    url: str


@dataclass
class ProgramTimeline:
    program: str
    periods: list[TimelinePeriod]
    deadlines: list[TimelineDeadline]


@dataclass
class Timeline:
    start: datetime
    end: datetime
    programs: list[ProgramTimeline]


def timeline(now: datetime) -> Timeline:
    """Per program, the listed delivery periods and their enrollment deadlines and activations
    that fall in the window, each with the meters list behind it."""
    start, end = now - timedelta(days=TIMELINE_BEFORE), now + timedelta(days=TIMELINE_AFTER)
    programs = []
    deadline_rows = (
        EnrollmentDeadline.objects.filter(
            program_enrollment__listed=True,
            program_enrollment__meter__missing_from_leap=False,
            enrollment_deadline_date_time__gte=start,
            enrollment_deadline_date_time__lt=end,
        )
        .values(
            "program_enrollment__program_identifier",
            "program_enrollment__delivery_period",
            "enrollment_deadline_date_time",
            "activation_date_time",
        )
        .annotate(n=Count("pk"))
        .order_by("enrollment_deadline_date_time")
    )
    deadlines: dict[str, list[TimelineDeadline]] = {}
    for row in deadline_rows:
        program = row["program_enrollment__program_identifier"]
        period = row["program_enrollment__delivery_period"]
        at = row["enrollment_deadline_date_time"]
        params = {
            "program": program,
            "delivery_period": period,
            "deadline": timezone.localdate(at).isoformat(),
            **IN_LEAP,
        }
        deadlines.setdefault(program, []).append(
            TimelineDeadline(period, at, row["activation_date_time"], row["n"], meters_url(params))
        )
    for program, periods in by_program(listed_periods()).items():
        shown = [
            TimelinePeriod(p.name, p.start, p.end, p.meters, meters_url({**p.params, **IN_LEAP}))
            for p in periods
            if p.start < end and (p.end is None or p.end > start)
        ]
        if shown or program in deadlines:
            programs.append(ProgramTimeline(program, shown, deadlines.get(program, [])))
    last = max(
        [p.end or end for item in programs for p in item.periods]
        + [d.deadline for item in programs for d in item.deadlines],
        default=now,
    )
    end = min(end, max(last + timedelta(days=7), now + timedelta(days=TIMELINE_MIN_AFTER)))
    return Timeline(start, end, programs)
