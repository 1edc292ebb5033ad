"""Every URL the project serves, requested as every persona: the outcome must match the table.

The URL list comes from the URL conf itself, so a new view without an entry in EXPECTED fails
here, and so does a new view that forgets its permission: nobody has to remember to add a test.
Admin URLs follow one rule (staff only, enforced by `admin_view`) plus a few listed exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.security.conftest import Samples

pytestmark = pytest.mark.django_db

PERSONAS = ("anonymous", "outsider", "manager", "operations", "admin")
# Outcomes: "login" = redirect to a sign-in page (the site's or the admin's); "ok" = 200 for GET,
# 200 or a redirect (PRG) for POST; "reach" = any answer below 500 that is not a sign-in redirect
# (the admin decides per model what a superuser may add or delete); else an exact status code.
# require_GET / require_POST wrap the permission check, so a wrong method is 405 for everyone
# signed in (LoginRequiredMiddleware answers first for anonymous requests).
VIEWERS, OPS, MANAGERS = "login 403 ok ok ok", "login 403 403 ok ok", "login 403 ok 403 ok"
GET_ONLY = POST_ONLY = "login 405 405 405 405"
PUBLIC, NO_METHOD = "ok ok ok ok ok", "405 405 405 405 405"
NO_TOKEN = "401 401 401 401 401"

# name: (URL arguments, GET outcome per persona, POST outcome per persona). Arguments name a
# sample object (see Samples) or give a literal value.
EXPECTED: dict[str, tuple[dict[str, str], str, str]] = {
    "dashboard": ({}, VIEWERS, GET_ONLY),
    "trends": ({}, VIEWERS, GET_ONLY),
    "sync_run_list": ({}, VIEWERS, GET_ONLY),
    # Operations start an incremental sync (a full one is refused inside: admins only).
    "sync_run_start": ({}, POST_ONLY, OPS),
    "sync_refresh_start": ({}, POST_ONLY, OPS),
    "sync_run_detail": ({"pk": "run"}, VIEWERS, GET_ONLY),
    "healthz": ({}, PUBLIC, NO_METHOD),
    "readyz": ({}, PUBLIC, NO_METHOD),  # fresh: the samples were just synced
    "meters:meter_list": ({}, VIEWERS, GET_ONLY),
    "meters:meter_export": ({}, VIEWERS, GET_ONLY),
    # A search redirects to the meters list (or to the one meter it finds).
    "meters:meter_search": ({"?q": "zzz"}, "login 403 302 302 302", GET_ONLY),
    "meters:meter_detail": ({"meter_id": "meter"}, VIEWERS, GET_ONLY),
    "meters:meter_sync": ({"meter_id": "meter"}, POST_ONLY, OPS),
    "meters:meter_sync_status": (
        {"meter_id": "meter", "token": "0123456789abcdef"},
        VIEWERS,
        GET_ONLY,
    ),
    # Without HX-Request the mapping panel redirects to the meter page.
    "meters:meter_mapping": ({"meter_id": "meter"}, "login 403 302 302 302", GET_ONLY),
    # No site chosen: 404 once the permission check has passed.
    "meters:meter_map": ({"meter_id": "meter"}, POST_ONLY, "login 403 403 404 404"),
    "meters:meter_unmap": ({"meter_id": "meter"}, POST_ONLY, OPS),
    "meters:meter_no_site": ({"meter_id": "meter"}, POST_ONLY, OPS),
    "meters:meter_reference_edit": ({"meter_id": "meter"}, OPS, OPS),
    "meters:meter_reference_from_site": ({"meter_id": "meter"}, POST_ONLY, OPS),
    "meters:site_list": ({}, VIEWERS, GET_ONLY),
    "meters:site_detail": ({"pk": "site"}, VIEWERS, GET_ONLY),
    "meters:site_import": ({}, OPS, OPS),
    "meters:site_import_confirm": ({}, POST_ONLY, OPS),
    "meters:site_match_references": ({}, POST_ONLY, OPS),
    "meters:site_search": ({"?meter": "meter"}, VIEWERS, GET_ONLY),
    "meters:mapping_queue": ({}, VIEWERS, GET_ONLY),
    "meters:mapping_bulk_preview": ({}, OPS, POST_ONLY),
    "meters:mapping_bulk_accept": ({}, POST_ONLY, OPS),
    "meters:shared_reference_list": ({}, VIEWERS, GET_ONLY),
    "meters:reference_change_list": ({}, VIEWERS, GET_ONLY),
    "meters:change_log": ({}, VIEWERS, GET_ONLY),
    "meters:change_log_export": ({}, VIEWERS, GET_ONLY),
    "meters:reference_bulk_from_site": ({}, POST_ONLY, OPS),
    "meters:reference_retry": ({"pk": "change"}, POST_ONLY, OPS),
    # partner_reference from a CSV file: the single edit's permissions; anyone who sees the
    # changes may watch a file's progress.
    "meters:reference_import": ({}, OPS, OPS),
    "meters:reference_import_confirm": ({}, POST_ONLY, OPS),
    "meters:reference_import_detail": ({"pk": "reference_import"}, VIEWERS, GET_ONLY),
    "actions:action_list": ({}, VIEWERS, GET_ONLY),
    "actions:action_export": ({}, VIEWERS, GET_ONLY),
    # An empty POST: the preview redirects back to the inbox; the confirm finds no preview.
    "actions:action_bulk_preview": ({}, POST_ONLY, OPS),
    "actions:action_bulk_apply": ({}, POST_ONLY, OPS),
    "actions:action_detail": ({"pk": "action"}, VIEWERS, GET_ONLY),
    "actions:action_workflow": ({"pk": "action"}, POST_ONLY, OPS),
    "actions:action_note_add": ({"pk": "action"}, POST_ONLY, OPS),
    "actions:action_notify": ({"pk": "action"}, OPS, OPS),
    "actions:action_notify_html": ({"pk": "action"}, OPS, GET_ONLY),
    "enrollments:deadline_list": ({}, VIEWERS, GET_ONLY),
    "enrollments:deadline_calendar": ({}, VIEWERS, GET_ONLY),
    "enrollments:market_group_list": ({}, VIEWERS, GET_ONLY),
    "enrollments:market_group_export": ({"fmt": "csv"}, VIEWERS, GET_ONLY),
    "enrollments:transition_list": ({}, VIEWERS, GET_ONLY),
    "enrollments:transition_export": ({}, VIEWERS, GET_ONLY),
    "enrollments:digest_subscription": ({}, MANAGERS, GET_ONLY),
    "enrollments:digest_subscription_save": ({}, GET_ONLY, MANAGERS),
    "enrollments:digest_preview": ({}, MANAGERS, GET_ONLY),
    "enrollments:digest_preview_html": ({}, MANAGERS, GET_ONLY),
    "webhooks:webhook_event_list": ({}, VIEWERS, GET_ONLY),
    "webhooks:webhook_event_detail": ({"pk": "event"}, VIEWERS, GET_ONLY),
    # Leap's deliveries: public, but refused without the shared secret.
    "webhooks:webhook_receive": ({}, NO_METHOD, "401 401 401 401 401"),
    # One's own list preferences: every signed-in person has some (a bad post is told so).
    "preferences:profile": ({}, "login ok ok ok ok", GET_ONLY),
    "preferences:view_save": ({}, GET_ONLY, "login ok ok ok ok"),
    "preferences:columns_save": ({}, GET_ONLY, "login ok ok ok ok"),
    # Nobody's view 999999: not found for everyone signed in.
    "preferences:view_delete": ({"pk": "999999"}, GET_ONLY, "login 404 404 404 404"),
    "preferences:view_default": ({"pk": "999999"}, GET_ONLY, "login 404 404 404 404"),
    # The API answers tokens, never a session: without one, 401 for everyone (tokens per
    # endpoint and scope: tests/api/test_permissions.py). Its schema also serves signed-in
    # people, for the docs page, which is a page like any other.
    **{
        f"api:{name}": ({}, NO_TOKEN, NO_TOKEN)
        for name in (
            "meter_list",
            "site_list",
            "action_list",
            "roster",
            "deadlines",
            "sync_status",
            "change_feed",
            "change_feed_head",
        )
    },
    "api:meter_detail": ({"meter_id": "meter"}, NO_TOKEN, NO_TOKEN),
    "api:meter_reference": ({"meter_id": "meter"}, NO_TOKEN, NO_TOKEN),
    # A signed-in POST there: the session's CSRF check reads the form body, and the API
    # parses JSON only (415) before it would say the method is not allowed.
    "api:schema": ({}, "401 ok ok ok ok", "401 415 415 415 415"),
    "api:docs": ({}, "login ok ok ok ok", "login 415 415 415 415"),
    "login": ({}, PUBLIC, PUBLIC),
    # Signing out lands on the sign-in page.
    "logout": ({}, "login 405 405 405 405", "login login login login login"),
    "password_change": ({}, "login ok ok ok ok", "login ok ok ok ok"),
    "password_change_done": ({}, "login ok ok ok ok", GET_ONLY),
    "password_reset": ({}, PUBLIC, PUBLIC),
    "password_reset_done": ({}, PUBLIC, NO_METHOD),
    "password_reset_confirm": ({"uidb64": "MQ", "token": "bad-token"}, PUBLIC, PUBLIC),
    "password_reset_complete": ({}, PUBLIC, NO_METHOD),
}
ADMIN_RULE = ("login login login login reach",) * 2
ADMIN_EXCEPTIONS: dict[str, tuple[str, str]] = {
    "admin:login": ("ok ok ok ok reach", "ok ok ok ok ok"),
    "admin:logout": ("login 302 302 302 reach", "login ok ok ok login"),
}


def walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """(namespaced name, pattern) of every named URL pattern, recursively."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from walk(entry.url_patterns, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{prefix}{entry.name}", entry


def _project_names() -> set[str]:
    return {name for name, _ in walk(get_resolver().url_patterns) if not name.startswith("admin:")}


def test_every_project_url_has_an_expectation():
    assert _project_names() - set(EXPECTED) == set(), "add the new view to EXPECTED"
    assert set(EXPECTED) - _project_names() == set(), "EXPECTED names a view that is gone"


def _users() -> dict[str, object]:
    users = get_user_model().objects
    made = {
        "anonymous": None,
        "outsider": users.create_user("m-outsider", password="unused-pass-1"),
        "manager": users.create_user("m-manager", password="unused-pass-1"),
        "operations": users.create_user("m-ops", password="unused-pass-1"),
        "admin": users.create_user(
            "m-admin", password="unused-pass-1", is_staff=True, is_superuser=True
        ),
    }
    made["manager"].groups.add(Group.objects.get(name="Managers"))
    made["operations"].groups.add(Group.objects.get(name="Operations"))
    return made


def _client(user) -> Client:
    """A fresh client per request (a POST to logout must not sign out the next one)."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def _url(name: str, spec: dict[str, str], samples: Samples) -> str:
    """The URL with sample arguments; keys starting with "?" go in the query string."""
    values = _arguments({k: v for k, v in spec.items() if not k.startswith("?")}, samples)
    query = _arguments({k[1:]: v for k, v in spec.items() if k.startswith("?")}, samples)
    url = reverse(name, kwargs=values)
    return f"{url}?{urlencode(query)}" if query else url


def _arguments(spec: dict[str, str], samples: Samples) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, value in spec.items():
        sample = getattr(samples, value, None)
        if sample is None:
            values[key] = value
        else:
            values[key] = sample.meter_id if key in {"meter_id", "meter"} else sample.pk
    return values


def _admin_arguments(name: str, pattern: URLPattern, samples: Samples) -> dict[str, object]:
    """Sample arguments for an admin URL: the model's first row, or a harmless value."""
    from django.contrib import admin

    keys = set(pattern.pattern.regex.groupindex)
    values: dict[str, object] = {}
    if "app_label" in keys:
        values["app_label"] = "meters"
    if "object_id" in keys:
        for model in admin.site._registry:
            prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
            if name.startswith(prefix):
                row = model._default_manager.order_by("pk").first()
                values["object_id"] = row.pk if row else 1
        values.setdefault("object_id", samples.meter.pk)
    if "id" in keys:  # the user admin's password page
        values["id"] = get_user_model().objects.order_by("pk").first().pk
    if "content_type_id" in keys:
        values["content_type_id"] = 1
    if "url" in keys:
        values["url"] = "nowhere/"
    return values


def _outcome(response, method: str, expected: str) -> str:
    location = response.get("Location", "")
    if response.status_code == 302 and location.startswith(("/accounts/login/", "/admin/login/")):
        return "login"
    if expected == "reach" and response.status_code < 500:
        return "reach"
    if response.status_code == 200 or (method == "post" and response.status_code in (301, 302)):
        return "ok"
    return str(response.status_code)


def _cases(samples: Samples) -> Iterator[tuple[str, str, tuple[str, str]]]:
    for name, pattern in walk(get_resolver().url_patterns):
        if name.startswith("admin:"):
            url = reverse(name, kwargs=_admin_arguments(name, pattern, samples))
            yield name, url, ADMIN_EXCEPTIONS.get(name, ADMIN_RULE)
        else:
            spec, get, post = EXPECTED[name]
            yield name, _url(name, spec, samples), (get, post)


CSRF_SECRET = "a" * 32


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_url_answers_every_persona_as_the_table_says(samples, method):
    users = _users()
    wrong = []
    for name, url, expectations in _cases(samples):
        expected = dict(zip(PERSONAS, expectations[method == "post"].split(), strict=True))
        for persona, user in users.items():
            client = _client(user)
            if method == "post":
                client.cookies["csrftoken"] = CSRF_SECRET
                response = client.post(url, headers={"X-CSRFToken": CSRF_SECRET})
            else:
                response = client.get(url)
            got = _outcome(response, method, expected[persona])
            if got != expected[persona]:
                wrong.append(f"{method.upper()} {name} as {persona}: {got} != {expected[persona]}")
    assert not wrong, "\n".join(wrong)


def test_posts_without_a_csrf_token_are_refused_for_everyone(samples):
    users = _users()
    accepted = []
    for name, url, _ in _cases(samples):
        if name == "webhooks:webhook_receive":  # Leap cannot send our token: the secret guards it
            continue
        if name.startswith("api:"):  # cookies authenticate no write there: tokens do (401)
            continue
        for persona, user in users.items():
            response = _client(user).post(url, headers={"HX-Request": "true"})
            if response.status_code != 403:
                accepted.append(f"POST {name} as {persona}: {response.status_code}")
    assert not accepted, "\n".join(accepted)
