"""Leap after a release, for tests: a field added to every object of every meter.

The simulator's own drift switch (`leapsync.simulator.drift`) adds the same field with one
value everywhere, for benchmarks; here each object's value is its path, so a test can check that
every value is kept where Leap put it.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from leapsync.simulator.drift import DRIFT_FIELD

DRIFT = DRIFT_FIELD


def with_drift(node: Any, path: str = "") -> Any:
    """A copy of `node` with DRIFT added to every object in it, its value the object's path."""
    if isinstance(node, list):
        return [with_drift(item, f"{path}[]") for item in node]
    if isinstance(node, dict):
        copy = {
            key: with_drift(value, f"{path}.{key}" if path else key) for key, value in node.items()
        }
        return copy | {DRIFT: path}
    return node


def drift_paths(node: Any, path: str = "") -> set[str]:
    """Where the parser reports DRIFT in `node`: the path of each object, as the warnings name it."""
    if isinstance(node, list):
        return set().union(*(drift_paths(item, f"{path}[]") for item in node))
    if isinstance(node, dict):
        inner = (
            drift_paths(value, f"{path}.{key}" if path else key) for key, value in node.items()
        )
        return {f"{path}.{DRIFT}" if path else DRIFT}.union(*inner)
    return set()


class DriftTransport(httpx.BaseTransport):
    """Leap after a release: the simulator's answers, with DRIFT in every object of every meter."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        page = msgspec.json.decode(response.read())
        if isinstance(page, dict) and isinstance(page.get("meters"), list):
            page["meters"] = [with_drift(meter) for meter in page["meters"]]
        return httpx.Response(
            response.status_code,
            headers={"content-type": "application/json"},
            content=msgspec.json.encode(page),
            request=request,
        )
