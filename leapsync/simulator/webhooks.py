"""Leap's Webhooks API (/v1.1/webhooks) and event delivery, for the simulator.

Subscriptions are kept in memory. `emit()` wraps an event in Leap's envelope
`{webhook_event_id, payload: {webhook_event_type, ...}}` and delivers it to every subscription
that asked for its type, with the subscription's headers (names lower-cased, as Leap sends them)
and Leap's retry schedule scaled by `retry_scale` (1.0 is Leap's: immediately, 1m, 2m, ... 4h).
A started hub delivers from a background thread (the HTTP server starts it); otherwise `emit()`
delivers inline through `sender`, which tests replace with an in-process callable.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import msgspec

PREFIX = "/v1.1/webhooks"
# Seconds before each attempt: Leap tries 10 times over about 8 hours.
LEAP_RETRY_DELAYS = (0, 60, 120, 240, 480, 960, 1740, 3600, 7200, 14400)
EVENT_TYPES = (
    "meter.created",
    "connect_session.updated",
    "connect_session.authorization_updated",
    "meter.enrollment.global-status.updated",
    "meter.enrollment.participation-status.updated",
    "meter.enrollment.required-actions.updated",
    "meter.enrollment.group.updated",
)
TIMEOUT_SECONDS = 10.0  # Leap's: a later answer counts as a failure

Response = tuple[int, dict[str, str], bytes]
# (receiver_url, headers, body) -> HTTP status; raising means the receiver was not reached.
Sender = Callable[[str, dict[str, str], bytes], int]


def http_sender(url: str, headers: dict[str, str], body: bytes) -> int:
    """POST over HTTP, as Leap does."""
    return httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS).status_code


@dataclass
class Subscription:
    """One webhook subscription, shaped like Leap's `Webhook` object."""

    webhook_id: str
    receiver_url: str
    event_types: list[str]
    headers: list[dict[str, str]]


@dataclass
class Delivery:
    """One event on its way to one subscription, and every attempt's outcome."""

    subscription: Subscription
    webhook_event_id: str
    event_type: str
    body: bytes
    outcomes: list[int | str] = field(default_factory=list)
    delivered: bool = False
    gave_up: bool = False


class WebhookHub:
    """Subscriptions plus the deliverer (inline, or a background thread once started)."""

    def __init__(self, seed: int = 1) -> None:
        self.subscriptions: dict[str, Subscription] = {}
        self.sender: Sender = http_sender
        self.retry_scale = 1.0
        self.sleep: Callable[[float], None] = time.sleep
        self.deliveries: list[Delivery] = []
        self._rng = random.Random(f"webhooks:{seed}")
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, int, Delivery]] = []
        self._pending = 0
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._stopping = False

    # --- subscriptions --------------------------------------------------------------------

    def subscribe(
        self,
        receiver_url: str,
        event_types: Iterable[str] = EVENT_TYPES,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Subscription:
        """Add a subscription directly (what POST /v1.1/webhooks does)."""
        sub = Subscription(
            self._new_id(),
            receiver_url,
            list(event_types),
            [{"name": n, "value": v} for n, v in headers],
        )
        self.subscriptions[sub.webhook_id] = sub
        return sub

    def _new_id(self) -> str:
        with self._cond:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # --- delivery -------------------------------------------------------------------------

    def emit(self, event_type: str, fields: dict[str, Any]) -> list[Delivery]:
        """Deliver one event to every subscription that asked for `event_type`."""
        targets = [s for s in self.subscriptions.values() if event_type in s.event_types]
        if not targets:
            return []
        event_id = self._new_id()
        body = msgspec.json.encode(
            {"webhook_event_id": event_id, "payload": {"webhook_event_type": event_type, **fields}}
        )
        deliveries = [Delivery(sub, event_id, event_type, body) for sub in targets]
        for delivery in deliveries:
            self.deliveries.append(delivery)
            if self._thread is not None:
                self._enqueue(delivery, 0.0)
            else:
                self._deliver_inline(delivery)
        return deliveries

    def _deliver_inline(self, delivery: Delivery) -> None:
        for attempt, delay in enumerate(LEAP_RETRY_DELAYS):
            if attempt:
                self.sleep(delay * self.retry_scale)
            if self._attempt(delivery):
                return
        delivery.gave_up = True

    def _attempt(self, delivery: Delivery) -> bool:
        sub = delivery.subscription
        headers = {h["name"].lower(): h["value"] for h in sub.headers}
        headers["content-type"] = "application/json"
        try:
            status = self.sender(sub.receiver_url, headers, delivery.body)
        except (httpx.HTTPError, OSError) as exc:  # unreachable: retried, as at Leap
            delivery.outcomes.append(type(exc).__name__)
            return False
        delivery.outcomes.append(status)
        delivery.delivered = 200 <= status < 300
        return delivery.delivered

    def _enqueue(self, delivery: Delivery, delay: float) -> None:
        with self._cond:
            if not delivery.outcomes:
                self._pending += 1
            self._seq += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, self._seq, 0, delivery))
            self._cond.notify()

    def start(self) -> None:
        """Deliver from a background thread from now on (idempotent)."""
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._work, name="leap-simulator-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread; undelivered events are dropped."""
        with self._cond:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout=TIMEOUT_SECONDS + 1)

    def join(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery succeeded or was given up; False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (
                    not self._heap or self._heap[0][0] > time.monotonic()
                ):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                delivery = heapq.heappop(self._heap)[3]
            if self._attempt(delivery):
                self._done()
                continue
            attempts = len(delivery.outcomes)
            if attempts >= len(LEAP_RETRY_DELAYS):
                delivery.gave_up = True
                self._done()
                continue
            self._enqueue(delivery, LEAP_RETRY_DELAYS[attempts] * self.retry_scale)

    def _done(self) -> None:
        with self._cond:
            self._pending -= 1
            self._cond.notify_all()

    def test(self, sub: Subscription, payload: dict[str, Any]) -> dict[str, Any]:
        """One attempt with a sample event, answered like Leap's TestWebhookResponse."""
        event_id = self._new_id()
        body = msgspec.json.encode({"webhook_event_id": event_id, "payload": payload})
        delivery = Delivery(sub, event_id, str(payload.get("webhook_event_type")), body)
        began = time.perf_counter()
        ok = self._attempt(delivery)
        elapsed = round((time.perf_counter() - began) * 1000)
        outcome = delivery.outcomes[0]
        if isinstance(outcome, str):
            return {"is_successful": False, "error": f"could not reach the receiver ({outcome})"}
        return {"is_successful": ok, "status_code": outcome, "response_time_ms": elapsed}

    # --- the Webhooks API -----------------------------------------------------------------

    def route(self, method: str, route: str, body: bytes) -> Response:
        """Serve /v1.1/webhooks, /{webhook_id} and /{webhook_id}/test."""
        parts = route.removeprefix(PREFIX).strip("/").split("/")
        if parts == [""]:
            if method == "GET":
                listed = [asdict(s) for s in self.subscriptions.values()]
                return _reply({"webhooks": listed})
            if method == "POST":
                return self._create(body)
            return _error(405, "Method Not Allowed", "use GET or POST")
        sub = self.subscriptions.get(parts[0].lower())
        if sub is None or len(parts) > 2 or (len(parts) == 2 and parts[1] != "test"):
            return _error(404, "Not Found", "The specified resource was not found")
        return self._one(method, sub, test=len(parts) == 2, body=body)

    def _one(self, method: str, sub: Subscription, *, test: bool, body: bytes) -> Response:
        if test:
            if method != "POST":
                return _error(405, "Method Not Allowed", "use POST")
            data = _json(body)
            if not isinstance(data, dict) or data.get("webhook_event_type") not in EVENT_TYPES:
                return _error(400, "Bad Request", "body must be an event with webhook_event_type")
            return _reply(self.test(sub, data))
        if method == "PUT":
            config = _config(_json(body))
            if isinstance(config, str):
                return _error(400, "Bad Request", config)
            sub.receiver_url, sub.event_types, sub.headers = config
            return _reply({"webhook_id": sub.webhook_id})
        if method == "DELETE":
            del self.subscriptions[sub.webhook_id]
            return _reply({"message": "Operation completed successfully"})
        return _error(405, "Method Not Allowed", "use PUT or DELETE")

    def _create(self, body: bytes) -> Response:
        config = _config(_json(body))
        if isinstance(config, str):
            return _error(400, "Bad Request", config)
        url, types, headers = config
        sub = self.subscribe(url, types, [(h["name"], h["value"]) for h in headers])
        return _reply({"webhook_id": sub.webhook_id})


def _config(data: Any) -> tuple[str, list[str], list[dict[str, str]]] | str:
    """A WebhookRequest's (receiver_url, event_types, headers), or what is wrong with it."""
    if not isinstance(data, dict):
        return "body must be a JSON object"
    url, types, headers = data.get("receiver_url"), data.get("event_types"), data.get("headers", [])
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return "receiver_url must be an http(s) URL"
    if not isinstance(types, list) or not types or any(t not in EVENT_TYPES for t in types):
        return f"event_types must be a non-empty list of {', '.join(EVENT_TYPES)}"
    if not isinstance(headers, list) or not all(
        isinstance(h, dict) and isinstance(h.get("name"), str) and isinstance(h.get("value"), str)
        for h in headers
    ):
        return "headers must be a list of {name, value}"
    return (
        url,
        list(dict.fromkeys(types)),
        [{"name": h["name"], "value": h["value"]} for h in headers],
    )


def _json(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body) if body.strip() else None
    except msgspec.DecodeError:
        return None


def _reply(data: Any, status: int = 200) -> Response:
    return status, {"Content-Type": "application/json"}, msgspec.json.encode(data)


def _error(status: int, error: str, message: str) -> Response:
    """The Webhooks API's error envelope: {error, message}."""
    return _reply({"error": error, "message": message}, status)
