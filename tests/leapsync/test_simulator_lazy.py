"""Meters generated when needed: payloads identical to the eager simulator's, memory, drift."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from io import StringIO
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from django.core.management import call_command

from leapsync.simulator import LeapSimulator
from leapsync.simulator.drift import DRIFT_FIELD
from tests.leapsync.test_simulator_helpers import (
    DETAILS_SEARCH,
    ENROLLMENT_SEARCH,
    KEY,
    client_for,
    fetch_all,
)

START = datetime(2026, 11, 15, 18, 0, tzinfo=UTC)
HEADERS = {"Authorization": f"Bearer {KEY}"}
FILTERS: tuple[dict[str, Any], ...] = (
    {"page_size": 37},
    {
        "page_size": 50,
        "created_after_date_time": "2025-06-01T00:00:00Z",
        "created_before_date_time": "2026-03-01T12:00:00.5Z",
    },
    {"page_size": 50, "last_modified_date_time": "2026-10-01T00:00:00Z"},
    {
        "page_size": 20,
        "global_enrollment_statuses": ["ACTIVE", "PENDING"],
        "exclude_archived": True,
    },
    {"page_size": 20, "partner_action_required": True, "transmission_region": "CAISO"},
    {"page_size": 20, "action_type": ["HAS_NOMINATIONS"], "meter_types": ["DEVICE"]},
    {"page_size": 20, "tags": ["vip"], "load_types": ["HVAC"], "customer_groups": ["SMB Pilot"]},
)
# sha256 of every response below, recorded from the simulator that generated and rendered every
# meter eagerly at start-up (seed 3, 400 meters, START). Changing them changes the data.
RECORDED = {
    "plain": "43342dac949f0fb60bf7f9b1c744ea72bd56c1c459b03f355e4af963395f52be",
    "nulls": "5f39604467e4ad030bcde24f0605f4421188e1bc4ac117c3dd6c371528146238",
    "mutated": "55d98bf5862eb6927984b382b8d6fcd442969f736b009f7ecbab3b02e9447bd2",
}


def _call(sim: LeapSimulator, method: str, path: str, body: Any = None) -> bytes:
    payload = b"" if body is None else msgspec.json.encode(body)
    status, _, out = sim.handle(method, path, HEADERS, payload)
    return b"%d" % status + out


def _pages(sim: LeapSimulator, path: str, body: dict[str, Any], digest: Any) -> list[bytes]:
    body, pages = dict(body), []
    while True:
        status, _, out = sim.handle("POST", path, HEADERS, msgspec.json.encode(body))
        digest.update(b"%d" % status)
        digest.update(out)
        pages.append(out)
        page = msgspec.json.decode(out)
        if status != 200 or "next_page_token" not in page:
            return pages
        body["page_token"] = page["next_page_token"]


def _snapshot(sim: LeapSimulator, digest: Any) -> None:
    """Every page of both searches under assorted filters, single meters, and the truth."""
    ids = sim.meter_ids()
    first = _pages(sim, DETAILS_SEARCH, FILTERS[0], digest)
    records = [m for page in first for m in msgspec.json.decode(page)["meters"]]
    references = sorted({m["partner_reference"] for m in records if m.get("partner_reference")})
    by_ids = {"page_size": 7, "meter_ids": ids[::9][:60] + [ids[3].upper()]}
    by_refs = {"page_size": 9, "partner_references": references[:40]}
    for path in (DETAILS_SEARCH, ENROLLMENT_SEARCH):
        for body in (*FILTERS, by_ids, by_refs):
            if not (path == DETAILS_SEARCH and body is FILTERS[0]):  # `first` was that one
                _pages(sim, path, body, digest)
    for meter_id in ids[::31]:
        for suffix in ("", "/enrollments"):
            digest.update(_call(sim, "GET", f"/v2/meters/{meter_id}{suffix}")[3:])
    digest.update(_call(sim, "GET", "/_simulator/truth?offset=0&limit=10000")[3:])


def _scenario(name: str, raw_json_budget: int | None) -> str:
    extra = {} if raw_json_budget is None else {"raw_json_budget": raw_json_budget}
    sim = LeapSimulator(meters=400, seed=3, start=START, **extra)
    digest = hashlib.sha256()
    if name == "nulls":
        sim.set_send_nulls(True)
    _snapshot(sim, digest)
    if name != "mutated":
        return digest.hexdigest()
    for seed in (1, 2, 3):
        digest.update(_call(sim, "POST", "/_simulator/mutate", {"fraction": 0.2, "seed": seed})[3:])
    _snapshot(sim, digest)
    _call(sim, "POST", "/_simulator/clock", {"advance_seconds": 864000})
    _snapshot(sim, digest)
    _call(sim, "POST", "/_simulator/rollover")
    _call(sim, "POST", "/_simulator/mutate", {"fraction": 0.1, "seed": 9})
    _snapshot(sim, digest)
    _call(sim, "POST", "/_simulator/clock", {"set": "2026-10-01T00:00:00Z"})
    _call(sim, "POST", "/_simulator/mutate", {"fraction": 0.1, "seed": 10})
    ids = sim.meter_ids()
    single = f"/v1.1/meters/{ids[5]}/partner_meter_ref"
    digest.update(_call(sim, "PATCH", single, {"partner_reference": "NEW-REF-1"})[3:])
    bulk = [
        {"meter_id": ids[7], "partner_reference": "NEW-REF-2"},
        {"meter_id": ids[8], "partner_reference": "NEW-REF-1"},
    ]
    digest.update(_call(sim, "PATCH", "/v1.1/meters/partner_meter_ref", {"meters": bulk})[3:])
    _snapshot(sim, digest)
    return digest.hexdigest()


@pytest.mark.parametrize("name", sorted(RECORDED))
@pytest.mark.parametrize("raw_json_budget", [None, 0, 200_000])
def test_payloads_are_byte_identical_to_the_eager_simulator(name, raw_json_budget):
    """Default budget (all plain), none (every entry packed), and a budget that runs out midway."""
    assert _scenario(name, raw_json_budget) == RECORDED[name]


def test_serving_keeps_no_meter_in_memory_but_changes_do():
    sim = LeapSimulator(meters=120, seed=5, start=START)
    client = client_for(sim)
    fetch_all(client, DETAILS_SEARCH, {"page_size": 50})
    fetch_all(client, ENROLLMENT_SEARCH, {"global_enrollment_statuses": ["ACTIVE"]})
    assert client.get(f"/v2/meters/{sim.meter_ids()[7]}").status_code == 200
    assert sim.state()["meters_in_memory"] == 0
    report = sim.mutate(0.1, seed=4)
    assert sim.state()["meters_in_memory"] == report["touched"] == 12


def test_a_changed_meter_is_found_by_its_new_dates_and_reference():
    sim = LeapSimulator(meters=60, seed=5, start=START)
    client = client_for(sim)
    meter_id = sim.meter_ids()[41]
    client.patch(f"/v1.1/meters/{meter_id}/partner_meter_ref", json={"partner_reference": "R-41"})
    since = {"last_modified_date_time": "2026-11-15T17:59:59Z"}  # generated: 86 s before START
    assert [m["meter_id"] for m in fetch_all(client, DETAILS_SEARCH, since)] == [meter_id]
    found = fetch_all(client, DETAILS_SEARCH, {"partner_references": ["R-41"]})
    assert [m["meter_id"] for m in found] == [meter_id]


def _objects(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [o for item in value for o in _objects(item)]
    if isinstance(value, dict):
        return [value, *(o for item in value.values() for o in _objects(item))]
    return []


def _without_drift(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_drift(item) for item in value]
    if isinstance(value, dict):
        return {k: _without_drift(v) for k, v in value.items() if k != DRIFT_FIELD}
    return value


@pytest.mark.parametrize("path", [DETAILS_SEARCH, ENROLLMENT_SEARCH])
def test_drift_adds_one_field_to_every_object_and_changes_nothing_else(path):
    plain = fetch_all(client_for(LeapSimulator(meters=150, seed=2, start=START)), path)
    drifted = fetch_all(
        client_for(LeapSimulator(meters=150, seed=2, start=START, drift=True)), path
    )
    objects = _objects(drifted)
    assert len(objects) > 150 * 5
    assert all(isinstance(o.get(DRIFT_FIELD), str) for o in objects)
    assert not any(DRIFT_FIELD in o for o in _objects(plain))
    assert _without_drift(drifted) == plain


def test_drift_is_switched_by_the_control_route():
    sim = LeapSimulator(meters=20, seed=2, start=START)
    client = client_for(sim)
    before = client.get(f"/v2/meters/{sim.meter_ids()[0]}/enrollments").json()
    assert client.post("/_simulator/drift", json={"drift": True}).json() == {"drift": True}
    assert sim.state()["drift"] is True
    after = client.get(f"/v2/meters/{sim.meter_ids()[0]}/enrollments").json()
    assert DRIFT_FIELD in after and DRIFT_FIELD in after["audit"]
    assert _without_drift(after) == before
    assert client.post("/_simulator/drift", json={"drift": "yes"}).status_code == 400
    client.post("/_simulator/drift", json={"drift": False})
    assert client.get(f"/v2/meters/{sim.meter_ids()[0]}/enrollments").json() == before


def test_warm_route_renders_every_meter():
    sim = LeapSimulator(meters=30, seed=2, start=START)
    response = client_for(sim).post("/_simulator/warm", json={})
    assert response.status_code == 200 and response.json()["seconds"] >= 0
    assert sim.state()["meters_in_memory"] == 0
    assert all(sim._details.has(seq) and sim._enrollments.has(seq) for seq in range(30))


class _Stopped:
    def join(self) -> None:
        raise KeyboardInterrupt


def test_leap_simulator_command_passes_drift_and_warms_on_request(monkeypatch):
    served: list[LeapSimulator] = []

    def fake_serve(simulator: LeapSimulator, host: str, port: int) -> Any:
        served.append(simulator)
        return SimpleNamespace(url="http://127.0.0.1:1", thread=_Stopped(), stop=lambda: None)

    monkeypatch.setattr("leapsync.management.commands.leap_simulator.serve", fake_serve)
    call_command("leap_simulator", "--meters", "12", "--drift", "--warm", stdout=StringIO())
    call_command("leap_simulator", "--meters", "12", stdout=StringIO())
    warmed, lazy = served
    assert warmed.state()["drift"] is True and lazy.state()["drift"] is False
    assert all(warmed._details.has(seq) for seq in range(12))
    assert not any(lazy._details.has(seq) for seq in range(12))
