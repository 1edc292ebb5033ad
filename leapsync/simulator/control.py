"""HTTP control routes under /_simulator/: clock, mutate, rollover, faults, reference updates,
send_nulls, drift, warm, truth and state."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import msgspec

from .protocol import Simulator
from .timeutil import fmt_us, parse_rfc3339

PREFIX = "/_simulator/"
TRUTH_PAGE_MAX = 10_000
Response = tuple[int, dict[str, str], bytes]
_JSON = {"Content-Type": "application/json"}


class ControlError(ValueError):
    """A bad control request (400)."""


def _reply(data: Any, status: int = 200) -> Response:
    return status, dict(_JSON), msgspec.json.encode(data)


def _fail(status: int, title: str) -> Response:
    return _reply({"title": title, "status": status, "details": {}}, status)


def dispatch(sim: Simulator, method: str, route: str, query: str, body: bytes) -> Response:
    """Serve a control route (the caller holds the simulator lock)."""
    name = route.removeprefix(PREFIX)
    handlers: dict[tuple[str, str], Callable[[Simulator, dict[str, Any]], Response]] = {
        ("POST", "mutate"): _mutate,
        ("POST", "rollover"): lambda s, b: _reply({"now": fmt_us(s.rollover())}),
        ("POST", "clock"): _clock,
        ("POST", "faults"): _faults,
        ("POST", "send_nulls"): _send_nulls,
        ("POST", "drift"): _drift,
        ("POST", "warm"): _warm,
        ("POST", "reference_updates"): _reference_updates,
        ("GET", "state"): lambda s, b: _reply(s.state()),
    }
    if method == "GET" and name == "truth":
        return _truth(sim, query)
    handler = handlers.get((method, name))
    if handler is None:
        known = {n for _, n in handlers} | {"truth"}
        return _fail(405, "Method Not Allowed") if name in known else _fail(404, "Not Found")
    try:
        return handler(sim, _object(body))
    except ControlError as exc:
        return _fail(400, str(exc))


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(body) if body.strip() else {}
    except msgspec.DecodeError as exc:
        raise ControlError("malformed JSON body") from exc
    if not isinstance(data, dict):
        raise ControlError("body must be a JSON object")
    return data


def _number(data: dict[str, Any], key: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f"{key} must be a number")
    return float(value)


def _mutate(sim: Simulator, data: dict[str, Any]) -> Response:
    fraction = _number(data, "fraction", 0.01)
    seed = data.get("seed", 0)
    if not 0.0 <= fraction <= 1.0 or isinstance(seed, bool) or not isinstance(seed, int):
        raise ControlError("fraction must be within 0..1 and seed an integer")
    return _reply(sim.mutate(fraction, seed))


def _clock(sim: Simulator, data: dict[str, Any]) -> Response:
    if "set" in data:
        when = parse_rfc3339(data["set"]) if isinstance(data["set"], str) else None
        if when is None:
            raise ControlError("set must be an RFC 3339 date-time")
        return _reply({"now": fmt_us(sim.set_time(when))})
    seconds = _number(data, "advance_seconds")
    if seconds < 0:
        raise ControlError("advance_seconds must not be negative")
    return _reply({"now": fmt_us(sim.advance(timedelta(seconds=seconds)))})


def _faults(sim: Simulator, data: dict[str, Any]) -> Response:
    kinds = data.get("kinds")
    if kinds is not None and not (
        isinstance(kinds, list) and all(isinstance(k, str) for k in kinds)
    ):
        raise ControlError("kinds must be a list of strings")
    try:
        sim.faults(_number(data, "rate", 0.0), kinds, int(_number(data, "seed", 0)))
        if "slow_seconds" in data:
            sim.slow_seconds = _number(data, "slow_seconds")
    except ValueError as exc:
        raise ControlError(str(exc)) from exc
    return _reply(sim.fault_plan.describe())


def _send_nulls(sim: Simulator, data: dict[str, Any]) -> Response:
    value = data.get("send_nulls")
    if not isinstance(value, bool):
        raise ControlError("send_nulls must be a boolean")
    sim.set_send_nulls(value)
    return _reply({"send_nulls": value})


def _drift(sim: Simulator, data: dict[str, Any]) -> Response:
    """{"drift": true}: one unknown field in every object of both endpoints (see drift.py)."""
    value = data.get("drift")
    if not isinstance(value, bool):
        raise ControlError("drift must be a boolean")
    sim.set_drift(value)
    return _reply({"drift": value})


def _warm(sim: Simulator, data: dict[str, Any]) -> Response:
    """Render every meter now, so the next full pass is served from the cache."""
    began = time.perf_counter()
    sim.warm()
    return _reply({"seconds": round(time.perf_counter() - began, 3)})


def _reference_updates(sim: Simulator, data: dict[str, Any]) -> Response:
    """{"apply": false}: partner_reference updates are answered with success, not applied."""
    value = data.get("apply")
    if not isinstance(value, bool):
        raise ControlError("apply must be a boolean")
    sim.apply_reference_updates = value
    return _reply({"apply": value})


def _truth(sim: Simulator, query: str) -> Response:
    params = parse_qs(query)
    try:
        offset = int(params.get("offset", ["0"])[0])
        limit = int(params.get("limit", ["1000"])[0])
    except ValueError:
        return _fail(400, "offset and limit must be integers")
    if offset < 0 or not 1 <= limit <= TRUTH_PAGE_MAX:
        return _fail(400, f"offset must be >= 0 and limit within 1..{TRUTH_PAGE_MAX}")
    return 200, dict(_JSON), sim.truth_page(offset, limit)
