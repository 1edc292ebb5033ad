"""Emails about actions: customer notifications (one or many) and operations alerts.

Each email is claimed first (a unique ActionEmail per action, kind and occasion), so a double
click, a repeated request or a replayed schedule never sends it twice; a failure is recorded on
the claim, on the action and in its history, and re-raised nowhere (the caller shows it).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from actions.catalogue import (
    Catalogue,
    RenderedEmail,
    TemplateError,
    entry_for,
    load_catalogue,
    render_customer_email,
)
from actions.models import (
    ActionCatalogueEntry,
    ActionEmail,
    ActionNote,
    ActionOwner,
    EmailKind,
    EmailStatus,
    Fixer,
    NoteKind,
    RequiredAction,
    WorkflowStatus,
)
from leapsync.emails import render_email, send_email

logger = logging.getLogger("actions.notify")
ALERT_DAYS_BEFORE = 3
OPERATIONS_GROUP = "Operations"


@dataclass
class Outcome:
    """What happened to one action's email: sent, failed, refused or duplicate."""

    action: RequiredAction
    result: str
    message: str = ""


@dataclass
class BulkSummary:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(outcome.result for outcome in self.outcomes)


def customer_email_problem(action: RequiredAction, entry: ActionCatalogueEntry) -> str:
    """Why this action's customer cannot be emailed ("" when they can)."""
    if not action.is_open:
        return "Leap no longer lists this action."
    if action.owner != ActionOwner.PARTNER:
        return "This action is Leap's to do."
    if not entry.can_email_customer:
        return "The catalogue has no customer email for this kind of action."
    if not action.meter.end_customer_email.strip():
        return (
            "No customer email in this meter's details from Leap: contact the customer another way."
        )
    return ""


def preview_customer_email(
    action: RequiredAction, catalogue: Catalogue
) -> tuple[RenderedEmail | None, str]:
    """(the email as it would be sent, "") or (None, why it cannot be sent)."""
    entry = entry_for(action, catalogue)
    problem = customer_email_problem(action, entry)
    if problem:
        return None, problem
    try:
        return render_customer_email(action, entry), ""
    except TemplateError as error:
        return None, str(error)


def preview_customer_html(action: RequiredAction, catalogue: Catalogue) -> str | None:
    """The HTML part exactly as notify_customer would send it; None if it cannot be sent."""
    email, _problem = preview_customer_email(action, catalogue)
    if email is None:
        return None
    return render_email("action_customer", _customer_message_context(email))[2]


def _customer_message_context(email: RenderedEmail) -> dict[str, str]:
    context = {"subject": email.subject, "text": email.text, "html": email.html}
    context["partner_name"] = settings.PARTNER_NAME
    return context


def notify_customer(
    action: RequiredAction, catalogue: Catalogue, *, token: str, actor: AbstractBaseUser
) -> Outcome:
    """Email the customer for this click (`token`); at most once per action and token."""
    email, problem = preview_customer_email(action, catalogue)
    if email is None:
        return Outcome(action, "refused", problem)
    to = action.meter.end_customer_email.strip()
    claim = _claim(action, EmailKind.CUSTOMER, token, to=to, subject=email.subject, by=actor)
    if claim is None:
        return Outcome(action, "duplicate", "Already sent for this click.")
    try:
        send_email("action_customer", _customer_message_context(email), [to])
    except OSError as error:  # SMTP and socket failures: recorded and shown, never lost
        _failed(claim, error, actor)
        return Outcome(action, "failed", _error_text(error))
    _customer_sent(claim, actor)
    return Outcome(action, "sent", f"Sent to {to}.")


def notify_customers(
    actions: Iterable[RequiredAction], *, token: str, actor: AbstractBaseUser
) -> BulkSummary:
    """Each selected action's customer gets their own email; one outcome per action."""
    catalogue = load_catalogue()
    summary = BulkSummary()
    for action in actions:
        summary.outcomes.append(notify_customer(action, catalogue, token=token, actor=actor))
    return summary


def bulk_preview(actions: Iterable[RequiredAction]) -> BulkSummary:
    """What a bulk notify would do, without sending: "ready" or "refused" per action."""
    catalogue = load_catalogue()
    summary = BulkSummary()
    for action in actions:
        problem = customer_email_problem(action, entry_for(action, catalogue))
        summary.outcomes.append(Outcome(action, "refused" if problem else "ready", problem))
    return summary


def _claim(
    action: RequiredAction, kind: str, key: str, *, to: str, subject: str, by=None
) -> ActionEmail | None:
    """The claim to send this email now, or None when it was already sent (or is sending).

    A failed earlier attempt may be claimed again: one conditional UPDATE lets one caller win.
    """
    try:
        with transaction.atomic():
            return ActionEmail.objects.create(
                action=action, kind=kind, key=key, to=to, subject=subject[:300], by=by
            )
    except IntegrityError:
        retry = ActionEmail.objects.filter(
            action=action, kind=kind, key=key, status=EmailStatus.FAILED
        )
        if not retry.update(status=EmailStatus.SENDING, error="", to=to, by=by):
            return None
        return ActionEmail.objects.get(action=action, kind=kind, key=key)


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


@transaction.atomic
def _failed(claim: ActionEmail, error: Exception, actor) -> None:
    text = _error_text(error)
    logger.warning("email %s for action %s failed: %s", claim.kind, claim.action_id, text)
    now = timezone.now()
    claim.status, claim.error = EmailStatus.FAILED, text
    claim.save(update_fields=["status", "error"])
    RequiredAction.objects.filter(pk=claim.action_id).update(
        last_email_error=f"{claim.get_kind_display()} to {claim.to}: {text}",
        last_email_error_at=now,
    )
    ActionNote.objects.create(
        action_id=claim.action_id,
        kind=NoteKind.EMAIL_FAILED,
        author=actor,
        text=f"{claim.get_kind_display()} to {claim.to or 'nobody'} failed: {text}",
    )


@transaction.atomic
def _customer_sent(claim: ActionEmail, actor) -> None:
    now = timezone.now()
    claim.status, claim.sent_at = EmailStatus.SENT, now
    claim.save(update_fields=["status", "sent_at"])
    action = claim.action
    action.customer_notified_at = now
    action.last_email_error, action.last_email_error_at = "", None
    fields = ["customer_notified_at", "last_email_error", "last_email_error_at"]
    if action.status in (WorkflowStatus.NEW, WorkflowStatus.IN_PROGRESS):
        action.status, action.status_changed_at = WorkflowStatus.WAITING_ON_CUSTOMER, now
        fields += ["status", "status_changed_at"]
    action.save(update_fields=fields)
    ActionNote.objects.create(
        action=action,
        kind=NoteKind.CUSTOMER_EMAIL,
        author=actor,
        text=f"Emailed the customer at {claim.to}: “{claim.subject}”",
    )


def alert_recipients(action: RequiredAction) -> list[str]:
    """The assignee's address, else every active member of the Operations group."""
    if action.assignee is not None and action.assignee.email:
        return [action.assignee.email]
    users = (
        get_user_model()
        .objects.filter(groups__name=OPERATIONS_GROUP, is_active=True)
        .exclude(email="")
    )
    return sorted(set(users.values_list("email", flat=True)))


def send_alert(action: RequiredAction, kind: str, key: str, reason: str) -> Outcome:
    """One operations alert about `action`, at most once per (kind, key)."""
    to = alert_recipients(action)
    if not to:
        return Outcome(
            action, "refused", "Nobody to alert: no assignee email, no Operations email."
        )
    entry = entry_for(action, load_catalogue())
    subject = f"[leapsync] {reason}: {entry.title}"
    claim = _claim(action, kind, key, to=", ".join(to), subject=subject)
    if claim is None:
        return Outcome(action, "duplicate")
    context = {
        "action": action,
        "entry": entry,
        "reason": reason,
        "url": settings.SITE_URL + reverse("actions:action_detail", args=[action.pk]),
    }
    try:
        send_email("action_alert", context, to)
    except OSError as error:  # recorded on the claim and the action, shown on its page
        _failed(claim, error, None)
        return Outcome(action, "failed", _error_text(error))
    _alert_sent(claim, reason)
    return Outcome(action, "sent")


@transaction.atomic
def _alert_sent(claim: ActionEmail, reason: str) -> None:
    claim.status, claim.sent_at = EmailStatus.SENT, timezone.now()
    claim.save(update_fields=["status", "sent_at"])
    ActionNote.objects.create(
        action_id=claim.action_id, kind=NoteKind.ALERT, text=f"{reason}: alerted {claim.to}"
    )


def send_assignment_alert(action_pk: int, note_pk: int) -> str:
    """Queued by an assignment; the note makes the occasion unique (never sent twice)."""
    action = RequiredAction.objects.for_inbox().filter(pk=action_pk).first()
    if action is None or action.assignee is None or not action.is_open:
        return "nothing to alert"
    outcome = send_alert(action, EmailKind.ASSIGNED, f"note-{note_pk}", "Assigned to you")
    return f"{outcome.result} {outcome.message}".strip()


def deadline_alert_candidates(now: datetime) -> list[RequiredAction]:
    """Open partner actions staff must fix whose deadline is at most 3 days away."""
    staff_fixed = ActionCatalogueEntry.objects.filter(
        action_type=OuterRef("action_type"),
        action_code=OuterRef("action_code"),
        fixer=Fixer.OPERATIONS,
    )
    return list(
        RequiredAction.objects.open()
        .for_inbox()
        .filter(
            owner=ActionOwner.PARTNER,
            enrollment_deadline_date_time__gt=now,
            enrollment_deadline_date_time__lte=now + timedelta(days=ALERT_DAYS_BEFORE),
        )
        .filter(Exists(staff_fixed))
    )


def send_deadline_alerts(now: datetime | None = None) -> Counter:
    """Alert once per action and deadline (a rolled-over deadline gets its own alert)."""
    now = now or timezone.now()
    candidates = deadline_alert_candidates(now)
    done = set(
        ActionEmail.objects.filter(
            action__in=[a.pk for a in candidates], kind=EmailKind.DEADLINE, status=EmailStatus.SENT
        ).values_list("action_id", "key")
    )
    counts: Counter = Counter()
    for action in candidates:
        key = _deadline_key(action)
        if (action.pk, key) in done:
            continue
        counts[send_alert(action, EmailKind.DEADLINE, key, "Deadline in 3 days").result] += 1
    return counts


def _deadline_key(action: RequiredAction) -> str:
    return "deadline-" + action.enrollment_deadline_date_time.astimezone(UTC).strftime(
        "%Y%m%dT%H%M%S"
    )
