"""Every write to an action beyond one save(): workflow changes with their history, notes,
and the bookkeeping that turns Leap's silent deadline roll-overs into "missed" records."""

from __future__ import annotations

from datetime import date, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from actions.catalogue import ensure_entries
from actions.models import (
    ActionNote,
    NoteKind,
    RequiredAction,
    WorkflowStatus,
)
from meters.models import EventKind, MeterEvent

User = AbstractBaseUser


def record_workflow(
    action: RequiredAction,
    field: str,
    old: object,
    new: object,
    *,
    actor: User | None,
    now: datetime | None = None,
) -> MeterEvent:
    """The change log's entry for staff work on `action` (ACTION_WORKFLOW_FIELDS: status,
    assignee, due_date, customer_notified): values as stored, "" for none; the action's
    natural key, so its slice of the log is one filter."""
    return MeterEvent.objects.create(
        meter_id=action.meter_id,
        kind=EventKind.ACTION_WORKFLOW,
        field=field,
        program_identifier=action.program_identifier,
        delivery_period=action.delivery_period,
        owner=action.owner,
        action_type=action.action_type,
        action_code=action.action_code,
        old="" if old is None else str(old),
        new="" if new is None else str(new),
        observed_at=now or timezone.now(),
        user=actor,
    )


def add_note(action: RequiredAction, text: str, *, actor: User | None) -> ActionNote:
    """A note someone wrote on the action."""
    return ActionNote.objects.create(action=action, kind=NoteKind.NOTE, author=actor, text=text)


@transaction.atomic
def set_status(action: RequiredAction, status: str, *, actor: User) -> bool:
    """Change the workflow status and record it; False when nothing changed."""
    if action.status == status:
        return False
    old, old_value = action.get_status_display(), action.status
    action.status = status
    action.status_changed_at = timezone.now()
    action.save(update_fields=["status", "status_changed_at"])
    record_workflow(action, "status", old_value, status, actor=actor)
    ActionNote.objects.create(
        action=action,
        kind=NoteKind.STATUS,
        author=actor,
        text=f"{old} → {action.get_status_display()}",
    )
    return True


@transaction.atomic
def assign(
    action: RequiredAction, assignee: User | None, *, actor: User, alert: bool = True
) -> bool:
    """Assign (or unassign) the action and record it; the assignee is alerted by email.

    The alert is queued once the assignment is committed (never for unassigning, nor for
    taking the action oneself: nobody needs an email about their own click).
    """
    if action.assignee_id == (assignee.pk if assignee else None):
        return False
    old = action.assignee.get_username() if action.assignee else ""
    action.assignee = assignee
    old_status = action.status
    if assignee is not None and action.status == WorkflowStatus.NEW:
        action.status = WorkflowStatus.IN_PROGRESS
        action.status_changed_at = timezone.now()
    action.save(update_fields=["assignee", "status", "status_changed_at"])
    record_workflow(
        action, "assignee", old, assignee.get_username() if assignee else "", actor=actor
    )
    if action.status != old_status:
        record_workflow(action, "status", old_status, action.status, actor=actor)
    text = f"Assigned to {assignee.get_username()}" if assignee else "Unassigned"
    note = ActionNote.objects.create(
        action=action, kind=NoteKind.ASSIGNMENT, author=actor, text=text
    )
    if alert and assignee is not None and assignee.pk != actor.pk:
        transaction.on_commit(
            lambda: async_task("actions.tasks.send_assignment_alert", action.pk, note.pk)
        )
    return True


@transaction.atomic
def set_due_date(action: RequiredAction, due: date | None, *, actor: User) -> bool:
    """Set our own due date (the deadline's date when empty) and record it."""
    if action.due_date == due:
        return False
    old = action.due_date
    action.due_date = due
    action.save(update_fields=["due_date"])
    record_workflow(action, "due_date", old, due, actor=actor)
    ActionNote.objects.create(
        action=action,
        kind=NoteKind.DUE_DATE,
        author=actor,
        text=f"{old or 'deadline'} → {due or 'deadline'}",
    )
    return True


def reconcile() -> tuple[int, int]:
    """After the sync: catalogue entries for codes nobody described yet, and missed deadlines.

    Run when an enrollments run succeeds (actions.receivers); the follow-up schedule does the
    same as a backstop. The pages only read what it wrote. Returns (new entries, misses).
    """
    return ensure_entries(), record_missed_deadlines()


def record_missed_deadlines(now: datetime | None = None) -> int:
    """Turn deadlines Leap rolled forward while the action stayed open into "missed" records.

    Leap moves an unresolved action to the next deadline without changing `updated_at`; the
    sync then just overwrites the deadline. Comparing it with the one seen at the previous call
    tells us the delivery period was missed. Idempotent; returns how many roll-overs it recorded.
    """
    now = now or timezone.now()
    # Rows not seen by an earlier call: remember their deadline (one UPDATE).
    RequiredAction.objects.open().filter(
        seen_deadline__isnull=True, enrollment_deadline_date_time__isnull=False
    ).update(
        seen_deadline=F("enrollment_deadline_date_time"),
        seen_delivery_period=F("delivery_period"),
    )
    rolled = list(
        RequiredAction.objects.open()
        .filter(
            seen_deadline__lt=F("enrollment_deadline_date_time"),
            seen_deadline__lte=now,
        )
        .only("pk", "seen_deadline", "seen_delivery_period", "enrollment_deadline_date_time")
    )
    if not rolled:
        return 0
    with transaction.atomic():
        for action in rolled:
            _record_missed(action)
    return len(rolled)


def _record_missed(action: RequiredAction) -> None:
    # Conditional on the deadline we read, so two concurrent callers record it once.
    claimed = RequiredAction.objects.filter(
        pk=action.pk, seen_deadline=action.seen_deadline
    ).update(
        missed_deadline=F("seen_deadline"),
        missed_delivery_period=F("seen_delivery_period"),
        seen_deadline=F("enrollment_deadline_date_time"),
        seen_delivery_period=F("delivery_period"),
    )
    if not claimed:
        return
    new = action.enrollment_deadline_date_time
    ActionNote.objects.create(
        action=action,
        kind=NoteKind.MISSED,
        text=(
            f"Deadline {timezone.localtime(action.seen_deadline):%Y-%m-%d %H:%M} "
            f"({action.seen_delivery_period or 'delivery period'}) passed with the action open; "
            f"Leap moved it to {timezone.localtime(new):%Y-%m-%d %H:%M}."
        ),
    )
