"""Schema drift: Leap adds a field to every object; the sync keeps it and reports it once per field."""

from __future__ import annotations

import importlib
from collections import Counter

import httpx
import pytest
from django.apps import apps as global_apps

from enrollments.models import MeterEnrollment
from leapsync.leap.client import LeapClient
from leapsync.models import RunStatus, SyncRun
from leapsync.sync import sync_full
from meters.models import Meter, MeterEvent
from tests.helpers import API_KEY, truth_by_meter
from tests.leapsync.drift import DRIFT, DriftTransport, drift_paths, with_drift

pytestmark = pytest.mark.django_db


def _client(transport: httpx.BaseTransport) -> LeapClient:
    return LeapClient(
        "http://leap.test", API_KEY, transport=transport, page_size=50, sleep=lambda s: None
    )


def _others(warnings: dict[str, int]) -> dict[str, int]:
    return {message: n for message, n in warnings.items() if DRIFT not in message}


def test_with_drift_marks_every_object_by_its_path():
    meter = {"a": {"b": [{"c": 1}, 2]}, "d": []}
    assert with_drift(meter) == {
        "a": {"b": [{"c": 1, DRIFT: "a.b[]"}, 2], DRIFT: "a"},
        "d": [],
        DRIFT: "",
    }
    assert drift_paths(meter) == {DRIFT, f"a.{DRIFT}", f"a.b[].{DRIFT}"}


def test_a_field_on_every_object_is_kept_and_counted_once_per_field(simulator):
    truth = truth_by_meter(simulator)
    plain = sync_full(client=_client(simulator.transport()))
    events = MeterEvent.objects.count()

    drifted = sync_full(client=_client(DriftTransport(simulator.transport())))

    assert [run.status for run in drifted] == [RunStatus.SUCCEEDED] * 2
    assert [run.updated for run in drifted] == [len(truth)] * 2  # every meter parsed again
    for run, before, kind in zip(drifted, plain, ("details", "enrollment"), strict=True):
        # One entry per field, counting the meters that carried it.
        expected = Counter(path for p in truth.values() for path in drift_paths(p[kind]))
        unknown = {f"unknown field: {path}": meters for path, meters in expected.items()}
        assert {m: n for m, n in run.warnings.items() if DRIFT in m} == unknown
        assert unknown[f"unknown field: {DRIFT}"] == len(truth)
        assert len(unknown) >= 6  # the record, audit and the nested objects
        # Every other warning as without the field; the count is one per entry.
        assert _others(run.warnings) == _others(before.warnings)
        assert run.warnings_count == len(run.warnings) == before.warnings_count + len(unknown)
    # Leap's values, the unknown ones included, are stored as sent; no history for them.
    for meter in Meter.objects.select_related("enrollment"):
        payloads = truth[str(meter.meter_id)]
        assert meter.details_raw == with_drift(payloads["details"])
        assert meter.enrollment.enrollment_raw == with_drift(payloads["enrollment"])
    assert MeterEnrollment.objects.count() == len(truth)
    assert MeterEvent.objects.count() == events


def test_runs_stored_before_count_each_warning_once_after_the_migration():
    migration = importlib.import_module("leapsync.migrations.0008_syncrun_warnings_count_distinct")
    news = {"unknown field: x": 100_000, "unknown field: audit.x": 100_000, "bad value": 2}
    runs = [
        SyncRun.objects.create(
            stream="details", mode="full", warnings=news, warnings_count=200_002
        ),
        SyncRun.objects.create(stream="details", mode="full"),
    ]
    migration.distinct(global_apps, None)
    assert [run.warnings_count for run in SyncRun.objects.order_by("pk")] == [3, 0]
    migration.times(global_apps, None)
    assert SyncRun.objects.get(pk=runs[0].pk).warnings_count == 200_002
