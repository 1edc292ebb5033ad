"""Enrollment state per meter as Leap reports it: statuses, delivery periods, participation."""

from __future__ import annotations

from datetime import date, datetime

from django.conf import settings
from django.db import models

from leapsync.leap.enums import ParticipationPreference
from meters.models import Meter


class MeterEnrollment(models.Model):
    """A meter's enrollment response from Leap, as of the last sync that saw it change.

    Written only by the sync. `stale_after` is the earliest instant at which Leap's answer
    changes without moving `updated_at` (a delivery period ends, an action deadline passes), so
    the stale refresh knows which meters to re-read.
    """

    meter = models.OneToOneField(
        Meter, primary_key=True, on_delete=models.CASCADE, related_name="enrollment"
    )
    global_enrollment_status = models.CharField(max_length=32, blank=True)
    leap_updated_at = models.DateTimeField(null=True, blank=True)
    enrollment_raw = models.JSONField()
    enrollment_hash = models.CharField(max_length=32)
    synced_at = models.DateTimeField()
    stale_after = models.DateTimeField(null=True, blank=True)

    SYNCED_FIELDS = (
        "global_enrollment_status",
        "leap_updated_at",
        "enrollment_raw",
        "enrollment_hash",
        "synced_at",
        "stale_after",
    )

    class Meta:
        ordering = ["meter_id"]
        indexes = [
            # The list filter by global status, and the dashboard's counts per status: with the
            # meter, they and their joins to meters read this index alone, not the rows.
            models.Index(
                fields=["global_enrollment_status", "meter"], name="enrollment_status_meter_idx"
            ),
            # The stale refresh: meters whose periods or deadlines have rolled over.
            models.Index(fields=["stale_after"], name="enrollment_stale_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id}: {self.global_enrollment_status}"


class ProgramEnrollment(models.Model):
    """One delivery period of one program for one meter (Leap lists the current and next two).

    Written only by the sync. A period Leap stops listing (it has rolled over) is kept with
    `listed=False`: the roster history needs it, and nothing Leap said is thrown away.
    """

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="program_enrollments")
    program_identifier = models.CharField(max_length=64, blank=True)
    delivery_period = models.CharField(max_length=128, blank=True)
    delivery_period_start_date_time = models.DateTimeField()
    delivery_period_end_date_time = models.DateTimeField(null=True, blank=True)
    enrollment_status = models.CharField(max_length=32, blank=True)
    market_group_id = models.UUIDField(null=True, blank=True)
    market_group_name = models.CharField(max_length=256, blank=True)
    listed = models.BooleanField(default=True)

    class Meta:
        ordering = ["meter_id", "program_identifier", "delivery_period_start_date_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "program_identifier", "delivery_period_start_date_time"],
                name="program_enrollment_natural_key",
            ),
        ]
        indexes = [
            # Deadlines page and market group roster: per program and period.
            models.Index(
                fields=["program_identifier", "delivery_period", "enrollment_status"],
                name="program_period_status_idx",
            ),
            # Market group roster.
            models.Index(fields=["market_group_id"], name="program_market_group_idx"),
            # The dashboard's next deadline per program joins every upcoming deadline to its
            # listed period's program: from this index alone, in id order (a merge join).
            models.Index(
                fields=["id", "program_identifier"],
                condition=models.Q(listed=True),
                name="program_listed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.program_identifier} {self.delivery_period}: {self.enrollment_status}"


class EnrollmentDeadline(models.Model):
    """One enrollment deadline of a delivery period and the activation it leads to.

    Written only by the sync (replaced with its period's list when the meter changes).
    """

    program_enrollment = models.ForeignKey(
        ProgramEnrollment, on_delete=models.CASCADE, related_name="deadlines"
    )
    enrollment_deadline_date_time = models.DateTimeField()
    activation_date_time = models.DateTimeField(null=True, blank=True)
    # The period's program, copied: it never changes for a period (it is part of the period's
    # key), and with it each program's next deadline is the first entry of one index
    # (leapsync.dashboard.figures.next_deadlines) instead of a join of every upcoming deadline.
    program_identifier = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["enrollment_deadline_date_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["program_enrollment", "enrollment_deadline_date_time"],
                name="enrollment_deadline_natural_key",
            ),
        ]
        indexes = [
            # Upcoming deadlines, soonest first.
            models.Index(fields=["enrollment_deadline_date_time"], name="deadline_time_idx"),
            # Each program's deadlines, soonest first.
            models.Index(
                fields=["program_identifier", "enrollment_deadline_date_time"],
                name="deadline_program_time_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"deadline {self.enrollment_deadline_date_time:%Y-%m-%d %H:%M}"


class ParticipationPeriodQuerySet(models.QuerySet):
    def transitions(self, start: datetime, end: datetime) -> ParticipationPeriodQuerySet:
        """Changes of participation in [start, end), one row each: a period beginning (the meter
        goes to its preference), or an IDLE period ending with no period after it (the meter
        goes back to PARTICIPATE).

        Annotates `transition_to` and `transition_at`; meter and site are joined for lists.
        """
        starts = models.Q(start_time__gte=start, start_time__lt=end)
        # An IDLE window's end is a change back to PARTICIPATE only when no period of the
        # meter starts right then: that period's start is the change (to PARTICIPATE, once;
        # or to DISENROLL, not back to PARTICIPATE).
        # (Such a period starts inside the window too: saying so lets the database look only
        # at the window's periods, not the whole table.)
        followed = ParticipationPeriod.objects.filter(
            starts, meter=models.OuterRef("meter"), start_time=models.OuterRef("end_time")
        )
        idle_ends = models.Q(
            models.Q(
                participation_preference=ParticipationPreference.IDLE,
                is_open_ended=False,
                end_time__gte=start,
                end_time__lt=end,
            ),
            ~models.Exists(followed),
        )
        return (
            self.filter(starts | idle_ends)
            .annotate(
                transition_to=models.Case(
                    models.When(starts, then=models.F("participation_preference")),
                    default=models.Value(ParticipationPreference.PARTICIPATE.value),
                    output_field=models.CharField(),
                ),
                transition_at=models.Case(
                    models.When(starts, then=models.F("start_time")),
                    default=models.F("end_time"),
                    output_field=models.DateTimeField(),
                ),
            )
            .select_related("meter__site", "meter__enrollment")
            .defer("meter__details_raw", "meter__enrollment__enrollment_raw")
        )


class ParticipationPeriod(models.Model):
    """One period of a meter's participation schedule (PARTICIPATE, IDLE or DISENROLL).

    Written only by the sync (replaced as a whole when the schedule changes). An open-ended
    period keeps Leap's far-future end (9000-01-01, 2099-...) in `end_time`; `is_open_ended`
    marks it.
    """

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="participation")
    participation_preference = models.CharField(max_length=32)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    is_open_ended = models.BooleanField(default=False)
    reason = models.TextField(blank=True)

    objects = ParticipationPeriodQuerySet.as_manager()

    class Meta:
        ordering = ["meter_id", "start_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "start_time", "participation_preference"],
                name="participation_period_natural_key",
            ),
        ]
        indexes = [
            # Upcoming IDLE / DISENROLL transitions.
            models.Index(
                fields=["participation_preference", "start_time"], name="participation_start_idx"
            ),
            # The participation changes page: periods starting in the window, whatever their
            # preference, and (with the meter, from the index alone) whether a period starts
            # where an IDLE one ends.
            models.Index(fields=["start_time", "meter"], name="participation_start_meter_idx"),
            # ... and the IDLE periods ending in the window.
            models.Index(
                fields=["end_time"],
                condition=models.Q(
                    participation_preference=ParticipationPreference.IDLE, is_open_ended=False
                ),
                name="participation_idle_end_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participation_preference} from {self.start_time:%Y-%m-%d}"


class DigestCadence(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class DigestSubscription(models.Model):
    """One person's subscription to the deadline digest email.

    Written by people (the subscriber, or an admin) through the subscription page. An empty
    `programs` list means every program; an empty `email`, the user's own address.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_subscription"
    )
    programs = models.JSONField(default=list, blank=True)
    cadence = models.CharField(max_length=8, choices=DigestCadence, default=DigestCadence.WEEKLY)
    weekday = models.PositiveSmallIntegerField(choices=Weekday, default=Weekday.MONDAY)
    window_days = models.PositiveSmallIntegerField(default=14)
    is_active = models.BooleanField(default=True)
    email = models.EmailField(
        "send to", blank=True, help_text="Empty: the subscriber's own address."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_cadence_display().lower()})"

    @property
    def recipient(self) -> str:
        """Where the digest goes: the chosen address, else the user's ("" when neither)."""
        return self.email or self.user.email

    def period_key(self, today: date) -> str:
        """The digest period `today` falls in: the date (daily) or the ISO week (weekly)."""
        if self.cadence == DigestCadence.DAILY:
            return today.isoformat()
        year, week, _ = today.isocalendar()
        return f"{year}-W{week:02d}"

    def is_due(self, today: date) -> bool:
        """Daily: every day. Weekly: from the chosen weekday to the end of that ISO week, so a
        failed or missed send is retried by the next day's run."""
        return self.is_active and (
            self.cadence == DigestCadence.DAILY or today.weekday() >= self.weekday
        )


class SentDigestStatus(models.TextChoices):
    CLAIMED = "claimed", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (retried on the next run)"


class SentDigest(models.Model):
    """One digest period of one subscription: claimed before sending, then sent or failed.

    Written only by enrollments.services.send_due_digests. The unique (subscription, period)
    row is the claim, so a replayed or concurrent schedule never sends a period twice.
    """

    subscription = models.ForeignKey(
        DigestSubscription, on_delete=models.CASCADE, related_name="sent"
    )
    period = models.CharField(max_length=16)
    status = models.CharField(
        max_length=8, choices=SentDigestStatus, default=SentDigestStatus.CLAIMED
    )
    claimed_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    subject = models.CharField(max_length=256, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-claimed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period"], name="sent_digest_once_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription.user} {self.period}: {self.status}"
