"""Sync alerts: one email when the sync turns unhealthy, one when it is healthy again."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from leapsync import alerts, tasks
from leapsync.models import (
    AlertEmailStatus,
    RunStatus,
    SyncAlertEmail,
    SyncCursor,
    SyncIncident,
    SyncRun,
)

pytestmark = pytest.mark.django_db
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def operations(groups):
    users = get_user_model().objects
    group = Group.objects.get(name="Operations")
    for name in ("olivia", "omar"):
        users.create_user(name, email=f"{name}@example.com").groups.add(group)
    users.create_user("nobody", email="").groups.add(group)
    users.create_user("max", email="max@example.com")  # not in Operations


def _run(stream: str, status: str, *, ago: timedelta = timedelta(minutes=5), **fields) -> SyncRun:
    run = SyncRun.objects.create(stream=stream, mode="incremental", status=status, **fields)
    finished = timezone.now() - ago
    SyncRun.objects.filter(pk=run.pk).update(started_at=finished, finished_at=finished)
    run.refresh_from_db()
    if status == RunStatus.SUCCEEDED:
        SyncCursor.objects.update_or_create(stream=stream, defaults={"last_success": run})
    return run


def _healthy(ago: timedelta = timedelta(minutes=5)) -> None:
    for stream in ("details", "enrollments"):
        _run(stream, RunStatus.SUCCEEDED, ago=ago)


def test_a_healthy_sync_sends_nothing(operations):
    _healthy()
    assert alerts.check() == "healthy"
    assert mail.outbox == [] and not SyncIncident.objects.exists()


def test_failures_send_one_alert_then_one_recovered_email(operations):
    _healthy(ago=timedelta(minutes=30))
    _run("details", RunStatus.FAILED, error="LeapUnavailableError: " + SCRIPT)
    assert alerts.check().endswith("alert sent")
    for _ in range(3):  # more failed runs, more checks: the same incident, no more email
        _run("details", RunStatus.FAILED, ago=timedelta(minutes=1), error="again")
        assert alerts.check().endswith("already sent")
    assert len(mail.outbox) == 1
    alert = mail.outbox[0]
    assert sorted(alert.to) == ["olivia@example.com", "omar@example.com"]
    assert "Sync alert" in alert.subject and "\n" not in alert.subject
    assert "Meter details: run #" in alert.body and "failed" in alert.body
    assert "/sync/" in alert.body
    html = alert.alternatives[0][0]
    assert SCRIPT not in html and "&lt;script&gt;" in html  # Leap's text is text in the HTML part
    assert SyncIncident.objects.get().is_open

    _run("details", RunStatus.SUCCEEDED, ago=timedelta(seconds=5))
    assert alerts.check() == "healthy again; recovered email sent"
    assert alerts.check() == "healthy"
    assert len(mail.outbox) == 2
    recovered = mail.outbox[1]
    assert "recovered" in recovered.subject and "healthy again" in recovered.body
    incident = SyncIncident.objects.get()
    assert not incident.is_open and incident.closed_at is not None
    assert set(incident.emails.values_list("kind", "status")) == {
        ("alert", AlertEmailStatus.SENT),
        ("recovered", AlertEmailStatus.SENT),
    }


def test_a_new_spell_after_recovery_alerts_again_once(operations):
    _healthy()
    _run("enrollments", RunStatus.FAILED, ago=timedelta(minutes=1))
    alerts.check()
    _run("enrollments", RunStatus.SUCCEEDED, ago=timedelta(seconds=30))
    alerts.check()
    _run("enrollments", RunStatus.FAILED, ago=timedelta(seconds=10))
    alerts.check()
    alerts.check()
    assert [m.subject.split(":")[0] for m in mail.outbox] == [
        "[leapsync] Sync alert",
        "[leapsync] Sync recovered",
        "[leapsync] Sync alert",
    ]
    assert SyncIncident.objects.count() == 2


def test_stale_data_alerts_without_any_failed_run(operations, settings):
    settings.SYNC_FRESHNESS_MINUTES = 60
    _healthy(ago=timedelta(minutes=90))
    assert alerts.check().endswith("alert sent")
    assert "stale, no success in 60 min" in mail.outbox[0].body
    alerts.check()
    assert len(mail.outbox) == 1


def test_a_failed_targeted_refresh_is_not_the_sync_failing(operations):
    _healthy()
    SyncRun.objects.create(stream="details", mode="refresh", status=RunStatus.FAILED)
    assert alerts.check() == "healthy"


def test_the_configured_addresses_replace_the_operations_group(operations, settings):
    settings.SYNC_ALERT_EMAILS = ["oncall@example.com"]
    _run("details", RunStatus.FAILED)
    alerts.check()
    assert mail.outbox[0].to == ["oncall@example.com"]


def test_a_failed_send_is_sent_at_the_next_check(operations):
    _healthy()
    _run("details", RunStatus.FAILED, ago=timedelta(minutes=1))
    with mock.patch("leapsync.alerts.send_email", side_effect=OSError("smtp down")):
        assert alerts.check().endswith("alert failed")
    email = SyncAlertEmail.objects.get()
    assert email.status == AlertEmailStatus.FAILED and "smtp down" in email.error
    assert alerts.check().endswith("alert sent")
    alerts.check()
    assert len(mail.outbox) == 1
    assert SyncAlertEmail.objects.get().attempts == 2


def test_with_nobody_to_alert_the_alert_waits(groups):
    _run("details", RunStatus.FAILED)
    assert alerts.check().endswith("alert failed")
    assert "nobody to alert" in SyncAlertEmail.objects.get().error


def test_every_sync_task_checks_after_its_runs(operations, monkeypatch):
    """Two scheduled runs failing in a row: the first task alerts, the second sends nothing."""
    _healthy(ago=timedelta(minutes=20))

    def failing(**kwargs):
        return [_run("details", RunStatus.FAILED, ago=timedelta(0), error="boom")]

    monkeypatch.setattr(tasks.sync, "sync_incremental", failing)
    for _ in range(2):
        with pytest.raises(tasks.SyncFailed):
            tasks.run_incremental()
    assert len(mail.outbox) == 1


def test_a_check_that_fails_never_changes_the_tasks_outcome(monkeypatch, db):
    monkeypatch.setattr(tasks.sync, "sync_incremental", lambda **kwargs: [])
    with mock.patch("leapsync.alerts.check", side_effect=RuntimeError("database gone")):
        assert tasks.run_incremental() == ""


def test_only_one_incident_is_ever_open(db):
    SyncIncident.objects.create(opened_at=timezone.now(), reason="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncIncident.objects.create(opened_at=timezone.now(), reason="y")
    assert alerts._open_incident(["z"], timezone.now()).reason == "x"


def test_the_alerts_have_their_schedule():
    spec = next(s for s in tasks.schedule_specs() if s.func == "leapsync.tasks.check_sync_alerts")
    assert spec.minutes == 10
