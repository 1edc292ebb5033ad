"""Tests for LeapClient: endpoints, paging, retries, typed errors, and keeping the key secret."""

from __future__ import annotations

import email.utils
import http.server
import logging
import pickle
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import httpx
import msgspec
import pytest

from leapsync.leap.client import BASE_URLS, LeapClient, Page, build_search_body, resolve_base_url
from leapsync.leap.errors import (
    LeapAuthError,
    LeapBadRequestError,
    LeapError,
    LeapForbiddenError,
    LeapNotFoundError,
    LeapUnavailableError,
)

KEY = "sk_test_8d1f0c2a9b7e4c33a1f0deadbeefcafe"
METER = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
REFERENCE = "site-0042"

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, **kwargs) -> tuple[LeapClient, list[float]]:
    delays: list[float] = []
    options = {"sleep": delays.append, "rng": random.Random(7), **kwargs}
    client = LeapClient("https://leap.test", KEY, transport=httpx.MockTransport(handler), **options)
    return client, delays


def error_body(status: int, title: str, details: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json={"title": title, "status": status, "details": details or {}})


def sequence(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering with each response (or raising each exception) in turn."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


# --- configuration --------------------------------------------------------------------------------


def test_resolve_base_url_accepts_names_and_urls():
    assert resolve_base_url("staging") == BASE_URLS["staging"]
    assert resolve_base_url("production") == "https://api.leap.energy"
    assert resolve_base_url("http://127.0.0.1:8765/") == "http://127.0.0.1:8765"


@pytest.mark.parametrize("value", ["", "prod", "ftp://x", "api.leap.energy", KEY])
def test_resolve_base_url_rejects_anything_else_without_echoing_it(value):
    with pytest.raises(ValueError) as info:
        resolve_base_url(value)
    assert KEY not in str(info.value)


def test_client_rejects_bad_configuration():
    with pytest.raises(ValueError):
        LeapClient("staging", "")
    with pytest.raises(ValueError):
        LeapClient("staging", KEY, page_size=501)
    with pytest.raises(ValueError):
        LeapClient("staging", KEY, page_size=0)


def test_from_settings_reads_leap_settings(settings):
    settings.LEAP_BASE_URL = "production"
    settings.LEAP_API_KEY = KEY
    settings.LEAP_TIMEOUT_SECONDS = 12
    settings.LEAP_MAX_RETRIES = 2
    settings.LEAP_PAGE_SIZE = 100
    with LeapClient.from_settings(max_retries=4) as client:
        assert client.base_url == "https://api.leap.energy"
        assert client._max_retries == 4
        assert client._page_size == 100
        assert client._http.timeout.read == 12


# --- endpoints ------------------------------------------------------------------------------------


def test_update_partner_reference_sends_auth_and_user_agent():
    handler, seen = sequence(httpx.Response(200, json={"meter_id": METER}))
    client, _ = make_client(handler)
    assert client.update_partner_reference(UUID(METER), "site-0042") == {"meter_id": METER}
    request = seen[0]
    assert request.method == "PATCH"
    assert request.url == f"https://leap.test/v1.1/meters/{METER}/partner_meter_ref"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"].startswith("leapsync/")
    assert msgspec.json.decode(request.content) == {"partner_reference": "site-0042"}


@pytest.mark.parametrize("reply", [httpx.Response(204), httpx.Response(200)])
def test_update_partner_reference_accepts_an_empty_reply(reply):
    handler, _ = sequence(reply)
    client, _ = make_client(handler)
    assert client.update_partner_reference(METER, "site-0042") == {}


def test_update_partner_reference_rejects_non_uuid_locally():
    client, _ = make_client(lambda request: pytest.fail("no request expected"))
    with pytest.raises(ValueError):
        client.update_partner_reference("../v1.1/webhooks", "site-0042")


@pytest.mark.parametrize("reference", ["ab", "x" * 257, "has/slash", "a{b}c", "why?"])
def test_update_partner_reference_validates_leap_pattern(reference):
    client, _ = make_client(lambda request: pytest.fail("no request expected"))
    with pytest.raises(ValueError):
        client.update_partner_reference(METER, reference)


# --- search and paging ----------------------------------------------------------------------------


def test_search_body_serialises_filters():
    since = datetime(2024, 10, 21, 4, 43, 5, 892000, tzinfo=timezone(timedelta(hours=-7)))
    body = build_search_body(
        {
            "last_modified_date_time": since,
            "meter_ids": [UUID(METER)],
            "tags": [],
            "global_enrollment_statuses": ("ACTIVE",),
            "transmission_region": None,
            "exclude_archived": True,
        },
        page_size=250,
    )
    assert body == {
        "page_size": 250,
        "last_modified_date_time": "2024-10-21T11:43:05.892000Z",
        "meter_ids": [METER],
        "global_enrollment_statuses": ["ACTIVE"],
        "exclude_archived": True,
    }


def test_search_body_rejects_naive_datetimes():
    with pytest.raises(ValueError):
        build_search_body({"last_modified_date_time": datetime(2024, 1, 1)}, page_size=500)


@pytest.mark.parametrize(
    "last_page", [{"meters": [{"n": 5}]}, {"meters": [{"n": 5}], "next_page_token": ""}]
)
def test_search_meter_details_pages_until_token_missing_or_empty(last_page):
    handler, seen = sequence(
        httpx.Response(200, json={"meters": [{"n": 1}, {"n": 2}], "next_page_token": "t1"}),
        httpx.Response(200, json={"meters": [{"n": 3}, {"n": 4}], "next_page_token": "t2"}),
        httpx.Response(200, json=last_page),
    )
    client, _ = make_client(handler, page_size=2)
    pages = list(client.search_meter_details({"tags": ["a"]}))
    assert [p.number for p in pages] == [1, 2, 3]
    assert [m["n"] for p in pages for m in p.meters] == [1, 2, 3, 4, 5]
    assert pages[-1] == Page(meters=[{"n": 5}], next_page_token=None, number=3)
    bodies = [msgspec.json.decode(r.content) for r in seen]
    assert [b.get("page_token") for b in bodies] == [None, "t1", "t2"]
    assert all(b["page_size"] == 2 and b["tags"] == ["a"] for b in bodies)
    assert {r.url.path for r in seen} == {"/v2/meters/search"}


def test_search_meter_enrollments_is_lazy_one_page_at_a_time():
    handler, seen = sequence(
        httpx.Response(200, json={"meters": [{"n": 1}], "next_page_token": "t1"}),
        httpx.Response(200, json={"meters": []}),
    )
    client, _ = make_client(handler)
    pages = client.search_meter_enrollments()
    assert seen == []
    first = next(pages)
    assert len(seen) == 1 and first.next_page_token == "t1"
    assert seen[0].url.path == "/v2/meters/enrollments/search"
    assert next(pages).meters == []
    with pytest.raises(StopIteration):
        next(pages)


def test_search_stops_when_leap_repeats_a_token():
    handler = lambda request: httpx.Response(200, json={"meters": [], "next_page_token": "same"})
    client, _ = make_client(handler)
    with pytest.raises(LeapError, match="same page token"):
        list(client.search_meter_details())


# --- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_request_retries_transient_statuses(status):
    handler, seen = sequence(
        httpx.Response(status, text="An error happened whilst processing your request"),
        httpx.Response(200, json={"meter_id": METER}),
    )
    client, delays = make_client(handler)
    assert client.update_partner_reference(METER, REFERENCE) == {"meter_id": METER}
    assert len(seen) == 2 and len(delays) == 1


def test_request_honours_retry_after_seconds_capped_by_backoff_max():
    handler, _ = sequence(
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(429, headers={"Retry-After": "3600"}),
        httpx.Response(200, json={}),
    )
    client, delays = make_client(handler, backoff_max=60)
    client.update_partner_reference(METER, REFERENCE)
    assert delays == [7.0, 60.0]


def test_request_honours_retry_after_http_date():
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    past = email.utils.format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    handler, _ = sequence(
        httpx.Response(503, headers={"Retry-After": when}),
        httpx.Response(503, headers={"Retry-After": past}),
        httpx.Response(200, json={}),
    )
    client, delays = make_client(handler)
    client.update_partner_reference(METER, REFERENCE)
    assert 25 <= delays[0] <= 30
    assert delays[1] == 0


def test_request_ignores_garbage_retry_after():
    handler, _ = sequence(
        httpx.Response(429, headers={"Retry-After": "soon"}), httpx.Response(200, json={})
    )
    client, delays = make_client(handler, backoff_base=0.5)
    client.update_partner_reference(METER, REFERENCE)
    assert 0 <= delays[0] <= 0.5


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset by peer"),
    ],
)
def test_request_retries_timeouts_and_dropped_connections(failure):
    handler, seen = sequence(failure, httpx.Response(200, json={"ok": True}))
    client, delays = make_client(handler)
    assert client.update_partner_reference(METER, REFERENCE) == {"ok": True}
    assert len(seen) == 2 and len(delays) == 1


@pytest.mark.parametrize(
    "body", [b'{"meters": [{"meter_id": "3fa8', b"", b"<html>oops</html>", b'"text"']
)
def test_request_retries_truncated_or_unparseable_bodies(body):
    handler, seen = sequence(
        httpx.Response(200, content=body),
        httpx.Response(200, json={"meters": [], "next_page_token": None}),
    )
    client, _ = make_client(handler)
    assert [p.meters for p in client.search_meter_details()] == [[]]
    assert len(seen) == 2


def test_backoff_is_exponential_with_full_jitter_within_bounds():
    handler = lambda request: httpx.Response(503)
    client, delays = make_client(handler, max_retries=8, backoff_base=0.5, backoff_max=10.0)
    with pytest.raises(LeapUnavailableError):
        client.update_partner_reference(METER, REFERENCE)
    assert len(delays) == 8
    for attempt, delay in enumerate(delays):
        assert 0 <= delay <= min(10.0, 0.5 * 2**attempt)
    # Full jitter: not simply the ceiling each time.
    assert delays != [min(10.0, 0.5 * 2**a) for a in range(8)]


def test_request_gives_up_after_max_retries_with_last_cause():
    handler, seen = sequence(
        httpx.ReadTimeout("timed out"),
        httpx.Response(502, text="Bad gateway"),
        httpx.Response(503, text="An error happened whilst processing your request"),
    )
    client, delays = make_client(handler, max_retries=2)
    with pytest.raises(LeapUnavailableError) as info:
        client.update_partner_reference(METER, REFERENCE)
    error = info.value
    assert len(seen) == 3 and len(delays) == 2
    assert error.status == 503
    assert "An error happened" in error.details["cause"]
    assert error.details["path"] == f"/v1.1/meters/{METER}/partner_meter_ref"
    assert error.__cause__ is None and error.__suppress_context__


def test_request_with_zero_retries_fails_at_once():
    client, delays = make_client(lambda request: httpx.Response(500, text="boom"), max_retries=0)
    with pytest.raises(LeapUnavailableError, match="after 1 attempt:"):
        client.update_partner_reference(METER, REFERENCE)
    assert delays == []


def test_request_logs_one_warning_per_retry(caplog):
    handler, _ = sequence(httpx.Response(503), httpx.ReadTimeout("t"), httpx.Response(200, json={}))
    client, _ = make_client(handler)
    with caplog.at_level(logging.WARNING, logger="leapsync.leap.client"):
        client.update_partner_reference(METER, REFERENCE)
    records = [r for r in caplog.records if r.name == "leapsync.leap.client"]
    assert len(records) == 2
    assert "PATCH" in records[0].getMessage() and "503" in records[0].getMessage()
    assert "retry 2/5" in records[1].getMessage() and "timeout" in records[1].getMessage()


# --- typed errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls", "title", "details"),
    [
        (400, LeapBadRequestError, "Meter id is not a UUID", {"meter_id": "abcdef"}),
        (401, LeapAuthError, "Unauthorized", {}),
        (
            403,
            LeapForbiddenError,
            "You do not have the necessary permissions for this operation",
            {},
        ),
        (404, LeapNotFoundError, "Meter not found", {"meter_id": METER}),
        (409, LeapError, "Conflict", {"a": 1}),
    ],
)
def test_client_errors_raise_typed_error_without_retry(status, cls, title, details):
    handler, seen = sequence(error_body(status, title, details))
    client, delays = make_client(handler)
    with pytest.raises(cls) as info:
        client.update_partner_reference(METER, REFERENCE)
    assert type(info.value) is cls
    assert (info.value.title, info.value.status, info.value.details) == (title, status, details)
    assert str(info.value) == f"{status} {title}: {details}"
    assert len(seen) == 1 and delays == []


def test_error_tolerates_plain_string_and_non_json_bodies():
    handler, _ = sequence(
        httpx.Response(404, json="Meter not found"),
        httpx.Response(403, text="<html>Forbidden</html>"),
        httpx.Response(400, content=b""),
        httpx.Response(400, json={"title": "Bad", "details": ["a", "b"]}),
    )
    client, _ = make_client(handler)
    with pytest.raises(LeapNotFoundError, match="Meter not found"):
        client.update_partner_reference(METER, REFERENCE)
    with pytest.raises(LeapForbiddenError, match="Forbidden"):
        client.update_partner_reference(METER, REFERENCE)
    with pytest.raises(LeapBadRequestError, match="Bad Request"):
        client.update_partner_reference(METER, REFERENCE)
    with pytest.raises(LeapBadRequestError) as info:
        client.update_partner_reference(METER, REFERENCE)
    assert info.value.details == {"details": ["a", "b"]}


def test_error_survives_pickling():
    error = LeapNotFoundError("Meter not found", 404, {"meter_id": METER})
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.title, copy.status, copy.details) == (
        LeapNotFoundError,
        "Meter not found",
        404,
        {"meter_id": METER},
    )


# --- the key stays secret -------------------------------------------------------------------------


def test_client_repr_hides_key():
    client, _ = make_client(lambda request: httpx.Response(200, json={}))
    assert KEY not in repr(client) and KEY not in str(client)
    assert "***" in repr(client)


def test_key_never_in_logs_or_errors(caplog):
    echo = {"title": f"bad header Bearer {KEY}", "details": {"authorization": f"Bearer {KEY}"}}
    handler, _ = sequence(
        httpx.ConnectError(f"failed with Authorization: Bearer {KEY}"),
        httpx.Response(503, text=f"upstream saw {KEY}"),
        httpx.ReadTimeout("timed out"),
        httpx.Response(400, json=echo),
        httpx.Response(401, json={"title": "Unauthorized", "status": 401, "details": {}}),
        *[httpx.Response(502, text=KEY)] * 6,
    )
    client, _ = make_client(handler)
    errors: list[LeapError] = []
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="httpx"),
        caplog.at_level(logging.DEBUG, logger="httpcore"),
    ):
        for _ in range(3):
            with pytest.raises(LeapError) as info:
                client.update_partner_reference(METER, REFERENCE)
            errors.append(info.value)
    assert [type(e) for e in errors] == [LeapBadRequestError, LeapAuthError, LeapUnavailableError]
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in str(record.args)
    assert KEY not in caplog.text
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error)
        assert KEY not in repr(error.details) and KEY not in error.title


class _JsonHandler(http.server.BaseHTTPRequestHandler):
    def do_PATCH(self) -> None:
        body = msgspec.json.encode(
            {"meter_id": METER, "echo": self.headers.get("Authorization", "")[:6]}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _JsonHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_key_not_in_httpx_debug_logs_over_a_real_transport(caplog, local_server):
    # MockTransport skips httpcore; a real loopback connection exercises httpx/httpcore DEBUG logs.
    client = LeapClient(local_server, KEY, max_retries=0)
    with (
        client,
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="httpcore"),
        caplog.at_level(logging.DEBUG, logger="httpx"),
    ):
        assert client.update_partner_reference(METER, REFERENCE)["echo"] == "Bearer"
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert any(r.name == "httpx" for r in caplog.records)
    assert KEY not in caplog.text
    assert all(KEY not in str(r.args) for r in caplog.records)


def test_connection_error_over_a_real_transport_hides_key(caplog):
    client = LeapClient("http://127.0.0.1:9", KEY, max_retries=1, sleep=lambda delay: None)
    with caplog.at_level(logging.DEBUG), pytest.raises(LeapUnavailableError) as info:
        client.update_partner_reference(METER, REFERENCE)
    assert KEY not in caplog.text
    assert KEY not in str(info.value) and KEY not in repr(info.value)


def test_request_does_not_really_sleep():
    handler, _ = sequence(*[httpx.Response(503)] * 3, httpx.Response(200, json={}))
    started = time.monotonic()
    client, delays = make_client(handler, backoff_base=30.0, backoff_max=300.0)
    client.update_partner_reference(METER, REFERENCE)
    assert len(delays) == 3 and time.monotonic() - started < 5
