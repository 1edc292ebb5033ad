"""The sync engine's own bookkeeping: runs, per-stream cursors and locks, quarantined meters."""

from __future__ import annotations

from django.db import models


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


class SyncRun(models.Model):
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
    pages = models.PositiveIntegerField(default=0)
    meters_seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    quarantined = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    warnings_count = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    COUNTERS = (
        "pages",
        "meters_seen",
        "created",
        "updated",
        "unchanged",
        "quarantined",
        "missing",
        "events",
        "warnings_count",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # Sync page and dashboard health: latest runs per stream and status.
            models.Index(
                fields=["stream", "status", "-started_at"], name="syncrun_stream_status_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} {self.stream} #{self.pk} ({self.status})"

    @property
    def duration(self):
        if self.finished_at is None:
            return None
        return self.finished_at - self.started_at


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


# --- Leap webhooks --------------------------------------------------------------------------------


class WebhookState(models.TextChoices):
    QUEUED = "queued", "Refresh queued"
    REFRESHING = "refreshing", "Refreshing"
    REFRESHED = "refreshed", "Refreshed"
    FAILED = "failed", "Refresh failed"
    STORED = "stored", "Stored (no refresh needed)"
    UNKNOWN = "unknown", "Unknown type (stored)"


class WebhookEventQuerySet(models.QuerySet):
    def for_list(self) -> WebhookEventQuerySet:
        """The webhooks page: each event with the refresh it caused and that refresh's runs."""
        return self.select_related(
            "refresh", "refresh__details_run", "refresh__enrollments_run"
        ).defer("body")


class WebhookEvent(models.Model):
    """One event Leap delivered to our webhook endpoint, stored before it is acknowledged.

    Written by the webhook endpoint (one row per `webhook_event_id`; a redelivery only bumps
    `duplicates`) and by the refresh task (state, refresh). Events are cues to re-read Leap,
    never applied: the refresh they cause reads the meters' current state.
    """

    webhook_event_id = models.CharField(max_length=64, unique=True)
    webhook_event_type = models.CharField(max_length=100)
    meter_ids = models.JSONField(default=list, blank=True)
    market_group_id = models.CharField(max_length=64, blank=True)
    partner_reference = models.CharField(max_length=256, blank=True)
    status = models.CharField(max_length=64, blank=True)
    body = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)
    duplicates = models.PositiveIntegerField(default=0)
    last_duplicate_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=WebhookState)
    refresh = models.ForeignKey(
        "WebhookRefresh", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )

    objects = WebhookEventQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # The refresh task claims queued events oldest first.
            models.Index(fields=["state", "id"], name="webhookevent_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_event_type} {self.webhook_event_id}"


class RefreshStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    DEFERRED = "deferred", "Deferred (a sync held the lock)"
    EMPTY = "empty", "Nothing to refresh"


class WebhookRefresh(models.Model):
    """One coalesced targeted refresh of the meters named by the webhook events it drained.

    Written only by the webhook code: created queued when an event needs a refresh and none is
    queued yet (at most one queued at a time, so a burst of events makes few refreshes), then
    run by the django-q2 task after a short window.
    """

    status = models.CharField(max_length=16, choices=RefreshStatus, default=RefreshStatus.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    event_count = models.PositiveIntegerField(default=0)
    meter_count = models.PositiveIntegerField(default=0)
    details_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enrollments_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Events arriving while a refresh waits join it instead of queuing another.
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="queued"),
                name="webhookrefresh_one_queued",
            ),
        ]

    def __str__(self) -> str:
        return f"Webhook refresh #{self.pk} ({self.status})"


class WebhookRejection(models.Model):
    """A counter of refused webhook deliveries per reason; nothing else of them is kept.

    Written by the webhook endpoint only.
    """

    reason = models.CharField(max_length=32, unique=True)
    count = models.PositiveBigIntegerField(default=0)
    last_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["reason"]

    def __str__(self) -> str:
        return f"{self.reason}: {self.count}"
