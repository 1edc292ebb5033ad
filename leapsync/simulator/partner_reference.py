"""Partner-reference updates — an INFERENCE, not a published Leap contract.

Leap documents that a "meter reference ID endpoint" exists (single: "Update partner reference for
a meter", bulk: "Update partner reference for multiple meters") but publishes neither path nor
body. From its docs' URL slugs we infer:

    PATCH /v1.1/meters/{meter_id}/partner_meter_ref   {"partner_reference": "<new>"}
        -> 200 {"meter_id": ..., "partner_reference": ...}; 400 bad value; 404 unknown meter
    PATCH /v1.1/meters/partner_meter_ref   {"meters": [{"meter_id": ..., "partner_reference": ...}]}
        -> 200 {"updated": [meter_id, ...], "errors": [{"meter_id": ..., "title": ...}]}

Everything about these two routes lives in this module so it can be corrected in one place once
Leap confirms the real contract. A change moves the meter's audit.updated_at. With the simulator's
`apply_reference_updates` off, both routes answer as above but change nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

from leapsync.leap.references import LEAP_PATTERN, LEAP_RULE

from .filters import UUID_RE
from .protocol import Simulator

if TYPE_CHECKING:
    from .state import MeterState

Response = tuple[int, dict[str, str], bytes]
BULK_MAX = 1000
_SINGLE = re.compile(r"^/v1\.1/meters/(?P<meter_id>[^/]+)/partner_meter_ref$")
_BULK = "/v1.1/meters/partner_meter_ref"


def _json(status: int, data: Any) -> Response:
    return status, {"Content-Type": "application/json"}, msgspec.json.encode(data)


def _error(status: int, title: str, details: dict[str, Any] | None = None) -> Response:
    return _json(status, {"title": title, "status": status, "details": details or {}})


def route(sim: Simulator, method: str, path: str, body: bytes) -> Response | None:
    """Serve the inferred routes; None when `path` is not one of them."""
    match = _SINGLE.match(path)
    if path != _BULK and match is None:
        return None
    if method != "PATCH":
        return _error(405, "Method Not Allowed", {"path": path})
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return _error(400, "Malformed JSON body")
    if not isinstance(data, dict):
        return _error(400, "Body must be a JSON object")
    if match is None:
        return _bulk(sim, data)
    return _single(sim, match.group("meter_id"), data)


def _problem(meter_id: Any, value: Any) -> str | None:
    """Why this (meter_id, partner_reference) pair cannot be applied, or None."""
    if not isinstance(meter_id, str) or not UUID_RE.match(meter_id):
        return "Meter id is not a UUID"
    if not isinstance(value, str) or not LEAP_PATTERN.match(value):
        return f"Invalid partner_reference: {LEAP_RULE}"
    return None


def _single(sim: Simulator, meter_id: str, data: dict[str, Any]) -> Response:
    value: Any = data.get("partner_reference")
    problem = _problem(meter_id, value)
    if problem is not None:
        return _error(400, problem, {"meter_id": meter_id, "partner_reference": value})
    meter = sim.find(meter_id)
    if meter is None:
        return _error(404, "Meter not found", {"meter_id": meter_id})
    _apply(sim, meter, value)
    return _json(200, {"meter_id": meter.meter_id, "partner_reference": value})


def _apply(sim: Simulator, meter: MeterState, value: str) -> None:
    if sim.apply_reference_updates:
        sim.set_partner_reference(meter, value)


def _bulk(sim: Simulator, data: dict[str, Any]) -> Response:
    items = data.get("meters")
    if not isinstance(items, list) or not 1 <= len(items) <= BULK_MAX:
        return _error(400, f"meters must be a list of 1 to {BULK_MAX} items")
    updated: list[str] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        item = item if isinstance(item, dict) else {}
        meter_id: Any = item.get("meter_id")
        value: Any = item.get("partner_reference")
        problem = _problem(meter_id, value)
        meter = sim.find(meter_id) if problem is None else None
        if meter is None:
            problem = problem or "Meter not found"
        elif meter.meter_id in seen:
            problem = "Duplicate meter_id in request"
        if problem is not None or meter is None:
            errors.append({"meter_id": meter_id, "title": problem})
            continue
        seen.add(meter.meter_id)
        _apply(sim, meter, value)
        updated.append(meter.meter_id)
    return _json(200, {"updated": updated, "errors": errors})
