"""Shared helpers for the simulator tests (clients, paging) — no tests of its own."""

from __future__ import annotations

from typing import Any

import httpx

from leapsync.simulator import LeapSimulator

KEY = "test-key"
DETAILS_SEARCH = "/v2/meters/search"
ENROLLMENT_SEARCH = "/v2/meters/enrollments/search"


def client_for(sim: LeapSimulator, key: str = KEY) -> httpx.Client:
    """An httpx client wired to the simulator in-process."""
    return httpx.Client(
        transport=sim.transport(),
        base_url="https://api.staging.leap.energy",
        headers={"Authorization": f"Bearer {key}"},
    )


def fetch_all(
    client: httpx.Client, path: str, body: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every meter of a search, following next_page_token."""
    body = dict(body or {})
    meters: list[dict[str, Any]] = []
    while True:
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text[:300]
        page = response.json()
        meters.extend(page["meters"])
        if "next_page_token" not in page:
            return meters
        body["page_token"] = page["next_page_token"]


def search_ids(client: httpx.Client, body: dict[str, Any]) -> set[str]:
    """The meter ids an enrollment search returns."""
    return {m["meter_id"] for m in fetch_all(client, ENROLLMENT_SEARCH, body)}
