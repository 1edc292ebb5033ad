"""The sync engine's own bookkeeping: runs, per-stream cursors and locks, quarantined meters."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models

from leapsync.leap.payloads.warnings import WarningGroup
from leapsync.leap.payloads.warnings import group as group_warnings


class Stream(models.TextChoices):
    DETAILS = "details", "Meter details"
    ENROLLMENTS = "enrollments", "Meter enrollments"


class SyncMode(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"
    REFRESH = "refresh", "Targeted refresh"
    STALE = "stale", "Stale refresh"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (another run held the lock)"


class SyncCursor(models.Model):
    """One row per stream: where incremental sync resumes, and the lock for one run at a time.

    Written only by the sync. `cursor` is Leap's own time (the largest audit timestamp seen by
    the last successful run), never our clock. `locked_by`, `holder` and `heartbeat_at` say
    which run holds the stream, in which process; the lock itself dies with that process
    (leapsync/sync/locks.py).
    """

    stream = models.CharField(max_length=16, choices=Stream, unique=True)
    cursor = models.DateTimeField(null=True, blank=True)
    last_success = models.ForeignKey(
        "SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    locked_by = models.ForeignKey(
        "SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # host:pid:process start of the lock's holder, so a dead holder is recognised at once.
    holder = models.CharField(max_length=200, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The indexes and foreign keys a first full load dropped, with the SQL to add each again
    # (leapsync/sync/indexes.py): kept here until added back, so a killed run never loses them.
    deferred_indexes = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        ordering = ["stream"]

    def __str__(self) -> str:
        return f"{self.stream} @ {self.cursor or 'never'}"


class RunCounters(models.Model):
    """What a run, and each range of a split run, counts page by page (`RunStats.save_onto`)."""

    pages = models.PositiveIntegerField(default=0)
    meters_seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    quarantined = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    # {message: times seen}: a field Leap added is one entry counting the meters that carried it
    # (leapsync.sync.common.RunStats); warnings_count is the number of entries.
    warnings_count = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    COUNTERS: tuple[str, ...] = (
        "pages",
        "meters_seen",
        "created",
        "updated",
        "unchanged",
        "quarantined",
        "events",
        "warnings_count",
    )

    class Meta:
        abstract = True

    # Each kind declares its own (a run starts when created; a range when a worker claims it).
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def duration(self) -> timedelta | None:
        """How long it ran; None until it has finished (a queued range never started)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class SyncRun(RunCounters):
    """One run of one stream (full, incremental, targeted or stale refresh) and what it did.

    Written only by the sync; a run that dies is marked failed by its `finally` or, if the
    process was killed, by the next run that takes over the stale lock.
    """

    stream = models.CharField(max_length=16, choices=Stream)
    mode = models.CharField(max_length=16, choices=SyncMode)
    status = models.CharField(max_length=16, choices=RunStatus, default=RunStatus.RUNNING)
    trigger = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cursor_used = models.DateTimeField(null=True, blank=True)
    cursor_reached = models.DateTimeField(null=True, blank=True)
    requested_meters = models.PositiveIntegerField(default=0)
    # How many pages the run is expected to read, set when it starts: an estimate (the last
    # full run's pages, or the requested meters over the page size); None when there is none
    # (an incremental run: Leap's lists carry no total count).
    pages_expected = models.PositiveIntegerField(null=True, blank=True)
    missing = models.PositiveIntegerField(default=0)

    COUNTERS = (*RunCounters.COUNTERS, "missing")

    class Meta:
        ordering = ["-started_at", "-id"]
        permissions = [
            # Operations; a full sync (add_syncrun) stays with admins.
            ("start_sync", "Can start an incremental sync or a targeted refresh"),
        ]
        indexes = [
            # Sync page and dashboard health: latest runs per stream and status.
            models.Index(
                fields=["stream", "status", "-started_at"], name="syncrun_stream_status_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} {self.stream} #{self.pk} ({self.status})"

    def warning_groups(self) -> list[WarningGroup]:
        """The run's warnings by kind, news (fields Leap added) apart from problems."""
        return group_warnings(self.warnings or {})


class RangeStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled (another range failed, or the run was taken over)"


class SyncRange(RunCounters):
    """One created-date range of a full run split across workers (leapsync/sync/ranges.py).

    Written only by the sync: the run that split itself creates its ranges, and each range's
    task (on any cluster node) records its progress here. The range covers meters Leap created
    from `created_from` (inclusive; None: since ever) to `created_before` (exclusive; None:
    until now, so a meter created during the run falls in the last range). Its writes (events,
    quarantined records) name the parent run; the parent's counters are these summed when the
    last range ends.
    """

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="ranges")
    number = models.PositiveSmallIntegerField()
    created_from = models.DateTimeField(null=True, blank=True)
    created_before = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=RangeStatus, default=RangeStatus.QUEUED)
    # host:pid:process start of the worker running it, so a range whose worker died is seen.
    holder = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cursor_reached = models.DateTimeField(null=True, blank=True)
    pages_expected = models.PositiveIntegerField(null=True, blank=True)
    # pks of this range's stored meters Leap returned neither in the listing nor when asked
    # for by meter_ids: flagged missing only once every range has ended well.
    unseen = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="one_sync_range_per_number"),
        ]

    def __str__(self) -> str:
        return f"range {self.number} of run #{self.run_id} ({self.status})"


class QuarantinedPayload(models.Model):
    """One meter record Leap sent that could not be used, kept with its error and raw JSON.

    Written only by the sync; the run goes on without it.
    """

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="quarantine")
    stream = models.CharField(max_length=16, choices=Stream)
    meter_id = models.CharField(max_length=64, blank=True)
    error = models.TextField()
    raw = models.JSONField(null=True, blank=True)
    raw_text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.meter_id or '?'}: {self.error[:80]}"


class SyncIncident(models.Model):
    """One spell of ill health of the sync: from the check that found a stream's last full or
    incremental run failed, or its data older than SYNC_FRESHNESS_MINUTES, to the check that
    found every stream healthy again. At most one is open. Written only by leapsync.alerts.
    """

    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    is_open = models.BooleanField(default=True)
    # What was wrong, as the check that opened it saw it (one line per problem).
    reason = models.TextField()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_open"], condition=models.Q(is_open=True), name="one_open_sync_incident"
            ),
        ]

    def __str__(self) -> str:
        return f"sync incident #{self.pk} ({'open' if self.is_open else 'closed'})"


class AlertEmailStatus(models.TextChoices):
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (sent again at the next check)"


class SyncAlertEmail(models.Model):
    """The alert, or the "recovered" email, of one incident: claimed once (leapsync.claims), so
    each is sent once however many checks and runs see the incident. Written by leapsync.alerts.
    """

    class Kind(models.TextChoices):
        ALERT = "alert", "Alert"
        RECOVERED = "recovered", "Recovered"

    incident = models.ForeignKey(SyncIncident, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=16, choices=Kind)
    status = models.CharField(max_length=16, choices=AlertEmailStatus)
    claimed_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    to = models.TextField(blank=True)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-claimed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "kind"], name="one_sync_alert_email_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} email of incident #{self.incident_id} ({self.status})"
