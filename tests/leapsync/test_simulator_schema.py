"""Simulator responses checked against Leap's published OpenAPI schemas by an independent validator.

The specs are read from the shared reference folder next to the repository (never copied in);
the tests skip when it is absent.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import openapi_schema_validator as osv
import pytest
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT4

from leapsync.simulator import LeapSimulator
from tests.leapsync.test_simulator_helpers import (
    DETAILS_SEARCH,
    ENROLLMENT_SEARCH,
    client_for,
    fetch_all,
)

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "leap-api"
DETAILS_SPEC = "meter-details-openapi.yml"
ENROLLMENT_SPEC = "meter-enrollment-openapi.yml"
pytestmark = pytest.mark.skipif(
    not (SPEC_DIR / DETAILS_SPEC).exists() or not (SPEC_DIR / ENROLLMENT_SPEC).exists(),
    reason="Leap OpenAPI specs (shared/leap-api next to the repository) are not available",
)
FORMAT_CHECKER = getattr(osv, "OAS30FormatChecker", None) or osv.oas30_format_checker


@cache
def _registry() -> Registry:
    registry = Registry()
    for name in (DETAILS_SPEC, ENROLLMENT_SPEC):
        spec = yaml.safe_load((SPEC_DIR / name).read_text())
        registry = registry.with_resource(f"urn:leap:{name}", DRAFT4.create_resource(spec))
    return registry


def _validate(instance: Any, spec: str, schema: str) -> None:
    ref = {"$ref": f"urn:leap:{spec}#/components/schemas/{schema}"}
    validator = osv.OAS30Validator(ref, registry=_registry(), format_checker=FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


@pytest.fixture(scope="module")
def sim() -> LeapSimulator:
    sim = LeapSimulator(meters=2000, seed=41)
    sim.mutate(0.05, seed=1)
    return sim


def test_schema_every_details_page_validates(sim):
    client = client_for(sim)
    body: dict[str, Any] = {"page_size": 500}
    while True:
        page = client.post(DETAILS_SEARCH, json=body).json()
        _validate(page, DETAILS_SPEC, "ListMeterDetailsResponse")
        if "next_page_token" not in page:
            break
        body["page_token"] = page["next_page_token"]


def test_schema_every_enrollment_page_validates(sim):
    client = client_for(sim)
    body: dict[str, Any] = {"page_size": 500}
    pages = 0
    while True:
        page = client.post(ENROLLMENT_SEARCH, json=body).json()
        _validate(page, ENROLLMENT_SPEC, "searchMeterEnrollments_200_response")
        pages += 1
        if "next_page_token" not in page:
            break
        body["page_token"] = page["next_page_token"]
    assert pages == 5


def test_schema_single_gets_validate_after_rollover(sim):
    client = client_for(sim)
    sim.rollover()
    for meter_id in sim.meter_ids()[:50]:
        _validate(client.get(f"/v2/meters/{meter_id}").json(), DETAILS_SPEC, "MeterDetailsResponse")
        enrollment = client.get(f"/v2/meters/{meter_id}/enrollments").json()
        _validate(enrollment, ENROLLMENT_SPEC, "MeterEnrollmentResponse")


def test_schema_filtered_search_validates(sim):
    client = client_for(sim)
    body = {"partner_action_required": True, "exclude_archived": True}
    meters = fetch_all(client, ENROLLMENT_SEARCH, body)
    assert meters
    _validate({"meters": meters}, ENROLLMENT_SPEC, "searchMeterEnrollments_200_response")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v2/meters/abcdef", None),
        ("GET", "/v2/meters/f5c5e328-e325-4d6d-b357-5015ed5962a7/enrollments", None),
        ("POST", ENROLLMENT_SEARCH, {"page_size": 0}),
        ("POST", DETAILS_SEARCH, {"page_token": "bogus"}),
    ],
)
def test_schema_error_bodies_validate(sim, method, path, body):
    response = client_for(sim).request(method, path, json=body)
    assert response.status_code in (400, 404)
    _validate(response.json(), DETAILS_SPEC, "ErrorResponse")
    _validate(response.json(), ENROLLMENT_SPEC, "ErrorResponse")


def test_schema_unauthorized_and_internal_error_validate(sim):
    unauthorized = client_for(sim, key="wrong").post(ENROLLMENT_SEARCH, json={})
    _validate(unauthorized.json(), ENROLLMENT_SPEC, "ErrorResponse")
    sim.faults(1.0, ["500"], seed=1)
    try:
        failed = client_for(sim).post(DETAILS_SEARCH, json={})
    finally:
        sim.faults(0)
    assert failed.status_code == 500
    validator = osv.OAS30Validator({"type": "string"}, format_checker=FORMAT_CHECKER)
    validator.validate(failed.json())


def test_schema_filter_examples_from_spec_are_accepted(sim):
    spec = yaml.safe_load((SPEC_DIR / ENROLLMENT_SPEC).read_text())
    client = client_for(sim)
    for name, example in spec["components"]["examples"].items():
        value = example["value"]
        if not isinstance(value, dict) or "meters" in value or "meter_id" in value:
            continue
        if "page_token" in value:
            continue  # the example token is a placeholder, rightly rejected
        response = client.post(ENROLLMENT_SEARCH, content=msgspec.json.encode(value))  # YAML dates
        assert response.status_code == 200, (name, response.text[:200])
