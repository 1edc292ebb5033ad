"""Emails about actions: customer notifications (one or many) and operations alerts.

Each email is claimed first (a unique ActionEmail per action, kind and occasion), so a double
click, a repeated request or a replayed schedule never sends it twice; a failure is recorded on
the claim, on the action and in its history, and re-raised nowhere (the caller shows it).
Deadline alerts are one email per recipient list per run, carrying one claim per action listed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.template.defaultfilters import pluralize
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
from leapsync.sync import batched
from leapsync.ui.emails import render_email, send_email

logger = logging.getLogger("actions.notify")
ALERT_DAYS_BEFORE = 3
OPERATIONS_GROUP = "Operations"
DEADLINE_REASON = f"Deadline in {ALERT_DAYS_BEFORE} days"
# A deadline alert lists this many actions; the rest are one link to the inbox away.
DEADLINE_EMAIL_LIST = 100
# Ids per IN (...) list: under SQLite's default limit of 999 parameters per statement.
IN_BATCH = 900


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
    claims = _deadline_claims(candidates)
    operations = operations_emails()
    counts: Counter = Counter()
    groups: dict[tuple[str, ...], list[RequiredAction]] = {}
    for action in candidates:
        claim = claims.get((action.pk, _deadline_key(action)))
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
        counts += _send_deadline_email(list(to), actions, claims, catalogue)
    if groups:
        logger.info("deadline alerts: %s to %d recipient lists", dict(counts), len(groups))
    return counts


def _send_deadline_email(
    to: list[str],
    actions: list[RequiredAction],
    claims: dict[tuple[int, str], tuple[int, str]],
    catalogue: Catalogue,
) -> Counter:
    """Claim each action of one recipient list, then send one email listing those it won."""
    won = _claim_deadlines(
        actions, claims, to=", ".join(to), subject=_deadline_subject(len(actions))
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


def _deadline_claims(actions: list[RequiredAction]) -> dict[tuple[int, str], tuple[int, str]]:
    """{(action pk, key): (claim pk, status)} of the deadline claims these actions have."""
    claims = {}
    for chunk in batched([action.pk for action in actions], IN_BATCH):
        rows = ActionEmail.objects.filter(kind=EmailKind.DEADLINE, action_id__in=chunk)
        for pk, action_id, key, status in rows.values_list("pk", "action_id", "key", "status"):
            claims[action_id, key] = (pk, status)
    return claims


def _claim_deadlines(
    actions: list[RequiredAction],
    claims: dict[tuple[int, str], tuple[int, str]],
    *,
    to: str,
    subject: str,
) -> dict[int, int]:
    """{action pk: claim pk} of the actions this run won the right to alert about now.

    New claims are inserted in batches, and earlier failed ones taken back with one
    conditional UPDATE per batch; both report the rows they changed (RETURNING), so a claim
    another run made or took a moment earlier is never counted as ours, on PostgreSQL and
    SQLite alike. Claims still sending (another run's) are duplicates. Where the database
    cannot report them, each action is claimed on its own.
    """
    features = connection.features
    if not (
        features.can_return_rows_from_bulk_insert and features.supports_update_conflicts_with_target
    ):
        return _claim_each(actions, claims, to=to, subject=subject)
    fresh: list[tuple[int, str]] = []
    failed: list[int] = []
    for action in actions:
        key = _deadline_key(action)
        claim = claims.get((action.pk, key))
        if claim is None:
            fresh.append((action.pk, key))
        elif claim[1] == EmailStatus.FAILED:
            failed.append(claim[0])
    fresh.sort()  # every run inserts in one order: concurrent runs wait, never deadlock
    failed.sort()
    won: dict[int, int] = {}
    with transaction.atomic():
        for batch in batched(fresh, _insert_batch_size()):
            won.update(_insert_claims(batch, to=to, subject=subject))
        for batch in batched(failed, IN_BATCH):
            won.update(_retake_claims(batch, to=to, subject=subject))
    return won


def _claim_each(
    actions: list[RequiredAction],
    claims: dict[tuple[int, str], tuple[int, str]],
    *,
    to: str,
    subject: str,
) -> dict[int, int]:
    won = {}
    for action in actions:
        claim = claims.get((action.pk, _deadline_key(action)))
        if claim is not None and claim[1] == EmailStatus.SENDING:
            continue
        mine = _claim(action, EmailKind.DEADLINE, _deadline_key(action), to=to, subject=subject)
        if mine is not None:
            won[action.pk] = mine.pk
    return won


_CLAIM_COLUMNS = ("action", "kind", "key", "to", "subject", "status", "error", "created_at")


def _insert_batch_size() -> int:
    """Rows per INSERT: SQLite allows 999 parameters per statement by default."""
    limit = connection.features.max_query_params or 65535
    return min(1000, limit // len(_CLAIM_COLUMNS))


def _insert_claims(rows: Sequence[tuple[int, str]], *, to: str, subject: str) -> dict[int, int]:
    """Insert a claim per (action pk, key); {action pk: claim pk} of those this statement made.

    ON CONFLICT DO NOTHING skips a claim that exists already, whoever made it, and RETURNING
    lists only the rows inserted.
    """
    quote = connection.ops.quote_name
    meta = ActionEmail._meta
    fields = [meta.get_field(name) for name in _CLAIM_COLUMNS]
    now = timezone.now()
    params: list = []
    for action_id, key in rows:
        values = (
            action_id,
            EmailKind.DEADLINE.value,
            key,
            to,
            subject[:300],
            EmailStatus.SENDING.value,
            "",
            now,
        )
        params += [f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    action, kind, key = (quote(meta.get_field(name).column) for name in ("action", "kind", "key"))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * len(rows))} "
        f"ON CONFLICT ({action}, {kind}, {key}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}, {action}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {action_id: pk for pk, action_id in cursor.fetchall()}


def _retake_claims(claim_pks: Sequence[int], *, to: str, subject: str) -> dict[int, int]:
    """Take back failed claims for this send; {action pk: claim pk} of those still failed."""
    quote = connection.ops.quote_name
    meta = ActionEmail._meta
    column = {
        name: quote(meta.get_field(name).column)
        for name in ("action", "status", "to", "subject", "error")
    }
    pk = quote(meta.pk.column)
    sql = (
        f"UPDATE {quote(meta.db_table)} "
        f"SET {column['status']} = %s, {column['error']} = %s, {column['to']} = %s, "
        f"{column['subject']} = %s "
        f"WHERE {pk} IN ({', '.join(['%s'] * len(claim_pks))}) AND {column['status']} = %s "
        f"RETURNING {pk}, {column['action']}"
    )
    params = [EmailStatus.SENDING.value, "", to, subject[:300], *claim_pks]
    params.append(EmailStatus.FAILED.value)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {action_id: claim_pk for claim_pk, action_id in cursor.fetchall()}


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
    text = _error_text(error)
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


def _deadline_key(action: RequiredAction) -> str:
    return "deadline-" + action.enrollment_deadline_date_time.astimezone(UTC).strftime(
        "%Y%m%dT%H%M%S"
    )
