"""The Leap API key and the webhook secret never appear in logs, pages, admin or error reports."""

from __future__ import annotations

import logging
import sys

import pytest
from django.test import Client, RequestFactory
from django.urls import get_resolver
from django.views.debug import ExceptionReporter

from leapsync.leap.client import LeapClient
from leapsync.models import RunStatus
from leapsync.simulator import LeapSimulator
from leapsync.sync import sync_full
from tests.leapsync.webhook_helpers import HEADER, deliver, envelope
from tests.security.conftest import Samples
from tests.security.test_permission_matrix import _admin_arguments, _url, walk

pytestmark = pytest.mark.django_db

API_KEY = "LEAPKEY-sentinel-7f3a9c"
WEBHOOK_SECRET = "WHSECRET-sentinel-91b2e4"
SENTINELS = (API_KEY, WEBHOOK_SECRET)


@pytest.fixture
def secrets(settings):
    settings.LEAP_API_KEY = API_KEY
    settings.LEAP_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.LEAP_WEBHOOK_HEADER = HEADER


def _client(simulator: LeapSimulator, key: str = API_KEY) -> LeapClient:
    return LeapClient(
        "http://leap.test", key, transport=simulator.transport(), max_retries=1, sleep=lambda s: 0
    )


def _every_get_page(samples: Samples) -> list[str]:
    """Every GET URL of the project and of the admin, with sample arguments."""
    from tests.security.test_permission_matrix import EXPECTED

    urls = []
    for name, pattern in walk(get_resolver().url_patterns):
        if name.startswith("admin:"):
            from django.urls import reverse

            urls.append(reverse(name, kwargs=_admin_arguments(name, pattern, samples)))
        elif name not in {"logout", "webhooks:webhook_receive"}:
            urls.append(_url(name, EXPECTED[name][0], samples))
    return urls


def test_secrets_never_reach_logs_pages_or_admin(secrets, samples, admin_client, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "leapsync", "django"):
        caplog.set_level(logging.DEBUG, logger=name)
    good = LeapSimulator(meters=20, seed=3, api_key=API_KEY)
    assert [run.status for run in sync_full(client=_client(good))] == [RunStatus.SUCCEEDED] * 2
    good.faults(1.0, kinds=["503"])
    assert {run.status for run in sync_full(client=_client(good))} == {RunStatus.FAILED}
    wrong_key = LeapSimulator(meters=5, seed=4, api_key="another-key")
    assert {run.status for run in sync_full(client=_client(wrong_key))} == {RunStatus.FAILED}
    anonymous = Client()
    assert deliver(anonymous, envelope(), secret=WEBHOOK_SECRET).status_code == 200
    assert deliver(anonymous, envelope(), secret=WEBHOOK_SECRET + "x").status_code == 401
    assert deliver(anonymous, envelope(), secret=None).status_code == 401

    pages = {url: admin_client.get(url) for url in _every_get_page(samples)}
    assert len(pages) > 100
    for url, response in pages.items():
        assert response.status_code < 500, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        for sentinel in SENTINELS:
            assert sentinel.encode() not in body, f"{sentinel} on {url}"
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for sentinel in SENTINELS:
        assert sentinel not in logged


def test_error_reports_hide_the_secrets(secrets):
    request = RequestFactory().post(
        "/webhooks/leap/", data=b"{}", content_type="application/json", HTTP_X_API_KEY=API_KEY
    )
    request.META["HTTP_" + HEADER.upper().replace("-", "_")] = WEBHOOK_SECRET
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())
        report = reporter.get_traceback_text() + reporter.get_traceback_html()
    assert "LEAP_API_KEY" in report  # the setting is listed, its value is not
    for sentinel in SENTINELS:
        assert sentinel not in report


def test_production_shows_no_debug_page(settings, ops_client):
    settings.DEBUG = False
    response = ops_client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"URLconf" not in response.content and b"Traceback" not in response.content
