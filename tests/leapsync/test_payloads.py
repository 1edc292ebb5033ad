"""Tests for leapsync.leap.payloads: Leap's published examples, the sync guide's snippets, hostile input."""

from __future__ import annotations

import copy
import dataclasses
import random
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import yaml

from leapsync.leap.client import LeapClient, build_search_body
from leapsync.leap.enums import ENROLLMENT_STATUSES, PROGRAM_IDENTIFIERS, UTILITIES
from leapsync.leap.errors import LeapError, LeapUnavailableError
from leapsync.leap.payloads import (
    PayloadError,
    common,
    fields,
    is_open_ended,
    latest_datetime,
    parse_datetime,
    parse_meter_details,
    parse_meter_enrollment,
    payload_hash,
)
from leapsync.leap.payloads import details as details_module
from leapsync.leap.payloads import enrollment as enrollment_module
from tests.leapsync.drift import drift_paths, with_drift

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "leap-api"
SPEC_FILES = {"details": "meter-details-openapi.yml", "enrollment": "meter-enrollment-openapi.yml"}
METER = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


class _JsonLikeLoader(yaml.SafeLoader):
    """YAML without implicit timestamps, so examples arrive as strings, exactly as JSON sends them."""


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _walk_examples(node: Any, path: str) -> list[tuple[str, Any]]:
    """Every `example` and every `examples.<name>.value` in a spec, with where it was found."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "example":
                found.append((f"{path}.example", value))
            if key == "examples" and isinstance(value, dict):
                for name, entry in value.items():
                    if isinstance(entry, dict) and "value" in entry:
                        found.append((f"{path}.examples.{name}", entry["value"]))
            found.extend(_walk_examples(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_walk_examples(value, f"{path}[{index}]"))
    return found


def _spec_examples() -> dict[str, list[tuple[str, Any]]]:
    if not SPEC_DIR.is_dir():
        return {}
    out = {}
    for kind, name in SPEC_FILES.items():
        spec = yaml.load((SPEC_DIR / name).read_text(encoding="utf-8"), Loader=_JsonLikeLoader)
        out[kind] = _walk_examples(spec, "")
    return out


SPEC_EXAMPLES = _spec_examples()
NO_SPECS = pytest.mark.skipif(
    not SPEC_EXAMPLES, reason=f"Leap's OpenAPI files are not beside the repository ({SPEC_DIR})"
)


def _meter_examples() -> list:
    params = []
    for kind, examples in SPEC_EXAMPLES.items():
        for where, value in examples:
            if not isinstance(value, dict):
                continue
            meters = value.get("meters", [value] if "meter_id" in value else [])
            for index, meter in enumerate(meters):
                params.append(pytest.param(kind, meter, id=f"{kind}{where}[{index}]"))
    return params or [pytest.param(None, None, marks=NO_SPECS, id="no-specs")]


def _examples_where(predicate) -> list:
    params = [
        pytest.param(value, id=f"{kind}{where}")
        for kind, examples in SPEC_EXAMPLES.items()
        for where, value in examples
        if predicate(where, value)
    ]
    return params or [pytest.param(None, marks=NO_SPECS, id="no-specs")]


def _is_filter_example(where: str, value: Any) -> bool:
    if where.endswith("MeterFilterRequest.example"):
        return True
    is_meter = isinstance(value, dict) and ("meters" in value or "meter_id" in value)
    return ".components.examples." in where and not is_meter


def _is_error_example(where: str, value: Any) -> bool:
    return ".responses." in where and (
        isinstance(value, str) or (isinstance(value, dict) and "title" in value)
    )


# --- hand-written fixtures (meaningful without the spec folder) ----------------------------------


def enrollment(**overrides: Any) -> dict:
    record = {
        "meter_id": METER,
        "partner_reference": "site-0042",
        "transmission_region": "CAISO",
        "customer_classification": "RESIDENTIAL",
        "load_types": ["HVAC"],
        "meter_type": "UTILITY_METER",
        "connection_references": ["site-0042"],
        "customer_group": "",
        "tags": [],
        "is_archived": False,
        "audit": {
            "created_by": "UTILITY",
            "created_at": "2024-07-12T16:40:56.401422Z",
            "updated_at": "2024-10-07T13:19:45.052994Z",
        },
        "global_enrollment_status": "ACTIVE",
        "participation_preferences": [
            {
                "participation_preference": "PARTICIPATE",
                "start_time": "2024-07-12T16:40:56Z",
                "end_time": "9000-01-01T00:00:00Z",
            }
        ],
        "program_enrollment": [
            {
                "program_identifier": "CCA",
                "delivery_period": "CAISO-CCA_2024_OCT",
                "delivery_period_start_date_time": "2024-10-01T07:00:00Z",
                "delivery_period_end_date_time": "2024-10-31T07:00:00Z",
                "enrollment_status": "ACTIVE",
                "enrollment_deadlines": [
                    {
                        "enrollment_deadline_date_time": "2024-09-29T07:00:00Z",
                        "activation_date_time": "2024-10-01T07:00:00Z",
                    }
                ],
                "market_group_id": "406720c2-0175-4137-9ff1-1641702292d4",
                "market_group_name": "PGSB_1_PDRP68",
            }
        ],
        "required_actions": {
            "partner": [
                {
                    "program_identifier": "CCA",
                    "delivery_period": "CAISO-CCA_2024_NOV",
                    "enrollment_deadline_date_time": "2024-11-01T07:00:00Z",
                    "action_type": "IS_AUTHORIZED",
                    "action_description": "End customer must re-authorize meter.",
                    "action_code": "AUTH_0001",
                }
            ],
            "leap": [
                {
                    "program_identifier": "DRAM",
                    "delivery_period": "CAISO-DRAM_2024_NOV",
                    "enrollment_deadline_date_time": "2024-11-01T07:00:00Z",
                    "action_type": "IS_ASSIGNED_TO_A_RESOURCE",
                    "action_description": "The meter is not enrolled in the program",
                    "action_code": "LEAP_0001",
                }
            ],
        },
    }
    record.update(overrides)
    return record


def details(**overrides: Any) -> dict:
    record = {
        "meter_id": METER,
        "partner_reference": "site-0042",
        "transmission_region": "NYISO",
        "customer_classification": "COMMERCIAL",
        "load_types": ["BATTERY_STORAGE"],
        "meter_type": "DEVICE",
        "connection_references": [],
        "customer_group": "Group A",
        "tags": ["t1"],
        "is_archived": False,
        "customer": {
            "street_1": "1 Main St",
            "postal_code": "10001",
            "city": "New York",
            "state_or_province_code": "NY",
            "country_code": "US",
            "partner_offering_date": "2024-05-01",
            "is_in_wholesale_capacity_market": False,
            "dispatch_option": "TARGETED",
            "billing": {
                "street_1": "2 Side St",
                "postal_code": "10002",
                "city": "New York",
                "state_or_province_code": "NY",
                "country_code": "US",
            },
        },
        "device": {
            "device_type": "BATTERY",
            "battery_duration_hours": 4,
            "install_date": "2024-01-02",
        },
        "site": {"number_of_devices": 1, "site_devices": [{"device_type": "BATTERY"}]},
        "nyiso": {"cbl_method": "AVERAGE_DAY"},
        "utility": {"utility_name": "CECONY", "electric_service_account_number": "12243243-121"},
        "audit": {
            "created_by": "PARTNER",
            "created_at": "2000-01-23T04:56:07.000+00:00",
            "updated_at": "2000-01-23T04:56:07.000+00:00",
        },
    }
    record.update(overrides)
    return record


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Leap's published examples --------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "meter"), _meter_examples())
def test_spec_meter_examples_parse_strictly(kind, meter):
    parse = parse_meter_details if kind == "details" else parse_meter_enrollment
    record = parse(meter, strict=True)
    assert record.warnings == ()
    assert str(record.meter_id) == meter["meter_id"]
    assert record.raw is meter
    assert record.audit.created_at is not None and record.audit.created_at.tzinfo is UTC


@NO_SPECS
def test_spec_examples_cover_every_response_shape():
    kinds = [p.values[0] for p in _meter_examples()]
    assert kinds.count("details") >= 4
    assert kinds.count("enrollment") >= 8


@pytest.mark.parametrize("example", _examples_where(_is_filter_example))
def test_spec_filter_examples_pass_through_search_body(example):
    assert build_search_body(example, page_size=500) == {"page_size": 500, **example}


@pytest.mark.parametrize("example", _examples_where(_is_error_example))
def test_spec_error_examples_map_to_typed_errors(example):
    status = example["status"] if isinstance(example, dict) else 500

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=example)

    client = LeapClient("staging", "k" * 32, transport=httpx.MockTransport(handler), max_retries=0)
    with pytest.raises(LeapError) as info:
        client.update_partner_reference(METER, "site-0042")
    if isinstance(example, dict):
        assert (info.value.title, info.value.details) == (example["title"], example["details"])
        assert info.value.status == status
    else:
        assert isinstance(info.value, LeapUnavailableError)
        assert example in info.value.details["cause"]


def test_spec_multiple_enrollments_shape_is_fully_typed():
    record = parse_meter_enrollment(enrollment(), strict=True)
    program = record.program_enrollment[0]
    assert program.delivery_period_start_date_time == utc(2024, 10, 1, 7)
    assert program.market_group_id == uuid.UUID("406720c2-0175-4137-9ff1-1641702292d4")
    assert program.enrollment_deadlines[0].activation_date_time == utc(2024, 10, 1, 7)
    assert [(a.owner, a.action_code) for a in record.required_actions] == [
        ("partner", "AUTH_0001"),
        ("leap", "LEAP_0001"),
    ]
    assert record.participation_preferences[0].end_time == utc(9000, 1, 1)
    assert record.audit.updated_at == datetime(2024, 10, 7, 13, 19, 45, 52994, tzinfo=UTC)
    assert record.load_types == ("HVAC",) and record.tags == ()


def test_spec_details_shape_is_fully_typed():
    record = parse_meter_details(details(), strict=True)
    assert record.customer.partner_offering_date == date(2024, 5, 1)
    assert record.customer.is_in_wholesale_capacity_market is False
    assert record.customer.billing["postal_code"] == "10002"
    assert record.customer.street_2 is None
    assert record.utility.utility_name == "CECONY" and record.utility.tariff is None
    assert record.device == {
        "device_type": "BATTERY",
        "battery_duration_hours": 4,
        "install_date": "2024-01-02",
    }
    assert record.site["site_devices"] == [{"device_type": "BATTERY"}]
    assert record.caiso is None and record.nyiso == {"cbl_method": "AVERAGE_DAY"}


# --- the sync guide's snippets --------------------------------------------------------------------


def test_guide_null_market_groups_are_absent():
    programs = enrollment()["program_enrollment"] * 1
    programs = [dict(programs[0], market_group_id=None, market_group_name=None)]
    record = parse_meter_enrollment(enrollment(program_enrollment=programs), strict=True)
    assert record.program_enrollment[0].market_group_id is None
    assert record.program_enrollment[0].market_group_name is None


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        ("9000-01-01T00:00:00Z", utc(9000, 1, 1)),
        ("9000-12-31T23:59:59.999999999Z", datetime(9000, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2099-01-01T00:00:00Z", utc(2099, 1, 1)),
        ("2099-12-31T00:00:00Z", utc(2099, 12, 31)),
    ],
)
def test_guide_far_future_end_times_are_kept_and_open_ended(end, expected):
    preferences = [
        {
            "participation_preference": "PARTICIPATE",
            "start_time": "2024-11-01T07:00:00Z",
            "end_time": "2025-04-01T07:00:00Z",
        },
        {
            "participation_preference": "IDLE",
            "start_time": "2025-04-01T07:00:00Z",
            "end_time": "2025-06-01T07:00:00Z",
            "reason": "Idle Time",
        },
        {
            "participation_preference": "PARTICIPATE",
            "start_time": "2025-06-01T07:00:00Z",
            "end_time": end,
        },
    ]
    record = parse_meter_enrollment(enrollment(participation_preferences=preferences), strict=True)
    assert [p.participation_preference for p in record.participation_preferences] == [
        "PARTICIPATE",
        "IDLE",
        "PARTICIPATE",
    ]
    assert record.participation_preferences[1].reason == "Idle Time"
    assert record.participation_preferences[2].end_time == expected
    assert is_open_ended(record.participation_preferences[2].end_time)
    assert not is_open_ended(record.participation_preferences[0].end_time)


def test_guide_required_actions_with_partner_array_only():
    actions = {
        "partner": [
            enrollment()["required_actions"]["partner"][0]
            | {
                "action_type": "NOT_ENROLLED_IN_CONFLICTING_PROGRAM",
                "action_code": "MRKT_0002",
                "enrollment_deadline_date_time": "2024-10-15T07:00:00.000Z",
            }
        ]
    }
    record = parse_meter_enrollment(enrollment(required_actions=actions), strict=True)
    (action,) = record.required_actions
    assert action.owner == "partner" and action.action_code == "MRKT_0002"
    assert action.enrollment_deadline_date_time == utc(2024, 10, 15, 7)


def test_guide_empty_required_actions_object_is_fine():
    record = parse_meter_enrollment(enrollment(required_actions={}), strict=True)
    assert record.required_actions == ()


# --- helpers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-10-01T07:00:00Z", utc(2024, 10, 1, 7)),
        ("2024-10-01T07:00:00.1Z", datetime(2024, 10, 1, 7, 0, 0, 100000, tzinfo=UTC)),
        ("2024-10-01T07:00:00.956Z", datetime(2024, 10, 1, 7, 0, 0, 956000, tzinfo=UTC)),
        ("2024-10-01T07:00:00.123456789Z", datetime(2024, 10, 1, 7, 0, 0, 123456, tzinfo=UTC)),
        ("2000-01-23T04:56:07.000+00:00", utc(2000, 1, 23, 4, 56, 7)),
        ("2024-10-01T00:00:00-07:00", utc(2024, 10, 1, 7)),
        ("2024-10-01T09:00:00+0200", utc(2024, 10, 1, 7)),
        ("2024-10-01t07:00:00z", utc(2024, 10, 1, 7)),
        ("2024-10-01T07:00:00", utc(2024, 10, 1, 7)),
        ("9000-12-31T23:59:59.999999999Z", datetime(9000, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        (None, None),
        (datetime(2024, 1, 1, 12), utc(2024, 1, 1, 12)),
    ],
)
def test_parse_datetime_accepts_leap_spellings(text, expected):
    parsed = parse_datetime(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "2024-13-01T00:00:00Z",
        "2024-10-01",
        "2024-10-01T25:00:00Z",
        "1e9",
        1700000000,
        True,
        ["2024-10-01T07:00:00Z"],
        "2024-10-01T07:00:00.1234567890Z",
        "10000-01-01T00:00:00Z",
    ],
)
def test_parse_datetime_rejects_garbage(value):
    with pytest.raises(PayloadError):
        parse_datetime(value)


def _latest_by_parsing_each(values):
    """What latest_datetime must equal: every value parsed, the unparsable ones skipped."""
    parsed = []
    for value in values:
        try:
            parsed.append(parse_datetime(value))
        except PayloadError:
            continue
    return max((p for p in parsed if p is not None), default=None)


@pytest.mark.parametrize(
    "values",
    [
        [],
        [None, None],
        ["2024-10-01T07:00:00.401422Z", "2024-10-02T07:00:00.000001Z", None],
        # One length sorts as its instants; across lengths the parsed maxima are compared.
        ["2024-10-03T07:00:00Z", "2024-10-02T07:00:00.999Z", "2024-10-01T07:00:00.999999Z"],
        ["2024-10-01T07:00:00.999999Z", "2024-10-01T07:00:01Z"],
        # The greatest string of a length is not a date: the next one of that length counts.
        ["2024-13-01T00:00:00Z", "2024-10-01T25:00:00Z", "2024-10-05T00:00:00Z"],
        ["2024-99-99T99:99:99.999999Z", "2024-10-05T00:00:00.000001Z"],
        # Other spellings are parsed one by one, offsets included.
        ["2024-10-01T09:00:00+02:00", "2024-10-01T06:59:59Z", "garbage", 1700000000],
        ["2024-10-01t08:00:00z", "2024-10-01T07:00:00Z", "2024-10-01T07:30:00"],
        ["9000-12-31T23:59:59.999999999Z", "2024-10-01T07:00:00.956Z"],
        [datetime(2030, 1, 1, tzinfo=UTC), "2029-12-31T23:59:59Z"],
    ],
)
def test_latest_datetime_is_the_latest_of_the_values_that_parse(values):
    assert latest_datetime(values) == _latest_by_parsing_each(values)


def test_latest_datetime_agrees_with_parsing_each_on_random_stamps():
    rng = random.Random(7)
    for _ in range(200):
        values = []
        for _ in range(rng.randint(0, 12)):
            stamp = datetime(
                2020 + rng.randint(0, 9),
                rng.randint(1, 12),
                rng.randint(1, 28),
                rng.randint(0, 23),
                rng.randint(0, 59),
                rng.randint(0, 59),
                rng.choice([0, rng.randint(0, 999) * 1000, rng.randint(0, 999999)]),
                tzinfo=UTC,
            )
            text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
            values.append(
                rng.choice(
                    [
                        f"{text}Z",
                        f"{text}.{stamp.microsecond // 1000:03d}Z",
                        f"{text}.{stamp.microsecond:06d}Z",
                        f"{text}+00:00",
                        None,
                        f"{text}Zx",
                    ]
                )
            )
        assert latest_datetime(values) == _latest_by_parsing_each(values)


def test_is_open_ended_treats_none_and_far_future_as_no_end():
    assert is_open_ended(None)
    assert is_open_ended(utc(2099, 1, 1)) and is_open_ended(utc(9000, 1, 1))
    assert not is_open_ended(utc(2098, 12, 31, 23, 59))


def test_payload_hash_is_the_digest_of_the_text_leap_sent():
    first = enrollment()
    text = msgspec.json.encode(first)
    assert payload_hash(text) == payload_hash(bytearray(text)) == payload_hash(memoryview(text))
    # A decoded record hashes as its compact JSON text: what the sync's tests hand in.
    assert payload_hash(first) == payload_hash(text) == payload_hash(copy.deepcopy(first))
    assert len(payload_hash(first)) == 32 and int(payload_hash(first), 16) >= 0
    assert payload_hash(first) != payload_hash(enrollment(is_archived=True))
    # Other text for the same values is another digest: the record is processed once more
    # (no events: its values did not change), never skipped while it differs.
    assert payload_hash(msgspec.json.format(msgspec.json.encode(first), indent=2)) != payload_hash(
        text
    )


def test_records_are_frozen():
    record = parse_meter_enrollment(enrollment())
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.is_archived = True  # type: ignore[misc]


def test_enum_constants_match_the_spec():
    assert ENROLLMENT_STATUSES == {
        "ACTIVE",
        "ELIGIBLE",
        "INELIGIBLE",
        "NOT_PARTICIPATING",
        "PENDING",
    }
    assert len(PROGRAM_IDENTIFIERS) == 31 and len(UTILITIES) == 53


# --- unusable meters ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, [], "meter", 42, {"meters": []}])
def test_parse_rejects_non_objects_and_missing_meter_id(raw):
    for parse in (parse_meter_details, parse_meter_enrollment):
        with pytest.raises(PayloadError):
            parse(raw)


@pytest.mark.parametrize("meter_id", [None, "", "abcdef", 12345, "3fa85f64-5717-4562-b3fc", ["x"]])
def test_parse_rejects_bad_meter_id_even_when_tolerant(meter_id):
    with pytest.raises(PayloadError, match="meter_id"):
        parse_meter_enrollment(enrollment(meter_id=meter_id))
    with pytest.raises(PayloadError, match="meter_id"):
        parse_meter_details(details(meter_id=meter_id))


@pytest.mark.parametrize(
    "overrides",
    [
        {"is_archived": "maybe"},
        {"is_archived": {"value": True}},
        {"tags": "t1"},
        {"load_types": {"HVAC": True}},
        {"program_enrollment": {"program_identifier": "CCA"}},
        {"required_actions": []},
        {"audit": "yesterday"},
        {"transmission_region": ["CAISO"]},
        {"global_enrollment_status": {"status": "ACTIVE"}},
    ],
)
def test_parse_enrollment_rejects_uncoercible_required_fields(overrides):
    with pytest.raises(PayloadError):
        parse_meter_enrollment(enrollment(**overrides))


@pytest.mark.parametrize("overrides", [{"customer": "n/a"}, {"meter_type": 7.5j}, {"audit": []}])
def test_parse_details_rejects_uncoercible_required_fields(overrides):
    with pytest.raises(PayloadError):
        parse_meter_details(details(**overrides))


# --- tolerant parsing -----------------------------------------------------------------------------


def test_unknown_fields_are_kept_and_reported_once_per_path():
    raw = enrollment(capacity_kw=5, new_block={"a": 1})
    raw["program_enrollment"] = [
        dict(raw["program_enrollment"][0], capacity_kw=1),
        dict(raw["program_enrollment"][0], capacity_kw=2, delivery_period="CAISO-CCA_2024_NOV"),
    ]
    raw["program_enrollment"][0]["enrollment_deadlines"] = [
        dict(raw["program_enrollment"][0]["enrollment_deadlines"][0], grace_days=3)
    ]
    raw["required_actions"]["customer"] = []
    raw["required_actions"]["partner"][0]["severity"] = "HIGH"
    raw["audit"]["deleted_at"] = None
    record = parse_meter_enrollment(raw)
    assert set(record.warnings) == {
        "unknown field: capacity_kw",
        "unknown field: new_block",
        "unknown field: program_enrollment[].capacity_kw",
        "unknown field: program_enrollment[].enrollment_deadlines[].grace_days",
        "unknown field: required_actions.customer",
        "unknown field: required_actions.partner[].severity",
        "unknown field: audit.deleted_at",
    }
    assert len(record.warnings) == 7
    assert len(record.program_enrollment) == 2
    assert record.raw["capacity_kw"] == 5
    with pytest.raises(PayloadError, match="unknown field"):
        parse_meter_enrollment(raw, strict=True)


def test_unknown_enum_values_are_kept_and_reported():
    raw = enrollment(
        meter_type="HYBRID", global_enrollment_status="WAITLISTED", load_types=["HVAC", "POOL_PUMP"]
    )
    raw["program_enrollment"][0]["program_identifier"] = "NEW-PROGRAM"
    raw["required_actions"]["partner"][0]["action_type"] = "HAS_SMART_PANEL"
    record = parse_meter_enrollment(raw)
    assert record.meter_type == "HYBRID"
    assert record.global_enrollment_status == "WAITLISTED"
    assert record.load_types == ("HVAC", "POOL_PUMP")
    assert record.program_enrollment[0].program_identifier == "NEW-PROGRAM"
    assert record.required_actions[0].action_type == "HAS_SMART_PANEL"
    assert set(record.warnings) == {
        "unknown value for meter_type: HYBRID",
        "unknown value for global_enrollment_status: WAITLISTED",
        "unknown value for load_types[]: POOL_PUMP",
        "unknown value for program_enrollment[].program_identifier: NEW-PROGRAM",
        "unknown value for required_actions.partner[].action_type: HAS_SMART_PANEL",
    }
    with pytest.raises(PayloadError, match="unknown value for meter_type: HYBRID"):
        parse_meter_enrollment(enrollment(meter_type="HYBRID"), strict=True)


def test_unknown_values_in_details_blocks_are_reported():
    raw = details(utility={"utility_name": "NEW_UTILITY"}, caiso={"nem_type": "NEM4"})
    raw["customer"]["dispatch_option"] = "HOURLY"
    raw["audit"]["created_by"] = "ROBOT"
    record = parse_meter_details(raw)
    assert record.utility.utility_name == "NEW_UTILITY"
    assert record.caiso == {"nem_type": "NEM4"}
    assert set(record.warnings) == {
        "unknown value for utility.utility_name: NEW_UTILITY",
        "unknown value for caiso.nem_type: NEM4",
        "unknown value for customer.dispatch_option: HOURLY",
        "unknown value for audit.created_by: ROBOT",
    }


def test_nulls_are_treated_as_absent():
    raw = enrollment(
        partner_reference=None,
        customer_classification=None,
        meter_type=None,
        connection_references=None,
        customer_group=None,
        participation_preferences=None,
    )
    raw["program_enrollment"][0].update(
        market_group_id=None, market_group_name=None, program_identifier=None
    )
    record = parse_meter_enrollment(raw, strict=True)
    assert record.partner_reference is None and record.meter_type is None
    assert record.connection_references == () and record.participation_preferences == ()
    assert record.program_enrollment[0].program_identifier is None


def test_missing_required_fields_warn_but_keep_the_meter():
    raw = enrollment()
    for key in ("global_enrollment_status", "tags", "load_types", "is_archived", "audit"):
        raw[key] = None
    del raw["transmission_region"]
    record = parse_meter_enrollment(raw)
    assert record.global_enrollment_status is None and record.transmission_region is None
    assert record.is_archived is False and record.audit.updated_at is None
    assert "missing required field: global_enrollment_status" in record.warnings
    assert "missing required field: audit" in record.warnings
    assert len(record.warnings) == 6
    with pytest.raises(PayloadError, match="missing required field"):
        parse_meter_enrollment(raw, strict=True)


def test_details_missing_customer_and_sparse_customer_are_tolerated():
    record = parse_meter_details(details(customer=None))
    assert record.customer is None and record.warnings == ("missing required field: customer",)
    sparse = parse_meter_details(details(customer={"end_customer_name": "Pat"}))
    assert sparse.customer.end_customer_name == "Pat" and sparse.customer.city is None
    assert "missing required field: customer.city" in sparse.warnings


def test_coercible_wrong_types_are_coerced_with_a_warning():
    raw = enrollment(is_archived="true", partner_reference=12345)
    record = parse_meter_enrollment(raw)
    assert record.is_archived is True and record.partner_reference == "12345"
    assert set(record.warnings) == {
        "wrong type for is_archived: expected boolean, got str",
        "wrong type for partner_reference: expected string, got int",
    }
    assert parse_meter_enrollment(enrollment(is_archived=0)).is_archived is False


def test_optional_fields_with_wrong_types_are_dropped_with_a_warning():
    raw = enrollment(customer_group={"name": "x"}, connection_references="abc")
    raw["program_enrollment"][0]["market_group_id"] = "not-a-uuid"
    raw["participation_preferences"][0]["end_time"] = "whenever"
    record = parse_meter_enrollment(raw)
    assert record.customer_group is None and record.connection_references == ()
    assert record.program_enrollment[0].market_group_id is None
    assert record.participation_preferences[0].end_time is None
    assert len(record.warnings) == 4
    assert any(
        w.startswith("bad value for program_enrollment[].market_group_id") for w in record.warnings
    )


def test_malformed_items_are_dropped_not_fatal():
    raw = enrollment()
    good_program = raw["program_enrollment"][0]
    bad_deadline = {
        "enrollment_deadline_date_time": "soon",
        "activation_date_time": "2024-10-01T07:00:00Z",
    }
    raw["program_enrollment"] = [
        dict(
            good_program,
            enrollment_deadlines=[*good_program["enrollment_deadlines"], bad_deadline, "x"],
        ),
        dict(good_program, delivery_period_start_date_time="the first"),
        "CCA",
        None,
        {k: v for k, v in good_program.items() if k != "delivery_period_start_date_time"},
    ]
    action = raw["required_actions"]["partner"][0]
    raw["required_actions"]["partner"] = [
        action,
        {k: v for k, v in action.items() if k != "action_code"},
        ["AUTH_0001"],
    ]
    raw["participation_preferences"].append({"start_time": "2025-01-01T00:00:00Z"})
    raw["tags"] = ["ok", 7, None]
    record = parse_meter_enrollment(raw)
    assert len(record.program_enrollment) == 1
    assert len(record.program_enrollment[0].enrollment_deadlines) == 1
    assert [a.action_code for a in record.required_actions] == ["AUTH_0001", "LEAP_0001"]
    assert len(record.participation_preferences) == 1
    assert record.tags == ("ok",)
    assert all(w.startswith("dropped ") for w in record.warnings)
    assert any("required_actions.partner[]" in w and "action_code" in w for w in record.warnings)
    assert any("program_enrollment[].enrollment_deadlines[]" in w for w in record.warnings)
    with pytest.raises(PayloadError, match="dropped"):
        parse_meter_enrollment(raw, strict=True)


def test_missing_spec_required_fields_in_items_keep_the_item():
    raw = enrollment()
    del raw["required_actions"]["leap"][0]["enrollment_deadline_date_time"]
    del raw["program_enrollment"][0]["delivery_period_end_date_time"]
    record = parse_meter_enrollment(raw)
    assert record.required_actions[1].enrollment_deadline_date_time is None
    assert record.program_enrollment[0].delivery_period_end_date_time is None
    assert set(record.warnings) == {
        "missing required field: required_actions.leap[].enrollment_deadline_date_time",
        "missing required field: program_enrollment[].delivery_period_end_date_time",
    }


def test_malformed_optional_sub_objects_are_dropped():
    raw = details(utility=["PGE"], device="battery", site={"site_devices": [{"model": "x"}, 3]})
    raw["device"] = {"device_type": "BATTERY", "battery_duration_hours": "four", "colour": "red"}
    record = parse_meter_details(raw)
    assert record.utility is None
    assert record.device == {"device_type": "BATTERY", "colour": "red"}
    assert raw["device"]["battery_duration_hours"] == "four"
    assert record.site == {"site_devices": [{"model": "x"}]}
    assert set(record.warnings) == {
        "dropped utility: expected object, got list",
        "unknown field: device.colour",
        "bad value for device.battery_duration_hours (ignored): expected integer, got str",
        "missing required field: site.site_devices[].device_type",
        "dropped site.site_devices[] item: expected object, got int",
    }


def test_huge_strings_are_kept_whole_and_reported():
    huge = "x" * 1_000_000
    raw = enrollment(partner_reference=huge)
    raw["required_actions"]["partner"][0]["action_description"] = huge
    record = parse_meter_enrollment(raw)
    assert record.partner_reference == huge
    assert record.required_actions[0].action_description == huge
    assert "very long value for partner_reference: 1000000 characters" in record.warnings


def test_parse_does_not_mutate_raw():
    raw = enrollment(extra=1, is_archived="false")
    before = copy.deepcopy(raw)
    parse_meter_enrollment(raw)
    parse_meter_details(details())
    assert raw == before


def test_parse_enrollments_is_fast_enough():
    # Requirement: 1,000 enrollment records well under 100 ms. The bound here is loose so a busy
    # CI machine does not flake; the measured figure is in the PR description.
    records = []
    for _ in range(1000):
        raw = enrollment(meter_id=str(uuid.uuid4()))
        raw["program_enrollment"] = raw["program_enrollment"] * 3
        records.append(raw)
    started = time.perf_counter()
    parsed = [parse_meter_enrollment(raw) for raw in records]
    elapsed = time.perf_counter() - started
    assert len(parsed) == 1000 and not any(p.warnings for p in parsed)
    assert elapsed < 1.0


def test_repeated_items_warn_every_time_not_only_before_caching():
    raw = enrollment()
    raw["program_enrollment"][0]["enrollment_deadlines"][0]["activation_date_time"] = ""
    expected = (
        "missing required field: program_enrollment[].enrollment_deadlines[].activation_date_time"
    )
    for _ in range(3):
        assert parse_meter_enrollment(copy.deepcopy(raw)).warnings == (expected,)


@pytest.mark.parametrize("bad", [["x"], {"a": 1}])
def test_arrays_and_objects_where_strings_belong_are_warnings_not_crashes(bad):
    raw = enrollment()
    raw["program_enrollment"][0]["enrollment_deadlines"][0]["activation_date_time"] = bad
    raw["program_enrollment"][0]["delivery_period"] = bad
    raw["required_actions"]["leap"][0]["action_code"] = bad
    record = parse_meter_enrollment(raw)
    assert record.program_enrollment[0].delivery_period is None
    assert record.program_enrollment[0].enrollment_deadlines == ()  # a bad required value
    assert [a.owner for a in record.required_actions] == ["partner"]
    assert len(record.warnings) == 3


# The fast parsers, by module, and the tolerant ones they stand in front of.
FAST = {
    common: ["_clean_audit"],
    details_module: ["_fast_details", "_clean_customer", "_clean_utility"],
    enrollment_module: ["_fast_enrollment", "_clean_program", "_clean_deadline"]
    + ["_clean_preference", "_clean_action"],
    fields: ["_clean_blob"],
}
TOLERANT = {
    common: ["_audit"],
    details_module: ["_build_details", "_customer", "_utility", "_identifiers"],
    enrollment_module: ["_build_enrollment", "_program", "_deadline", "_preference"]
    + ["_action", "_required_actions", "_identifiers"],
    fields: ["_blob"],
}
PARSERS = [
    pytest.param(parse_meter_details, details, id="details"),
    pytest.param(parse_meter_enrollment, enrollment, id="enrollment"),
]


def _patch_all(monkeypatch, names: dict, replacement) -> None:
    for module, attributes in names.items():
        for name in attributes:
            monkeypatch.setattr(module, name, replacement)


@pytest.mark.parametrize(("parse", "payload"), PARSERS)
@pytest.mark.parametrize("drifted", [False, True], ids=["as-specified", "field-added"])
def test_clean_and_tolerant_paths_build_equal_records(monkeypatch, parse, payload, drifted):
    raw = with_drift(payload()) if drifted else payload()
    fast = parse(raw)
    _patch_all(monkeypatch, FAST, lambda *args: None)
    tolerant = parse(raw)
    # The same warnings; the fast path may report a sub-object's unknown fields first.
    assert sorted(tolerant.warnings) == sorted(fast.warnings)
    assert dataclasses.replace(tolerant, warnings=fast.warnings) == fast
    programs = [getattr(record, "program_enrollment", ()) for record in (tolerant, fast)]
    assert [list(map(hash, items)) for items in programs] == [list(map(hash, programs[1]))] * 2
    assert len(fast.warnings) == (len(drift_paths(raw)) if drifted else 0)


@pytest.mark.parametrize(("parse", "payload"), PARSERS)
def test_a_field_added_to_every_object_keeps_the_fast_path(monkeypatch, parse, payload):
    # Leap adds fields (its guide says to expect it): every object carrying one must not send
    # the meter down the tolerant path, which costs several times as much.
    raw = with_drift(payload())
    with monkeypatch.context() as patch:
        _patch_all(patch, FAST, lambda *args: None)
        expected = parse(raw)

    def tolerant(*args):
        raise AssertionError("took the tolerant path")

    _patch_all(monkeypatch, TOLERANT, tolerant)
    record = parse(raw)
    assert record == dataclasses.replace(expected, warnings=record.warnings)
    assert set(record.warnings) == {f"unknown field: {path}" for path in drift_paths(raw)}
    assert len(record.warnings) == len(set(record.warnings)) >= 6
    assert record.raw is raw
    with pytest.raises(PayloadError, match="unknown field"):
        parse(raw, strict=True)


def test_objects_with_more_keys_than_leaps_report_them_all_and_are_not_kept_as_shapes():
    many = {f"field_{n:03}": n for n in range(100)}
    record = parse_meter_details(details(**many))
    assert record.warnings == tuple(f"unknown field: {key}" for key in sorted(many))
    assert not any(len(shape) > 64 for _, _, shape in fields._UNKNOWN_FIELDS)
