"""Operations alerts about one action: sent to its assignee when it is assigned."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from actions.catalogue import entry_for, load_catalogue
from actions.models import ActionEmail, ActionNote, EmailKind, EmailStatus, NoteKind, RequiredAction
from actions.notify.claims import claim_email
from actions.notify.common import Outcome, alert_recipients, error_text, record_failure
from leapsync.ui.emails import send_email

# Actions listed in one bulk assignment email; the rest are counted, with a link to them all.
SHOWN_IN_EMAIL = 50


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


def send_assignments_alert(assignee_pk: int, action_pks: list[int], token: str) -> str:
    """One email to the person a bulk run (the click `token`) gave `action_pks`, listing those
    still theirs and open; each action's alert is claimed, so a replay sends nothing twice."""
    actions = list(
        RequiredAction.objects.for_inbox()
        .open()
        .filter(pk__in=action_pks, assignee_id=assignee_pk)
        .order_by(F("enrollment_deadline_date_time").asc(nulls_last=True), "pk")
    )
    if not actions:
        return "nothing to alert"
    to = alert_recipients(actions[0])
    if not to:
        return "refused: no assignee email, no Operations email"
    subject = f"[leapsync] {len(actions)} action{pluralize(len(actions))} assigned to you"
    claims = [
        (
            action,
            claim_email(
                action, EmailKind.ASSIGNED, f"bulk-{token}", to=", ".join(to), subject=subject
            ),
        )
        for action in actions
    ]
    claimed = [(action, claim) for action, claim in claims if claim is not None]
    if not claimed:
        return "duplicate"
    catalogue = load_catalogue()
    context = {
        "assignee": actions[0].assignee,
        "items": [(action, entry_for(action, catalogue)) for action, _ in claimed[:SHOWN_IN_EMAIL]],
        "count": len(claimed),
        "more": max(len(claimed) - SHOWN_IN_EMAIL, 0),
        "url": settings.SITE_URL + reverse("actions:action_list") + "?assignee=me",
    }
    try:
        send_email("actions_assigned", context, to)
    except OSError as error:  # each claim records it; the next replay tries again
        for _action, claim in claimed:
            record_failure(claim, error, None)
        return f"failed {error_text(error)}"
    for _action, claim in claimed:
        _alert_sent(claim, "Assigned to you (with others)")
    return f"sent 1 email listing {len(claimed)} action{pluralize(len(claimed))}"
