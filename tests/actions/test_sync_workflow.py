"""Leap stays the source of truth: work done locally, then the sync that resolves (or doesn't)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from actions.inbox import last_enrollment_sync
from actions.models import ActionOwner, NoteKind, RequiredAction, WorkflowStatus
from actions.services import add_note, record_missed_deadlines, set_status
from leapsync.sync import sync_full, sync_incremental, sync_stale
from tests.leapsync.conftest import _our_clock_at_the_simulators  # noqa: F401

pytestmark = pytest.mark.django_db


def _drop_actions(simulator, meter_id: str) -> None:
    state = simulator.find(meter_id)
    state.actions = [a for a in state.actions if a.side != "partner"]
    simulator.touch(state)


def test_workflow_done_then_leap_drops_it_resolves(simulator, leap, ops_user):
    sync_full(client=leap)
    action = RequiredAction.objects.open().filter(owner=ActionOwner.PARTNER).first()
    assert action is not None
    add_note(action, "Called the customer.", actor=ops_user)
    set_status(action, WorkflowStatus.DONE, actor=ops_user)
    _drop_actions(simulator, str(action.meter.meter_id))
    simulator.advance(timedelta(minutes=1))
    sync_incremental(client=leap, refresh_stale=False)
    action.refresh_from_db()
    assert action.resolved_at is not None
    assert action.status == WorkflowStatus.DONE
    assert action.notes.filter(kind=NoteKind.NOTE).exists()


def test_workflow_done_but_still_listed_shows_still_open_at_leap(simulator, leap, ops_user):
    sync_full(client=leap)
    action = RequiredAction.objects.open().filter(owner=ActionOwner.PARTNER).first()
    set_status(action, WorkflowStatus.DONE, actor=ops_user)
    action.refresh_from_db()
    assert not action.done_but_open(last_enrollment_sync())
    simulator.advance(timedelta(minutes=1))
    sync_incremental(client=leap, refresh_stale=False)
    action.refresh_from_db()
    assert action.resolved_at is None
    assert action.done_but_open(last_enrollment_sync())


def test_workflow_missed_deadline_recorded_by_the_refresh(simulator, leap):
    sync_full(client=leap)
    action = (
        RequiredAction.objects.open()
        .filter(owner=ActionOwner.PARTNER, enrollment_deadline_date_time__isnull=False)
        .order_by("enrollment_deadline_date_time")
        .first()
    )
    assert record_missed_deadlines() == 0
    old_deadline, old_period = action.enrollment_deadline_date_time, action.delivery_period
    after = old_deadline + timedelta(hours=1)
    # Leap rolls the open action to its next deadline without moving updated_at; the stale
    # refresh re-reads it, and the run itself records the miss: no page view, no follow-up.
    simulator.set_time(after)
    with time_machine.travel(after, tick=True):
        sync_stale(client=leap, now=after)
    action.refresh_from_db()
    assert action.resolved_at is None and action.enrollment_deadline_date_time > after
    assert action.missed_deadline == old_deadline
    assert action.missed_delivery_period == old_period
    assert action.notes.filter(kind=NoteKind.MISSED).count() == 1
    assert record_missed_deadlines(now=after) == 0
    assert not action.deadline_passed(after)
