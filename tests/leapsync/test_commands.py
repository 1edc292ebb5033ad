"""leap_sync, setup_leapsync and create_demo_users, and the schedules they set up."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django_q.models import Schedule

from leapsync.leap.client import LeapClient
from leapsync.models import RunStatus, SyncRun
from leapsync.tasks import SyncFailed, ensure_schedules, run_incremental, schedule_specs
from meters.models import Meter

pytestmark = pytest.mark.django_db


@pytest.fixture
def wired(monkeypatch, leap):
    """Make every LeapClient.from_settings() return the in-process simulator's client."""
    monkeypatch.setattr(LeapClient, "from_settings", classmethod(lambda cls, **kw: leap))
    monkeypatch.setattr(leap, "close", lambda: None)
    return leap


def test_leap_sync_full_prints_a_summary(wired, simulator):
    out = StringIO()
    call_command("leap_sync", "--full", stdout=out)
    assert "Full details run" in out.getvalue() and "succeeded" in out.getvalue()
    assert Meter.objects.count() == len(simulator.meter_ids())


def test_leap_sync_without_cursor_falls_back_to_full(wired):
    call_command("leap_sync", stdout=StringIO())
    assert set(SyncRun.objects.values_list("mode", flat=True)) == {"full"}
    call_command("leap_sync", stdout=StringIO())
    assert SyncRun.objects.filter(mode="incremental").count() == 2


def test_leap_sync_meter_refreshes_one_meter(wired, simulator):
    meter_id = simulator.meter_ids()[0]
    call_command("leap_sync", "--meter", meter_id, "--stream", "details", stdout=StringIO())
    assert list(Meter.objects.values_list("meter_id", flat=True)) == [uuid.UUID(meter_id)]


def test_leap_sync_rejects_a_bad_meter_id(wired):
    with pytest.raises(CommandError, match="not a meter_id"):
        call_command("leap_sync", "--meter", "abc")


def test_leap_sync_failure_exits_non_zero(wired, simulator):
    simulator.faults(1.0, kinds=["500"])
    with pytest.raises(CommandError, match="failed"):
        call_command("leap_sync", "--full", stdout=StringIO())
    assert SyncRun.objects.filter(status=RunStatus.FAILED).count() == 2


def test_leap_sync_without_a_key_says_so(settings):
    settings.LEAP_API_KEY = ""
    with pytest.raises(CommandError, match="not configured"):
        call_command("leap_sync")


def test_scheduled_task_raises_when_a_run_fails(wired, simulator):
    simulator.faults(1.0, kinds=["503"])
    with pytest.raises(SyncFailed):
        run_incremental()


def test_schedules_are_upserted_by_name_and_keep_admin_edits():
    ensure_schedules()
    incremental = Schedule.objects.get(name="leapsync: incremental sync")
    assert incremental.func == "leapsync.tasks.run_incremental"
    incremental.minutes = 30
    incremental.save()
    created = [was_created for _, was_created in ensure_schedules()]
    assert created == [False] * len(schedule_specs())
    assert Schedule.objects.count() == len(schedule_specs())
    assert Schedule.objects.get(name="leapsync: incremental sync").minutes == 30


def test_setup_creates_groups_with_permissions_idempotently():
    call_command("setup_leapsync", stdout=StringIO())
    call_command("setup_leapsync", stdout=StringIO())
    operations = Group.objects.get(name="Operations")
    managers = Group.objects.get(name="Managers")
    ops_perms = set(operations.permissions.values_list("codename", flat=True))
    manager_perms = set(managers.permissions.values_list("codename", flat=True))
    assert {"view_meter", "change_meter", "change_requiredaction"} <= ops_perms
    assert "view_meter" in manager_perms
    writes = {p for p in manager_perms if p.startswith(("change_", "add_", "delete_"))}
    assert writes == {"add_digestsubscription"}  # managers subscribe to the digest, nothing more


def test_demo_users_are_created_once_and_passwords_shown_once(settings):
    settings.DEBUG = True
    first, second = StringIO(), StringIO()
    call_command("create_demo_users", stdout=first)
    call_command("create_demo_users", stdout=second)
    assert User.objects.filter(username__in=["admin", "ops", "manager"]).count() == 3
    assert "shown once" in first.getvalue()
    assert "unchanged" in second.getvalue()
    assert User.objects.get(username="ops").groups.filter(name="Operations").exists()
    assert User.objects.get(username="admin").is_superuser


def test_demo_users_refused_in_production():
    with pytest.raises(CommandError, match="development"):
        call_command("create_demo_users")
