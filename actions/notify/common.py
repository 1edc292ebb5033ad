"""What every email flow about actions shares: outcomes, failure records, alert recipients."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from actions.models import ActionEmail, ActionNote, EmailStatus, NoteKind, RequiredAction

logger = logging.getLogger("actions.notify")
OPERATIONS_GROUP = "Operations"


@dataclass
class Outcome:
    """What happened to one action's email: sent, failed, refused or duplicate."""

    action: RequiredAction
    result: str
    message: str = ""


def error_text(error: Exception) -> str:
    """How a failure is shown on the claim, the action and its history."""
    return f"{type(error).__name__}: {error}"[:2000]


@transaction.atomic
def record_failure(claim: ActionEmail, error: Exception, actor) -> None:
    """A failed send, on its claim (retried later), on the action and in its history."""
    text = error_text(error)
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


def operations_emails() -> list[str]:
    """Every active member of the Operations group with an address (sorted, once each)."""
    users = (
        get_user_model()
        .objects.filter(groups__name=OPERATIONS_GROUP, is_active=True)
        .exclude(email="")
    )
    return sorted(set(users.values_list("email", flat=True)))


def alert_recipients(action: RequiredAction, operations: list[str] | None = None) -> list[str]:
    """The assignee's address, else every active member of the Operations group.

    `operations` is operations_emails() when the caller has already read it (once per run).
    """
    if action.assignee is not None and action.assignee.email:
        return [action.assignee.email]
    return operations_emails() if operations is None else list(operations)
