"""Fixtures for enrollment tests: the simulator, a client wired to it, and a synced database."""

from __future__ import annotations

import pytest

from leapsync.simulator import LeapSimulator
from leapsync.sync import sync_full
from tests.helpers import API_KEY, at_the_simulators_clock, simulator_client


@pytest.fixture(autouse=True)
def _our_clock_at_the_simulators():
    with at_the_simulators_clock():
        yield


@pytest.fixture
def simulator() -> LeapSimulator:
    return LeapSimulator(meters=120, seed=11, api_key=API_KEY)


@pytest.fixture
def leap(simulator: LeapSimulator):
    client = simulator_client(simulator)
    yield client
    client.close()


@pytest.fixture
def synced(db, leap):
    """The database after a full sync of the simulator."""
    sync_full(client=leap)
    return leap
