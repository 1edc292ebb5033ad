"""Request dispatch: bearer auth, fault injection, the four Meters V2 routes and the 404/405s."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec

from . import control, partner_reference, webhooks
from .faults import INTERNAL_ERROR, InjectedFault, fault_response
from .filters import UUID_RE, FilterError, parse_filter
from .paging import TokenError
from .protocol import Simulator

Response = tuple[int, dict[str, str], bytes]
JSON = {"Content-Type": "application/json"}
log = logging.getLogger(__name__)

_METER = re.compile(r"^/v2/meters/(?P<meter_id>[^/]+)$")
_METER_ENROLLMENTS = re.compile(r"^/v2/meters/(?P<meter_id>[^/]+)/enrollments$")


def error(status: int, title: str, details: dict[str, Any] | None = None) -> Response:
    """Leap's error envelope: {title, status, details}."""
    return (
        status,
        dict(JSON),
        msgspec.json.encode({"title": title, "status": status, "details": details or {}}),
    )


def ok(body: bytes) -> Response:
    """A 200 JSON response."""
    return 200, dict(JSON), body


def dispatch(
    sim: Simulator,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    inject_faults: bool = True,
) -> Response:
    """Serve one request; raises InjectedFault for faults the carrier must act out."""
    parts = urlsplit(path)
    route = unquote(parts.path)
    if not _authorized(sim, headers):
        return error(401, "Unauthorized")
    if route.startswith(control.PREFIX):
        with sim.lock:
            return control.dispatch(sim, method.upper(), route, parts.query, body)
    if route.startswith(webhooks.PREFIX):
        # Outside the simulator lock: a test delivery waits for our receiver, which may call back.
        return sim.webhooks.route(method.upper(), route, body)
    fault = sim.fault_plan.draw() if inject_faults else None
    if fault is not None:
        injected = fault_response(fault)
        if injected is not None:
            return injected
        if fault in ("slow", "dropped"):
            raise InjectedFault(fault)
    try:
        with sim.lock:
            response = _api(sim, method.upper(), route, body)
    except Exception:  # Leap answers any failure with its plain-string 500
        log.exception("simulator failed on %s %s", method, route)
        return 500, dict(JSON), INTERNAL_ERROR
    return _truncate(response) if fault == "truncated" else response


def _authorized(sim: Simulator, headers: dict[str, str]) -> bool:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, key = value.partition(" ")
    expected = sim.api_key.encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), expected)


def _truncate(response: Response) -> Response:
    status, headers, body = response
    # Content-Length still announces the whole body, as a connection cut mid-body would.
    return status, {**headers, "Content-Length": str(len(body))}, body[: len(body) // 2]


def _api(sim: Simulator, method: str, route: str, body: bytes) -> Response:
    searches: dict[str, Callable[[int], bytes]] = {
        "/v2/meters/search": sim.details_json,
        "/v2/meters/enrollments/search": sim.enrollment_json,
    }
    if route in searches:
        return _search(sim, searches[route], body) if method == "POST" else _not_allowed(route)
    inferred = partner_reference.route(sim, method, route, body)
    if inferred is not None:
        return inferred
    for pattern, render in (
        (_METER_ENROLLMENTS, sim.enrollment_json),
        (_METER, sim.details_json),
    ):
        match = pattern.match(route)
        if match:
            if method != "GET":
                return _not_allowed(route)
            return _get_meter(sim, match.group("meter_id"), render)
    return error(404, "Not Found", {"path": route})


def _not_allowed(route: str) -> Response:
    return error(405, "Method Not Allowed", {"path": route})


def _get_meter(sim: Simulator, meter_id: str, render: Callable[[int], bytes]) -> Response:
    if not UUID_RE.match(meter_id):
        return error(400, "Meter id is not a UUID", {"meter_id": meter_id})
    seq = sim.find_seq(meter_id)
    if seq is None:
        return error(404, "Meter not found", {"meter_id": meter_id})
    return ok(render(seq))


def _search(sim: Simulator, render: Callable[[int], bytes], body: bytes) -> Response:
    try:
        meter_filter = parse_filter(body)
        return ok(sim.search(meter_filter, render))
    except FilterError as exc:
        return error(400, "Invalid request body", {"field": exc.field, "error": exc.message})
    except TokenError as exc:
        return error(400, str(exc), {"field": "page_token"})
