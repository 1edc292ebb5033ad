"""The market group roster of one program's delivery period, and how it changed.

Changes "since the previous period" compare each meter's group with the period before (kept
with `listed=False` once Leap stops listing it); changes "since the previous sync" are the
`market_group` events the sync wrote since the latest full or incremental enrollments run
began: that run's, and those of any refresh after it. A refresh alone is no baseline: it reads
a few meters, and the stale run that follows every incremental one would otherwise hide what
the incremental run saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, QuerySet
from django.urls import reverse

from enrollments.deadlines import Period
from enrollments.models import ProgramEnrollment
from leapsync.models import RunStatus, Stream, SyncMode, SyncRun
from meters.models import EventKind, MeterEvent

SHOWN_PER_GROUP = 25


@dataclass
class Change:
    """One meter that joined, left or moved between groups."""

    kind: str  # "joined", "left" or "moved"
    meter_id: object
    old: str
    new: str
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RosterMeter:
    """One meter of a group as the roster shows it: plain values, with its page's address.

    The roster is cached (a whole period's groups); plain records unpickle several times faster
    than model instances, and the links are reversed once per recompute, not once per view.
    """

    meter_id: object
    url: str
    partner_reference: str
    customer: str
    missing: bool
    site: str  # "external id name", or "" when not mapped

    @classmethod
    def of(cls, row: ProgramEnrollment) -> RosterMeter:
        meter, site = row.meter, row.meter.site
        return cls(
            meter_id=meter.meter_id,
            url=reverse("meters:meter_detail", args=[meter.meter_id]),
            partner_reference=meter.partner_reference,
            customer=meter.end_customer_name,
            missing=meter.missing_from_leap,
            site=f"{site.external_id} {site.name}" if site is not None else "",
        )


@dataclass
class Group:
    group_id: object
    name: str
    rows: list[RosterMeter] = field(default_factory=list)
    count: int = 0
    joined: int = 0
    left: int = 0


@dataclass
class Roster:
    period: Period
    previous: Period | None
    groups: list[Group]
    since_period: list[Change]
    since_sync: list[Change]
    sync_baseline: SyncRun | None


def roster_rows(period: Period) -> QuerySet:
    """The period's meters in a market group, with their sites: the export's rows too."""
    return (
        ProgramEnrollment.objects.filter(
            program_identifier=period.program,
            delivery_period=period.name,
            delivery_period_start_date_time=period.start,
            listed=True,
        )
        .exclude(market_group_id__isnull=True, market_group_name="")
        .select_related("meter__site")
        .only(
            "market_group_id",
            "market_group_name",
            "delivery_period_start_date_time",
            "delivery_period_end_date_time",
            "program_identifier",
            "delivery_period",
            "meter__meter_id",
            "meter__partner_reference",
            "meter__end_customer_name",
            "meter__missing_from_leap",
            "meter__site__external_id",
            "meter__site__name",
        )
        .order_by("market_group_name", "market_group_id", "meter__meter_id")
    )


def group_label(name: str, group_id: object) -> str:
    if group_id is None and not name:
        return ""
    return f"{name} ({group_id or 'no id'})"


def build_roster(period: Period, previous: Period | None) -> Roster:
    """Groups with their meters (at most SHOWN_PER_GROUP each) and both kinds of changes."""
    current = {}
    groups: dict[object, Group] = {}
    for row in roster_rows(period):
        key = row.market_group_id or row.market_group_name
        group = groups.setdefault(key, Group(row.market_group_id, row.market_group_name))
        group.count += 1
        if len(group.rows) < SHOWN_PER_GROUP:
            group.rows.append(RosterMeter.of(row))
        current[row.meter.meter_id] = group_label(row.market_group_name, row.market_group_id)
    since_period = _period_changes(current, previous) if previous else []
    for change in since_period:
        for label, attr in ((change.new, "joined"), (change.old, "left")):
            for group in groups.values():
                if label and group_label(group.name, group.group_id) == label:
                    setattr(group, attr, getattr(group, attr) + 1)
    baseline = sync_baseline()
    return Roster(
        period=period,
        previous=previous,
        groups=list(groups.values()),
        since_period=since_period,
        since_sync=sync_changes([period], baseline.started_at) if baseline else [],
        sync_baseline=baseline,
    )


def _period_changes(current: dict, previous: Period) -> list[Change]:
    before = {
        meter_id: group_label(name, group_id)
        for meter_id, name, group_id in ProgramEnrollment.objects.filter(
            program_identifier=previous.program,
            delivery_period=previous.name,
            delivery_period_start_date_time=previous.start,
        ).values_list("meter__meter_id", "market_group_name", "market_group_id")
    }
    changes = []
    for meter_id in sorted(set(current) | set(before), key=str):
        old, new = before.get(meter_id, ""), current.get(meter_id, "")
        if old != new:
            changes.append(Change(_kind(old, new), meter_id, old, new))
    return changes


def _kind(old: str, new: str) -> str:
    if not old:
        return "joined"
    return "left" if not new else "moved"


def sync_baseline() -> SyncRun | None:
    """The latest successful full or incremental enrollments run: one that read every change."""
    return (
        SyncRun.objects.filter(
            stream=Stream.ENROLLMENTS,
            mode__in=[SyncMode.FULL, SyncMode.INCREMENTAL],
            status=RunStatus.SUCCEEDED,
        )
        .order_by("-started_at", "-id")
        .first()
    )


def market_group_events(periods: list[Period], since: datetime) -> QuerySet:
    """The market group events the sync wrote for `periods` since an instant, newest first."""
    in_periods = Q(pk__in=[])
    for period in periods:
        in_periods |= Q(program_identifier=period.program, delivery_period=period.name)
    return (
        MeterEvent.objects.filter(in_periods, kind=EventKind.MARKET_GROUP, observed_at__gte=since)
        .select_related("meter")
        .order_by("-observed_at", "-id")
    )


def sync_changes(periods: list[Period], since: datetime) -> list[Change]:
    """Market group changes the sync recorded for `periods` since an instant, newest first."""
    events = market_group_events(periods, since)
    return [
        Change(_kind(e.old, e.new), e.meter.meter_id, e.old, e.new, e.observed_at) for e in events
    ]


def previous_period(period: Period) -> Period | None:
    """The program's period just before `period`, listed or not (rolled-over periods count)."""
    row = (
        ProgramEnrollment.objects.filter(
            program_identifier=period.program,
            delivery_period_start_date_time__lt=period.start,
        )
        .order_by("-delivery_period_start_date_time")
        .values(
            "delivery_period", "delivery_period_start_date_time", "delivery_period_end_date_time"
        )
        .first()
    )
    if row is None:
        return None
    return Period(
        period.program,
        row["delivery_period"],
        row["delivery_period_start_date_time"],
        row["delivery_period_end_date_time"],
    )
