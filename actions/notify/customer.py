"""Customer notifications: one action's customer emailed for a click (actions.bulk sends many,
each through the same call)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from actions.catalogue import (
    Catalogue,
    RenderedEmail,
    TemplateError,
    entry_for,
    render_customer_email,
)
from actions.models import (
    ActionCatalogueEntry,
    ActionEmail,
    ActionNote,
    ActionOwner,
    EmailKind,
    EmailStatus,
    NoteKind,
    RequiredAction,
    WorkflowStatus,
)
from actions.notify.claims import claim_email
from actions.notify.common import Outcome, error_text, record_failure
from actions.services import record_workflow
from leapsync.ui.emails import render_email, send_email


def partner_contact_problem() -> str:
    """Why no customer email may go out yet ("" when it may): every one ends with the partner's
    contact, and without one it would end with "Questions?" and nothing after it."""
    if settings.PARTNER_SUPPORT_EMAIL.strip() or settings.PARTNER_SUPPORT_URL.strip():
        return ""
    return (
        "The partner's support contact is not configured: set PARTNER_SUPPORT_EMAIL or "
        "PARTNER_SUPPORT_URL, so that customers know whom to ask."
    )


def customer_email_problem(action: RequiredAction, entry: ActionCatalogueEntry) -> str:
    """Why this action's customer cannot be emailed ("" when they can)."""
    if not action.is_open:
        return "Leap no longer lists this action."
    if action.owner != ActionOwner.PARTNER:
        return "This action is Leap's to do."
    if not entry.can_email_customer:
        return "The catalogue has no customer email for this kind of action."
    if contact := partner_contact_problem():
        return contact
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
    claim = claim_email(action, EmailKind.CUSTOMER, token, to=to, subject=email.subject, by=actor)
    if claim is None:
        return Outcome(action, "duplicate", "Already sent for this click.")
    try:
        send_email("action_customer", _customer_message_context(email), [to])
    except OSError as error:  # SMTP and socket failures: recorded and shown, never lost
        record_failure(claim, error, actor)
        return Outcome(action, "failed", error_text(error))
    _customer_sent(claim, actor)
    return Outcome(action, "sent", f"Sent to {to}.")


@transaction.atomic
def _customer_sent(claim: ActionEmail, actor) -> None:
    now = timezone.now()
    claim.status, claim.sent_at = EmailStatus.SENT, now
    claim.save(update_fields=["status", "sent_at"])
    action = claim.action
    action.customer_notified_at = now
    action.last_email_error, action.last_email_error_at = "", None
    fields = ["customer_notified_at", "last_email_error", "last_email_error_at"]
    old_status = action.status
    if action.status in (WorkflowStatus.NEW, WorkflowStatus.IN_PROGRESS):
        action.status, action.status_changed_at = WorkflowStatus.WAITING_ON_CUSTOMER, now
        fields += ["status", "status_changed_at"]
    action.save(update_fields=fields)
    record_workflow(action, "customer_notified", "", claim.to, actor=actor, now=now)
    if action.status != old_status:
        record_workflow(action, "status", old_status, action.status, actor=actor, now=now)
    ActionNote.objects.create(
        action=action,
        kind=NoteKind.CUSTOMER_EMAIL,
        author=actor,
        text=f"Emailed the customer at {claim.to}: “{claim.subject}”",
    )
