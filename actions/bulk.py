"""Bulk work on actions: what one operation would do to each selected action (the preview),
then doing it through the workflow services, in chunks, leaving alone every row whose state
changed since the preview. The selection itself (checked rows or a filter) is the caller's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django_q.tasks import async_task

from actions.catalogue import Catalogue, entry_for, load_catalogue
from actions.models import ActionOwner, RequiredAction, WorkflowStatus
from actions.notify.customer import customer_email_problem, notify_customer
from actions.services import assign, set_due_date, set_status
from leapsync.lib.iterables import batched

# Rows per transaction when applying: row locks are held, and history written, per chunk.
CHUNK = 200
# Rows one preview may cover: its snapshot (one short string per row) is kept until the confirm.
MAX_ROWS = 5000
# Rows a confirm applies inside the request; more go to a django-q2 task. A workflow change is
# five or six statements (500 rows: 0.7 s on SQLite), so 500 stay far below the web server's
# 60 s timeout even on a slow database; an email waits on SMTP, so notify keeps the 200 a
# click could always send.
INLINE_ROWS = 500
INLINE_EMAILS = 200
# Rows listed on a preview or result page (each list); the counts cover every row.
SHOWN = 100

ASSIGN, STATUS, DUE_DATE, NOTIFY = "assign", "status", "due_date", "notify"
KINDS = (
    (ASSIGN, "Assign"),
    (STATUS, "Set status"),
    (DUE_DATE, "Set due date"),
    (NOTIFY, "Notify customers"),
)
NOT_OPEN = "Resolved by Leap: no longer open."
RESOLVED_SINCE = "Resolved by Leap since the preview."
LEFT_FILTER = "No longer matches the filter."
NOT_PREVIEWED = "Matches the filter now, but was not in the preview: left alone."


@dataclass(frozen=True)
class Operation:
    """One bulk change: its kind and its value (assignee, status or due date)."""

    kind: str
    status: str = ""
    assignee: AbstractBaseUser | None = None
    due_date: date | None = None

    def describe(self) -> str:
        if self.kind == ASSIGN:
            return f"Assign to {self.assignee.get_username()}" if self.assignee else "Unassign"
        if self.kind == STATUS:
            return f"Set the status to {WorkflowStatus(self.status).label}"
        if self.kind == DUE_DATE:
            return f"Set the due date to {self.due_date}" if self.due_date else "Clear the due date"
        return "Email each customer"

    def to_data(self) -> dict:
        """Plain values, for the preview's snapshot and a queued run."""
        return {
            "kind": self.kind,
            "status": self.status,
            "assignee": self.assignee.pk if self.assignee else None,
            "due_date": self.due_date.isoformat() if self.due_date else None,
        }

    @classmethod
    def from_data(cls, data: dict) -> Operation:
        assignee = None
        if data["assignee"] is not None:
            assignee = get_user_model().objects.get(pk=data["assignee"], is_active=True)
        due = date.fromisoformat(data["due_date"]) if data["due_date"] else None
        return cls(data["kind"], status=data["status"], assignee=assignee, due_date=due)


@dataclass(frozen=True)
class Row:
    """What happens (or happened) to one action: `result` and why, in words."""

    action: RequiredAction
    result: str  # preview: change / skip; confirm: changed, sent, skip, failed
    message: str


@dataclass
class Summary:
    """Counts over every row (by result, and by reason for the rows left alone), plus the
    first SHOWN rows of each kind; a preview also keeps each row's state (`snapshot`)."""

    operation: Operation
    counts: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    changes: list[Row] = field(default_factory=list)
    skips: list[Row] = field(default_factory=list)
    snapshot: dict[int, str] = field(default_factory=dict)
    too_many: bool = False

    def add(self, row: Row) -> None:
        self.counts[row.result] += 1
        if row.result in ("skip", "failed"):
            self.reasons[row.message] += 1
            if len(self.skips) < SHOWN:
                self.skips.append(row)
        elif len(self.changes) < SHOWN:
            self.changes.append(row)

    def skip_count(self, reason: str, n: int) -> None:
        """Rows left alone that were not read (they left the selection): counted only."""
        if n:
            self.counts["skip"] += n
            self.reasons[reason] += n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def reason_counts(self) -> list[tuple[str, int]]:
        return self.reasons.most_common()


def state(action: RequiredAction) -> str:
    """The state a bulk change reads (open or not, and the workflow): it must be the same at
    the confirm."""
    notified = action.customer_notified_at.isoformat() if action.customer_notified_at else ""
    workflow = f"{action.status}|{action.assignee_id or ''}|{action.due_date or ''}|{notified}"
    return f"{'open' if action.is_open else 'resolved'}|{workflow}"


def skip_reason(operation: Operation, action: RequiredAction, catalogue: Catalogue | None) -> str:
    """Why `operation` leaves `action` alone ("" when it changes it)."""
    if not action.is_open:
        return NOT_OPEN
    if action.owner != ActionOwner.PARTNER:
        return "Leap's to do: shown for information only."
    if operation.kind == ASSIGN:
        if action.assignee_id == (operation.assignee.pk if operation.assignee else None):
            name = action.assignee.get_username() if action.assignee else ""
            return f"Already assigned to {name}." if name else "Already unassigned."
    elif operation.kind == STATUS:
        if action.status == operation.status:
            return f"Already {action.get_status_display()}."
    elif operation.kind == DUE_DATE:
        if action.due_date == operation.due_date:
            return f"Already due {action.due_date}." if action.due_date else "No due date already."
    else:
        assert catalogue is not None
        return customer_email_problem(action, entry_for(action, catalogue))
    return ""


def effect(operation: Operation, action: RequiredAction) -> str:
    """What `operation` will do to `action`, in words (assigning a new action starts it)."""
    if operation.kind == ASSIGN:
        was = action.assignee.get_username() if action.assignee else "nobody"
        now = operation.assignee.get_username() if operation.assignee else "nobody"
        started = operation.assignee and action.status == WorkflowStatus.NEW
        return f"{was} → {now}" + ("; status New → In progress" if started else "")
    if operation.kind == STATUS:
        return f"{action.get_status_display()} → {WorkflowStatus(operation.status).label}"
    if operation.kind == DUE_DATE:
        return f"{action.due_date or 'deadline'} → {operation.due_date or 'deadline'}"
    return f"Email {action.meter.end_customer_email.strip()}"


def _catalogue(operation: Operation) -> Catalogue | None:
    return load_catalogue() if operation.kind == NOTIFY else None


def preview(operation: Operation, actions: Iterable[RequiredAction]) -> Summary:
    """What `operation` would do to each action, without changing anything; stops (too_many)
    past MAX_ROWS. Reads nothing per row: the caller's rows carry meter and assignee."""
    catalogue = _catalogue(operation)
    summary = Summary(operation)
    for n, action in enumerate(actions):
        if n == MAX_ROWS:
            summary.too_many = True
            break
        summary.snapshot[action.pk] = state(action)
        reason = skip_reason(operation, action, catalogue)
        summary.add(
            Row(action, "skip" if reason else "change", reason or effect(operation, action))
        )
    return summary


def reselect(selection: QuerySet, snapshot: dict[int, str], summary: Summary) -> list[int]:
    """The previewed actions the selection (re-applied now) still holds; the others are
    counted on `summary` as left alone, and so are rows new to the selection."""
    now = set(selection.values_list("pk", flat=True))
    gone = [pk for pk in snapshot if pk not in now]
    resolved = 0
    for chunk in batched(gone, CHUNK):
        resolved += RequiredAction.objects.filter(pk__in=chunk, resolved_at__isnull=False).count()
    summary.skip_count(RESOLVED_SINCE, resolved)
    summary.skip_count(LEFT_FILTER, len(gone) - resolved)
    summary.skip_count(NOT_PREVIEWED, len(now - snapshot.keys()))
    return sorted(pk for pk in snapshot if pk in now)


def apply(
    operation: Operation,
    pks: list[int],
    snapshot: dict[int, str],
    summary: Summary,
    *,
    actor: AbstractBaseUser,
    token: str,
) -> Summary:
    """Apply `operation` to the actions `pks` through the workflow services, CHUNK rows per
    transaction, each row locked and checked against its previewed state first. Emails are
    sent outside any transaction, each claimed once for the click `token`."""
    catalogue = _catalogue(operation)
    changed: list[int] = []
    for chunk in batched(pks, CHUNK):
        if operation.kind == NOTIFY:
            for action in RequiredAction.objects.for_inbox().filter(pk__in=chunk):
                summary.add(_notify_one(action, snapshot, catalogue, actor=actor, token=token))
            continue
        with transaction.atomic():
            rows = RequiredAction.objects.for_inbox().filter(pk__in=chunk).order_by("pk")
            for action in rows.select_for_update(of=("self",)):
                row = _apply_one(operation, action, snapshot, actor=actor)
                summary.add(row)
                if row.result == "changed":
                    changed.append(action.pk)
    _alert_assignee(operation, changed, actor=actor, token=token)
    return summary


def _alert_assignee(operation: Operation, pks: list[int], *, actor, token: str) -> None:
    """One email to the person given the actions, listing them all (never one per action, and
    none for assigning oneself)."""
    assignee = operation.assignee if operation.kind == ASSIGN else None
    if assignee is None or assignee.pk == actor.pk:
        return
    if pks:
        async_task("actions.tasks.send_assignments_alert", assignee.pk, pks, token)


def _drift(action: RequiredAction, snapshot: dict[int, str]) -> str:
    """Why a row is left alone as it changed since the preview ("" when it did not)."""
    if state(action) == snapshot[action.pk]:
        return ""
    if not action.is_open:
        return RESOLVED_SINCE
    assignee = action.assignee.get_username() if action.assignee else "nobody"
    return (
        f"Changed since the preview (now {action.get_status_display()}, "
        f"assigned to {assignee}): left alone."
    )


def _apply_one(
    operation: Operation, action: RequiredAction, snapshot: dict[int, str], *, actor
) -> Row:
    reason = _drift(action, snapshot) or skip_reason(operation, action, None)
    if reason:
        return Row(action, "skip", reason)
    done = effect(operation, action)
    if operation.kind == ASSIGN:  # the assignee gets one email for the whole run (`apply`)
        assign(action, operation.assignee, actor=actor, alert=False)
    elif operation.kind == STATUS:
        set_status(action, operation.status, actor=actor)
    else:
        set_due_date(action, operation.due_date, actor=actor)
    return Row(action, "changed", done)


def _notify_one(
    action: RequiredAction, snapshot: dict[int, str], catalogue, *, actor, token: str
) -> Row:
    reason = _drift(action, snapshot)
    if reason:
        return Row(action, "skip", reason)
    outcome = notify_customer(action, catalogue, token=token, actor=actor)
    result = {"sent": "sent", "failed": "failed"}.get(outcome.result, "skip")
    return Row(action, result, outcome.message)


def inline_limit(operation: Operation) -> int:
    return INLINE_EMAILS if operation.kind == NOTIFY else INLINE_ROWS


def queue_apply(
    operation: Operation, pks: list[int], snapshot: dict[int, str], *, actor, token: str
) -> None:
    """Apply in a django-q2 worker (a run too long for one request); named after the click."""
    snapshot = {pk: snapshot[pk] for pk in pks}
    async_task(
        "actions.tasks.apply_bulk",
        operation.to_data(),
        pks,
        snapshot,
        actor.pk,
        token,
        task_name=f"actions-bulk-{token}",
    )


def apply_queued(data: dict, pks: list[int], snapshot: dict, actor_pk: int, token: str) -> str:
    """The queued run: the same apply, its counts as the task's result."""
    operation = Operation.from_data(data)
    actor = get_user_model().objects.get(pk=actor_pk)
    summary = apply(operation, pks, snapshot, Summary(operation), actor=actor, token=token)
    counts = ", ".join(f"{n} {result}" for result, n in sorted(summary.counts.items()))
    return f"{operation.describe()}: {counts or 'nothing to do'}"
