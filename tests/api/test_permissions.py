"""Every endpoint × every kind of caller: no token, an expired one, a revoked one, one without
the endpoint's scope, one with it. The list of endpoints is checked against the URL conf."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import get_resolver, reverse
from django.utils import timezone

from enrollments.models import ProgramEnrollment
from leapsync.api.models import Scope
from meters.models import Meter
from tests.api.conftest import CheckedClient, bearer, make_token
from tests.security.test_permission_matrix import walk

pytestmark = pytest.mark.django_db

METER = "00000000-0000-0000-0000-0000000000aa"
READ, SITES, REFS = Scope.READ, Scope.WRITE_SITES, Scope.WRITE_REFERENCES
# name: (method, URL arguments, query, JSON body, scope, status with the right scope)
ENDPOINTS = {
    "api:meter_list": ("get", {}, "", None, READ, 200),
    "api:meter_detail": ("get", {"meter_id": METER}, "", None, READ, 200),
    "api:meter_reference": (
        "put",
        {"meter_id": METER},
        "",
        {"partner_reference": "SITE-1"},
        REFS,
        202,
    ),
    "api:site_list": ("get", {}, "", None, READ, 200),
    "api:site_list POST": ("post", {}, "", {"sites": [{"external_id": "S-1"}]}, SITES, 200),
    "api:action_list": ("get", {}, "", None, READ, 200),
    "api:roster": ("get", {}, "?program=P1&delivery_period=2026", None, READ, 200),
    "api:deadlines": ("get", {}, "", None, READ, 200),
    "api:sync_status": ("get", {}, "", None, READ, 200),
    "api:change_feed": ("get", {}, "", None, READ, 200),
    "api:change_feed_head": ("get", {}, "", None, READ, 200),
    # The schema: any live token, whatever its scopes (or a signed-in person).
    "api:schema": ("get", {}, "", None, None, 200),
}
# Pages for people (the site's sign-in), not endpoints: the permission matrix covers them.
PAGES = {"api:docs"}
CALLERS = ("no token", "expired", "revoked", "wrong scope", "right scope")


@pytest.fixture
def data(monkeypatch):
    monkeypatch.setattr("meters.services.async_task", lambda *args, **kwargs: None)
    meter = Meter.objects.create(meter_id=METER)
    ProgramEnrollment.objects.create(
        meter=meter,
        program_identifier="P1",
        delivery_period="2026",
        delivery_period_start_date_time=timezone.now() - timedelta(days=1),
        market_group_name="North",
    )


def test_every_api_endpoint_is_listed_here():
    names = {name for name, _ in walk(get_resolver().url_patterns) if name.startswith("api:")}
    listed = {name.split()[0] for name in ENDPOINTS} | PAGES
    assert names == listed


def _client(caller: str, scope: str | None) -> CheckedClient:
    if caller == "no token":
        return CheckedClient()
    wrong = {READ: SITES, SITES: READ, REFS: READ, None: None}[scope]
    scopes = {"wrong scope": [wrong] if wrong else [], "right scope": [scope or READ]}
    fields = {
        "expired": {"expires_at": timezone.now() - timedelta(seconds=1)},
        "revoked": {"revoked_at": timezone.now()},
    }.get(caller, {})
    _, secret = make_token(f"t-{caller}", *scopes.get(caller, [scope or READ]), **fields)
    return CheckedClient(headers=bearer(secret))


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_endpoint_answers_each_caller(data, endpoint, caller):
    method, kwargs, query, body, scope, ok = ENDPOINTS[endpoint]
    url = reverse(endpoint.split()[0], kwargs=kwargs) + query
    client = _client(caller, scope)
    send = getattr(client, method)
    response = send(url, body, content_type="application/json") if body else send(url)
    expected = {
        "no token": 401,
        "expired": 401,
        "revoked": 401,
        "wrong scope": 403 if scope else ok,
        "right scope": ok,
    }[caller]
    assert response.status_code == expected, response.content
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["detail"] in (
            "Authentication credentials were not provided.",
            "This token has expired.",
            "This token was revoked.",
        )


@pytest.mark.parametrize(
    "header", ["Token abc", "Bearer", "Bearer a b", "Bearer lsk_unknown", "Basic dXNlcjpwYXNz"]
)
def test_a_malformed_or_unknown_token_is_refused(header):
    response = CheckedClient(headers={"Authorization": header}).get(reverse("api:meter_list"))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_a_signed_in_person_is_no_api_client(groups, django_user_model):
    """The session authenticates the docs page and the schema only: cookies carry no CSRF
    protection for the API's writes, so the endpoints refuse them."""
    client = CheckedClient()
    client.force_login(django_user_model.objects.create_user("olivia"))
    assert client.get(reverse("api:meter_list")).status_code == 401
    assert client.put(reverse("api:meter_reference", args=[METER])).status_code == 401
    assert client.get(reverse("api:schema")).status_code == 200
    assert client.get(reverse("api:docs")).status_code == 200


def test_wrong_method_is_a_405_problem(api):
    response = api.delete(reverse("api:meter_list"))
    assert response.status_code == 405
    assert response.json()["title"] == "Method Not Allowed"
