"""Fixtures for engine tests: an in-process simulator and a client wired to it (no sockets)."""

from __future__ import annotations

import pytest

from leapsync.simulator import LeapSimulator
from tests.helpers import API_KEY, at_the_simulators_clock, simulator_client

__all__ = ["API_KEY"]


@pytest.fixture(autouse=True)
def _our_clock_at_the_simulators():
    with at_the_simulators_clock():
        yield


@pytest.fixture
def simulator() -> LeapSimulator:
    return LeapSimulator(meters=240, seed=7, api_key=API_KEY)


@pytest.fixture
def leap(simulator: LeapSimulator):
    client = simulator_client(simulator)
    yield client
    client.close()
