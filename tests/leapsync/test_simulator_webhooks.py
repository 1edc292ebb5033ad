"""The simulator's Webhooks API and its deliveries: envelope, headers, retries, background thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
import pytest

from leapsync.leap.client import LeapClient
from leapsync.leap.errors import LeapNotFoundError
from leapsync.simulator import LeapSimulator, serve
from leapsync.simulator.events import EVENT_FOR_KIND
from leapsync.simulator.webhooks import EVENT_TYPES, LEAP_RETRY_DELAYS

API_KEY = "test-key"


class Recorder:
    """An in-process receiver: records each delivery, answers from a list of statuses."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.calls: list[tuple[str, dict, dict]] = []

    def __call__(self, url: str, headers: dict, body: bytes) -> int:
        self.calls.append((url, headers, msgspec.json.decode(body)))
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@pytest.fixture
def sim() -> LeapSimulator:
    return LeapSimulator(meters=200, seed=5, api_key=API_KEY)


@pytest.fixture
def api(sim):
    client = LeapClient("http://leap.test", API_KEY, transport=sim.transport(), max_retries=0)
    yield client
    client.close()


def test_webhooks_api_create_list_replace_delete(api):
    config = {
        "receiver_url": "https://partner.example/hooks",
        "event_types": ["meter.created"],
        "headers": [{"name": "x-api-key", "value": "k"}],
    }
    webhook_id = api.create_webhook(config)
    assert api.list_webhooks() == [{"webhook_id": webhook_id, **config}]
    api.replace_webhook(webhook_id, {**config, "event_types": list(EVENT_TYPES), "headers": []})
    (listed,) = api.list_webhooks()
    assert listed["event_types"] == list(EVENT_TYPES) and listed["headers"] == []  # replaced
    assert api.delete_webhook(webhook_id) == {"message": "Operation completed successfully"}
    assert api.list_webhooks() == []
    with pytest.raises(LeapNotFoundError, match="not found"):
        api.delete_webhook(webhook_id)


@pytest.mark.parametrize(
    "config",
    [
        {"event_types": ["meter.created"]},
        {"receiver_url": "ftp://x", "event_types": ["meter.created"]},
        {"receiver_url": "https://x", "event_types": []},
        {"receiver_url": "https://x", "event_types": ["meter.deleted"]},
        {"receiver_url": "https://x", "event_types": ["meter.created"], "headers": [{"n": 1}]},
    ],
)
def test_webhooks_api_rejects_bad_config(sim, config):
    status, _, body = sim.handle(
        "POST",
        "/v1.1/webhooks",
        {"Authorization": f"Bearer {API_KEY}"},
        msgspec.json.encode(config),
    )
    assert status == 400 and set(msgspec.json.decode(body)) == {"error", "message"}


def test_webhooks_api_needs_the_key(sim):
    assert sim.handle("GET", "/v1.1/webhooks", {}, b"")[0] == 401


def test_webhooks_test_route_reports_receiver_answer(sim, api):
    recorder = Recorder([503])
    sim.webhooks.sender = recorder
    webhook_id = api.create_webhook(
        {"receiver_url": "https://r.example/h", "event_types": ["meter.created"]}
    )
    report = api.test_webhook(webhook_id, {"webhook_event_type": "meter.created", "meter_id": "m"})
    assert report["is_successful"] is False and report["status_code"] == 503
    assert recorder.calls[0][2]["payload"] == {
        "webhook_event_type": "meter.created",
        "meter_id": "m",
    }


def test_mutate_emits_leap_envelopes_with_lower_cased_headers(sim):
    recorder = Recorder()
    sim.webhooks.sender = recorder
    sim.webhooks.subscribe("https://r.example/h", EVENT_TYPES, [("X-LeapSync-Secret", "s")])
    report = sim.mutate(0.2, seed=3)
    assert recorder.calls, "no event emitted"
    touched = set(report["meter_ids"]) | set(report["created"])
    for url, headers, body in recorder.calls:
        assert url == "https://r.example/h"
        assert headers["x-leapsync-secret"] == "s"
        assert set(body) == {"webhook_event_id", "payload"}
        payload = body["payload"]
        assert payload["webhook_event_type"] in EVENT_TYPES
        named = payload.get("meter_ids") or [payload["meter_id"]]
        assert set(named) <= touched
    types = {body["payload"]["webhook_event_type"] for _, _, body in recorder.calls}
    assert {"meter.created", "meter.enrollment.global-status.updated"} <= types
    expected = sum(n for kind, n in report["changes"].items() if kind in EVENT_FOR_KIND)
    assert len(recorder.calls) == expected  # details, reference and archive changes: no event


def test_mutate_emits_only_subscribed_types(sim):
    recorder = Recorder()
    sim.webhooks.sender = recorder
    sim.webhooks.subscribe("https://r.example/h", ["meter.created"])
    report = sim.mutate(0.2, seed=3)
    assert len(recorder.calls) == len(report["created"])


def test_mutate_without_subscriptions_emits_nothing(sim):
    sim.webhooks.sender = recorder = Recorder()
    sim.mutate(0.2, seed=3)
    assert recorder.calls == []


def test_inline_delivery_retries_on_leaps_schedule_scaled(sim):
    slept: list[float] = []
    sim.webhooks.sender = Recorder([500, 500, 200])
    sim.webhooks.sleep, sim.webhooks.retry_scale = slept.append, 0.001
    sim.webhooks.subscribe("https://r.example/h")
    (delivery,) = sim.webhooks.emit("meter.created", {"meter_id": "x"})
    assert delivery.outcomes == [500, 500, 200] and delivery.delivered
    assert slept == pytest.approx([0.06, 0.12])


def test_inline_delivery_gives_up_after_ten_attempts(sim):
    def unreachable(url, headers, body):
        raise ConnectionRefusedError

    sim.webhooks.sender, sim.webhooks.sleep = unreachable, lambda s: None
    sim.webhooks.subscribe("https://r.example/h")
    (delivery,) = sim.webhooks.emit("meter.created", {"meter_id": "x"})
    assert delivery.outcomes == ["ConnectionRefusedError"] * len(LEAP_RETRY_DELAYS)
    assert delivery.gave_up and not delivery.delivered


class _Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    bodies: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append({"secret": self.headers.get("x-s"), **msgspec.json.decode(body)})
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_served_simulator_delivers_over_http_from_a_thread_with_retries(sim):
    _Receiver.answers, _Receiver.bodies = [500, 502], []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    server = serve(sim, port=0)
    try:
        sim.webhooks.retry_scale = 0.001
        sim.webhooks.subscribe(
            f"http://127.0.0.1:{receiver.server_address[1]}/", ["meter.created"], [("x-s", "v")]
        )
        (delivery,) = sim.webhooks.emit("meter.created", {"meter_id": "x"})
        assert sim.webhooks.join(timeout=10)
        assert delivery.outcomes == [500, 502, 200]
        assert [b["secret"] for b in _Receiver.bodies] == ["v"] * 3
        assert len({b["webhook_event_id"] for b in _Receiver.bodies}) == 1  # same event retried
    finally:
        server.stop()
        receiver.shutdown()
        receiver.server_close()
