"""Fixtures for engine tests: an in-process simulator and a client wired to it (no sockets)."""

from __future__ import annotations

import pytest
import time_machine

from leapsync.client import LeapClient
from leapsync.simulator import LeapSimulator
from leapsync.simulator.timeutil import DEFAULT_START

API_KEY = "test-key"


@pytest.fixture(autouse=True)
def _our_clock_at_the_simulators():
    """Our clock starts where the simulator's does, as Leap's and ours agree in production.

    Otherwise what counts as stale (a deadline passed by our clock) would depend on the day
    the tests run.
    """
    with time_machine.travel(DEFAULT_START, tick=True):
        yield


@pytest.fixture
def simulator() -> LeapSimulator:
    return LeapSimulator(meters=240, seed=7, api_key=API_KEY)


@pytest.fixture
def leap(simulator: LeapSimulator):
    """A LeapClient on the simulator's transport; retries never really sleep."""
    client = LeapClient(
        "http://leap.test",
        API_KEY,
        transport=simulator.transport(),
        page_size=50,
        max_retries=6,
        sleep=lambda seconds: None,
    )
    yield client
    client.close()
