"""The actions inbox, action page, HTMX edits, notify, CSV export: access, fragments, queries."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertTemplateUsed

from actions.models import (
    ActionCatalogueEntry,
    ActionNote,
    ActionOwner,
    NoteKind,
    RequiredAction,
    WorkflowStatus,
)
from actions.services import reconcile
from tests.helpers import count_get_queries
from tests.meters.factories import MeterFactory, RequiredActionFactory, SiteFactory

pytestmark = pytest.mark.django_db
LIST = reverse("actions:action_list")
HX = {"HX-Request": "true"}


def _detail(action) -> str:
    return reverse("actions:action_detail", args=[action.pk])


def test_action_list_anonymous_redirects_to_login(client):
    assert client.get(LIST).status_code == 302


def test_action_list_outsider_is_forbidden(outsider_client):
    assert outsider_client.get(LIST).status_code == 403


def test_action_list_full_page_and_fragment(ops_client, customer_action):
    response = ops_client.get(LIST)
    assertTemplateUsed(response, "actions/action_list.html")
    assert b"REF-42" in response.content and b"Notify customers of selected" in response.content
    response = ops_client.get(LIST, headers=HX)
    assertTemplateUsed(response, "actions/partials/action_table.html")
    assert b'id="action-table"' in response.content and b"<html" not in response.content
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_action_list_soonest_deadline_first_and_partner_only(ops_client):
    now = timezone.now()
    late = RequiredActionFactory(enrollment_deadline_date_time=now + timedelta(days=9))
    soon = RequiredActionFactory(enrollment_deadline_date_time=now + timedelta(days=1))
    RequiredActionFactory(owner=ActionOwner.LEAP, action_code="LEAP_0001")
    RequiredActionFactory(resolved_at=now)
    rows = list(ops_client.get(LIST).context["table"].page.object_list)
    assert [row.record for row in rows] == [soon, late]


def test_action_list_leap_tab_is_display_only(ops_client):
    leap_action = RequiredActionFactory(owner=ActionOwner.LEAP, action_code="LEAP_0001")
    response = ops_client.get(LIST, {"side": "leap"})
    assert [r.record for r in response.context["table"].page.object_list] == [leap_action]
    assert b"Notify customers of selected" not in response.content
    page = ops_client.get(_detail(leap_action))
    assert b"display only" in page.content and b'name="assign_to_me"' not in page.content


@pytest.mark.parametrize("headers", [{}, HX])
def test_action_list_query_count_is_flat(ops_client, headers):
    RequiredActionFactory.create_batch(2)
    few = count_get_queries(ops_client, LIST, headers)
    for _ in range(25):
        RequiredActionFactory(meter=MeterFactory(site=None), assignee=None)
    RequiredActionFactory.create_batch(5, action_type="NO_MISSING_FIELDS", action_code="SERV_0005")
    assert count_get_queries(ops_client, LIST, headers) == few
    # session, user, user perms, group perms; catalogue, last sync, page rows, type counts;
    # the bulk bar's assignees; full page: user groups (menu), assignee choices. Nothing
    # reconciles here: the sync does. The person's saved views, list preference and groups (to
    # share a view with); on a full page the navigation's "My actions" count.
    assert few <= (12 if headers else 15)


def test_action_detail_query_count_is_flat(ops_client, customer_action, ops_user):
    url = _detail(customer_action)
    few = count_get_queries(ops_client, url)
    for n in range(10):
        ActionNote.objects.create(action=customer_action, text=f"note {n}", author=ops_user)
    assert count_get_queries(ops_client, url) == few


FILTER_CASES = [
    ({"action_type": "NO_MISSING_FIELDS"}, "staff"),
    ({"action_code": "serv_0005"}, "staff"),
    ({"program": "ERCOT-ERS"}, "staff"),
    ({"delivery_period": "P2"}, "staff"),
    ({"status": "in_progress"}, "staff"),
    ({"assignee": "none"}, "customer"),
    ({"assignee": "me"}, "staff"),
    ({"deadline": "past"}, "staff"),
    ({"region": "ERCOT"}, "staff"),
    ({"fixer": "operations"}, "staff"),
    ({"fixer": "customer"}, "customer"),
    ({"q": "REF-42"}, "customer"),
]


@pytest.mark.parametrize(("params", "expected"), FILTER_CASES)
def test_action_list_filters_narrow(ops_client, customer_action, params, expected):
    from django.contrib.auth import get_user_model

    me = get_user_model().objects.get(username="olivia")
    staff = RequiredActionFactory(
        action_type="NO_MISSING_FIELDS",
        action_code="SERV_0005",
        program_identifier="ERCOT-ERS",
        delivery_period="P2",
        status=WorkflowStatus.IN_PROGRESS,
        assignee=me,
        enrollment_deadline_date_time=timezone.now() - timedelta(hours=1),
        meter=MeterFactory(transmission_region="ERCOT"),
    )
    rows = [r.record for r in ops_client.get(LIST, params).context["table"].page.object_list]
    assert rows == [staff if expected == "staff" else customer_action]


def test_action_list_two_statuses_ticked_list_the_actions_of_either(ops_client, customer_action):
    waiting = RequiredActionFactory(status=WorkflowStatus.WAITING_ON_CUSTOMER)
    RequiredActionFactory(status=WorkflowStatus.IN_PROGRESS)
    params = {"status": [WorkflowStatus.NEW, WorkflowStatus.WAITING_ON_CUSTOMER]}
    response = ops_client.get(LIST, params)
    rows = {r.record for r in response.context["table"].page.object_list}
    assert rows == {customer_action, waiting}
    content = response.content.decode()
    assert 'type="checkbox" name="status" value="waiting_on_customer"' in content
    assert '<summary data-none="All but done">New, Waiting on customer</summary>' in content
    unfiltered = ops_client.get(LIST).content.decode()
    assert '<summary data-none="All but done">All but done</summary>' in unfiltered


def test_action_notify_followed_without_htmx_is_a_page(ops_client, customer_action):
    """The preview link works without JavaScript (or opened in a new tab): a whole page."""
    url = reverse("actions:action_notify", args=[customer_action.pk])
    response = ops_client.get(url)
    assertTemplateUsed(response, "actions/action_notify.html")
    content = response.content.decode()
    assert '<html lang="en">' in content and "<title>Email the customer" in content
    assert 'id="action-notify"' in content and "Send to ada@example.com" in content
    assert "HX-Request" in response["Vary"]


def test_action_list_counts_per_type(ops_client, customer_action):
    RequiredActionFactory.create_batch(2, action_type="NO_MISSING_FIELDS", action_code="SERV_0005")
    counts = {row["action_type"]: row["n"] for row in ops_client.get(LIST).context["type_counts"]}
    assert counts == {"NO_MISSING_FIELDS": 2, "IS_AUTHORIZED": 1}


def test_action_list_flags_code_the_sync_catalogued(ops_client):
    RequiredActionFactory(action_type="IS_AUTHORIZED", action_code="AUTH_0777")
    reconcile()  # what a succeeded enrollments run does (actions.receivers)
    assert ActionCatalogueEntry.objects.get(action_code="AUTH_0777").needs_review
    assert b"new code" in ops_client.get(LIST).content


def _writes(client, url: str, headers: dict[str, str]) -> list[str]:
    """The INSERT, UPDATE and DELETE statements one GET of `url` runs."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers)
    assert response.status_code == 200
    sqls = [query["sql"].lstrip().upper() for query in captured.captured_queries]
    return [sql for sql in sqls if sql.startswith(("INSERT", "UPDATE", "DELETE"))]


@pytest.mark.parametrize("headers", [{}, HX, {**HX, "HX-Target": "action-workflow"}])
def test_action_pages_get_never_writes(ops_client, customer_action, headers):
    # A code nobody catalogued and a deadline never recorded: the sync's work, not a page's.
    new = RequiredActionFactory(action_code="AUTH_0777")
    assert _writes(ops_client, LIST, headers) == []
    assert _writes(ops_client, _detail(customer_action), headers) == []
    assert _writes(ops_client, _detail(new), headers) == []
    assert not ActionCatalogueEntry.objects.filter(action_code="AUTH_0777").exists()
    new.refresh_from_db()
    assert new.seen_deadline is None


def test_action_pages_escape_leap_text(ops_client):
    action = RequiredActionFactory(
        action_type="NO_MISSING_FIELDS",
        action_code="SERV_0002",
        action_description="There are missing fields: <script>alert(1)</script> & tariff",
    )
    response = ops_client.get(_detail(action))
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; &amp; tariff" in response.content


def test_action_detail_shows_meter_customer_next_step(ops_client, customer_action):
    response = ops_client.get(_detail(customer_action))
    assertTemplateUsed(response, "actions/action_detail.html")
    content = response.content.decode()
    assert str(customer_action.meter.meter_id) in content and "ada@example.com" in content
    assert "re-authorisation link" in content  # the catalogue's next step


def test_action_detail_history_fragment(ops_client, customer_action):
    ActionNote.objects.create(action=customer_action, text="called them", author=None)
    response = ops_client.get(
        _detail(customer_action), headers={**HX, "HX-Target": "action-history-list"}
    )
    assertTemplateUsed(response, "actions/partials/action_history_list.html")
    content = response.content.decode()
    assert 'id="action-history-list"' in content and "called them" in content
    assert "<html" not in content
    # The refresh swaps the list only, so a note being typed in the form beside it survives.
    assert "<form" not in content and 'name="text"' not in content
    assert 'hx-target="this"' in content  # and its next refresh replaces the list alone again
    response = ops_client.get(
        _detail(customer_action), headers={**HX, "HX-Target": "action-workflow"}
    )
    assertTemplateUsed(response, "actions/partials/action_workflow.html")


def test_action_workflow_manager_is_read_only(manager_client, customer_action):
    url = reverse("actions:action_workflow", args=[customer_action.pk])
    assert manager_client.post(url, {"status": "done"}).status_code == 403
    note_url = reverse("actions:action_note_add", args=[customer_action.pk])
    assert manager_client.post(note_url, {"text": "hi"}).status_code == 403
    assert manager_client.get(_detail(customer_action)).status_code == 200


def test_action_workflow_htmx_status_and_assign_to_me(ops_client, customer_action):
    url = reverse("actions:action_workflow", args=[customer_action.pk])
    response = ops_client.post(url, {"assign_to_me": "1"}, headers=HX)
    assertTemplateUsed(response, "actions/partials/action_workflow.html")
    assert response["HX-Trigger"] == "action-changed"
    customer_action.refresh_from_db()
    assert customer_action.assignee.username == "olivia"
    assert customer_action.status == WorkflowStatus.IN_PROGRESS
    response = ops_client.post(url, {"status": "done", "assignee": "olivia"}, headers=HX)
    customer_action.refresh_from_db()
    assert customer_action.status == WorkflowStatus.DONE
    kinds = set(customer_action.notes.values_list("kind", flat=True))
    assert {NoteKind.ASSIGNMENT, NoteKind.STATUS} <= kinds


def test_action_workflow_invalid_returns_fragment_200(ops_client, customer_action):
    url = reverse("actions:action_workflow", args=[customer_action.pk])
    response = ops_client.post(url, {"status": "bogus"}, headers=HX)
    assert response.status_code == 200 and b"errorlist" in response.content


def test_action_note_add_htmx(ops_client, customer_action):
    url = reverse("actions:action_note_add", args=[customer_action.pk])
    response = ops_client.post(url, {"text": "Left a <i>voicemail</i>"}, headers=HX)
    assertTemplateUsed(response, "actions/partials/action_history.html")
    assert b"Left a &lt;i&gt;voicemail&lt;/i&gt;" in response.content
    assert ops_client.post(url, {"text": "  "}, headers=HX).status_code == 200
    assert customer_action.notes.count() == 1


def test_action_notify_preview_then_send_once(ops_client, customer_action):
    url = reverse("actions:action_notify", args=[customer_action.pk])
    preview = ops_client.get(url, headers=HX)
    token = preview.context["token"]
    assert b"Send to ada@example.com" in preview.content and mail.outbox == []
    first = ops_client.post(url, {"token": token}, headers=HX)
    second = ops_client.post(url, {"token": token}, headers=HX)
    assert b"Email sent" in first.content and b"Nothing was sent again" in second.content
    assert len(mail.outbox) == 1


def test_action_notify_html_is_framed_with_inline_styles_and_no_scripts(
    ops_client, customer_action
):
    """The email needs inline styles; only its own response, framed by us, may use them."""
    fragment = ops_client.get(
        reverse("actions:action_notify", args=[customer_action.pk]), headers=HX
    ).content.decode()
    url = reverse("actions:action_notify_html", args=[customer_action.pk])
    assert f'sandbox src="{url}"' in fragment and "srcdoc" not in fragment
    response = ops_client.get(url)
    assert response.status_code == 200 and response["X-Frame-Options"] == "SAMEORIGIN"
    policy = [d.strip() for d in response["Content-Security-Policy"].split(";")]
    assert "style-src 'unsafe-inline'" in policy and "default-src 'none'" in policy
    assert "sandbox" in policy and "frame-ancestors 'self'" in policy
    assert not [d for d in policy if d.startswith("script-src")]
    html = response.content.decode()
    assert 'style="' in html and "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in html  # as sent
    page_policy = ops_client.get(_detail(customer_action))["Content-Security-Policy"]
    assert "unsafe-inline" not in page_policy and "frame-src 'self'" in page_policy


def test_action_notify_html_is_404_when_it_cannot_be_sent(ops_client, customer_action):
    customer_action.meter.end_customer_email = ""
    customer_action.meter.save()
    url = reverse("actions:action_notify_html", args=[customer_action.pk])
    assert ops_client.get(url).status_code == 404


def test_action_notify_refuses_without_email(ops_client, customer_action):
    customer_action.meter.end_customer_email = ""
    customer_action.meter.save()
    url = reverse("actions:action_notify", args=[customer_action.pk])
    assert b"No customer email" in ops_client.get(url, headers=HX).content
    assert b"No customer email" in ops_client.post(url, {"token": "e" * 32}, headers=HX).content
    assert mail.outbox == []


def test_action_notify_refuses_until_the_partners_contact_is_configured(
    ops_client, customer_action, settings
):
    settings.PARTNER_SUPPORT_EMAIL = settings.PARTNER_SUPPORT_URL = ""
    url = reverse("actions:action_notify", args=[customer_action.pk])
    preview = ops_client.get(url, headers=HX).content.decode()
    assert "Cannot email the customer" in preview and "PARTNER_SUPPORT_EMAIL" in preview
    assert "Send to" not in preview
    sent = ops_client.post(url, {"token": "e" * 32}, headers=HX).content.decode()
    assert "Not sent" in sent and "PARTNER_SUPPORT_URL" in sent
    frame = reverse("actions:action_notify_html", args=[customer_action.pk])
    assert ops_client.get(frame).status_code == 404
    assert mail.outbox == []


def test_action_export_csv_is_filtered_and_neutralised(ops_client, customer_action):
    RequiredActionFactory(
        action_type="NO_MISSING_FIELDS",
        action_code="SERV_0005",
        action_description='=HYPERLINK("http://evil")',
    )
    response = ops_client.get(
        reverse("actions:action_export"), {"action_type": "NO_MISSING_FIELDS"}
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2 and rows[1][2] == "NO_MISSING_FIELDS"
    assert rows[1][-1].startswith("'=")


def test_meter_page_links_to_action_page(ops_client, customer_action):
    response = ops_client.get(reverse("meters:meter_detail", args=[customer_action.meter.meter_id]))
    assert _detail(customer_action).encode() in response.content


def test_inbox_open_action_count_matches_db(ops_client):
    RequiredActionFactory.create_batch(3)
    assert RequiredAction.objects.open().count() == 3


@pytest.mark.parametrize("typed", ["ZOE dubois", "Dépôt Nord", "ref-42", "lovelace"])
def test_action_list_search_ignores_accents_and_case(ops_client, customer_action, typed):
    site = SiteFactory(name="Depot Nord")
    other = RequiredActionFactory(meter=MeterFactory(end_customer_name="Zoë Dubois", site=site))
    rows = [r.record for r in ops_client.get(LIST, {"q": typed}).context["table"].page.object_list]
    assert rows == [customer_action if typed in ("ref-42", "lovelace") else other]


def test_done_actions_leave_the_default_inbox_and_stay_one_filter_away(ops_client):
    from actions.models import WorkflowStatus
    from tests.meters.factories import RequiredActionFactory

    todo = RequiredActionFactory(owner="partner")
    done = RequiredActionFactory(owner="partner", status=WorkflowStatus.DONE)
    url = reverse("actions:action_list")
    shown = {row.record.pk for row in ops_client.get(url).context["table"].rows}
    assert todo.pk in shown and done.pk not in shown
    response = ops_client.get(url, {"status": ["done"]})
    assert {row.record.pk for row in response.context["table"].rows} == {done.pk}


def test_the_email_list_refreshes_itself_after_a_send(ops_client):
    from tests.meters.factories import RequiredActionFactory

    action = RequiredActionFactory(owner="partner")
    url = reverse("actions:action_detail", args=[action.pk])
    page = ops_client.get(url).content.decode()
    assert 'id="action-emails"' in page and 'hx-trigger="action-changed from:body"' in page
    fragment = ops_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="action-emails")
    assert 'id="action-emails"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode()


def test_an_action_whose_meter_has_no_partner_reference_still_links_to_it(ops_client):
    from tests.meters.factories import MeterFactory, RequiredActionFactory

    meter = MeterFactory(partner_reference="")
    RequiredActionFactory(owner="partner", meter=meter)
    page = ops_client.get(reverse("actions:action_list")).content.decode()
    assert reverse("meters:meter_detail", args=[meter.meter_id]) in page
