"""Data migrations of the meters app, run on rows shaped the way older code wrote them."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from actions import inbox
from enrollments import roster
from enrollments.deadlines import Period
from leapsync.dashboard import digest
from leapsync.dashboard import figures as dashboard
from meters.models import Meter, MeterEvent, PartnerReferenceChange, PushStatus
from tests.meters.factories import MeterEventFactory, MeterFactory, RequiredActionFactory

pytestmark = pytest.mark.django_db
push_outcomes = importlib.import_module("meters.migrations.0008_push_outcomes")


def test_push_outcomes_split_failed_and_pushed_and_forget_drifted_digests():
    meter = MeterFactory(partner_reference="second", details_hash="d" * 32)
    meter.identifiers_hash = "i" * 32
    meter.save()
    untouched = MeterFactory(details_hash="e" * 32)

    def change(target: Meter, new: str, status: str, error: str = "") -> PartnerReferenceChange:
        return PartnerReferenceChange.objects.create(
            meter=target, new=new, push_status=status, error=error
        )

    older = change(meter, "first", "pushed")
    latest = change(meter, "second", "pushed")
    refused = change(untouched, "x-1", "failed", "Leap refused: 400 Invalid partner_reference")
    stopped = change(untouched, "x-2", "failed", "Not sent: Leap's partner_reference is now …")
    push_outcomes.forwards(apps, None)
    statuses = dict(PartnerReferenceChange.objects.values_list("pk", "push_status"))
    assert statuses == {
        older.pk: PushStatus.SUPERSEDED,
        latest.pk: PushStatus.ACCEPTED,  # the next sync confirms or flags it
        refused.pk: PushStatus.REFUSED,
        stopped.pk: PushStatus.NOT_SENT,
    }
    meter.refresh_from_db()
    assert meter.details_hash == meter.identifiers_hash == Meter.STALE_DIGEST
    assert Meter.objects.get(pk=untouched.pk).details_hash == "e" * 32


event_parts = importlib.import_module("meters.migrations.0009_event_parts")
# (kind, the label older code wrote in `field`) -> the columns the migration gives it.
OLD_LABELS = [
    (
        "program_status",
        "PJM-CAPACITY 2026/2027",
        ("enrollment_status", "PJM-CAPACITY", "2026/2027"),
    ),
    ("market_group", "PJM-CAPACITY Summer 2026", ("market_group", "PJM-CAPACITY", "Summer 2026")),
    ("market_group", "ERCOT-ERS", ("market_group", "ERCOT-ERS", "")),
    ("program_status", "", ("", "", "")),  # no label: nothing to parse
]
OLD_ACTION_LABELS = [
    (
        "action_added",
        "partner AUTH_0001 IS_AUTHORIZED PJM-CAPACITY",
        ("required_actions", "partner", "AUTH_0001", "IS_AUTHORIZED", "PJM-CAPACITY"),
    ),
    (
        "action_resolved",
        "leap REVIEW HAS_AMI",  # an action without a program
        ("required_actions", "leap", "REVIEW", "HAS_AMI", ""),
    ),
    ("action_added", "not an action", ("not an action", "", "", "", "")),  # does not parse
]


def _old_event(meter, kind: str, label: str, **values) -> MeterEvent:
    return MeterEventFactory(meter=meter, kind=kind, field=label, **values)


def test_event_parts_split_each_old_label_form_into_columns_and_back():
    meter = MeterFactory()
    periods = [(_old_event(meter, kind, label), want) for kind, label, want in OLD_LABELS]
    actions = [(_old_event(meter, kind, label), want) for kind, label, want in OLD_ACTION_LABELS]
    untouched = _old_event(meter, "global_status", "global_enrollment_status")
    event_parts.forwards(apps, None)
    for event, want in periods:
        event.refresh_from_db()
        assert (event.field, event.program_identifier, event.delivery_period) == want
        assert (event.owner, event.action_code, event.action_type) == ("", "", "")
    for event, want in actions:
        event.refresh_from_db()
        got = (event.field, event.owner, event.action_code, event.action_type)
        assert (*got, event.program_identifier) == want
        assert event.delivery_period == ""
    untouched.refresh_from_db()
    assert (untouched.field, untouched.program_identifier) == ("global_enrollment_status", "")
    event_parts.backwards(apps, None)
    labels = [label for _, label, _ in OLD_LABELS + OLD_ACTION_LABELS]
    events = [event for event, _ in periods + actions]
    assert [MeterEvent.objects.get(pk=e.pk).field for e in events] == labels


def test_event_parts_migrated_rows_are_found_by_every_reader():
    now = timezone.now()
    meter = MeterFactory()
    action = RequiredActionFactory(meter=meter, action_code="AUTH_0001")
    _old_event(meter, "market_group", "PJM-CAPACITY Summer 2026", old="", new="G1 (7)")
    _old_event(meter, "program_status", "PJM-CAPACITY Summer 2026", old="ACTIVE", new="INELIGIBLE")
    _old_event(meter, "action_added", "partner AUTH_0001 IS_AUTHORIZED PJM-CAPACITY", new="do it")
    event_parts.forwards(apps, None)
    since = now - timedelta(days=1)
    period = Period("PJM-CAPACITY", "Summer 2026", now, None)
    # roster and digest: the period's market group moves
    assert [e.new for e in roster.market_group_events([period], since)] == ["G1 (7)"]
    # dashboard: alerts per program and period, linking to the roster
    alerts = dashboard.market_group_alerts(now + timedelta(minutes=1))
    assert [(a.program, a.period, a.moves) for a in alerts] == [("PJM-CAPACITY", "Summer 2026", 1)]
    # digest: status losses in the subscriber's programs
    losses = digest._status_losses(["PJM-CAPACITY"], since)
    assert [(item["subject"], item["new"]) for item in losses.items] == [
        ("PJM-CAPACITY Summer 2026", "INELIGIBLE")
    ]
    assert digest._status_losses(["ERCOT-ERS"], since).items == []
    # inbox: the action's history shows the sync's event
    assert [item.text for item in inbox.history(action)] == ["do it"]
