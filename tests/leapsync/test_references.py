"""The partner_reference rule (leapsync.leap.references) and the client refusing what it refuses."""

from __future__ import annotations

import re

import pytest

from leapsync.leap.references import RULE, reference_problem
from leapsync.simulator import LeapSimulator
from tests.helpers import simulator_client

# Each one makes a value look like another, or like nothing, on screen; Leap's schema takes them.
HOSTILE = {
    "newline": ("ab\ncd", "U+000A"),
    "tab": ("ab\tcd", "U+0009"),
    "NUL": ("ab\x00cd", "U+0000"),
    "right-to-left override": ("ab\u202ecd", "U+202E"),
    "zero-width space": ("ab\u200bcd", "U+200B"),
    "byte order mark": ("ab\ufeffcd", "U+FEFF"),
    "line separator": ("ab\u2028cd", "U+2028"),
    "paragraph separator": ("ab\u2029cd", "U+2029"),
    "no-break space": ("ab\u00a0cd", "U+00A0"),
    "private use": ("ab\ue000cd", "U+E000"),
    "unassigned": ("ab\u0378cd", "U+0378"),
    "hangul filler": ("ab\u3164cd", "U+3164"),
    "variation selector": ("ab\ufe0fcd", "U+FE0F"),
}


@pytest.mark.parametrize(("value", "code"), HOSTILE.values(), ids=HOSTILE.keys())
def test_reference_problem_refuses_invisible_characters_naming_them(value, code):
    problem = reference_problem(value)
    assert problem is not None and problem.startswith(RULE) and code in problem


@pytest.mark.parametrize("value", ["ab", "x" * 257, "a/b", "bad#1", "<b>x</b>", ""])
def test_reference_problem_refuses_what_leaps_schema_refuses(value):
    assert reference_problem(value) == RULE


@pytest.mark.parametrize("value", ["SITE-0001", "Café 12 b", "x" * 256, "東京-7", "a.b_c:d"])
def test_reference_problem_accepts_ordinary_values(value):
    assert reference_problem(value) is None


@pytest.mark.parametrize(("value", "code"), HOSTILE.values(), ids=HOSTILE.keys())
def test_client_refuses_hostile_references_without_sending(value, code):
    simulator = LeapSimulator(meters=3, seed=3)
    meter = simulator.meters()[0]
    before = meter.partner_reference
    with simulator_client(simulator) as client, pytest.raises(ValueError, match=re.escape(code)):
        client.update_partner_reference(meter.meter_id, value)
    assert simulator.find(meter.meter_id).partner_reference == before
