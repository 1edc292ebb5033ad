"""Simulator search filters: every MeterFilterRequest field narrows, and every limit is a 400."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import pytest

from leapsync.simulator import LeapSimulator
from tests.leapsync.test_simulator_helpers import (
    DETAILS_SEARCH,
    ENROLLMENT_SEARCH,
    client_for,
    fetch_all,
    search_ids,
)


@pytest.fixture(scope="module")
def sim() -> LeapSimulator:
    return LeapSimulator(meters=1500, seed=11)


@pytest.fixture(scope="module")
def truth(sim) -> dict[str, dict[str, Any]]:
    return {k: v["enrollment"] for k, v in sim.truth().items()}


def _expect(truth: dict[str, dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> set[str]:
    return {meter_id for meter_id, e in truth.items() if keep(e)}


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _actions(e: dict[str, Any]) -> list[dict[str, Any]]:
    return e["required_actions"]["partner"] + e["required_actions"]["leap"]


CASES: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ("region", {"transmission_region": "NYISO"}, lambda e: e["transmission_region"] == "NYISO"),
    (
        "classification",
        {"customer_classification": "COMMERCIAL"},
        lambda e: e.get("customer_classification") == "COMMERCIAL",
    ),
    (
        "statuses",
        {"global_enrollment_statuses": ["PENDING", "INELIGIBLE"]},
        lambda e: e["global_enrollment_status"] in ("PENDING", "INELIGIBLE"),
    ),
    (
        "meter_types",
        {"meter_types": ["DEVICE", "SUBMETER"]},
        lambda e: e["meter_type"] in ("DEVICE", "SUBMETER"),
    ),
    (
        "load_types",
        {"load_types": ["EV_CHARGING", "COLD_STORAGE"]},
        lambda e: bool({"EV_CHARGING", "COLD_STORAGE"} & set(e["load_types"])),
    ),
    (
        "customer_groups",
        {"customer_groups": ["SMB Pilot", ""]},
        lambda e: e.get("customer_group") in ("SMB Pilot", ""),
    ),
    ("tags", {"tags": ["vip", "battery"]}, lambda e: bool({"vip", "battery"} & set(e["tags"]))),
    (
        "last_modified",
        {"last_modified_date_time": "2026-09-01T00:00:00Z"},
        lambda e: _ts(e["audit"]["updated_at"]) > _ts("2026-09-01T00:00:00Z"),
    ),
    (
        "created_after",
        {"created_after_date_time": "2026-01-01T00:00:00.5+01:00"},
        lambda e: _ts(e["audit"]["created_at"]) > _ts("2025-12-31T23:00:00.5Z"),
    ),
    (
        "created_before",
        {"created_before_date_time": "2025-01-01T00:00:00Z"},
        lambda e: _ts(e["audit"]["created_at"]) < _ts("2025-01-01T00:00:00Z"),
    ),
    (
        "partner_action_required",
        {"partner_action_required": True},
        lambda e: bool(e["required_actions"]["partner"]),
    ),
    ("partner_action_false", {"partner_action_required": False}, lambda e: True),
    ("exclude_archived", {"exclude_archived": True}, lambda e: not e["is_archived"]),
    ("include_archived", {"exclude_archived": False}, lambda e: True),
    (
        "action_type",
        {"action_type": ["HAS_NOMINATIONS", "IS_AUTHORIZED"]},
        lambda e: any(
            a["action_type"] in ("HAS_NOMINATIONS", "IS_AUTHORIZED") for a in _actions(e)
        ),
    ),
    (
        "combined",
        {
            "transmission_region": "CAISO",
            "meter_types": ["UTILITY_METER"],
            "exclude_archived": True,
        },
        lambda e: (
            e["transmission_region"] == "CAISO"
            and e["meter_type"] == "UTILITY_METER"
            and not e["is_archived"]
        ),
    ),
]


@pytest.mark.parametrize(("name", "body", "keep"), CASES, ids=[c[0] for c in CASES])
def test_filter_narrows_to_matching_meters(sim, truth, name, body, keep):
    expected = _expect(truth, keep)
    got = search_ids(client_for(sim), {**body, "page_size": 500})
    assert got == expected
    if name not in ("partner_action_false", "include_archived"):
        assert 0 < len(expected) < len(truth)


def test_filter_meter_ids_and_connection_references(sim, truth):
    ids = sim.meter_ids()
    wanted = [ids[3], ids[700].upper(), ids[1499]]
    assert search_ids(client_for(sim), {"meter_ids": wanted}) == {ids[3], ids[700], ids[1499]}
    assert len(search_ids(client_for(sim), {"meter_ids": []})) == len(ids)
    refs = {r for e in truth.values() for r in e["connection_references"]}
    chosen = sorted(refs)[:5]
    expected = _expect(truth, lambda e: bool(set(chosen) & set(e["connection_references"])))
    assert search_ids(client_for(sim), {"connection_reference_ids": chosen}) == expected


def test_filter_partner_references_finds_shared_reference(sim, truth):
    counts: dict[str, int] = {}
    for e in truth.values():
        if "partner_reference" in e:
            counts[e["partner_reference"]] = counts.get(e["partner_reference"], 0) + 1
    shared = next(ref for ref, n in counts.items() if n > 1)
    got = search_ids(client_for(sim), {"partner_references": [shared, "never-seen"]})
    assert len(got) == counts[shared]


def test_filter_both_endpoints_return_same_meters(sim):
    body = {"transmission_region": "ERCOT", "page_size": 37}
    client = client_for(sim)
    details = [m["meter_id"] for m in fetch_all(client, DETAILS_SEARCH, body)]
    enrollments = [m["meter_id"] for m in fetch_all(client, ENROLLMENT_SEARCH, body)]
    assert details == enrollments and details


def test_filter_matching_nothing_returns_empty_page(sim):
    body = {"created_after_date_time": "2099-01-01T00:00:00Z"}
    page = client_for(sim).post(ENROLLMENT_SEARCH, json=body).json()
    assert page == {"meters": []}


UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
INVALID_BODIES: list[tuple[str, Any]] = [
    ("page_size_zero", {"page_size": 0}),
    ("page_size_501", {"page_size": 501}),
    ("page_size_string", {"page_size": "10"}),
    ("page_size_float", {"page_size": 10.5}),
    ("page_size_bool", {"page_size": True}),
    ("region_unknown", {"transmission_region": "MISO"}),
    ("region_list", {"transmission_region": ["CAISO"]}),
    ("region_null", {"transmission_region": None}),
    ("classification_unknown", {"customer_classification": "INDUSTRIAL"}),
    ("meter_ids_not_uuid", {"meter_ids": ["abc"]}),
    ("meter_ids_too_many", {"meter_ids": [UUID] * 1001}),
    ("meter_ids_duplicate", {"meter_ids": [UUID, UUID]}),
    ("meter_ids_not_list", {"meter_ids": UUID}),
    ("partner_references_empty", {"partner_references": []}),
    ("partner_references_pattern", {"partner_references": ["has/slash"]}),
    ("partner_references_short", {"partner_references": ["ab"]}),
    ("partner_references_too_many", {"partner_references": [f"ref-{i}" for i in range(1001)]}),
    ("statuses_unknown", {"global_enrollment_statuses": ["DONE"]}),
    ("statuses_empty", {"global_enrollment_statuses": []}),
    ("statuses_duplicate", {"global_enrollment_statuses": ["ACTIVE", "ACTIVE"]}),
    ("meter_types_unknown", {"meter_types": ["METER"]}),
    ("meter_types_too_many", {"meter_types": ["DEVICE"] * 21}),
    ("load_types_unknown", {"load_types": ["NUCLEAR"]}),
    ("load_types_empty", {"load_types": []}),
    ("customer_groups_too_many", {"customer_groups": [f"g{i}" for i in range(21)]}),
    ("customer_groups_not_string", {"customer_groups": [1]}),
    ("tags_empty", {"tags": []}),
    ("tags_duplicate", {"tags": ["a", "a"]}),
    ("last_modified_bad", {"last_modified_date_time": "2024-13-01T00:00:00Z"}),
    ("last_modified_date_only", {"last_modified_date_time": "2024-01-01"}),
    ("created_after_no_zone", {"created_after_date_time": "2024-01-01T00:00:00"}),
    ("created_before_number", {"created_before_date_time": 1700000000}),
    ("partner_action_string", {"partner_action_required": "true"}),
    ("exclude_archived_int", {"exclude_archived": 1}),
    ("connection_refs_too_many", {"connection_reference_ids": [f"c-{i}" for i in range(101)]}),
    ("connection_refs_pattern", {"connection_reference_ids": ["a{b}"]}),
    ("action_type_unknown", {"action_type": ["FIX_IT"]}),
    ("action_type_too_many", {"action_type": ["HAS_AMI"] * 21}),
    ("page_token_number", {"page_token": 5}),
    ("page_token_unknown", {"page_token": "not-a-token"}),
    ("body_array", [1, 2]),
    ("body_null", None),
]


@pytest.mark.parametrize(("name", "body"), INVALID_BODIES, ids=[c[0] for c in INVALID_BODIES])
@pytest.mark.parametrize("path", [DETAILS_SEARCH, ENROLLMENT_SEARCH])
def test_filter_invalid_body_is_400(sim, name, body, path):
    response = client_for(sim).post(path, content=msgspec.json.encode(body))
    assert response.status_code == 400, response.text[:300]
    error = response.json()
    assert error["status"] == 400 and error["title"] and isinstance(error["details"], dict)


def test_filter_malformed_json_is_400(sim):
    response = client_for(sim).post(ENROLLMENT_SEARCH, content=b'{"page_size": 5')
    assert response.status_code == 400
    assert response.json()["details"]["field"] == "body"


def test_filter_limits_at_the_edges_are_accepted(sim):
    ids = sim.meter_ids()
    client = client_for(sim)
    assert client.post(ENROLLMENT_SEARCH, json={"page_size": 1}).status_code == 200
    assert client.post(ENROLLMENT_SEARCH, json={"page_size": 500}).status_code == 200
    assert client.post(DETAILS_SEARCH, json={"meter_ids": ids[:1000]}).status_code == 200
    statuses = ["ACTIVE", "ELIGIBLE", "INELIGIBLE", "NOT_PARTICIPATING", "PENDING"]
    assert client.post(DETAILS_SEARCH, json={"global_enrollment_statuses": statuses}).is_success


def test_filter_token_reused_with_other_filter_is_400(sim):
    client = client_for(sim)
    page = client.post(ENROLLMENT_SEARCH, json={"page_size": 10, "tags": ["vip"]}).json()
    token = page["next_page_token"]
    reused = client.post(ENROLLMENT_SEARCH, json={"page_token": token, "tags": ["battery"]})
    assert reused.status_code == 400
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.post(ENROLLMENT_SEARCH, json={"page_token": tampered}).status_code == 400
    same = client.post(ENROLLMENT_SEARCH, json={"page_token": token, "tags": ["vip"]})
    assert same.status_code == 200
