"""Fixtures for enrollment tests: the simulator, a client wired to it, and a synced database."""

from __future__ import annotations

import pytest
import time_machine

from leapsync.client import LeapClient
from leapsync.simulator import LeapSimulator
from leapsync.simulator.timeutil import DEFAULT_START
from leapsync.sync import sync_full

API_KEY = "test-key"


@pytest.fixture(autouse=True)
def _our_clock_at_the_simulators():
    """Our clock at the simulator's, so "current period" and "upcoming" are the same for both."""
    with time_machine.travel(DEFAULT_START, tick=True):
        yield


@pytest.fixture
def simulator() -> LeapSimulator:
    return LeapSimulator(meters=120, seed=11, api_key=API_KEY)


@pytest.fixture
def leap(simulator: LeapSimulator):
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


@pytest.fixture
def synced(db, leap):
    """The database after a full sync of the simulator."""
    sync_full(client=leap)
    return leap
