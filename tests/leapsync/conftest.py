"""Fixtures for engine tests: an in-process simulator and a client wired to it (no sockets)."""

from __future__ import annotations

import pytest

from leapsync.client import LeapClient
from leapsync.simulator import LeapSimulator

API_KEY = "test-key"


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
