"""The change log: every history event, staff work included, filtered and paged by keyset."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from uuid import UUID

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from actions.models import ActionOwner, RequiredAction, WorkflowStatus
from actions.services import assign, set_due_date, set_status
from meters.models import EventKind, Meter, MeterEvent, Site

pytestmark = pytest.mark.django_db

URL = reverse("meters:change_log")
EXPORT = reverse("meters:change_log_export")


def _meter(n: int, **fields) -> Meter:
    return Meter.objects.create(meter_id=UUID(int=(n << 96) | 0xABCDEF), **fields)


def _event(meter: Meter, at, **fields) -> MeterEvent:
    fields.setdefault("kind", EventKind.GLOBAL_STATUS)
    return MeterEvent.objects.create(meter=meter, observed_at=at, **fields)


def _ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'data-event="(\d+)"', response.content.decode())]


@pytest.fixture
def action(db) -> RequiredAction:
    now = timezone.now()
    return RequiredAction.objects.create(
        meter=_meter(1),
        owner=ActionOwner.PARTNER,
        program_identifier="PJM-CAP",
        action_type="UTILITY_AUTHORIZATION",
        action_code="UA_1",
        delivery_period="PJM-CAP_2027",
        first_seen_at=now,
        last_seen_at=now,
    )


def test_staff_work_on_an_action_is_in_the_log_with_who_and_what(action, ops_client):
    User = get_user_model()
    olivia = User.objects.create_user("olivia-w", password="unused-pass-1")
    max_ = User.objects.create_user("max-w", password="unused-pass-1")
    assign(action, max_, actor=olivia)  # also moves it from new to in progress
    set_due_date(action, date(2027, 1, 15), actor=olivia)
    set_status(action, WorkflowStatus.DONE, actor=max_)

    events = MeterEvent.objects.filter(kind=EventKind.ACTION_WORKFLOW).order_by("pk")
    assert [(e.field, e.old, e.new, e.user.username) for e in events] == [
        ("assignee", "", "max-w", "olivia-w"),
        ("status", "new", "in_progress", "olivia-w"),
        ("due_date", "", "2027-01-15", "olivia-w"),
        ("status", "in_progress", "done", "max-w"),
    ]
    assert {
        (e.meter_id, e.owner, e.action_type, e.action_code, e.program_identifier) for e in events
    } == {(action.meter_id, ActionOwner.PARTNER, "UTILITY_AUTHORIZATION", "UA_1", "PJM-CAP")}
    # The action's slice of the log: these four, and nothing of another action on the meter.
    _event(action.meter, timezone.now(), kind=EventKind.ACTION_ADDED, action_code="OTHER")
    page = ops_client.get(URL, {"action": action.pk})
    assert sorted(_ids(page)) == [e.pk for e in events]
    assert "UTILITY_AUTHORIZATION UA_1" in page.content.decode()


@pytest.fixture
def history(db):
    """130 events over three days on three meters, some sharing an instant (a sync writes many
    events at one time), a few by a person."""
    now = timezone.now().replace(microsecond=0)
    site = Site.objects.create(external_id="SITE-9", name="Nine")
    meters = [_meter(10), _meter(11, site=site), _meter(12)]
    user = get_user_model().objects.create_user("ana", password="unused-pass-1")
    events = []
    for i in range(130):
        at = now - timedelta(hours=(i // 5))  # five events at each instant
        meter = meters[i % 3]
        kind = EventKind.SITE_MAPPED if i % 10 == 0 else EventKind.PROGRAM_STATUS
        events.append(
            _event(
                meter,
                at,
                kind=kind,
                field="enrollment_status" if kind == EventKind.PROGRAM_STATUS else "by hand",
                program_identifier="NYISO-SCR" if i % 2 else "CAISO-DRAM",
                delivery_period=f"P{i % 4}",
                old="ELIGIBLE",
                new="ACTIVE",
                user=user if kind == EventKind.SITE_MAPPED else None,
            )
        )
    return {"events": events, "meters": meters, "user": user, "now": now}


def _newest_first(events) -> list[int]:
    return [e.pk for e in sorted(events, key=lambda e: (e.observed_at, e.pk), reverse=True)]


def test_paging_older_then_newer_visits_every_event_once_in_order(history, ops_client):
    seen, pages, params = [], [], {}
    while True:
        response = ops_client.get(URL, params)
        assert response.status_code == 200
        ids = _ids(response)
        pages.append((dict(params), ids))
        seen += ids
        match = re.search(r'href="\?before=(\d+)"', response.content.decode())
        if not match:
            break
        params = {"before": match.group(1)}
    assert seen == _newest_first(history["events"])
    assert [len(ids) for _, ids in pages] == [50, 50, 30]
    assert "The oldest change" in response.content.decode()
    # Back up from the last page: "newer" gives exactly the page before it.
    newer = re.search(r'href="\?after=(\d+)"', response.content.decode()).group(1)
    assert _ids(ops_client.get(URL, {"after": newer})) == pages[1][1]


def test_each_filter_narrows_to_exactly_its_events(history, ops_client):
    events, meters, now = history["events"], history["meters"], history["now"]
    cases = {
        "kind": ({"kind": EventKind.SITE_MAPPED}, lambda e: e.kind == EventKind.SITE_MAPPED),
        "field": ({"field": "by hand"}, lambda e: e.field == "by hand"),
        "program": ({"program": "NYISO-SCR"}, lambda e: e.program_identifier == "NYISO-SCR"),
        "period": (
            {"program": "NYISO-SCR", "period": "P1"},
            lambda e: e.program_identifier == "NYISO-SCR" and e.delivery_period == "P1",
        ),
        "meter, short id": (
            {"meter": str(meters[1].meter_id)[:8]},
            lambda e: e.meter_id == meters[1].pk,
        ),
        "site": ({"site": "SITE-9"}, lambda e: e.meter_id == meters[1].pk),
        "user": ({"user": "ana"}, lambda e: e.user_id == history["user"].pk),
        "dates": (
            {
                "since": timezone.localdate(now).isoformat(),
                "until": timezone.localdate(now).isoformat(),
            },
            lambda e: timezone.localdate(e.observed_at) == timezone.localdate(now),
        ),
    }
    for name, (params, wanted) in cases.items():
        expected = _newest_first(filter(wanted, events))
        assert expected, name
        shown = _ids(ops_client.get(URL, params))
        assert shown == expected[:50], name
        rows = list(
            csv.reader(
                io.StringIO(b"".join(ops_client.get(EXPORT, params).streaming_content).decode())
            )
        )
        assert [int(r[0]) for r in rows[1:]] == expected, name


def test_bad_filters_and_links_get_a_message_not_an_error(history, ops_client):
    response = ops_client.get(URL, {"since": "yesterday", "before": "99999999"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Enter a valid date" in body
    assert "no longer leads anywhere" in body
    assert (
        _ids(ops_client.get(URL, {"before": "x'; drop"})) == _newest_first(history["events"])[:50]
    )
    assert _ids(ops_client.get(URL, {"meter": "not-an-id"})) == []
    assert (
        "No change matches these filters." in ops_client.get(URL, {"meter": "zz"}).content.decode()
    )


def test_the_page_costs_the_same_few_queries_however_deep_and_however_many_events(
    history, ops_client
):
    def queries(params) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert ops_client.get(URL, params).status_code == 200
        return len(captured)

    first = queries({})
    deep = queries({"before": str(_newest_first(history["events"])[60]), "kind": "program_status"})
    more = [_meter(100 + i) for i in range(20)]
    for meter in more:
        _event(meter, history["now"], user=history["user"])
    assert queries({}) == first
    assert deep <= first + 1  # the cursor's row
    assert first <= 8, first


def test_export_is_csv_safe_and_markup_is_text_on_the_page(history, ops_client):
    meter = history["meters"][0]
    hostile = _event(meter, timezone.now(), old='=HYPERLINK("x")', new="<script>alert(1)</script>")
    body = ops_client.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body
    rows = list(
        csv.reader(io.StringIO(b"".join(ops_client.get(EXPORT).streaming_content).decode()))
    )
    row = next(r for r in rows if r[0] == str(hostile.pk))
    assert row[11] == '\'=HYPERLINK("x")'


def test_meter_site_action_and_dashboard_link_to_their_slice(history, action, ops_client):
    meter, site = history["meters"][1], Site.objects.get(external_id="SITE-9")
    pages = {
        reverse("meters:meter_detail", args=[meter.meter_id]): f"?meter={meter.meter_id}",
        reverse("meters:site_detail", args=[site.pk]): "?site=SITE-9",
        reverse("actions:action_detail", args=[action.pk]): f"?action={action.pk}",
        reverse("dashboard"): '"',
    }
    for page, query in pages.items():
        assert f'href="{URL}{query}' in ops_client.get(page).content.decode(), page


def test_a_kind_filter_walks_the_index_without_a_distinct(history):
    from meters.changes import ChangeLogFilterSet

    filterset = ChangeLogFilterSet({"kind": ["site_mapped", "program_status"]})
    assert filterset.is_valid()
    assert not filterset.qs.query.distinct
