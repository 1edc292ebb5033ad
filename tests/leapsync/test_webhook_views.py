"""The webhooks page and one event's page: access, fragment, filters, escaping, query budget."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from django.urls import reverse
from pytest_django.asserts import assertTemplateNotUsed, assertTemplateUsed

from leapsync.models import RunStatus, SyncRun
from leapsync.webhooks.models import WebhookEvent, WebhookRefresh, WebhookRejection, WebhookState
from leapsync.webhooks.tables import WebhookEventTable
from tests.helpers import count_get_queries

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
SCRIPT = "<script>alert(1)</script>"
LIST = reverse("webhooks:webhook_event_list")


def make_events(count: int, *, refreshed: bool = True, **fields) -> list[WebhookEvent]:
    refresh = None
    if refreshed:
        runs = [
            SyncRun.objects.create(stream=s, mode="refresh", status=RunStatus.SUCCEEDED)
            for s in ("details", "enrollments")
        ]
        refresh = WebhookRefresh.objects.create(
            status="succeeded", details_run=runs[0], enrollments_run=runs[1]
        )
    defaults = {
        "webhook_event_type": "meter.enrollment.global-status.updated",
        "state": WebhookState.REFRESHED if refreshed else WebhookState.QUEUED,
        "body": "{}",
        "status": "ACTIVE",
    }
    return [
        WebhookEvent.objects.create(
            webhook_event_id=str(uuid.uuid4()),
            refresh=refresh,
            **{"meter_ids": [str(uuid.uuid4()) for _ in range(1 + n % 5)], **defaults, **fields},
        )
        for n in range(count)
    ]


def test_webhook_list_anonymous_redirects_to_login(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_webhook_list_outsider_gets_403(outsider_client):
    assert outsider_client.get(LIST).status_code == 403


def test_webhook_detail_outsider_gets_403(outsider_client):
    event = make_events(1)[0]
    url = reverse("webhooks:webhook_event_detail", args=[event.pk])
    assert outsider_client.get(url).status_code == 403


def test_webhook_list_full_page(ops_client):
    event = make_events(1)[0]
    WebhookRejection.objects.create(reason="wrong_secret", count=7)
    response = ops_client.get(LIST)
    assert response.status_code == 200
    assertTemplateUsed(response, "webhooks/webhookevent_list.html")
    content = response.content.decode()
    assert "wrong_secret" in content and ">7<" in content
    assert f"details #{event.refresh.details_run_id}" in content
    assert event.meter_ids[0][:8] in content
    assert response["Vary"].count("HX-Request") == 1


def test_webhook_list_fragment(ops_client):
    make_events(2)
    response = ops_client.get(LIST, headers=HTMX)
    assertTemplateUsed(response, "webhooks/partials/webhook_events.html")
    assertTemplateNotUsed(response, "webhooks/webhookevent_list.html")
    assert 'id="webhook-events"' in response.content.decode()


def test_webhook_list_shows_unconfigured_secret(ops_client, settings):
    settings.LEAP_WEBHOOK_SECRET = ""
    assert "not configured" in ops_client.get(LIST).content.decode()


def test_webhook_list_filters_narrow(ops_client):
    make_events(2)
    queued = make_events(1, refreshed=False)[0]
    connect = make_events(
        1,
        refreshed=False,
        webhook_event_type="connect_session.updated",
        state=WebhookState.STORED,
        partner_reference="site-4711",
    )[0]
    for query, expected in [
        ({"state": "queued"}, {queued}),
        ({"webhook_event_type": "connect_session.updated"}, {connect}),
        ({"q": "site-4711"}, {connect}),
        ({"q": queued.meter_ids[0][:13]}, {queued}),
        ({"q": queued.webhook_event_id}, {queued}),
    ]:
        response = ops_client.get(LIST, query, headers=HTMX)
        shown = {row.record for row in response.context["table"].paginated_rows}
        assert shown == expected, query


@pytest.mark.parametrize("column", [c.name for c in WebhookEventTable([]).columns if c.orderable])
def test_webhook_list_every_orderable_column_sorts(ops_client, column):
    make_events(3)
    for sort in (column, f"-{column}"):
        assert ops_client.get(LIST, {"sort": sort}, headers=HTMX).status_code == 200


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_webhook_list_query_count_is_flat(ops_client, headers):
    make_events(2)
    few = count_get_queries(ops_client, LIST, headers)
    make_events(30)
    make_events(10, refreshed=False)
    assert count_get_queries(ops_client, LIST, headers) == few
    # session, user, user perms, group perms, page rows (with refresh and runs joined);
    # the full page adds the rejection counters, the queued refresh, the user menu's groups and
    # the "My actions" count.
    assert few <= (5 if headers else 9)


def test_webhook_pages_escape_leap_strings(ops_client):
    event = make_events(
        1,
        webhook_event_type=SCRIPT,
        partner_reference=SCRIPT,
        status=SCRIPT,
        body=msgspec.json.encode({"x": SCRIPT}).decode(),
        meter_ids=[],
    )[0]
    for url in (LIST, reverse("webhooks:webhook_event_detail", args=[event.pk])):
        content = ops_client.get(url).content.decode()
        assert SCRIPT not in content
        assert "&lt;script&gt;" in content


def test_webhook_detail_shows_body_meters_and_runs(ops_client):
    event = make_events(1, body='{"webhook_event_id":"abc","payload":{}}')[0]
    response = ops_client.get(reverse("webhooks:webhook_event_detail", args=[event.pk]))
    content = response.content.decode()
    assert "&quot;webhook_event_id&quot;: &quot;abc&quot;" in content
    assert reverse("meters:meter_detail", args=[event.meter_ids[0]]) in content
    assert reverse("sync_run_detail", args=[event.refresh.enrollments_run_id]) in content
