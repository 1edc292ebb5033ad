"""django-q2 entry points for the actions workbench (scheduled in leapsync.tasks)."""

from __future__ import annotations

from django.template.defaultfilters import pluralize

from actions import bulk
from actions.notify import assignment, deadlines
from actions.services import reconcile


def follow_up() -> str:
    """Catalogue entries for new codes, missed deadlines, then 3-day deadline alerts.

    Idempotent (django-q2 may replay it): each step records what it did, and alerts are claimed.
    """
    created, missed = reconcile()
    alerts = deadlines.send_deadline_alerts()
    sent = ", ".join(f"{n} {result}" for result, n in sorted(alerts.items())) or "none"
    return (
        f"{created} new catalogue entr{pluralize(created, 'y,ies')}, "
        f"{missed} missed deadline{pluralize(missed)}, alerts: {sent}"
    )


def send_assignment_alert(action_pk: int, note_pk: int) -> str:
    return assignment.send_assignment_alert(action_pk, note_pk)


def send_assignments_alert(assignee_pk: int, action_pks: list[int], token: str) -> str:
    return assignment.send_assignments_alert(assignee_pk, action_pks, token)


def apply_bulk(data: dict, pks: list[int], snapshot: dict, actor_pk: int, token: str) -> str:
    return bulk.apply_queued(data, pks, snapshot, actor_pk, token)
