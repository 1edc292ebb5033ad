"""Required actions Leap lists for a meter, and the partner's work on them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from meters.models import Meter


class ActionOwner(models.TextChoices):
    PARTNER = "partner", "Partner"
    LEAP = "leap", "Leap"


class ActionType(models.TextChoices):
    IS_AUTHORIZED = "IS_AUTHORIZED", "Customer authorization"
    DOCUMENTS_SIGNED = "DOCUMENTS_SIGNED", "Documents signed"
    HAS_AMI = "HAS_AMI", "Smart meter (AMI)"
    NOT_ENROLLED_IN_CONFLICTING_PROGRAM = (
        "NOT_ENROLLED_IN_CONFLICTING_PROGRAM",
        "Conflicting program",
    )
    PARTICIPATING = "PARTICIPATING", "Participating"
    HAS_MARKET_REGISTRATION = "HAS_MARKET_REGISTRATION", "Market registration"
    NO_MISSING_FIELDS = "NO_MISSING_FIELDS", "Missing fields"
    GENERATOR = "GENERATOR", "Generator"
    ADDRESS = "ADDRESS", "Address"
    HAS_NOMINATIONS = "HAS_NOMINATIONS", "Nominations"
    HAS_BIDDING_STRATEGY = "HAS_BIDDING_STRATEGY", "Bidding strategy"
    IS_ELIGIBLE = "IS_ELIGIBLE", "Eligibility"
    IS_ASSIGNED_TO_A_RESOURCE = "IS_ASSIGNED_TO_A_RESOURCE", "Assigned to a resource"
    MEETS_EXTRA_PROGRAM_REQUIREMENTS = (
        "MEETS_EXTRA_PROGRAM_REQUIREMENTS",
        "Extra program requirements",
    )


class WorkflowStatus(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer", "Waiting on customer"
    DONE = "done", "Done (waiting for Leap)"


class RequiredActionQuerySet(models.QuerySet):
    def open(self) -> RequiredActionQuerySet:
        return self.filter(resolved_at__isnull=True)


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
            # The actions inbox: open actions by owner, soonest deadline first.
            models.Index(
                fields=["owner", "resolved_at", "enrollment_deadline_date_time"],
                name="action_inbox_idx",
            ),
            # Counts and filters per action type.
            models.Index(fields=["action_type", "action_code"], name="action_type_code_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action_code} {self.action_type} ({self.program_identifier})"
