"""`leap_webhooks`: list, register (read, merge, PUT), test and delete against the simulator."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leapsync.simulator import LeapSimulator, serve
from leapsync.webhooks.subscription import EVENT_TYPES

API_KEY = "test-key"
URL = "https://leapsync.example.com/webhooks/leap/"


@pytest.fixture
def served(settings):
    simulator = LeapSimulator(meters=10, seed=2, api_key=API_KEY)
    server = serve(simulator, port=0)
    settings.LEAP_BASE_URL, settings.LEAP_API_KEY = server.url, API_KEY
    settings.LEAP_MAX_RETRIES = 0
    settings.LEAP_WEBHOOK_URL, settings.LEAP_WEBHOOK_SECRET = URL, "s3cret"
    settings.LEAP_WEBHOOK_HEADER = "x-leapsync-secret"
    yield simulator
    server.stop()


def run(*args) -> str:
    out = StringIO()
    call_command("leap_webhooks", *args, stdout=out)
    return out.getvalue()


def test_register_creates_then_merges_without_losing_others_settings(served):
    assert "created" in run("register")
    (sub,) = served.webhooks.subscriptions.values()
    assert sub.receiver_url == URL and sorted(sub.event_types) == EVENT_TYPES
    assert sub.headers == [{"name": "x-leapsync-secret", "value": "s3cret"}]
    sub.headers.append({"name": "x-other", "value": "keep"})
    sub.headers[0]["value"] = "old-secret"
    assert "updated" in run("register")
    assert len(served.webhooks.subscriptions) == 1
    assert {h["name"]: h["value"] for h in sub.headers} == {
        "x-other": "keep",
        "x-leapsync-secret": "s3cret",
    }


def test_register_leaves_other_receivers_alone(served):
    other = served.webhooks.subscribe("https://elsewhere.example/", ["meter.created"])
    run("register")
    assert len(served.webhooks.subscriptions) == 2
    assert other.event_types == ["meter.created"] and other.headers == []


def test_list_never_shows_header_values(served):
    run("register")
    out = run("list")
    assert URL in out and "x-leapsync-secret" in out and "s3cret" not in out
    assert "1 subscription at Leap" in out


def test_test_reports_the_receivers_answer(served):
    run("register")
    served.webhooks.sender = lambda url, headers, body: 200
    assert "status 200" in run("test")
    served.webhooks.sender = lambda url, headers, body: 401
    with pytest.raises(CommandError, match="status 401"):
        run("test")


def test_test_without_subscription_fails(served):
    with pytest.raises(CommandError, match="register first"):
        run("test")


def test_register_without_url_or_secret_fails(served, settings):
    settings.LEAP_WEBHOOK_URL = ""
    with pytest.raises(CommandError, match="LEAP_WEBHOOK_URL"):
        run("register")
    settings.LEAP_WEBHOOK_URL, settings.LEAP_WEBHOOK_SECRET = URL, ""
    with pytest.raises(CommandError, match="LEAP_WEBHOOK_SECRET"):
        run("register")


def test_delete(served):
    run("register")
    (webhook_id,) = served.webhooks.subscriptions
    assert "deleted" in run("delete", "--webhook-id", webhook_id)
    assert not served.webhooks.subscriptions
    with pytest.raises(CommandError, match="Leap refused"):
        run("delete", "--webhook-id", webhook_id)
