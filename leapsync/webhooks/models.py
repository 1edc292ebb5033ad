"""Leap's webhook deliveries: the events we stored, the refreshes they caused, the refusals."""

from __future__ import annotations

from django.db import models

from leapsync.models import SyncRun


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
        db_table = "leapsync_webhookevent"  # made by the leapsync app, kept when moved here
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
        db_table = "leapsync_webhookrefresh"  # made by the leapsync app, kept when moved here
        verbose_name_plural = "webhook refreshes"
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
        db_table = "leapsync_webhookrejection"  # made by the leapsync app, kept when moved here
        ordering = ["reason"]

    def __str__(self) -> str:
        return f"{self.reason}: {self.count}"
