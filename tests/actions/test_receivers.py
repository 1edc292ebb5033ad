"""After an enrollments run the sync itself catalogues new codes (and records missed
deadlines, see test_sync_workflow.py); the pages only read. A failing receiver never fails
the run."""

from __future__ import annotations

import logging

import pytest
from django.db.models import Exists, OuterRef

from actions import receivers
from actions.models import ActionCatalogueEntry, RequiredAction
from leapsync.models import RunStatus, Stream, SyncMode, SyncRun
from leapsync.sync import sync_full
from tests.leapsync.conftest import _our_clock_at_the_simulators  # noqa: F401

pytestmark = pytest.mark.django_db


def _uncatalogued() -> int:
    """Open actions whose (type, code) has no entry of its own."""
    known = ActionCatalogueEntry.objects.filter(
        action_type=OuterRef("action_type"), action_code=OuterRef("action_code")
    )
    return RequiredAction.objects.open().filter(~Exists(known)).count()


def test_enrollments_run_catalogues_new_codes_without_a_page_view(leap):
    ActionCatalogueEntry.objects.exclude(action_code="").delete()  # keep the types' defaults
    runs = sync_full(client=leap)
    assert {run.stream: run.status for run in runs} == {
        Stream.DETAILS: RunStatus.SUCCEEDED,
        Stream.ENROLLMENTS: RunStatus.SUCCEEDED,
    }
    assert RequiredAction.objects.open().exists()
    assert _uncatalogued() == 0
    assert ActionCatalogueEntry.objects.filter(needs_review=True).exists()


def test_receiver_failure_does_not_fail_the_run(leap, monkeypatch, caplog):
    def broken() -> None:
        raise RuntimeError("catalogue unavailable")

    monkeypatch.setattr(receivers, "reconcile", broken)
    with caplog.at_level(logging.ERROR, logger="leapsync.sync"):
        runs = sync_full(client=leap)
    enrollments = next(run for run in runs if run.stream == Stream.ENROLLMENTS)
    enrollments.refresh_from_db()
    assert enrollments.status == RunStatus.SUCCEEDED and enrollments.error == ""
    assert "catalogue unavailable" in caplog.text
    assert RequiredAction.objects.open().exists()  # what the run wrote is kept


@pytest.mark.parametrize(
    ("stream", "status"),
    [
        (Stream.DETAILS, RunStatus.SUCCEEDED),
        (Stream.ENROLLMENTS, RunStatus.FAILED),
        (Stream.ENROLLMENTS, RunStatus.SKIPPED),
    ],
)
def test_receiver_ignores_other_streams_and_unsuccessful_runs(monkeypatch, stream, status):
    called = []
    monkeypatch.setattr(receivers, "reconcile", lambda: called.append(True))
    run = SyncRun(stream=stream, mode=SyncMode.FULL, status=status)
    receivers.reconcile_after_enrollments_run(SyncRun, run=run)
    assert called == []
