"""The sync's invariants under stress: random histories, crashes, hostile payloads, locks."""

from __future__ import annotations

import random
import threading
import time
import uuid

import httpx
import msgspec
import pytest
from django.db import connection
from django.utils import timezone

from leapsync.leap.client import LeapClient
from leapsync.leap.payloads import parse_datetime
from leapsync.models import QuarantinedPayload, RunStatus, SyncCursor, SyncRun
from leapsync.simulator import LeapSimulator
from leapsync.sync import sync_full, sync_incremental, sync_refresh, sync_stale
from leapsync.sync.common import PageContext, RunStats
from leapsync.sync.enrollments import apply_enrollments_page
from meters.models import EventKind, Meter, MeterEvent
from tests.helpers import count_queries, database_differences, truth_by_meter
from tests.leapsync.conftest import API_KEY

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_histories_converge_to_truth(seed):
    rng = random.Random(seed)
    simulator = LeapSimulator(meters=150, seed=seed, api_key=API_KEY)
    leap = LeapClient(
        "http://leap.test",
        API_KEY,
        transport=simulator.transport(),
        page_size=40,
        max_retries=3,
        sleep=lambda s: None,
    )
    for _ in range(8):
        step = rng.choice(["mutate", "mutate", "rollover", "faults", "sync", "sync", "refresh"])
        if step == "mutate":
            simulator.mutate(rng.choice([0.02, 0.1, 0.3]), seed=rng.randrange(1000))
        elif step == "rollover":
            simulator.rollover()
        elif step == "faults":
            simulator.faults(rng.choice([0.0, 0.1, 0.3]), seed=rng.randrange(1000))
        elif step == "refresh":
            sync_refresh(rng.sample(simulator.meter_ids(), 5), client=leap)
        else:
            rng.choice([sync_full, sync_incremental])(client=leap)
    simulator.faults(0)
    sync_incremental(client=leap)
    sync_stale(client=leap, now=simulator.now)
    assert database_differences(simulator) == []
    # Converged means idempotent: another round changes nothing.
    events = MeterEvent.objects.count()
    sync_full(client=leap)
    assert MeterEvent.objects.count() == events


@pytest.mark.parametrize("crash_page", [0, 2, 4])
def test_crash_mid_run_then_rerun_is_consistent(simulator, leap, monkeypatch, crash_page):
    from leapsync import sync as engine

    original = engine._APPLY["enrollments"]
    applied = []

    def crash(raws, ctx):
        if len(applied) == crash_page:
            raise ConnectionError("killed")
        applied.append(ctx)
        return original(raws, ctx)

    monkeypatch.setitem(engine._APPLY, "enrollments", crash)
    details, enrollments = sync_full(client=leap)
    assert details.status == RunStatus.SUCCEEDED
    assert enrollments.status == RunStatus.FAILED
    assert SyncCursor.objects.get(stream="enrollments").cursor is None
    monkeypatch.setitem(engine._APPLY, "enrollments", original)
    assert [run.status for run in sync_incremental(client=leap)] == [RunStatus.SUCCEEDED] * 2
    assert database_differences(simulator) == []
    first_seen = MeterEvent.objects.filter(kind=EventKind.FIRST_SEEN)
    assert first_seen.count() == Meter.objects.count() == len(simulator.meter_ids())


def _page_transport(meters: list) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=msgspec.json.encode({"meters": meters}))

    return httpx.MockTransport(handler)


def test_hostile_payloads_are_quarantined_and_the_run_goes_on(simulator):
    good = list(truth_by_meter(simulator).values())[:3]
    odd = dict(good[2]["enrollment"], meter_type="HYBRID", brand_new_field={"x": 1})
    enrollments = [
        good[0]["enrollment"],
        {"meter_id": "not-a-uuid", "global_enrollment_status": "ACTIVE"},
        42,
        {"global_enrollment_status": "ACTIVE"},
        dict(good[1]["enrollment"], program_enrollment=[{"program_identifier": 5}, "junk"]),
        odd,
    ]
    leap = LeapClient("http://leap.test", API_KEY, transport=_page_transport(enrollments))
    (run,) = sync_full(client=leap, streams=["enrollments"])
    assert run.status == RunStatus.SUCCEEDED
    assert run.quarantined == 3
    assert run.created == 3
    assert run.warnings_count >= 2
    assert any("HYBRID" in message for message in run.warnings)
    stored = QuarantinedPayload.objects.filter(run=run)
    assert {row.meter_id for row in stored} == {"not-a-uuid", ""}
    assert all(row.error for row in stored)
    hybrid = Meter.objects.get(meter_id=odd["meter_id"])
    assert hybrid.meter_type == "HYBRID"
    assert hybrid.enrollment.enrollment_raw["brand_new_field"] == {"x": 1}


def test_overlong_leap_strings_are_cut_for_display_but_kept_raw(simulator):
    record = dict(next(iter(truth_by_meter(simulator).values()))["details"])
    record["customer"] = dict(record["customer"], end_customer_name="Z" * 5000)
    leap = LeapClient("http://leap.test", API_KEY, transport=_page_transport([record]))
    (run,) = sync_full(client=leap, streams=["details"])
    assert run.status == RunStatus.SUCCEEDED
    meter = Meter.objects.get(meter_id=record["meter_id"])
    assert len(meter.end_customer_name) == 256
    assert meter.details_raw["customer"]["end_customer_name"] == "Z" * 5000


def test_enrollment_page_query_count_is_bounded(simulator):
    truth = [payloads["enrollment"] for payloads in truth_by_meter(simulator).values()]
    run = SyncRun.objects.create(stream="enrollments", mode="full")

    def apply(raws):
        apply_enrollments_page(raws, PageContext(run, RunStats(), timezone.now()))

    # savepoint, meters, upsert meters, programs, actions, participation, enrollments upsert,
    # programs upsert, program ids, deadlines delete + insert, actions upsert, participation
    # delete + insert, events, release: a fixed budget whatever the page holds. SQLite caps
    # the parameters of one statement, so its bulk inserts split into a few more batches.
    budget = 16 if connection.vendor == "postgresql" else 24
    few = count_queries(apply, truth[:5])
    many = count_queries(apply, truth[5:105])
    assert few <= many <= budget
    if connection.vendor == "postgresql":
        assert few == many
    simulator.mutate(1.0, seed=9)
    changed = [payloads["enrollment"] for payloads in truth_by_meter(simulator).values()]
    assert count_queries(apply, changed[:5]) <= count_queries(apply, changed[5:105]) <= budget + 2


def test_meters_leap_stops_returning_are_flagged_missing_not_deleted(simulator, leap):
    ghost = Meter.objects.create(meter_id=uuid.uuid4(), details_hash="stale")
    sync_full(client=leap)
    ghost.refresh_from_db()
    assert ghost.missing_from_leap and ghost.missing_since is not None
    assert MeterEvent.objects.filter(meter=ghost, kind=EventKind.MISSING).count() == 1
    back = Meter.objects.exclude(pk=ghost.pk).first()
    Meter.objects.filter(pk=back.pk).update(missing_from_leap=True)
    sync_full(client=leap)
    back.refresh_from_db()
    assert not back.missing_from_leap
    assert MeterEvent.objects.filter(meter=back, kind=EventKind.RETURNED).count() == 1
    assert MeterEvent.objects.filter(meter=ghost, kind=EventKind.MISSING).count() == 1


class _LeavesOneOut(httpx.BaseTransport):
    """The simulator, but its listings leave one meter out: what offset paging does when other
    meters change mid-listing (Leap's page tokens promise no snapshot). Searches by meter_ids
    are answered by `by_ids`, or by the simulator when it is None."""

    def __init__(self, simulator, left_out: str, by_ids: httpx.Response | None = None) -> None:
        self.inner, self.left_out, self.by_ids = simulator.transport(), left_out, by_ids
        self.asked_for: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = msgspec.json.decode(request.read())
        if "meter_ids" in body:
            self.asked_for += body["meter_ids"]
            return self.by_ids or self.inner.handle_request(request)
        page = msgspec.json.decode(self.inner.handle_request(request).read())
        page["meters"] = [m for m in page["meters"] if m["meter_id"] != self.left_out]
        return httpx.Response(200, content=msgspec.json.encode(page))


def test_a_meter_left_out_of_a_listing_is_asked_for_before_being_flagged_missing(simulator, leap):
    sync_full(client=leap)
    left_out = simulator.meter_ids()[7]
    transport = _LeavesOneOut(simulator, left_out)
    runs = sync_full(client=LeapClient("http://leap.test", API_KEY, transport=transport))
    assert [run.status for run in runs] == [RunStatus.SUCCEEDED] * 2
    assert transport.asked_for == [left_out, left_out]  # once per stream
    assert not Meter.objects.filter(missing_from_leap=True).exists()
    assert not MeterEvent.objects.filter(kind=EventKind.MISSING).exists()
    assert all(any("asked for by meter_ids" in w for w in run.warnings) for run in runs)
    assert database_differences(simulator) == []


def test_an_absent_meter_leap_answers_404_for_is_flagged_missing(simulator, leap):
    sync_full(client=leap)
    left_out = simulator.meter_ids()[7]
    not_found = {"title": "Meter not found", "status": 404, "details": {"meter_id": left_out}}
    transport = _LeavesOneOut(simulator, left_out, httpx.Response(404, json=not_found))
    (run,) = sync_full(
        client=LeapClient("http://leap.test", API_KEY, transport=transport), streams=["details"]
    )
    assert run.status == RunStatus.SUCCEEDED
    assert Meter.objects.get(meter_id=left_out).missing_from_leap
    assert not any("could not re-check" in w for w in run.warnings)


def test_absent_meters_are_flagged_unconfirmed_when_leap_cannot_answer_the_recheck(simulator, leap):
    sync_full(client=leap)
    left_out = simulator.meter_ids()[7]
    down = {"title": "Service Unavailable", "status": 503, "details": {}}
    transport = _LeavesOneOut(simulator, left_out, httpx.Response(503, json=down))
    client = LeapClient(
        "http://leap.test", API_KEY, transport=transport, max_retries=1, sleep=lambda s: None
    )
    (run,) = sync_full(client=client, streams=["details"])
    assert run.status == RunStatus.SUCCEEDED
    assert Meter.objects.get(meter_id=left_out).missing_from_leap
    assert any("could not re-check" in w for w in run.warnings)


class _StrictAboutIds(httpx.BaseTransport):
    """The simulator, but a search naming any meter_id it does not have answers 404 "Meter not
    found" (one reading of Leap's spec, which declares the 404 without saying when)."""

    def __init__(self, simulator) -> None:
        self.inner, self.known = simulator.transport(), set(simulator.meter_ids())
        self.searches_by_ids = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        ids = msgspec.json.decode(request.read()).get("meter_ids")
        if ids:
            self.searches_by_ids += 1
            if not set(ids) <= self.known:
                return httpx.Response(404, json={"title": "Meter not found", "status": 404})
        return self.inner.handle_request(request)


def test_a_refresh_naming_meters_leap_does_not_have_still_reads_the_others(simulator, leap):
    sync_full(client=leap)
    ghosts = [Meter.objects.create(meter_id=uuid.uuid4(), details_hash="x") for _ in range(2)]
    known = simulator.meter_ids()[:30]
    simulator.mutate(1.0, seed=3)  # every meter changed at Leap: the refresh must read them
    transport = _StrictAboutIds(simulator)
    client = LeapClient("http://leap.test", API_KEY, transport=transport)
    runs = sync_refresh([*known, *(g.meter_id for g in ghosts)], client=client)
    assert [run.status for run in runs] == [RunStatus.SUCCEEDED] * 2
    assert all(run.meters_seen == len(known) for run in runs)
    for ghost in ghosts:
        ghost.refresh_from_db()
        assert ghost.missing_from_leap
    assert not Meter.objects.filter(meter_id__in=known, missing_from_leap=True).exists()
    # Halving: far fewer searches than one per meter (32 ids, 2 unknown, 2 streams).
    assert transport.searches_by_ids <= 2 * 2 * 12
    truth = truth_by_meter(simulator)
    for meter in Meter.objects.filter(meter_id__in=known):
        audit = truth[str(meter.meter_id)]["details"]["audit"]
        assert meter.leap_updated_at == parse_datetime(audit["updated_at"])


def test_a_404_to_a_listing_without_meter_ids_fails_the_run(simulator):
    gone = httpx.MockTransport(
        lambda request: httpx.Response(404, json={"title": "Not Found", "status": 404})
    )
    runs = sync_full(client=LeapClient("http://leap.test", API_KEY, transport=gone))
    assert [run.status for run in runs] == [RunStatus.FAILED] * 2
    assert all("404" in run.error for run in runs)


def test_an_empty_answer_does_not_flag_every_meter_missing(simulator, leap):
    sync_full(client=leap)
    empty = LeapClient("http://leap.test", API_KEY, transport=_page_transport([]))
    details, _ = sync_full(client=empty)
    assert details.status == RunStatus.SUCCEEDED
    assert not Meter.objects.filter(missing_from_leap=True).exists()
    assert any("no meters at all" in message for message in details.warnings)


def test_leap_down_fails_the_run_cleanly(simulator):
    simulator.faults(1.0, kinds=["503"])
    leap = LeapClient(
        "http://leap.test",
        API_KEY,
        transport=simulator.transport(),
        max_retries=2,
        sleep=lambda s: None,
    )
    runs = sync_full(client=leap)
    assert [run.status for run in runs] == [RunStatus.FAILED] * 2
    assert all("503" in run.error or "navailable" in run.error for run in runs)
    assert not SyncCursor.objects.filter(locked_by__isnull=False).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_one_runs_one_exits_cleanly():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks across connections)")
    simulator = LeapSimulator(meters=200, seed=4, api_key=API_KEY)
    inner = simulator.transport()

    class Slow(httpx.BaseTransport):
        def handle_request(self, request):
            time.sleep(0.05)
            return inner.handle_request(request)

    results: list[SyncRun] = []

    def run() -> None:
        client = LeapClient("http://leap.test", API_KEY, transport=Slow(), page_size=20)
        try:
            results.extend(sync_full(client=client, streams=["details"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(run.status for run in results) == [RunStatus.SKIPPED, RunStatus.SUCCEEDED]
    assert Meter.objects.count() == 200


def test_planner_statistics_are_refreshed_as_a_run_grows_the_tables():
    from django.test.utils import CaptureQueriesContext

    from leapsync.sync.planner import PlannerStatistics

    planner = PlannerStatistics()
    with CaptureQueriesContext(connection) as captured:
        for written in (500, 1000, 4900, 5000, 20000, 40000, 50000):
            planner.after_page("enrollments", written)
    analyses = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("ANALYZE")]
    if connection.vendor == "postgresql":
        assert len(analyses) == 2  # at 5,000 and 40,000 meters written
        assert '"enrollments_programenrollment"' in analyses[0]
    else:
        assert analyses == []


@pytest.mark.postgres
def test_a_meter_the_other_stream_inserted_meanwhile_is_updated_not_added_twice(
    simulator, monkeypatch
):
    """A page that read none of its meters stored inserts them all at once. When the other
    stream inserted one of them in between, that insert is undone and the page upserts
    instead: one row per meter, the other stream's row kept (its pk) and brought up to date,
    and a first-seen event only for the meters this page added."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: no other stream writes in between")
    from leapsync.sync import details
    from leapsync.sync.details import apply_details_page
    from tests.meters.factories import MeterFactory

    records = [payloads["details"] for payloads in truth_by_meter(simulator).values()][:3]
    ids = [uuid.UUID(record["meter_id"]) for record in records]
    monkeypatch.setattr(details, "load_meters", lambda meter_ids: {})  # read before the insert
    theirs = MeterFactory(meter_id=ids[1])
    run = SyncRun.objects.create(stream="details", mode="full")

    apply_details_page(records, PageContext(run, RunStats(), timezone.now()))

    assert Meter.objects.filter(meter_id__in=ids).count() == 3
    theirs.refresh_from_db()
    assert theirs.details_raw == records[1] and theirs.details_hash
    first_seen = MeterEvent.objects.filter(kind=EventKind.FIRST_SEEN).values_list(
        "meter__meter_id", flat=True
    )
    assert sorted(first_seen) == sorted([ids[0], ids[2]])
