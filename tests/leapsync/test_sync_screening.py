"""Screening a page: records are compared by the digest of their text, and decoded only if changed."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import httpx
import msgspec
import pytest

from leapsync.leap.client import LeapClient
from leapsync.leap.payloads import parse_meter_details
from leapsync.models import QuarantinedPayload, RunStatus, Stream
from leapsync.simulator import LeapSimulator
from leapsync.sync import common, stored_meters, sync_full, unseen_meters
from leapsync.sync.meters import identifier_values
from meters.models import Meter, MeterEvent
from tests.helpers import database_differences, truth_by_meter
from tests.leapsync.conftest import API_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def decoded(monkeypatch) -> list:
    """Every record the sync decodes in full, in order."""
    calls = []
    original = common.Incoming.payload

    def payload(self):
        calls.append(self.meter_id)
        return original(self)

    monkeypatch.setattr(common.Incoming, "payload", payload)
    return calls


def test_unchanged_records_are_never_decoded(simulator, leap, decoded):
    sync_full(client=leap)
    assert len(decoded) == 2 * len(simulator.meter_ids())  # the first run decodes everything
    decoded.clear()
    runs = sync_full(client=leap)
    assert decoded == []
    assert all(run.unchanged == len(simulator.meter_ids()) for run in runs)
    mutation = simulator.mutate(0.05, seed=3)
    touched = {*mutation["meter_ids"], *mutation["created"]}
    sync_full(client=leap)
    assert decoded and {str(meter_id) for meter_id in decoded} <= touched
    assert database_differences(simulator) == []


def test_the_cursor_still_comes_from_every_record_seen(simulator, leap):
    (details, _) = sync_full(client=leap)
    (again, _) = sync_full(client=leap)
    assert again.unchanged == details.meters_seen
    # Nothing changed, yet every record's audit stamps were read: the run reached as far.
    from leapsync.models import SyncCursor

    cursor = SyncCursor.objects.get(stream="details").cursor
    newest = max(
        payloads["details"]["audit"]["updated_at"]
        for payloads in truth_by_meter(simulator).values()
    )
    assert cursor.isoformat().replace("+00:00", "Z")[:19] == newest[:19]


def _transport(text: bytes) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, content=text))


def _page(*records: bytes) -> bytes:
    return b'{"meters": [' + b", ".join(records) + b'], "next_page_token": null}'


def test_leap_reformatting_its_json_is_processed_once_with_no_events(simulator):
    records = [payloads["details"] for payloads in truth_by_meter(simulator).values()][:20]
    compact = _page(*(msgspec.json.encode(record) for record in records))
    indented = _page(
        *(msgspec.json.format(msgspec.json.encode(record), indent=2) for record in records)
    )
    sync_full(
        client=LeapClient("http://leap.test", API_KEY, transport=_transport(compact)),
        streams=["details"],
    )
    events = MeterEvent.objects.count()
    leap = LeapClient("http://leap.test", API_KEY, transport=_transport(indented))
    (run,) = sync_full(client=leap, streams=["details"])
    assert run.status == RunStatus.SUCCEEDED and run.updated == 20
    assert MeterEvent.objects.count() == events  # new text, same values: nothing to record
    (run,) = sync_full(client=leap, streams=["details"])
    assert run.unchanged == 20  # and from then on it is recognised again


def test_records_of_unexpected_shapes_are_quarantined_and_the_run_goes_on(simulator):
    good = [payloads["enrollment"] for payloads in truth_by_meter(simulator).values()][:2]
    odd_audit = dict(good[1], audit="yesterday")  # not what screening reads: decoded in full
    page = _page(
        msgspec.json.encode(good[0]),
        b'{"meter_id": 12345, "global_enrollment_status": "ACTIVE"}',
        b'"just a string"',
        b"[1, 2, 3]",
        msgspec.json.encode(odd_audit),
    )
    leap = LeapClient("http://leap.test", API_KEY, transport=_transport(page))
    (run,) = sync_full(client=leap, streams=["enrollments"])
    assert run.status == RunStatus.SUCCEEDED
    assert run.created == 1
    assert run.quarantined == 4
    assert Meter.objects.filter(meter_id=good[0]["meter_id"]).exists()
    texts = " ".join(q.raw_text for q in QuarantinedPayload.objects.filter(run=run))
    assert "just a string" in texts and "[1, 2, 3]" in texts
    odd = QuarantinedPayload.objects.get(run=run, meter_id=good[1]["meter_id"])
    assert odd.raw["audit"] == "yesterday"  # kept as Leap sent it


def test_a_page_whose_meters_is_not_a_list_fails_the_run_cleanly():
    leap = LeapClient("http://leap.test", API_KEY, transport=_transport(b'{"meters": {"a": 1}}'))
    (run,) = sync_full(client=leap, streams=["details"])
    assert run.status == RunStatus.FAILED
    assert "'meters' is not a list" in run.error


def test_identifier_digests_match_the_stored_ones():
    # The digests stored by earlier versions: the identifiers of a stored meter are not re-read
    # after an upgrade. Datetimes are hashed as isoformat text ("+00:00").
    truth = LeapSimulator(meters=3, seed=5).truth()
    digests = {
        str(meter_id): identifier_values(
            parse_meter_details(payloads["details"]), SimpleNamespace(stats=common.RunStats())
        )["identifiers_hash"]
        for meter_id, payloads in truth.items()
    }
    assert digests == {
        "d8ffb126-7c52-444b-94cd-ad01f6d2a981": "d6d07698527d114ac2d781c50af0c766",
        "d491b94b-1579-470f-8e27-0217a5a83d85": "4d5d34406ffb3dac92825fe7b8643d04",
        "b29fb549-fe3f-4c8a-93d9-988986c3c812": "dce17726aee987b46f8f6d4c254785a1",
    }


def test_the_seen_meters_are_a_bitmap_of_primary_keys():
    seen = common.SeenMeters()
    seen.update([3, 8, 8, 1_000_003])
    page = common.SeenMeters()
    page.update([5, 8, 2_000_000])
    seen |= page

    assert [pk for pk in (1, 3, 5, 8, 9, 1_000_003, 2_000_000, 2_000_001) if pk in seen] == [
        3,
        5,
        8,
        1_000_003,
        2_000_000,
    ]
    assert len(seen) == 5
    assert 10**9 not in seen  # past the end: not seen, and nothing grows
    # One bit a key (plus the growth slack): a quarter of a megabyte for two million keys.
    assert len(seen._bits) < 2_000_000 // 8 * 1.2
    assert not common.SeenMeters()


def test_unseen_meters_are_the_stored_ones_a_run_did_not_see(django_assert_num_queries):
    """Keys only are read for every stored meter; meter_ids only for the unseen, sorted."""
    stored = [Meter.objects.create(meter_id=uuid.uuid4(), details_hash="d") for _ in range(9)]
    Meter.objects.create(meter_id=uuid.uuid4())  # the enrollments stream's only: not stored here
    seen = common.SeenMeters()
    seen.update(meter.pk for meter in stored[::2])
    expected = sorted(((m.pk, m.meter_id) for m in stored[1::2]), key=lambda row: row[1])
    with django_assert_num_queries(2):  # every stored key, then the unseen meters' ids
        assert unseen_meters(stored_meters(Stream.DETAILS), seen) == expected
    seen.update(meter.pk for meter in stored)
    with django_assert_num_queries(1):
        assert unseen_meters(stored_meters(Stream.DETAILS), seen) == []
