"""Saved views, default views, column choices, "My actions" and the profile page."""

from __future__ import annotations

import re
from uuid import UUID

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from actions.models import ActionOwner, RequiredAction, WorkflowStatus
from leapsync.leap.enums import EnrollmentStatus, TransmissionRegion
from leapsync.preferences.models import ListPage, ListPreference, SavedView
from meters.models import Meter

pytestmark = pytest.mark.django_db

METERS = reverse("meters:meter_list")
ACTIONS = reverse("actions:action_list")
SAVE = reverse("preferences:view_save")


@pytest.fixture
def inventory(db) -> list[Meter]:
    from enrollments.models import MeterEnrollment

    meters = []
    regions = [TransmissionRegion.PJM, TransmissionRegion.CAISO, TransmissionRegion.PJM]
    for n in range(30):
        meter = Meter.objects.create(
            meter_id=UUID(int=(n + 1) << 96),
            transmission_region=regions[n % 3],
            end_customer_name=f"Customer {n:02d}",
        )
        status = EnrollmentStatus.ACTIVE if n % 2 else EnrollmentStatus.ELIGIBLE
        MeterEnrollment.objects.create(
            meter=meter,
            global_enrollment_status=status,
            enrollment_raw={},
            synced_at=timezone.now(),
        )
        meters.append(meter)
    return meters


def _rows(response) -> list[str]:
    return re.findall(r'href="/meters/([0-9a-f-]{36})/"', response.content.decode())


def _final(client: Client, url: str):
    response = client.get(url, follow=True)
    assert response.status_code == 200
    return response


def test_a_saved_view_reproduces_exactly_the_list_it_saved(inventory, ops_client):
    query = "region=PJM&global_status=ACTIVE&sort=-end_customer_name"
    expected = _rows(_final(ops_client, f"{METERS}?{query}"))
    assert expected and len(expected) < len(inventory)

    saved = ops_client.post(
        SAVE, {"page": "meters", "query": query + "&page=2", "name": " PJM  active "}
    )
    view = SavedView.objects.get()
    assert (view.name, view.query) == ("PJM active", query + "&page=2")
    assert saved["Location"] == f"{METERS}?view={view.pk}"

    opened = _final(ops_client, saved["Location"])
    assert opened.redirect_chain[-1][0] == f"{METERS}?{query}"  # the page number is not kept
    assert _rows(opened) == expected
    assert 'aria-current="true">PJM active</a>' in opened.content.decode()


def test_the_default_view_opens_the_bare_list_and_reset_shows_everything(inventory, ops_client):
    ops_client.post(
        SAVE, {"page": "meters", "query": "region=CAISO", "name": "West", "default": "1"}
    )
    opened = _final(ops_client, METERS)
    assert opened.redirect_chain[-1][0] == f"{METERS}?region=CAISO"
    assert len(_rows(opened)) == 10
    assert len(_rows(_final(ops_client, f"{METERS}?reset=1"))) == 30
    # An empty default view opens the whole list without bouncing back to itself.
    ops_client.post(SAVE, {"page": "meters", "query": "", "name": "All", "default": "1"})
    assert _final(ops_client, METERS).redirect_chain[-1][0] == f"{METERS}?reset=1"


def test_a_view_with_a_filter_this_list_no_longer_has_opens_without_it_and_says_so(
    inventory, ops_client
):
    owner = ops_client.session["_auth_user_id"]
    view = SavedView.objects.create(
        owner_id=owner, page=ListPage.METERS, name="Old", query="region=PJM&colour=red&page=3"
    )
    opened = _final(ops_client, f"{METERS}?view={view.pk}")
    assert opened.redirect_chain[-1][0] == f"{METERS}?region=PJM"
    body = opened.content.decode()
    assert "“colour”" in body and "no longer has" in body
    assert len(_rows(opened)) == 20


def test_views_are_shared_with_a_group_and_no_one_else(inventory, ops_client, groups):
    operations = Group.objects.get(name="Operations")
    ops_client.post(
        SAVE,
        {"page": "meters", "query": "region=PJM", "name": "Team", "shared_with": operations.pk},
    )
    view = SavedView.objects.get()
    colleague = get_user_model().objects.create_user("colleague", password="unused-pass-1")
    colleague.groups.add(operations)
    manager = get_user_model().objects.create_user("boss", password="unused-pass-1")
    manager.groups.add(Group.objects.get(name="Managers"))
    as_colleague, as_manager = Client(), Client()
    as_colleague.force_login(colleague)
    as_manager.force_login(manager)

    page = _final(as_colleague, METERS).content.decode()
    assert f'?view={view.pk}"' in page and "Shared with me" in page
    assert (
        _final(as_colleague, f"{METERS}?view={view.pk}")
        .redirect_chain[-1][0]
        .endswith("?region=PJM")
    )
    refused = _final(as_manager, f"{METERS}?view={view.pk}")
    assert "does not exist, or is not shared with you" in refused.content.decode()
    # Only the owner deletes it; a group may not be chosen by someone outside it.
    assert as_colleague.post(reverse("preferences:view_delete", args=[view.pk])).status_code == 404
    as_manager.post(
        SAVE, {"page": "meters", "query": "", "name": "Sneaky", "shared_with": operations.pk}
    )
    assert not SavedView.objects.filter(name="Sneaky").exists()


def test_columns_chosen_are_kept_per_person_and_required_ones_stay(inventory, ops_client):
    response = ops_client.post(
        reverse("preferences:columns_save"),
        {
            "page": "meters",
            "offered": ["meter_id", "site", "leap_updated_at", "customer_group", "bogus"],
            "shown": ["customer_group"],
            "next": f"{METERS}?region=PJM",
        },
    )
    assert response["Location"] == f"{METERS}?region=PJM"
    preference = ListPreference.objects.get()
    assert preference.hidden_columns == ["bogus", "leap_updated_at", "meter_id", "site"]
    body = _final(ops_client, f"{METERS}?reset=1").content.decode()
    head = body.split("<thead>")[1].split("</thead>")[0]
    assert "Meter id" in head or "meter_id" in head.lower()  # required: never hidden
    assert "Leap updated" not in head and ">Site<" not in head
    assert len(_rows(_final(ops_client, f"{METERS}?reset=1"))) == 30

    ops_client.post(reverse("preferences:columns_save"), {"page": "meters", "reset": "1"})
    head = _final(ops_client, f"{METERS}?reset=1").content.decode().split("</thead>")[0]
    assert "Leap updated" in head


def test_my_actions_count_is_the_inbox_assigned_to_me(inventory, ops_client):
    me = get_user_model().objects.get(pk=ops_client.session["_auth_user_id"])
    now = timezone.now()
    for n, (status, resolved) in enumerate(
        [
            (WorkflowStatus.IN_PROGRESS, None),
            (WorkflowStatus.NEW, None),
            (WorkflowStatus.DONE, None),  # done: off my list
            (WorkflowStatus.IN_PROGRESS, now),  # resolved by Leap: off my list
        ]
    ):
        RequiredAction.objects.create(
            meter=inventory[n],
            owner=ActionOwner.PARTNER,
            action_type="UTILITY_AUTHORIZATION",
            action_code=f"C{n}",
            first_seen_at=now,
            last_seen_at=now,
            status=status,
            assignee=me,
            resolved_at=resolved,
        )
    page = ops_client.get(reverse("dashboard")).content.decode()
    assert re.search(r'My actions <span class="count">2</span>', page)
    inbox = ops_client.get(f"{ACTIONS}?assignee=me").content.decode()
    assert len(re.findall(r'name="pk" value="\d+"', inbox)) == 2


def test_profile_lists_views_and_sets_the_default(inventory, ops_client):
    ops_client.post(SAVE, {"page": "meters", "query": "region=PJM", "name": "PJM"})
    ops_client.post(SAVE, {"page": "actions", "query": "status=new", "name": "New ones"})
    view = SavedView.objects.get(name="PJM")
    page = ops_client.get(reverse("preferences:profile")).content.decode()
    assert "PJM" in page and "New ones" in page and "Make default" in page
    ops_client.post(reverse("preferences:view_default", args=[view.pk]))
    assert ListPreference.objects.get(page="meters").default_view == view
    ops_client.post(reverse("preferences:view_default", args=[view.pk]), {"clear": "1"})
    assert ListPreference.objects.get(page="meters").default_view is None
    ops_client.post(reverse("preferences:view_delete", args=[view.pk]))
    assert not SavedView.objects.filter(pk=view.pk).exists()


def test_saved_view_names_and_queries_are_text(inventory, ops_client):
    ops_client.post(
        SAVE, {"page": "meters", "query": "q=<script>x</script>", "name": "<b>bold</b>"}
    )
    page = ops_client.get(reverse("preferences:profile")).content.decode()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script>x" not in page


def test_profile_shows_where_the_digest_goes(groups, manager_client):
    from enrollments.models import DigestCadence, DigestSubscription

    user = get_user_model().objects.get(pk=manager_client.session["_auth_user_id"])
    page = manager_client.get(reverse("preferences:profile")).content.decode()
    assert "not subscribed" in page
    DigestSubscription.objects.create(
        user=user, cadence=DigestCadence.DAILY, email="desk@example.com"
    )
    page = manager_client.get(reverse("preferences:profile")).content.decode()
    assert "Daily, to desk@example.com" in page


def test_a_list_page_reads_the_persons_groups_once(inventory, ops_client):
    with CaptureQueriesContext(connection) as captured:
        response = ops_client.get(METERS)

    assert response.status_code == 200
    group_reads = [q for q in captured.captured_queries if '"auth_group"."name"' in q["sql"]]
    assert len(group_reads) == 1  # the views bar (sharing) and the user menu share it
    assert "Operations" in response.content.decode()
