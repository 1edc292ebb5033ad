"""Operations alerts about one action: sent to its assignee when it is assigned."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from actions.catalogue import entry_for, load_catalogue
from actions.models import ActionEmail, ActionNote, EmailKind, EmailStatus, NoteKind, RequiredAction
from actions.notify.claims import claim_email
from actions.notify.common import Outcome, alert_recipients, error_text, record_failure
from leapsync.ui.emails import send_email


def send_alert(action: RequiredAction, kind: str, key: str, reason: str) -> Outcome:
    """One operations alert about `action`, at most once per (kind, key)."""
    to = alert_recipients(action)
    if not to:
        return Outcome(
            action, "refused", "Nobody to alert: no assignee email, no Operations email."
        )
    entry = entry_for(action, load_catalogue())
    subject = f"[leapsync] {reason}: {entry.title}"
    claim = claim_email(action, kind, key, to=", ".join(to), subject=subject)
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
        record_failure(claim, error, None)
        return Outcome(action, "failed", error_text(error))
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
    """Queued by an assignment; the note makes the occasion unique (never sent twice).

    Nobody is alerted about an action they assigned to themselves.
    """
    action = RequiredAction.objects.for_inbox().filter(pk=action_pk).first()
    if action is None or action.assignee is None or not action.is_open:
        return "nothing to alert"
    if ActionNote.objects.filter(pk=note_pk, author_id=action.assignee_id).exists():
        return "nothing to alert: assigned by the assignee"
    outcome = send_alert(action, EmailKind.ASSIGNED, f"note-{note_pk}", "Assigned to you")
    return f"{outcome.result} {outcome.message}".strip()
