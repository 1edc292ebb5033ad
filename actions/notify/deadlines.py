"""Deadline alerts: one email per recipient list per run, listing the actions due soon.

Each action is claimed on its own (kind DEADLINE, key = its deadline) in batches
(actions.notify.claims), so one email carries many claims.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from actions.catalogue import Catalogue, entry_for, load_catalogue
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
)
from actions.notify import claims
from actions.notify.claims import IN_BATCH
from actions.notify.common import alert_recipients, error_text, operations_emails
from leapsync.lib.iterables import batched
from leapsync.ui.emails import send_email

logger = logging.getLogger("actions.notify")
ALERT_DAYS_BEFORE = 3
DEADLINE_REASON = f"Deadline in {ALERT_DAYS_BEFORE} days"
# A deadline alert lists this many actions; the rest are one link to the inbox away.
DEADLINE_EMAIL_LIST = 100


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
    """One email per recipient list per run, listing its actions due within 3 days.

    The candidates not yet alerted for their current deadline are grouped by
    alert_recipients(); each group gets one email. Each action is still claimed on its own
    (kind DEADLINE, key = its deadline), so it is alerted once per deadline (a rolled-over
    deadline gets a new alert) and a replayed or concurrent run sends nothing twice; when an
    email fails, every claim it carried is marked failed and the next run retries them.
    Returns per-action outcomes: sent, failed, refused (nobody to alert) or duplicate.
    """
    now = now or timezone.now()
    candidates = deadline_alert_candidates(now)
    known = claims.deadline_claims(candidates)
    operations = operations_emails()
    counts: Counter = Counter()
    groups: dict[tuple[str, ...], list[RequiredAction]] = {}
    for action in candidates:
        claim = known.get((action.pk, claims.deadline_key(action)))
        if claim is not None and claim[1] == EmailStatus.SENT:
            continue
        to = alert_recipients(action, operations)
        if not to:
            counts["refused"] += 1
            continue
        groups.setdefault(tuple(to), []).append(action)
    catalogue = load_catalogue() if groups else {}
    for to, actions in sorted(groups.items()):
        actions.sort(key=lambda a: (a.enrollment_deadline_date_time, a.meter.meter_id, a.pk))
        counts += _send_deadline_email(list(to), actions, known, catalogue)
    if groups:
        logger.info("deadline alerts: %s to %d recipient lists", dict(counts), len(groups))
    return counts


def _send_deadline_email(
    to: list[str],
    actions: list[RequiredAction],
    known: claims.Claims,
    catalogue: Catalogue,
) -> Counter:
    """Claim each action of one recipient list, then send one email listing those it won."""
    won = claims.claim_deadlines(
        actions, known, to=", ".join(to), subject=_deadline_subject(len(actions))
    )
    listed = [action for action in actions if action.pk in won]
    counts = Counter(duplicate=len(actions) - len(listed))
    if not listed:
        return +counts
    subject = _deadline_subject(len(listed))
    try:
        send_email("action_deadline_alert", _deadline_context(listed, subject, catalogue), to)
    except OSError as error:  # recorded on every claim and action, shown on their pages
        _deadlines_failed(won, ", ".join(to), subject, error)
        counts["failed"] += len(listed)
    else:
        _deadlines_sent(won, ", ".join(to), subject, len(listed))
        counts["sent"] += len(listed)
    return +counts


def _deadline_subject(count: int) -> str:
    return f"[leapsync] {count} action{pluralize(count)} due within {ALERT_DAYS_BEFORE} days"


def _deadline_context(
    actions: list[RequiredAction], subject: str, catalogue: Catalogue
) -> dict[str, object]:
    """The email's first DEADLINE_EMAIL_LIST actions, and a link to the rest in the inbox."""
    items = []
    for action in actions[:DEADLINE_EMAIL_LIST]:
        entry = entry_for(action, catalogue)
        items.append(
            {
                "meter_id": action.meter.meter_id,
                "partner_reference": action.meter.partner_reference,
                "title": entry.title,
                "action_type": action.action_type,
                "action_code": action.action_code,
                "program": action.program_identifier,
                "deadline": timezone.localtime(action.enrollment_deadline_date_time),
                "url": settings.SITE_URL + reverse("actions:action_detail", args=[action.pk]),
            }
        )
    return {
        "subject": subject,
        "count": len(actions),
        "days": ALERT_DAYS_BEFORE,
        "items": items,
        "more": len(actions) - len(items),
        "inbox_url": _deadline_inbox_url(actions),
    }


def _deadline_inbox_url(actions: list[RequiredAction]) -> str:
    """The inbox filtered to what the email lists, or a little more (due within 7 days)."""
    query = {"deadline": "7d", "fixer": Fixer.OPERATIONS}
    assignees = {action.assignee_id for action in actions}
    if len(assignees) == 1:
        (assignee,) = assignees
        query["assignee"] = "none" if assignee is None else str(assignee)
    return settings.SITE_URL + reverse("actions:action_list") + "?" + urlencode(query)


@transaction.atomic
def _deadlines_sent(won: dict[int, int], to: str, subject: str, count: int) -> None:
    now = timezone.now()
    for chunk in batched(list(won.values()), IN_BATCH):
        ActionEmail.objects.filter(pk__in=chunk).update(
            status=EmailStatus.SENT, sent_at=now, subject=subject[:300]
        )
    text = f"{DEADLINE_REASON}: alerted {to} (one email listing {count} action{pluralize(count)})"
    ActionNote.objects.bulk_create(
        ActionNote(action_id=action_id, kind=NoteKind.ALERT, text=text, created_at=now)
        for action_id in won
    )


@transaction.atomic
def _deadlines_failed(won: dict[int, int], to: str, subject: str, error: Exception) -> None:
    """What _failed records for one claim, for every claim of one email (a few queries)."""
    text = error_text(error)
    logger.warning("deadline alert to %s for %d actions failed: %s", to, len(won), text)
    now = timezone.now()
    label = EmailKind.DEADLINE.label
    for chunk in batched(list(won.values()), IN_BATCH):
        ActionEmail.objects.filter(pk__in=chunk).update(
            status=EmailStatus.FAILED, error=text, subject=subject[:300]
        )
    for chunk in batched(list(won), IN_BATCH):
        RequiredAction.objects.filter(pk__in=chunk).update(
            last_email_error=f"{label} to {to}: {text}", last_email_error_at=now
        )
    ActionNote.objects.bulk_create(
        ActionNote(
            action_id=action_id,
            kind=NoteKind.EMAIL_FAILED,
            text=f"{label} to {to or 'nobody'} failed: {text}",
            created_at=now,
        )
        for action_id in won
    )
