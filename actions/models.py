"""Required actions Leap lists for a meter, and the partner's work on them."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from meters.models import Meter


class ActionOwner(models.TextChoices):
    PARTNER = "partner", "Partner"
    LEAP = "leap", "Leap"


class WorkflowStatus(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer", "Waiting on customer"
    DONE = "done", "Done (waiting for Leap)"


class Fixer(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    OPERATIONS = "operations", "Partner operations"
    LEAP = "leap", "Leap"


class RequiredActionQuerySet(models.QuerySet):
    def open(self) -> RequiredActionQuerySet:
        return self.filter(resolved_at__isnull=True)

    def open_for_partner(self) -> RequiredActionQuerySet:
        """Open actions the partner must work (the meters list counts them per meter)."""
        return self.open().filter(owner=ActionOwner.PARTNER)

    def not_done(self) -> RequiredActionQuerySet:
        """Without the actions people marked done: they wait for Leap to resolve them, and
        the inbox (unless a status is chosen) and the "My actions" count leave them out."""
        return self.exclude(status=WorkflowStatus.DONE)

    def for_inbox(self) -> RequiredActionQuerySet:
        """Rows of the actions inbox and its CSV export: meter, site and assignee joined.

        Every join is to-one, so rows never multiply; the raw Leap JSON is deferred.
        """
        return self.select_related("meter", "meter__site", "assignee").defer("meter__details_raw")


class RequiredAction(models.Model):
    """One action Leap lists for a meter, keyed by (meter, owner, program, type, code).

    The sync writes the SYNCED_FIELDS: it keeps the row (and its workflow state) while the
    action's delivery_period or deadline rolls forward, and sets `resolved_at` when Leap stops
    listing it. People write the workflow fields (status, assignee, due date, notes).
    """

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="required_actions")
    owner = models.CharField(max_length=16, choices=ActionOwner)
    program_identifier = models.CharField(max_length=64, blank=True)
    action_type = models.CharField(max_length=64)
    action_code = models.CharField(max_length=64)
    action_description = models.TextField(blank=True)
    delivery_period = models.CharField(max_length=128, blank=True)
    enrollment_deadline_date_time = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=32, choices=WorkflowStatus, default=WorkflowStatus.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    customer_notified_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # The deadline at the previous reconcile, so a roll-over Leap makes silently can be shown
    # as missed (actions.services.record_missed_deadlines).
    seen_deadline = models.DateTimeField(null=True, blank=True)
    seen_delivery_period = models.CharField(max_length=128, blank=True)
    missed_deadline = models.DateTimeField(null=True, blank=True)
    missed_delivery_period = models.CharField(max_length=128, blank=True)
    last_email_error = models.TextField(blank=True)
    last_email_error_at = models.DateTimeField(null=True, blank=True)

    WORKFLOW_FIELDS = ("status", "assignee", "due_date", "customer_notified_at")

    SYNCED_FIELDS = (
        "meter",
        "owner",
        "program_identifier",
        "action_type",
        "action_code",
        "action_description",
        "delivery_period",
        "enrollment_deadline_date_time",
        "first_seen_at",
        "last_seen_at",
        "resolved_at",
    )

    objects = RequiredActionQuerySet.as_manager()

    class Meta:
        ordering = ["enrollment_deadline_date_time", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "owner", "program_identifier", "action_type", "action_code"],
                name="required_action_natural_key",
            ),
        ]
        indexes = [
            # The actions inbox's page: open actions of one side ordered by
            # (deadline ASC NULLS LAST, id), read in index order up to the page's LIMIT (btree
            # ASC puts NULLs last). Also the deadline alerts' range over open partner actions.
            models.Index(
                fields=["owner", "enrollment_deadline_date_time", "id"],
                condition=models.Q(resolved_at__isnull=True),
                name="action_open_inbox_idx",
            ),
            # The inbox's counts per type: GROUP BY action_type over one side's open actions
            # not marked done (status <> done), from the index alone (200,000 open actions at
            # a million meters: a scan of the table took 180 ms).
            models.Index(
                fields=["owner", "action_type", "status"],
                condition=models.Q(resolved_at__isnull=True),
                name="action_open_type_status_idx",
            ),
            # The navigation's "My actions" count on every full page: a person's open partner
            # actions not marked done.
            models.Index(
                fields=["assignee", "owner", "status"],
                condition=models.Q(resolved_at__isnull=True, assignee__isnull=False),
                name="action_open_assignee_idx",
            ),
            # Counts and filters per action type.
            models.Index(fields=["action_type", "action_code"], name="action_type_code_idx"),
            # The dashboard's meters with open partner actions, per deadline bucket (the meters
            # list's action_deadline filter): one side's open actions in meter order, from the
            # index alone, merged with the meters still in Leap (a hash of 200,000 actions
            # against a million meters took 0.8 s).
            models.Index(
                fields=["owner", "meter", "enrollment_deadline_date_time"],
                condition=models.Q(resolved_at__isnull=True),
                name="action_open_meter_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action_code} {self.action_type} ({self.program_identifier})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def done_but_open(self, last_sync: datetime | None) -> bool:
        """Staff marked it done, and a sync since then still found it open at Leap."""
        return (
            self.status == WorkflowStatus.DONE
            and self.is_open
            and last_sync is not None
            and self.status_changed_at is not None
            and last_sync > self.status_changed_at
        )

    def deadline_passed(self, now: datetime) -> bool:
        """Still open at Leap with its deadline behind us: that delivery period is missed."""
        deadline = self.enrollment_deadline_date_time
        return self.is_open and deadline is not None and deadline <= now


class ActionCatalogueEntry(models.Model):
    """What one (action_type, action_code) means for us and how it gets fixed.

    Written by people in admin (seeded by a data migration). An entry with an empty
    `action_code` is the type's default; codes Leap sends that nobody described get a copy of
    it, flagged `needs_review` for an admin.
    """

    action_type = models.CharField(max_length=64)
    action_code = models.CharField(max_length=64, blank=True)
    title = models.CharField(max_length=200)
    fixer = models.CharField("who can fix it", max_length=16, choices=Fixer)
    next_step = models.TextField(blank=True)
    customer_link = models.CharField(
        max_length=500,
        blank=True,
        help_text="Link the customer follows, e.g. a re-authorisation page; "
        "{{ meter_id }} and {{ partner_reference }} are filled in.",
    )
    email_subject = models.CharField(max_length=200, blank=True)
    email_html = models.TextField("email HTML", blank=True)
    email_text = models.TextField("email text", blank=True)
    needs_review = models.BooleanField(
        default=False, help_text="Created for a code Leap sent that the catalogue did not know."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["action_type", "action_code"]
        verbose_name_plural = "action catalogue entries"
        constraints = [
            models.UniqueConstraint(
                fields=["action_type", "action_code"], name="catalogue_type_code_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action_code or '(any code)'} {self.action_type}: {self.title}"

    @property
    def can_email_customer(self) -> bool:
        return self.fixer == Fixer.CUSTOMER and bool(self.email_subject and self.email_text)


class NoteKind(models.TextChoices):
    NOTE = "note", "Note"
    STATUS = "status", "Status changed"
    ASSIGNMENT = "assignment", "Assigned"
    DUE_DATE = "due_date", "Due date changed"
    CUSTOMER_EMAIL = "customer_email", "Customer notified"
    ALERT = "alert", "Operations alert"
    EMAIL_FAILED = "email_failed", "Email failed"
    MISSED = "missed", "Deadline missed"


class ActionNote(models.Model):
    """One entry of an action's history: a note someone wrote, or a workflow change.

    Written by actions.services (with the acting user, or none for scheduled work); never
    edited afterwards.
    """

    action = models.ForeignKey(RequiredAction, on_delete=models.CASCADE, related_name="notes")
    kind = models.CharField(max_length=16, choices=NoteKind, default=NoteKind.NOTE)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # An action's history, newest first.
            models.Index(fields=["action", "-created_at"], name="actionnote_action_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"


class EmailKind(models.TextChoices):
    CUSTOMER = "customer", "Customer notification"
    ASSIGNED = "assigned", "Assignment alert"
    DEADLINE = "deadline", "Deadline alert"


class EmailStatus(models.TextChoices):
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class ActionEmail(models.Model):
    """One email about an action, claimed before it is sent so it is never sent twice.

    `key` names the occasion (a click's token, an assignment, a deadline): the unique
    (action, kind, key) claim is what stops a double click or a replayed schedule from sending
    again; a claim left `sending` by a crashed sender expires and is retried
    (leapsync.claims). Written by actions.notify.
    """

    action = models.ForeignKey(RequiredAction, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=16, choices=EmailKind)
    key = models.CharField(max_length=64)
    to = models.TextField(blank=True)
    subject = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=EmailStatus, default=EmailStatus.SENDING)
    error = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(default=timezone.now)  # by the latest attempt
    attempts = models.PositiveIntegerField(default=1)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["action", "kind", "key"], name="action_email_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to or '—'} ({self.status})"
