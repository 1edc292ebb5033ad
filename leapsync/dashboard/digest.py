"""The managers' deadline digest: what one subscriber would read today, built without sending.

`build_digest(user, today)` only reads; `send_due_digests` sends each due subscription its
digest once per period (the claim: enrollments.services). Every item carries an absolute link
(settings.SITE_URL) back into the UI. It lives on the read side because a deadline's blocked
meters join enrollments with actions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone

from actions.catalogue import Catalogue, entry_for, load_catalogue
from enrollments import services
from enrollments.deadlines import Deadline, Period, by_program, deadlines_of, listed_periods
from enrollments.models import (
    DigestCadence,
    DigestSubscription,
    ParticipationPeriod,
    ProgramEnrollment,
    SentDigestStatus,
)
from enrollments.roster import market_group_events
from leapsync.dashboard.deadlines import blocking_actions, count_blocked
from leapsync.dashboard.figures import StreamHealth, sync_health
from leapsync.leap.enums import EnrollmentStatus, ParticipationPreference
from leapsync.ui.emails import render_email, send_email
from meters.models import EventKind, MeterEvent

logger = logging.getLogger(__name__)
EMAIL_NAME = "digest"
TOP_BLOCKED = 5
LISTED = 20
DEFAULT_WINDOW = 14


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


@dataclass
class Blocked:
    meter_id: object
    customer: str
    title: str  # the action's name in the catalogue
    code: str
    due: datetime | None
    assignee: str
    url: str


@dataclass
class DigestDeadline:
    """A deadline with its first TOP_BLOCKED blocked meters (its `blocked` figure counts all)."""

    deadline: Deadline
    blocked: list[Blocked]

    @property
    def url(self) -> str:
        return absolute(f"{reverse('enrollments:deadline_list')}#{self.deadline.period.program}")

    @property
    def more_blocked(self) -> int:
        """Blocked meters not listed; the figure's url lists them all."""
        figure = self.deadline.blocked
        return max(figure.value - len(self.blocked), 0) if figure else 0


@dataclass
class Listed:
    """A capped list with its full size and a link to all of it."""

    items: list = field(default_factory=list)
    total: int = 0
    url: str = ""


@dataclass
class Digest:
    user: object
    recipient: str  # the subscription's address, else the user's
    today: date
    now: datetime
    window_days: int
    programs: list[str]
    since: datetime
    deadlines: list[DigestDeadline]
    status_losses: Listed
    group_changes: Listed
    transitions: Listed
    health: list[StreamHealth]
    urls: dict[str, str]

    @property
    def headline_count(self) -> int:
        return len(self.deadlines)

    @property
    def stale(self) -> bool:
        return any(h.stale for h in self.health)

    @property
    def nothing_due(self) -> bool:
        return not (
            self.deadlines
            or self.status_losses.total
            or self.group_changes.total
            or self.transitions.total
        )


def reference_instant(today: date) -> datetime:
    """Now, when `today` is today; otherwise the start of that local day (previews, tests)."""
    if timezone.localdate() == today:
        return timezone.now()
    return timezone.make_aware(datetime.combine(today, time.min))


def build_digest(user, today: date) -> Digest:
    """The digest `user` would receive on `today`, from their subscription (or the defaults)."""
    subscription = DigestSubscription.objects.filter(user=user).first()
    window = subscription.window_days if subscription else DEFAULT_WINDOW
    programs = list(subscription.programs) if subscription else []
    now = reference_instant(today)
    since = _since(subscription, now)
    periods = [
        p
        for program, items in by_program(listed_periods()).items()
        if not programs or program in programs
        for p in items
    ]
    return Digest(
        user=user,
        recipient=subscription.recipient if subscription else user.email,
        today=today,
        now=now,
        window_days=window,
        programs=programs,
        since=since,
        deadlines=_deadlines(periods, now, now + timedelta(days=window)),
        status_losses=_status_losses(programs, since),
        group_changes=_group_changes(periods, now, since),
        transitions=_transitions(programs, now, window),
        health=sync_health(now),
        urls={
            "deadlines": absolute(reverse("enrollments:deadline_list")),
            "subscription": absolute(reverse("enrollments:digest_subscription")),
            "calendar": absolute(reverse("enrollments:deadline_calendar")),
            "sync": absolute(reverse("sync_run_list")),
        },
    )


def _since(subscription: DigestSubscription | None, now: datetime) -> datetime:
    """Changes are reported since the last digest sent, else one cadence back."""
    if subscription is not None:
        last = (
            subscription.sent.filter(status=SentDigestStatus.SENT, sent_at__isnull=False)
            .order_by("-sent_at")
            .first()
        )
        if last is not None:
            return last.sent_at
        if subscription.cadence == DigestCadence.DAILY:
            return now - timedelta(days=1)
    return now - timedelta(days=7)


def _deadlines(periods: list[Period], now: datetime, until: datetime) -> list[DigestDeadline]:
    upcoming = [d for d in deadlines_of(periods) if now <= d.deadline < until]
    count_blocked(upcoming)
    for d in upcoming:
        for figure in [*d.statuses, d.blocked]:
            figure.url = absolute(figure.url)
    catalogue = load_catalogue() if upcoming else {}
    return [DigestDeadline(d, _top_blocked(d, catalogue)) for d in upcoming]


def _top_blocked(deadline: Deadline, catalogue: Catalogue) -> list[Blocked]:
    """The first TOP_BLOCKED blocked meters (soonest due first), each with its first blocking
    action: one line per meter, as the `blocked` figure counts meters."""
    period = deadline.period
    in_period = ProgramEnrollment.objects.filter(
        meter=OuterRef("meter"),
        listed=True,
        program_identifier__iexact=period.program,
        delivery_period__iexact=period.name,
    )
    blocking = blocking_actions(period.program, deadline.deadline)
    first_of_meter = blocking.filter(meter=OuterRef("meter")).order_by(
        "enrollment_deadline_date_time", "id"
    )
    actions = (
        blocking.filter(
            Exists(in_period),
            meter__missing_from_leap=False,
            pk=Subquery(first_of_meter.values("pk")[:1]),
        )
        .select_related("meter", "assignee")
        .order_by("enrollment_deadline_date_time", "meter__meter_id", "id")[:TOP_BLOCKED]
    )
    return [
        Blocked(
            meter_id=a.meter.meter_id,
            customer=a.meter.end_customer_name,
            title=entry_for(a, catalogue).title,
            code=a.action_code,
            due=a.enrollment_deadline_date_time,
            assignee=a.assignee.get_username() if a.assignee else "",
            url=absolute(reverse("meters:meter_detail", args=[a.meter.meter_id])),
        )
        for a in actions
    ]


def _listed(queryset: QuerySet, url: str, shape) -> Listed:
    rows = list(queryset[:LISTED])
    total = len(rows) if len(rows) < LISTED else queryset.count()
    return Listed([shape(row) for row in rows], total, url)


def _event_item(event: MeterEvent) -> dict:
    return {
        "meter_id": event.meter.meter_id,
        "customer": event.meter.end_customer_name,
        "kind": event.get_kind_display(),
        "subject": event.subject,
        "old": event.old,
        "new": event.new,
        "at": event.observed_at,
        "url": absolute(reverse("meters:meter_detail", args=[event.meter.meter_id])),
    }


def _status_losses(programs: list[str], since: datetime) -> Listed:
    """Meters that became INELIGIBLE or lost ACTIVE (globally or in a program) since `since`."""
    lost = Q(new=EnrollmentStatus.INELIGIBLE) | (
        Q(old=EnrollmentStatus.ACTIVE) & ~Q(new=EnrollmentStatus.ACTIVE)
    )
    events = MeterEvent.objects.filter(
        lost,
        kind__in=[EventKind.GLOBAL_STATUS, EventKind.PROGRAM_STATUS],
        observed_at__gte=since,
    )
    if programs:
        in_programs = ProgramEnrollment.objects.filter(
            meter=OuterRef("meter"), listed=True, program_identifier__in=programs
        )
        events = events.alias(_in_program=Exists(in_programs)).filter(
            Q(kind=EventKind.GLOBAL_STATUS, _in_program=True)
            | Q(kind=EventKind.PROGRAM_STATUS, program_identifier__in=programs)
        )
    events = events.select_related("meter").order_by("-observed_at", "-id")
    url = absolute(reverse("meters:meter_list") + "?" + urlencode({"global_status": "INELIGIBLE"}))
    return _listed(events, url, _event_item)


def _group_changes(periods: list[Period], now: datetime, since: datetime) -> Listed:
    """Market group changes recorded since `since` for current and upcoming periods."""
    live = [p for p in periods if p.end is None or p.end > now]
    events = market_group_events(live, since) if live else MeterEvent.objects.none()
    return _listed(events, absolute(reverse("enrollments:market_group_list")), _event_item)


def _transitions(programs: list[str], now: datetime, window: int) -> Listed:
    rows = ParticipationPeriod.objects.transitions(now, now + timedelta(days=window)).filter(
        transition_to__in=[ParticipationPreference.IDLE, ParticipationPreference.DISENROLL]
    )
    if programs:
        rows = rows.filter(
            Exists(
                ProgramEnrollment.objects.filter(
                    meter=OuterRef("meter"), listed=True, program_identifier__in=programs
                )
            )
        )
    rows = rows.order_by("transition_at", "meter__meter_id")
    query = urlencode({"days": window, "to": ParticipationPreference.IDLE})
    url = absolute(f"{reverse('enrollments:transition_list')}?{query}&to=DISENROLL")
    return _listed(
        rows,
        url,
        lambda p: {
            "meter_id": p.meter.meter_id,
            "customer": p.meter.end_customer_name,
            "to": p.transition_to,
            "at": p.transition_at,
            "reason": p.reason,
            "url": absolute(reverse("meters:meter_detail", args=[p.meter.meter_id])),
        },
    )


@dataclass
class Outcome:
    username: str
    period: str
    status: str  # "sent", "failed", "skipped" (already sent or being sent), "dry-run"
    subject: str = ""
    error: str = ""


def digest_context(digest: Digest) -> dict:
    return {"digest": digest}


def render_digest(digest: Digest) -> tuple[str, str, str]:
    """(subject, text, html): exactly what `send_due_digests` would send."""
    return render_email(EMAIL_NAME, digest_context(digest))


def send_due_digests(
    today: date | None = None, *, dry_run: bool = False, username: str | None = None
) -> list[Outcome]:
    """Send each due subscription its digest for the current period, at most once.

    The period's SentDigest row is claimed first (unique per subscription and period); a
    sent or in-flight claim is skipped, a failed one is retried. Errors are recorded on the
    row, never raised, so one bad address does not stop the others.
    """
    today = today or timezone.localdate()
    outcomes = []
    for subscription in services.due_subscriptions(today, username):
        period = subscription.period_key(today)
        if dry_run:
            subject, _, _ = render_digest(build_digest(subscription.user, today))
            outcomes.append(Outcome(subscription.user.get_username(), period, "dry-run", subject))
            continue
        outcomes.append(_send_one(subscription, period, today))
    return outcomes


def _send_one(subscription: DigestSubscription, period: str, today: date) -> Outcome:
    name = subscription.user.get_username()
    claim = services.claim_period(subscription, period, timezone.now())
    if claim is None:
        return Outcome(name, period, "skipped")
    try:
        digest = build_digest(subscription.user, today)
        message = send_email(EMAIL_NAME, digest_context(digest), [subscription.recipient])
    except Exception as exc:
        logger.exception("digest for %s (%s) failed", name, period)
        services.finish_claim(claim, SentDigestStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return Outcome(name, period, "failed", error=str(exc))
    services.finish_claim(claim, SentDigestStatus.SENT, subject=message.subject)
    return Outcome(name, period, "sent", message.subject)
