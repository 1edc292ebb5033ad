"""Leap's enums (leapsync.leap.enums): the spec's values, labels for pages, and no Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.template import Context, Template

from leapsync.leap import enums
from leapsync.leap.enums import (
    ActionType,
    CustomerClassification,
    EnrollmentStatus,
    LoadType,
    MeterType,
    ParticipationPreference,
    TransmissionRegion,
)

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "leap-api" / "meter-enrollment-openapi.yml"
SCHEMAS = {
    EnrollmentStatus: "EnrollmentStatus",
    ParticipationPreference: "ParticipationPreference",
    MeterType: "MeterType",
    LoadType: "load_type",
    TransmissionRegion: "transmission_region",
    CustomerClassification: "CustomerClassification",
    ActionType: "action_type",
}


@pytest.mark.skipif(not SPEC.is_file(), reason="Leap's OpenAPI files are not beside the repository")
@pytest.mark.parametrize("enum", SCHEMAS, ids=lambda enum: enum.__name__)
def test_each_enum_holds_the_specs_values(enum):
    schemas = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["components"]["schemas"]
    assert {member.value for member in enum} == set(schemas[SCHEMAS[enum]]["enum"])


def test_members_are_leaps_strings_with_a_label():
    assert EnrollmentStatus.NOT_PARTICIPATING == "NOT_PARTICIPATING"
    assert str(EnrollmentStatus.NOT_PARTICIPATING) == "NOT_PARTICIPATING"
    assert EnrollmentStatus.NOT_PARTICIPATING.label == "Not participating"
    assert EnrollmentStatus("ACTIVE") is EnrollmentStatus.ACTIVE
    assert LoadType.HVAC.label == "HVAC"  # no label given: Leap's value


def test_choices_labels_and_values_follow_the_enum():
    assert enums.choices(MeterType) == [
        ("UTILITY_METER", "Utility meter"),
        ("SUBMETER", "Submeter"),
        ("DEVICE", "Device"),
    ]
    assert enums.labels(ActionType)["HAS_AMI"] == "Smart meter (AMI)"
    assert enums.LOAD_TYPES == frozenset(LoadType) and all(
        type(value) is str for value in enums.LOAD_TYPES
    )


def test_badges_colour_leaps_statuses_and_unknown_values():
    template = Template(
        "{% load leapsync_ui %}{% status_badge s %} {{ p|badge_class }} {{ new|badge_class }}"
    )
    html = template.render(Context({"s": "NOT_PARTICIPATING", "p": "IDLE", "new": "WAITLISTED"}))
    assert html == (
        '<span class="badge badge-muted">NOT PARTICIPATING</span> badge-warn badge-unknown'
    )


def test_the_vendor_layer_imports_no_django():
    code = (
        "import sys, leapsync.leap.client, leapsync.leap.enums, leapsync.leap.payloads, "
        "leapsync.simulator\n"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
