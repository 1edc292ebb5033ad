"""Simulator behaviour: paging under change, Leap's updated_at rules, determinism, data shape."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from leapsync.simulator import LeapSimulator
from tests.leapsync.test_simulator_helpers import ENROLLMENT_SEARCH, client_for

FAR_FUTURE = {"9000-01-01T00:00:00Z", "9000-12-31T23:59:59.999999999Z", "2099-01-01T00:00:00Z"}


def _enrollments(sim: LeapSimulator) -> dict[str, dict[str, Any]]:
    return {k: v["enrollment"] for k, v in sim.truth().items()}


def test_pagination_stable_while_data_changes():
    sim = LeapSimulator(meters=1200, seed=21)
    before = set(sim.meter_ids())
    client = client_for(sim)
    seen: list[str] = []
    body: dict[str, Any] = {"page_size": 100}
    for page_number in range(100):
        page = client.post(ENROLLMENT_SEARCH, json=body).json()
        seen.extend(m["meter_id"] for m in page["meters"])
        if "next_page_token" not in page:
            break
        body["page_token"] = page["next_page_token"]
        sim.mutate(0.05, seed=page_number)  # status, archive, reference changes, new meters...
    assert len(seen) == len(set(seen)), "a meter was served twice"
    assert before <= set(seen), "a meter was skipped"
    assert set(seen) == set(sim.meter_ids())  # new meters are appended, so they show up too


def test_pagination_stable_with_status_filter_when_other_meters_change():
    sim = LeapSimulator(meters=800, seed=22)
    client = client_for(sim)
    body: dict[str, Any] = {"page_size": 50, "global_enrollment_statuses": ["ACTIVE"]}
    first = client.post(ENROLLMENT_SEARCH, json=body).json()
    served = {m["meter_id"] for m in first["meters"]}
    last_seq = max(sim.find(i).seq for i in served)
    sim.mutate(0.1, seed=3)
    changed_now = {
        k for k, e in _enrollments(sim).items() if e["global_enrollment_status"] == "ACTIVE"
    }
    body["page_token"] = first["next_page_token"]
    rest: set[str] = set()
    while True:
        page = client.post(ENROLLMENT_SEARCH, json=body).json()
        rest |= {m["meter_id"] for m in page["meters"]}
        if "next_page_token" not in page:
            break
        body["page_token"] = page["next_page_token"]
    assert not rest & served
    # Exactly the meters ACTIVE now and not yet behind the cursor: none skipped, none repeated.
    assert rest == {k for k in changed_now if sim.find(k).seq > last_seq}


def test_mutation_moves_updated_at_of_touched_meters_only():
    sim = LeapSimulator(meters=400, seed=23)
    before = _enrollments(sim)
    latest = max(e["audit"]["updated_at"] for e in before.values())
    report = sim.mutate(0.1, seed=9)
    after = _enrollments(sim)
    touched = set(report["meter_ids"]) | set(report["created"])
    assert report["touched"] == 40 and len(report["created"]) == 2
    for meter_id, e in after.items():
        if meter_id in touched:
            assert e["audit"]["updated_at"] > latest
        else:
            assert e == before[meter_id]
    for meter_id in report["meter_ids"]:
        full_before = {**before[meter_id], "audit": None}
        assert {**after[meter_id], "audit": None} != full_before or meter_id in _details_changed(
            sim, meter_id
        )
    found = client_for(sim).post(ENROLLMENT_SEARCH, json={"last_modified_date_time": latest}).json()
    assert {m["meter_id"] for m in found["meters"]} == touched


def _details_changed(sim: LeapSimulator, meter_id: str) -> set[str]:
    meter = sim.find(meter_id)
    return {meter_id} if meter is not None and meter.details_patch else set()


def test_mutation_report_covers_every_kind():
    sim = LeapSimulator(meters=1000, seed=24)
    changes = Counter()
    for seed in range(3):
        changes.update(sim.mutate(0.1, seed=seed)["changes"])
    for kind in (
        "status",
        "market_group",
        "action_added",
        "action_removed",
        "details",
        "new_meter",
    ):
        assert changes[kind] > 0, kind
    assert changes["partner_reference"] > 0
    assert changes["archived"] + changes["unarchived"] > 0
    assert any(k.startswith("participation") for k in changes)


def test_rollover_shifts_periods_without_moving_updated_at():
    sim = LeapSimulator(meters=300, seed=25)
    before = _enrollments(sim)
    now = sim.rollover()
    assert now == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    after = _enrollments(sim)
    shifted = 0
    for meter_id, e in after.items():
        assert e["audit"] == before[meter_id]["audit"]
        old = {
            (p["program_identifier"], p["delivery_period"])
            for p in before[meter_id]["program_enrollment"]
        }
        new = {(p["program_identifier"], p["delivery_period"]) for p in e["program_enrollment"]}
        if old:
            assert any(period.endswith("_2027_FEB") for _, period in new - old)
            assert all(period.endswith("_2026_NOV") for _, period in old - new)
            shifted += 1
        kept = {(p["program_identifier"], p["delivery_period"]): p for p in e["program_enrollment"]}
        for p in before[meter_id]["program_enrollment"]:
            if (p["program_identifier"], p["delivery_period"]) in kept:
                assert kept[(p["program_identifier"], p["delivery_period"])] == p
        assert e["global_enrollment_status"] == before[meter_id]["global_enrollment_status"]
    assert shifted > 100


def test_action_deadline_rolls_forward_without_moving_updated_at():
    sim = LeapSimulator(meters=500, seed=26)
    before = _enrollments(sim)
    sim.advance(timedelta(days=14))  # past the late-November deadlines, still in November
    after = _enrollments(sim)
    rolled = 0
    for meter_id, e in after.items():
        assert e["audit"] == before[meter_id]["audit"]
        old = before[meter_id]["required_actions"]
        assert len(e["required_actions"]["partner"]) == len(old["partner"])
        for new_action, old_action in zip(
            e["required_actions"]["partner"] + e["required_actions"]["leap"],
            old["partner"] + old["leap"],
            strict=True,
        ):
            assert new_action["enrollment_deadline_date_time"] > sim.now.isoformat()[:19]
            assert new_action["action_code"] == old_action["action_code"]
            if new_action != old_action:
                assert (
                    new_action["enrollment_deadline_date_time"]
                    > old_action["enrollment_deadline_date_time"]
                )
                rolled += 1
    assert rolled > 0


def test_clock_controls_and_updated_at_come_from_the_clock():
    sim = LeapSimulator(meters=20, seed=27)
    assert sim.now == datetime(2026, 11, 15, 18, tzinfo=UTC)
    sim.set_time(datetime(2027, 3, 10, tzinfo=UTC))
    sim.advance(timedelta(hours=1))
    report = sim.mutate(0.5, seed=1)
    assert report["now"] == "2027-03-10T01:00:01.000000Z"
    stamps = sorted(sim.find(i).updated_at for i in report["meter_ids"])
    assert stamps[0] == datetime(2027, 3, 10, 1, 0, 1, tzinfo=UTC)
    assert len(set(stamps)) == len(stamps)  # unique, so a cursor never hides a change
    with pytest.raises(ValueError):
        sim.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        sim.set_time(datetime(2027, 1, 1))


def test_set_time_backwards_rerenders_periods():
    sim = LeapSimulator(meters=50, seed=28)
    meter_id = next(k for k, e in _enrollments(sim).items() if e["program_enrollment"])
    sim.rollover()
    sim.set_time(datetime(2026, 11, 15, 18, tzinfo=UTC))
    periods = _enrollments(sim)[meter_id]["program_enrollment"]
    assert periods[0]["delivery_period"].endswith("_2026_NOV")


def test_determinism_same_seed_same_bytes_other_seed_differs():
    a = msgspec.json.encode(LeapSimulator(meters=300, seed=5).truth())
    b = msgspec.json.encode(LeapSimulator(meters=300, seed=5).truth())
    c = msgspec.json.encode(LeapSimulator(meters=300, seed=6).truth())
    assert a == b and a != c
    x, y = LeapSimulator(meters=300, seed=5), LeapSimulator(meters=300, seed=5)
    assert x.mutate(0.2, seed=1) == y.mutate(0.2, seed=1)
    assert msgspec.json.encode(x.truth()) == msgspec.json.encode(y.truth())


def test_send_nulls_switch_sends_explicit_nulls():
    sim = LeapSimulator(meters=300, seed=29)
    plain = msgspec.json.encode(sim.truth())
    assert b":null" not in plain
    sim.set_send_nulls(True)
    nulls = sim.truth()
    periods = [p for v in nulls.values() for p in v["enrollment"]["program_enrollment"]]
    assert any(p["market_group_id"] is None and p["market_group_name"] is None for p in periods)
    assert all("market_group_id" in p for p in periods)
    assert any(v["details"].get("device", 0) is None for v in nulls.values())
    sim.set_send_nulls(False)
    assert msgspec.json.encode(sim.truth()) == plain
    assert b":null" in msgspec.json.encode(
        LeapSimulator(meters=50, seed=29, send_nulls=True).truth()
    )


def test_periods_are_monthly_local_midnight_with_dst():
    sim = LeapSimulator(meters=600, seed=30)
    periods = {
        p["delivery_period"]: p
        for v in sim.truth().values()
        for p in v["enrollment"]["program_enrollment"]
    }
    nov = periods["CAISO-CCA_2026_NOV"]
    assert nov["delivery_period_start_date_time"] == "2026-11-01T07:00:00Z"
    assert nov["delivery_period_end_date_time"] == "2026-12-01T08:00:00Z"
    assert nov["enrollment_deadlines"][0] == {
        "enrollment_deadline_date_time": "2026-10-30T07:00:00Z",
        "activation_date_time": "2026-11-01T07:00:00Z",
    }
    assert nov["enrollment_deadlines"][1]["activation_date_time"] == "2026-11-15T08:00:00Z"
    assert (
        periods["NYISO-SCR_2027_JAN"]["delivery_period_start_date_time"] == "2027-01-01T05:00:00Z"
    )


def test_global_status_active_iff_some_period_active():
    for meter_id, e in _enrollments(LeapSimulator(meters=2000, seed=31)).items():
        active = any(p["enrollment_status"] == "ACTIVE" for p in e["program_enrollment"])
        assert (e["global_enrollment_status"] == "ACTIVE") == active, meter_id
        programs = {p["program_identifier"] for p in e["program_enrollment"]}
        for action in e["required_actions"]["partner"] + e["required_actions"]["leap"]:
            assert action["program_identifier"] in programs
        if not programs:
            assert e["global_enrollment_status"] in ("PENDING", "INELIGIBLE", "NOT_PARTICIPATING")


@pytest.fixture(scope="module")
def population() -> dict[str, dict[str, Any]]:
    return LeapSimulator(meters=2000, seed=32).truth()


def _share(population: dict[str, dict[str, Any]], test) -> float:
    return sum(1 for v in population.values() if test(v)) / len(population)


def test_edge_case_rates_at_2000_meters(population):
    e = lambda v: v["enrollment"]
    assert 0.03 < _share(population, lambda v: "partner_reference" not in e(v)) < 0.08
    refs = Counter(e(v).get("partner_reference") for v in population.values())
    shared = sum(n for ref, n in refs.items() if ref and n > 1) / len(population)
    assert 0.02 < shared < 0.10
    assert 0.64 < _share(population, lambda v: e(v)["meter_type"] == "UTILITY_METER") < 0.76
    assert 0.20 < _share(population, lambda v: e(v)["meter_type"] == "DEVICE") < 0.30
    assert _share(population, lambda v: e(v)["meter_type"] == "SUBMETER") > 0.02
    assert 0.008 < _share(population, lambda v: e(v)["is_archived"]) < 0.035
    counts = Counter(
        len({p["program_identifier"] for p in e(v)["program_enrollment"]})
        for v in population.values()
    )
    assert set(counts) == {0, 1, 2, 3}
    assert _share(population, lambda v: "meter_nickname" in e(v)) > 0.02
    assert (
        _share(population, lambda v: any("capacity_kw" in p for p in e(v)["program_enrollment"]))
        > 0.01
    )


def test_edge_cases_present_in_values(population):
    text = msgspec.json.encode(population).decode()
    for needle in ("Zoë", "Ñúñez", "Łukasz", "Żółć", "<script>alert(1)</script>", "<b>", " & "):
        assert needle in text, needle
    ends = {
        p["end_time"]
        for v in population.values()
        for p in v["enrollment"]["participation_preferences"]
    }
    assert FAR_FUTURE <= ends
    prefs = Counter(
        p["participation_preference"]
        for v in population.values()
        for p in v["enrollment"]["participation_preferences"]
    )
    assert prefs["IDLE"] > 0 and prefs["DISENROLL"] > 0
    actions = Counter(
        (a["action_code"], a["action_type"])
        for v in population.values()
        for side in ("partner", "leap")
        for a in v["enrollment"]["required_actions"][side]
    )
    for pair in [
        ("AUTH_0001", "IS_AUTHORIZED"),
        ("MRKT_0002", "NOT_ENROLLED_IN_CONFLICTING_PROGRAM"),
        ("SERV_0005", "NO_MISSING_FIELDS"),
        ("LEAP_0001", "HAS_NOMINATIONS"),
        ("LEAP_0001", "IS_ASSIGNED_TO_A_RESOURCE"),
    ]:
        assert actions[pair] > 0, pair
    future = [
        p
        for v in population.values()
        for p in v["enrollment"]["program_enrollment"]
        if p["enrollment_status"] == "ELIGIBLE"
    ]
    assert any("market_group_id" not in p for p in future)
    active = [
        p
        for v in population.values()
        for p in v["enrollment"]["program_enrollment"]
        if p["enrollment_status"] == "ACTIVE"
    ]
    assert active and all("market_group_name" in p for p in active)
