"""Simulator HTTP contract: endpoints, auth, errors, faults, partner references, real server."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from leapsync.simulator import LeapSimulator, serve
from tests.leapsync.test_simulator_helpers import (
    DETAILS_SEARCH,
    ENROLLMENT_SEARCH,
    KEY,
    client_for,
)


@pytest.fixture(scope="module")
def sim() -> LeapSimulator:
    return LeapSimulator(meters=300, seed=7)


@pytest.fixture
def fresh() -> LeapSimulator:
    return LeapSimulator(meters=50, seed=3)


def test_get_meter_details_returns_bare_object(sim):
    meter_id = sim.meter_ids()[5]
    response = client_for(sim).get(f"/v2/meters/{meter_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["meter_id"] == meter_id
    assert "customer" in body and "audit" in body and "program_enrollment" not in body


def test_get_meter_enrollment_returns_bare_object(sim):
    meter_id = sim.meter_ids()[5]
    body = client_for(sim).get(f"/v2/meters/{meter_id}/enrollments").json()
    assert body["meter_id"] == meter_id
    assert {"global_enrollment_status", "program_enrollment", "required_actions"} <= body.keys()
    assert "customer" not in body


def test_get_meter_accepts_upper_case_uuid(sim):
    meter_id = sim.meter_ids()[1]
    response = client_for(sim).get(f"/v2/meters/{meter_id.upper()}")
    assert response.json()["meter_id"] == meter_id


def test_search_endpoints_return_same_meters_with_shared_audit(sim):
    client = client_for(sim)
    details = client.post(DETAILS_SEARCH, json={"page_size": 40}).json()
    enrollments = client.post(ENROLLMENT_SEARCH, json={"page_size": 40}).json()
    assert [m["meter_id"] for m in details["meters"]] == sim.meter_ids()[:40]
    assert [m["meter_id"] for m in enrollments["meters"]] == sim.meter_ids()[:40]
    for d, e in zip(details["meters"], enrollments["meters"], strict=True):
        assert d["audit"] == e["audit"]


def test_search_last_page_has_no_token(sim):
    client = client_for(sim)
    first = client.post(ENROLLMENT_SEARCH, json={"page_size": 200}).json()
    assert first["next_page_token"]
    last = client.post(
        ENROLLMENT_SEARCH, json={"page_size": 200, "page_token": first["next_page_token"]}
    ).json()
    assert len(last["meters"]) == 100
    assert "next_page_token" not in last


def test_search_default_page_size_is_500():
    sim = LeapSimulator(meters=501, seed=2)
    page = client_for(sim).post(DETAILS_SEARCH, json={}).json()
    assert len(page["meters"]) == 500 and "next_page_token" in page


def test_search_accepts_empty_body(sim):
    response = client_for(sim).post(ENROLLMENT_SEARCH, content=b"")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": "Basic x"}],
)
def test_auth_rejects_missing_or_wrong_key(sim, headers):
    client = httpx.Client(transport=sim.transport(), base_url="http://sim", headers=headers)
    for response in (
        client.get(f"/v2/meters/{sim.meter_ids()[0]}"),
        client.post(ENROLLMENT_SEARCH, json={}),
        client.get("/_simulator/state"),
    ):
        assert response.status_code == 401
        assert response.json() == {"title": "Unauthorized", "status": 401, "details": {}}


@pytest.mark.parametrize("suffix", ["", "/enrollments"])
def test_get_meter_rejects_non_uuid(sim, suffix):
    response = client_for(sim).get(f"/v2/meters/abcdef{suffix}")
    assert response.status_code == 400
    assert response.json() == {
        "title": "Meter id is not a UUID",
        "status": 400,
        "details": {"meter_id": "abcdef"},
    }


@pytest.mark.parametrize("suffix", ["", "/enrollments"])
def test_get_meter_unknown_is_404(sim, suffix):
    missing = "f5c5e328-e325-4d6d-b357-5015ed5962a7"
    response = client_for(sim).get(f"/v2/meters/{missing}{suffix}")
    assert response.status_code == 404
    assert response.json()["title"] == "Meter not found"


def test_unknown_route_and_wrong_method(sim):
    client = client_for(sim)
    assert client.get("/v2/nothing").status_code == 404
    assert client.get(ENROLLMENT_SEARCH).status_code == 405
    assert client.post(f"/v2/meters/{sim.meter_ids()[0]}").status_code == 405


def test_internal_error_is_plain_json_string(fresh, monkeypatch):
    def boom(*_args):
        raise RuntimeError("bug")

    monkeypatch.setattr(fresh, "search", boom)
    response = client_for(fresh).post(ENROLLMENT_SEARCH, json={})
    assert response.status_code == 500
    assert response.content == b'"An error happened whilst processing your request"'


def test_faults_status_kinds(fresh):
    client = client_for(fresh)
    fresh.faults(1.0, ["429"], seed=1)
    response = client.post(ENROLLMENT_SEARCH, json={})
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    fresh.faults(1.0, ["503"])
    assert client.post(ENROLLMENT_SEARCH, json={}).status_code == 503
    fresh.faults(1.0, ["500"])
    response = client.get(f"/v2/meters/{fresh.meter_ids()[0]}")
    assert response.json() == "An error happened whilst processing your request"
    assert client.get("/_simulator/state").status_code == 200  # controls are never faulted
    fresh.faults(0)
    assert client.post(ENROLLMENT_SEARCH, json={}).status_code == 200


def test_faults_transport_kinds_raise_like_sockets(fresh):
    client = client_for(fresh)
    fresh.faults(1.0, ["slow"])
    with pytest.raises(httpx.ReadTimeout):
        client.post(ENROLLMENT_SEARCH, json={})
    fresh.faults(1.0, ["dropped"])
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(ENROLLMENT_SEARCH, json={})
    fresh.faults(1.0, ["truncated"])
    response = client.post(ENROLLMENT_SEARCH, json={"page_size": 5})
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(response.content)


def test_faults_rate_is_deterministic_and_rejects_unknown_kinds(fresh):
    client = client_for(fresh)

    def statuses() -> list[int]:
        fresh.faults(0.3, ["429", "500"], seed=11)
        return [
            client.post(ENROLLMENT_SEARCH, json={"page_size": 1}).status_code for _ in range(40)
        ]

    first = statuses()
    assert first == statuses()
    assert 200 in first and set(first) - {200}
    with pytest.raises(ValueError):
        fresh.faults(0.5, ["teapot"])


def test_partner_reference_single_update_moves_updated_at(fresh):
    client = client_for(fresh)
    meter_id = fresh.meter_ids()[3]
    before = client.get(f"/v2/meters/{meter_id}/enrollments").json()["audit"]["updated_at"]
    response = client.patch(
        f"/v1.1/meters/{meter_id}/partner_meter_ref", json={"partner_reference": "site-42 Zoë"}
    )
    assert response.status_code == 200
    assert response.json() == {"meter_id": meter_id, "partner_reference": "site-42 Zoë"}
    after = client.get(f"/v2/meters/{meter_id}").json()
    assert after["partner_reference"] == "site-42 Zoë"
    assert after["audit"]["updated_at"] > before
    found = client.post(ENROLLMENT_SEARCH, json={"partner_references": ["site-42 Zoë"]}).json()
    assert [m["meter_id"] for m in found["meters"]] == [meter_id]


@pytest.mark.parametrize("value", ["ab", "x" * 257, "bad/ref", "no#hash", "<b>", 12, None])
def test_partner_reference_single_rejects_invalid_value(fresh, value):
    meter_id = fresh.meter_ids()[0]
    response = client_for(fresh).patch(
        f"/v1.1/meters/{meter_id}/partner_meter_ref", json={"partner_reference": value}
    )
    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_partner_reference_single_unknown_meter_and_bad_json(fresh):
    client = client_for(fresh)
    missing = "f5c5e328-e325-4d6d-b357-5015ed5962a7"
    path = f"/v1.1/meters/{missing}/partner_meter_ref"
    assert client.patch(path, json={"partner_reference": "abc"}).status_code == 404
    assert client.patch(path, content=b"{nope").status_code == 400
    assert client.post(path, json={"partner_reference": "abc"}).status_code == 405


def test_partner_reference_bulk_reports_updated_and_errors(fresh):
    ids = fresh.meter_ids()
    body = {
        "meters": [
            {"meter_id": ids[0], "partner_reference": "bulk-0"},
            {"meter_id": ids[1], "partner_reference": "bad|ref"},
            {"meter_id": "nope", "partner_reference": "bulk-2"},
            {"meter_id": "f5c5e328-e325-4d6d-b357-5015ed5962a7", "partner_reference": "bulk-3"},
            {"meter_id": ids[0], "partner_reference": "bulk-again"},
        ]
    }
    response = client_for(fresh).patch("/v1.1/meters/partner_meter_ref", json=body)
    assert response.status_code == 200
    result = response.json()
    assert result["updated"] == [ids[0]]
    assert [e["meter_id"] for e in result["errors"]] == [
        ids[1],
        "nope",
        "f5c5e328-e325-4d6d-b357-5015ed5962a7",
        ids[0],
    ]
    assert fresh.truth()[ids[0]]["details"]["partner_reference"] == "bulk-0"


def test_partner_reference_updates_can_be_accepted_and_not_applied(fresh):
    client = client_for(fresh)
    meter_id, other = fresh.meter_ids()[4:6]
    before = client.get(f"/v2/meters/{meter_id}").json()
    assert client.post("/_simulator/reference_updates", json={"apply": "no"}).status_code == 400
    assert client.post("/_simulator/reference_updates", json={"apply": False}).json() == {
        "apply": False
    }
    path = f"/v1.1/meters/{meter_id}/partner_meter_ref"
    answer = client.patch(path, json={"partner_reference": "lost-write"})
    assert answer.status_code == 200 and answer.json()["partner_reference"] == "lost-write"
    bulk = {"meters": [{"meter_id": other, "partner_reference": "lost-too"}]}
    assert client.patch("/v1.1/meters/partner_meter_ref", json=bulk).json()["updated"] == [other]
    assert client.get(f"/v2/meters/{meter_id}").json() == before  # not even updated_at moved
    assert fresh.truth()[other]["details"]["partner_reference"] != "lost-too"
    client.post("/_simulator/reference_updates", json={"apply": True})
    client.patch(path, json={"partner_reference": "kept-write"})
    assert client.get(f"/v2/meters/{meter_id}").json()["partner_reference"] == "kept-write"


@pytest.mark.parametrize("meters", [[], [{"meter_id": "x"}] * 1001, "x"])
def test_partner_reference_bulk_rejects_bad_list(fresh, meters):
    response = client_for(fresh).patch("/v1.1/meters/partner_meter_ref", json={"meters": meters})
    assert response.status_code == 400


def test_control_routes_drive_the_simulator(fresh):
    client = client_for(fresh)
    state = client.get("/_simulator/state").json()
    assert state["meters"] == 50 and state["now"] == "2026-11-15T18:00:00.000000Z"
    assert (
        client.post("/_simulator/clock", json={"advance_seconds": 60})
        .json()["now"]
        .startswith("2026-11-15T18:01:00")
    )
    assert client.post("/_simulator/clock", json={"set": "2026-11-20T00:00:00Z"}).status_code == 200
    assert client.post("/_simulator/rollover").json()["now"] == "2026-12-01T08:00:00.000000Z"
    report = client.post("/_simulator/mutate", json={"fraction": 0.2, "seed": 4}).json()
    assert report["touched"] == 10
    assert client.post("/_simulator/faults", json={"rate": 0}).status_code == 200
    assert client.post("/_simulator/faults", json={"rate": 2}).status_code == 400
    assert client.post("/_simulator/clock", json={"set": "soon"}).status_code == 400
    assert client.post("/_simulator/send_nulls", json={"send_nulls": True}).status_code == 200
    assert client.get("/_simulator/nothing").status_code == 404


def test_control_truth_is_paginated_and_matches_truth(fresh):
    client = client_for(fresh)
    first = client.get("/_simulator/truth", params={"limit": 30}).json()
    assert first["next_offset"] == 30
    rest = client.get("/_simulator/truth", params={"offset": 30, "limit": 30}).json()
    assert "next_offset" not in rest
    assert {**first["meters"], **rest["meters"]} == fresh.truth()
    assert client.get("/_simulator/truth", params={"limit": 0}).status_code == 400


def test_server_serves_a_page_over_http():
    sim = LeapSimulator(meters=20, seed=5)
    server = serve(sim, "127.0.0.1", 0)
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}) as c:
            first = c.post(ENROLLMENT_SEARCH, json={"page_size": 15})
            second = c.post(
                ENROLLMENT_SEARCH,
                json={"page_size": 15, "page_token": first.json()["next_page_token"]},
            )
            unauthorized = httpx.get(f"{server.url}/v2/meters/{sim.meter_ids()[0]}")
    finally:
        server.stop()
    assert first.status_code == 200 and len(first.json()["meters"]) == 15
    assert int(first.headers["content-length"]) == len(first.content)
    assert len(second.json()["meters"]) == 5
    assert unauthorized.status_code == 401
