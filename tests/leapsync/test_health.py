"""The load balancer's probes: /healthz (database) and /readyz (database and sync freshness)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leapsync import health
from leapsync.models import RunStatus, Stream, SyncCursor, SyncRun

pytestmark = pytest.mark.django_db


def _succeeded(stream: str, minutes_ago: int) -> None:
    finished = timezone.now() - timedelta(minutes=minutes_ago)
    run = SyncRun.objects.create(
        stream=stream, mode="full", status=RunStatus.SUCCEEDED, finished_at=finished
    )
    SyncCursor.objects.update_or_create(stream=stream, defaults={"last_success": run})


def test_healthz_needs_no_login_and_says_little():
    response = Client().get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_503_when_the_database_fails(monkeypatch):
    def broken(self, *args):
        raise DatabaseError("connection refused")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", broken)
    response = Client().get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"status": "database unavailable"}
    assert "refused" not in response.content.decode()


def test_healthz_refuses_post():
    assert Client().post(reverse("healthz")).status_code == 405


def test_readyz_is_503_before_any_sync():
    response = Client().get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["streams"] == {stream: "stale" for stream in Stream.values}


def test_readyz_is_200_when_every_stream_is_fresh(settings):
    settings.SYNC_FRESHNESS_MINUTES = 60
    for stream in Stream.values:
        _succeeded(stream, minutes_ago=10)
    response = Client().get(reverse("readyz"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "streams": {stream: "fresh" for stream in Stream.values},
    }


def test_readyz_names_the_stale_stream(settings):
    settings.SYNC_FRESHNESS_MINUTES = 60
    _succeeded(Stream.DETAILS, minutes_ago=10)
    _succeeded(Stream.ENROLLMENTS, minutes_ago=61)
    response = Client().get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["streams"] == {"details": "fresh", "enrollments": "stale"}


def test_readyz_is_503_when_the_database_fails(monkeypatch):
    monkeypatch.setattr(health, "database_ok", lambda: False)
    response = Client().get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json() == {"status": "database unavailable"}


def test_probes_are_not_redirected_to_https_in_production(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    assert Client().get(reverse("healthz")).status_code == 200
    assert Client().get(reverse("meters:meter_list")).status_code == 301
