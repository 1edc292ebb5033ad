"""Query shapes and page context the actions views share (kept out of views.py for size)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from actions.catalogue import Catalogue, entry_for, load_catalogue
from actions.models import ActionOwner, RequiredAction
from leapsync.leap.enums import ActionType, labels
from leapsync.models import Stream, SyncCursor
from meters.models import EventKind, MeterEvent

TYPE_LABELS = labels(ActionType)


def side_of(request: HttpRequest) -> str:
    """The inbox tab: the partner's actions (default) or Leap's (display only)."""
    return ActionOwner.LEAP if request.GET.get("side") == ActionOwner.LEAP else ActionOwner.PARTNER


def inbox_queryset(side: str) -> QuerySet:
    """Open actions of one side, soonest deadline first (no deadline last)."""
    return (
        RequiredAction.objects.open()
        .for_inbox()
        .filter(owner=side)
        .order_by(F("enrollment_deadline_date_time").asc(nulls_last=True), "id")
    )


def type_counts(queryset: QuerySet) -> list[dict]:
    """[{action_type, label, n}] over the filtered rows, most first (one GROUP BY)."""
    # COUNT(*), not COUNT(id): unfiltered (open, not done), PostgreSQL then counts from
    # action_open_type_status_idx alone, without reading the table.
    rows = queryset.order_by().values("action_type").annotate(n=Count("*")).order_by("-n")
    return [
        {**row, "label": TYPE_LABELS.get(row["action_type"], row["action_type"])} for row in rows
    ]


def last_enrollment_sync() -> datetime | None:
    """When the last successful full or incremental enrollments run finished."""
    cursor = SyncCursor.objects.filter(stream=Stream.ENROLLMENTS).select_related("last_success")
    row = cursor.first()
    return row.last_success.finished_at if row and row.last_success else None


@dataclass(frozen=True)
class HistoryItem:
    at: datetime
    kind: str
    label: str
    text: str
    who: str


def history(action: RequiredAction) -> list[HistoryItem]:
    """Notes and workflow changes, plus the sync's added/resolved events, newest first."""
    items = [
        HistoryItem(n.created_at, n.kind, n.get_kind_display(), n.text, _who(n.author))
        for n in action.notes.select_related("author")
    ]
    events = MeterEvent.objects.filter(
        meter_id=action.meter_id,
        kind__in=[EventKind.ACTION_ADDED, EventKind.ACTION_RESOLVED],
        owner=action.owner,
        action_code=action.action_code,
        action_type=action.action_type,
        program_identifier=action.program_identifier,
    )
    items += [
        HistoryItem(e.observed_at, e.kind, e.get_kind_display(), e.new or e.old, "Leap (sync)")
        for e in events
    ]
    return sorted(items, key=lambda item: item.at, reverse=True)


def _who(user) -> str:
    return user.get_username() if user else "leapsync"


def action_context(action: RequiredAction, catalogue: Catalogue | None = None) -> dict:
    """Everything the action page and its fragments show about one action."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    now = timezone.now()
    return {
        "action": action,
        "meter": action.meter,
        "entry": entry_for(action, catalogue),
        "type_label": TYPE_LABELS.get(action.action_type, action.action_type),
        "history": history(action),
        "emails": list(action.emails.select_related("by")[:20]),
        "missed_now": action.deadline_passed(now),
        "done_but_open": action.done_but_open(last_enrollment_sync()),
        "now": now,
    }
