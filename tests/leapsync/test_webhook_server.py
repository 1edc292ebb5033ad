"""The webhook endpoint behind a real gunicorn, with bodies sent chunked (no Content-Length).

Django's test client always sets Content-Length, so it cannot show how a chunked body reaches
the view. Here the body crosses a socket with `Transfer-Encoding: chunked` and gunicorn decodes
it. The server runs in a process of its own on a database of its own (a migrated SQLite file),
which the tests read back with sqlite3.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from django.conf import settings

from leapsync.webhooks.envelope import MAX_BODY_BYTES
from tests.leapsync.webhook_helpers import HEADER, SECRET, envelope

URL = "http://localhost/webhooks/leap/"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[httpx.Client, Path]]:
    """(a client speaking to gunicorn over a unix socket, the server's database file)."""
    home = tmp_path_factory.mktemp("gunicorn")
    database = home / "db.sqlite3"
    environ = {
        **os.environ,
        "DEBUG": "1",
        "DATA_DIR": str(home),
        "DATABASE_URL": f"sqlite:///{database}",
        "LEAP_WEBHOOK_SECRET": SECRET,
        "LEAP_WEBHOOK_HEADER": HEADER,
    }
    run = {"cwd": settings.BASE_DIR, "env": environ}
    manage = [sys.executable, "manage.py", "migrate", "-v0"]
    subprocess.run(manage, check=True, capture_output=True, timeout=120, **run)
    socket = home / "gunicorn.sock"
    gunicorn = [sys.executable, "-m", "gunicorn", "leapsync.wsgi", f"--bind=unix:{socket}"]
    process = subprocess.Popen([*gunicorn, "--workers=1"], stderr=subprocess.DEVNULL, **run)
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), timeout=30)
    try:
        _wait_until_serving(client, process)
        yield client, database
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=30)


def _wait_until_serving(client: httpx.Client, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            if client.get("http://localhost/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer within a minute")


def _chunked(client: httpx.Client, body: bytes) -> httpx.Response:
    """POST `body` in 16 kB chunks from a generator: httpx then sends it chunked."""

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    response = client.post(
        URL, content=chunks(), headers={HEADER: SECRET, "content-type": "application/json"}
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    return response


def _rejections(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT reason, count FROM leapsync_webhookrejection")
        return dict(rows.fetchall())


def test_a_chunked_event_within_the_limit_is_stored(server):
    client, _database = server
    body = msgspec.json.encode(
        envelope(meter_id=str(uuid.uuid4()), global_enrollment_status="ACTIVE")
    )
    first, again = _chunked(client, body), _chunked(client, body)
    event_id = msgspec.json.decode(body)["webhook_event_id"]
    assert (first.status_code, first.json()) == (200, {"received": event_id, "duplicate": False})
    assert (again.status_code, again.json()) == (200, {"received": event_id, "duplicate": True})


def test_a_chunked_event_over_the_limit_is_refused_as_too_large(server):
    client, database = server
    before = _rejections(database).get("too_large", 0)
    response = _chunked(client, msgspec.json.encode(envelope(padding="x" * MAX_BODY_BYTES)))
    assert response.status_code == 400
    assert "exceeds" in response.json()["message"]
    assert _rejections(database)["too_large"] == before + 1


def test_a_nul_in_a_stored_field_is_refused_over_http(server):
    client, database = server
    body = msgspec.json.encode(envelope(global_enrollment_status="ACTIVE\u0000"))
    response = client.post(URL, content=body, headers={HEADER: SECRET})
    assert response.status_code == 400
    assert "NUL" in response.json()["message"]
    assert _rejections(database)["nul_character"] == 1
