"""Registering our subscription is idempotent: a create that timed out is never sent twice blindly."""

from __future__ import annotations

import random

import httpx
import pytest

from leapsync.leap.client import WEBHOOKS_PATH, LeapClient
from leapsync.leap.errors import LeapUnavailableError
from leapsync.simulator import LeapSimulator
from leapsync.webhooks import subscription

API_KEY = "test-key"
URL = "https://leapsync.example.com/webhooks/leap/"


class CreateTimesOut(httpx.BaseTransport):
    """The simulator, except that the first `times` subscription POSTs time out.

    With `applied`, Leap created the subscription before the answer was lost, the case that
    used to leave a duplicate behind once the client resent the POST.
    """

    def __init__(self, simulator: LeapSimulator, *, applied: bool, times: int = 1) -> None:
        self.inner = simulator.transport()
        self.applied, self.times = applied, times
        self.posts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == WEBHOOKS_PATH:
            self.posts += 1
            if self.posts <= self.times:
                if self.applied:
                    self.inner.handle_request(request)
                raise httpx.ReadTimeout("answer lost", request=request)
        return self.inner.handle_request(request)


@pytest.fixture
def simulator(settings):
    settings.LEAP_WEBHOOK_URL, settings.LEAP_WEBHOOK_SECRET = URL, "s3cret"
    settings.LEAP_WEBHOOK_HEADER = "x-leapsync-secret"
    return LeapSimulator(meters=1, seed=2, api_key=API_KEY)


def client_for(transport: httpx.BaseTransport, max_retries: int = 3) -> LeapClient:
    return LeapClient(
        "https://leap.test",
        API_KEY,
        transport=transport,
        max_retries=max_retries,
        sleep=lambda _: None,
        rng=random.Random(1),
    )


@pytest.mark.parametrize("max_retries", [0, 3])
def test_register_after_a_create_that_timed_out_but_was_applied_keeps_one(simulator, max_retries):
    transport = CreateTimesOut(simulator, applied=True)
    webhook_id, created = subscription.register(client_for(transport, max_retries))
    assert list(simulator.webhooks.subscriptions) == [webhook_id]
    assert created and transport.posts == 1


def test_register_resends_a_create_that_timed_out_before_reaching_leap(simulator):
    transport = CreateTimesOut(simulator, applied=False, times=2)
    webhook_id, created = subscription.register(client_for(transport))
    (sub,) = simulator.webhooks.subscriptions.values()
    assert sub.webhook_id == webhook_id and sub.receiver_url == URL
    assert created and transport.posts == 3


def test_register_gives_up_when_leap_never_answers_and_created_nothing(simulator):
    transport = CreateTimesOut(simulator, applied=False, times=10)
    with pytest.raises(LeapUnavailableError):
        subscription.register(client_for(transport, max_retries=2))
    assert transport.posts == 3 and not simulator.webhooks.subscriptions


def test_create_does_not_reuse_a_subscription_with_other_event_types(simulator):
    simulator.webhooks.subscribe(URL, ["meter.created"])
    transport = CreateTimesOut(simulator, applied=False)
    config = subscription.merged_config(None)
    webhook_id = client_for(transport).create_webhook(config)
    assert simulator.webhooks.subscriptions[webhook_id].event_types == config["event_types"]
    assert len(simulator.webhooks.subscriptions) == 2


def test_register_twice_reuses_the_subscription(simulator):
    client = client_for(simulator.transport())
    first, created = subscription.register(client)
    second, created_again = subscription.register(client)
    assert (first, created) == (second, True) and not created_again
    assert len(simulator.webhooks.subscriptions) == 1
