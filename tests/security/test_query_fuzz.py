"""Every page, fragment and export the project serves by GET, with hostile query parameters.

Whatever the query string holds, the answer is a page, a redirect or a 4xx: never a 5xx. The
URLs come from the URL conf (with the permission matrix's sample arguments), so a new list is
fuzzed without anyone adding it here. Each URL's parameters are the ones its view reads: a
first, plain request records every key looked up in the query string (the filterset's fields,
the table's sort and page, the view's own reads), to which the usual names are added.
PostgreSQL refuses what SQLite lets through (NUL bytes, integers past 64 bits), so this file is
meant to be run on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

import pytest
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIRequest
from django.db import transaction
from django.http import QueryDict
from django.test import Client
from django.urls import get_resolver, reverse

from tests.security.conftest import Samples
from tests.security.test_permission_matrix import EXPECTED, _url, walk

pytestmark = pytest.mark.django_db

ALWAYS = ("page", "sort", "per_page", "q")
HUGE = "9" * 23
HOSTILE = (
    HUGE,
    f"-{HUGE}",
    "-1",
    "0",
    "1e309",  # a valid Decimal, an infinite float
    "NaN",
    "\x00",
    "a\x00b",
    "x" * 10_240,
    "abc",
    "9999-12-31",
    "0001-01-01",
    "9999-12-31T23:59:59-14:00",  # past year 9999 once in UTC
    "0001-01-01T00:00:00+14:00",  # before year 1 once in UTC
    "00000000-0000-0000-0000-000000000000",
    "<b>x</b> & <script>alert(1)</script>",
    ["1", HUGE],  # a repeated parameter
)
# Views answering GET that the fuzz skips: signing out needs a POST anyway.
SKIPPED = {"logout"}


def _get_names() -> list[str]:
    """Every project URL an admin may GET (the matrix's GET outcome for admin is not a 405)."""
    names = []
    for name, _pattern in walk(get_resolver().url_patterns):
        if name.startswith("admin:") or name in SKIPPED:
            continue
        admin_get = EXPECTED[name][1].split()[-1]
        if admin_get != "405":
            names.append(name)
    return sorted(names)


@contextmanager
def _recording_reads() -> Iterator[set[str]]:
    """The keys a view looks up in its request's query string inside the block.

    The request's GET (and the copies a view makes of it) records its reads; query strings the
    view builds for its own links are not the request's, and are left out.
    """
    seen: set[str] = set()

    class Recording(QueryDict):
        def get(self, key, default=None):
            seen.add(key)
            return super().get(key, default)

        def getlist(self, key, default=None):
            seen.add(key)
            return super().getlist(key, default)

        def __getitem__(self, key):
            seen.add(key)
            return super().__getitem__(key)

        def __contains__(self, key):
            seen.add(key)
            return super().__contains__(key)

    original = WSGIRequest.__dict__["GET"]

    def recording(request: WSGIRequest) -> QueryDict:
        query = original.func(request)
        query.__class__ = Recording
        return query

    replacement = cached_property(recording)
    replacement.__set_name__(WSGIRequest, "GET")
    WSGIRequest.GET = replacement
    try:
        yield seen
    finally:
        WSGIRequest.GET = original


def _answer(client: Client, url: str, query: dict, headers: dict) -> tuple[int, str | None]:
    """The status, and a description of the failure if it is a 5xx (or an export that breaks
    while it streams, after its 200 went out)."""
    try:
        # A savepoint per request: on PostgreSQL one failed query would fail every later one.
        with transaction.atomic():
            response = client.get(url, query, headers=headers)
            if response.streaming:
                b"".join(response.streaming_content)
    except Exception as error:  # noqa: BLE001 - whatever breaks the stream is the finding
        return 500, f"{type(error).__name__}: {str(error)[:200]}"
    failed = response.status_code >= 500
    return response.status_code, str(response.status_code) if failed else None


def _shown(value: str | list[str]) -> str:
    return repr(value if len(repr(value)) < 60 else f"{str(value)[:20]}… ({len(value)} chars)")


@pytest.mark.parametrize("name", _get_names())
def test_no_query_parameter_gives_a_server_error(samples: Samples, name: str):
    """Every parameter at once gets each hostile value, as a full page and (where the view
    varies on it) as the htmx fragment. When the view refuses that request, it may have
    stopped at the first bad parameter: then the parameters are tried again in halves."""
    admin = get_user_model().objects.create_user(
        "fuzz-admin", password="unused-pass-1", is_staff=True, is_superuser=True
    )
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    url = _url(name, EXPECTED[name][0], samples)
    path, _, base = url.partition("?")
    base_query = QueryDict(base).dict()
    with _recording_reads() as seen:  # one key more: a view may read nothing from an empty query
        response = client.get(path, {**base_query, "fuzz": ""})
    assert response.status_code < 500
    read = sorted(seen - {"fuzz"})
    params = sorted(set(read) | set(ALWAYS))
    variants = [{}]
    if "HX-Request" in response.get("Vary", ""):
        variants.append({"HX-Request": "true"})
    failures: list[str] = []

    def exercise(names: list[str], value: str | list[str], headers: dict) -> None:
        """`names` at once get `value`; refused, each half of them is tried again, until every
        parameter was read in an answered request or was refused alone. Halving asks far fewer
        requests than one per parameter when a single one (a saved `view` redirects) refuses."""
        status, error = _answer(
            client, path, {**base_query, **dict.fromkeys(names, value)}, headers
        )
        shown = "all" if names == params else "&".join(names)
        if error:
            failures.append(f"{shown}={_shown(value)} {headers}: {error}")
        elif status != 200 and len(names) > 1:
            middle = len(names) // 2
            exercise(names[:middle], value, headers)
            exercise(names[middle:], value, headers)

    for value in HOSTILE:
        for headers in variants:
            exercise(params, value, headers)
    assert not failures, f"{url} ({', '.join(params)}):\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "name",
    [
        "meters:meter_list",
        "actions:action_list",
        "meters:site_list",
        "webhooks:webhook_event_list",
        "enrollments:transition_list",
        "sync_run_list",
    ],
)
def test_a_page_past_any_table_shows_the_first_page(samples, admin_client, name):
    response = admin_client.get(reverse(name), {"page": HUGE})
    assert response.status_code == 200
    assert response.context["table"].page.number == 1


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("turns_idle_within", HUGE),
        ("turns_idle_within", "1e309"),
        ("deadline", "9999-12-31"),
        ("action_due_by", "0001-01-01T00:00:00+14:00"),
    ],
)
def test_a_filter_value_out_of_range_is_a_form_error(samples, admin_client, param, value):
    response = admin_client.get(reverse("meters:meter_list"), {param: value})
    assert response.status_code == 200
    assert param in response.context["filterset"].form.errors


def test_a_nul_in_the_query_string_is_400(samples, admin_client):
    for url in (reverse("enrollments:digest_preview"), reverse("meters:meter_list")):
        assert admin_client.get(url, {"user": "a\x00b"}).status_code == 400
        assert admin_client.get(url, {"a\x00": "b"}).status_code == 400
