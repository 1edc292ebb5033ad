"""The review queue over stored candidates: order, filters, the score's parts, bulk accept."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from leapsync.models import RunStatus, SyncRun
from meters import candidates
from meters.models import EventKind, MatchCandidate, MatchReason, Meter, MeterEvent, Site
from meters.receivers import score_after_run
from meters.services import map_meter, mark_no_site, unmap_meter
from tests.helpers import count_get_queries
from tests.meters.factories import MeterFactory, SiteFactory

pytestmark = pytest.mark.django_db
QUEUE = "meters:mapping_queue"
HTMX = {"HX-Request": "true"}


def _candidate(meter: Meter, site: Site | None, score: int, reason: str, **fields) -> None:
    now = timezone.now()
    MatchCandidate.objects.create(
        meter=meter,
        site=site,
        score=score,
        reason=reason,
        identified=reason in (MatchReason.REFERENCE, MatchReason.ACCOUNT),
        computed_at=now,
        changed_at=now,
        **fields,
    )


@pytest.fixture
def ranked() -> dict[str, Meter]:
    """Stored candidates of every kind, and a meter not scored yet."""
    meters = {name: MeterFactory(end_customer_name=name) for name in NAMES}
    site = SiteFactory(external_id="S-HARTFORD", name="Hartford Dental")
    _candidate(meters["account"], site, 100, MatchReason.ACCOUNT, account_match=True)
    _candidate(meters["reference"], site, 40, MatchReason.REFERENCE, reference_score=100)
    _candidate(meters["address"], site, 80, MatchReason.ADDRESS, address_score=90)
    _candidate(meters["name"], site, 53, MatchReason.NAME, name_score=53, address_score=12)
    _candidate(meters["nothing"], None, 0, "")
    return meters


NAMES = ("account", "reference", "address", "name", "nothing", "unscored")


def _order(client: Client, **params) -> list[str]:
    content = client.get(reverse(QUEUE), params).content.decode()
    ids = re.findall(r'id="queue-row-([0-9a-f-]+)"', content)
    names = {str(m.meter_id): m.end_customer_name for m in Meter.objects.all()}
    return [names[i] for i in ids]


def test_queue_puts_the_strongest_candidate_first(ops_client, ranked):
    # An exact account number or reference match, then by score; a name-only 53 after them;
    # scored meters with nothing found, then meters not scored yet: nothing is hidden.
    assert _order(ops_client) == [
        "account",
        "reference",
        "address",
        "name",
        "nothing",
        "unscored",
    ]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("score", ["account", "address", "name", "reference", "nothing", "unscored"]),
        ("score_asc", ["nothing", "reference", "name", "address", "account", "unscored"]),
        ("reason", ["reference", "account", "address", "name", "nothing", "unscored"]),
    ],
)
def test_queue_sorts_by_score_and_by_reason(ops_client, ranked, sort, expected):
    assert _order(ops_client, sort=sort) == expected


def test_queue_filters_by_reason_and_min_score(ops_client, ranked):
    assert _order(ops_client, reason="name") == ["name"]
    assert _order(ops_client, reason="account") == ["account"]
    assert _order(ops_client, min_score=50) == ["account", "address", "name"]
    assert _order(ops_client, min_score=50, reason="address") == ["address"]
    response = ops_client.get(reverse(QUEUE), {"min_score": 101})
    assert response.context["filterset"].errors  # bounded: never a database error


def test_queue_row_shows_the_score_parts_and_reason_as_text(ops_client, ranked):
    content = ops_client.get(reverse(QUEUE), {"reason": "name"}).content.decode()
    row = content[content.index('id="queue-row-') :]
    text = re.sub(r"<[^>]+>", " ", row)  # visible text only, never a tooltip
    assert re.search(r"53\s+Name\s+S-HARTFORD", text)
    assert "name 53 · address 12 · postal 0 · reference 0" in text


def test_queue_row_escapes_leap_and_site_strings(ops_client):
    meter = MeterFactory(end_customer_name="<b>Bold</b> & co")
    site = SiteFactory(name="<script>x</script>")
    _candidate(meter, site, 70, MatchReason.NAME, name_score=70)
    content = ops_client.get(reverse(QUEUE)).content.decode()
    assert "<script>x</script>" not in content and escape("<script>x</script>") in content
    assert "<b>Bold</b>" not in content and escape("<b>Bold</b> & co") in content


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_queue_query_count_does_not_grow_with_rows(
    ops_client, headers, django_assert_max_num_queries
):
    site = SiteFactory()
    for meter in MeterFactory.create_batch(2, status="ACTIVE"):
        _candidate(meter, site, 60, MatchReason.NAME)
    few = count_get_queries(ops_client, reverse(QUEUE), headers)
    for meter in MeterFactory.create_batch(20, status="ACTIVE"):
        _candidate(meter, SiteFactory(), 70, MatchReason.ADDRESS)
    # session, user, user perms, group perms, count, rows with their candidate and its site
    # (joined), their open partner_reference changes; the full page adds the user's groups and
    # the "My actions" count
    with django_assert_max_num_queries(few):
        ops_client.get(reverse(QUEUE), headers=headers)
    assert few <= 9


# --- scoring ----------------------------------------------------------------------------------


def test_scoring_stores_each_waiting_meters_best_candidate_with_its_reason():
    site = SiteFactory(
        external_id="S-1",
        name="Ann Lee",
        street="1 Oak Ave",
        postal_code="94110",
        utility_account_number="ACC-9",
    )
    by_account = MeterFactory(electric_service_account_number="acc 9", partner_reference="")
    by_reference = MeterFactory(partner_reference="S-1", electric_service_account_number="")
    by_address = MeterFactory(
        street_1="1 Oak Avenue", postal_code="94110", end_customer_name="Zed", partner_reference=""
    )
    by_name = MeterFactory(end_customer_name="Ann Lee", street_1="", partner_reference="")
    lonely = MeterFactory(end_customer_name="Nobody", street_1="", partner_reference="")
    mapped = MeterFactory(site=site)
    assert candidates.score_all() == 5
    stored = {c.meter_id: c for c in MatchCandidate.objects.all()}
    assert set(stored) == {m.pk for m in (by_account, by_reference, by_address, by_name, lonely)}
    assert stored[by_account.pk].reason == MatchReason.ACCOUNT
    assert stored[by_account.pk].score == 100 and stored[by_account.pk].identified
    assert stored[by_reference.pk].reason == MatchReason.REFERENCE
    assert stored[by_reference.pk].identified and stored[by_reference.pk].reference_score == 100
    assert stored[by_address.pk].reason == MatchReason.ADDRESS
    assert stored[by_address.pk].postal_score == 100 and not stored[by_address.pk].identified
    assert stored[by_name.pk].reason == MatchReason.NAME and stored[by_name.pk].name_score == 100
    assert stored[lonely.pk].site is None and stored[lonely.pk].score == 0
    assert mapped.pk not in stored


def test_a_candidate_goes_when_its_meter_is_mapped_or_marked_and_comes_back_with_undo(ops_client):
    user = get_user_model().objects.create_user("u1")
    site = SiteFactory(name="Ann Lee")
    meter = MeterFactory(end_customer_name="Ann Lee")
    candidates.score_all()
    map_meter(meter, site, actor=user, source="manual")
    assert not MatchCandidate.objects.filter(meter=meter).exists()
    unmap_meter(meter, actor=user)
    assert MatchCandidate.objects.get(meter=meter).site == site
    mark_no_site(meter, actor=user)
    assert not MatchCandidate.objects.filter(meter=meter).exists()


def test_stale_scoring_rescores_new_and_changed_meters_only():
    SiteFactory(name="Ann Lee")
    old = MeterFactory(end_customer_name="Ann Lee")
    candidates.score_all()
    first = MatchCandidate.objects.get(meter=old)
    assert candidates.score_stale() == 0
    new = MeterFactory(end_customer_name="Ann Lee")
    assert candidates.score_stale() == 1
    Meter.objects.filter(pk=old.pk).update(updated_at=timezone.now() + timedelta(seconds=1))
    assert candidates.score_stale() == 1
    again = MatchCandidate.objects.get(meter=old)
    # Rescored, same site and score: its change time stays (bulk accept's guard reads it).
    assert again.computed_at > first.computed_at and again.changed_at == first.changed_at
    assert MatchCandidate.objects.filter(meter=new).exists()


def test_a_run_that_changed_meters_scores_them_and_a_failed_one_does_not():
    SiteFactory(name="Ann Lee")
    meter = MeterFactory(end_customer_name="Ann Lee")
    score_after_run(SyncRun, SyncRun(status=RunStatus.FAILED, created=1))
    assert not MatchCandidate.objects.exists()
    score_after_run(SyncRun, SyncRun(status=RunStatus.SUCCEEDED, created=0, updated=0))
    assert not MatchCandidate.objects.exists()
    score_after_run(SyncRun, SyncRun(status=RunStatus.SUCCEEDED, created=1))
    assert MatchCandidate.objects.get(meter=meter).score > 0


def test_scoring_is_queued_as_a_task_outside_tests(monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(candidates, "SCORE_INLINE", False)
    monkeypatch.setattr(candidates, "async_task", lambda *a, **k: queued.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        candidates.queue_scoring(candidates.SCORE_ALL_TASK)
    assert queued == [("leapsync.tasks.score_match_candidates",)]


# --- bulk accept ------------------------------------------------------------------------------


def _many_candidates(count: int, score: int = 95) -> list[Meter]:
    """`count` waiting meters, each with a stored candidate: bulk-created, so it stays fast."""
    sites = Site.objects.bulk_create(
        Site(external_id=f"BULK-{i:05d}", name=f"Site {i}") for i in range(count)
    )
    meters = Meter.objects.bulk_create(
        Meter(meter_id=uuid.uuid4(), end_customer_name=f"Customer {i}") for i in range(count)
    )
    now = timezone.now() - timedelta(minutes=1)
    MatchCandidate.objects.bulk_create(
        MatchCandidate(
            meter=meter,
            site=site,
            score=score,
            reason=MatchReason.ADDRESS,
            computed_at=now,
            changed_at=now,
        )
        for meter, site in zip(meters, sites, strict=True)
    )
    return meters


def _preview(client: Client, **params):
    return client.get(reverse("meters:mapping_bulk_preview"), {"threshold": 90, **params})


def _confirm(client: Client, preview, **extra):
    data = {"threshold": preview.context["threshold"], "as_of": preview.context["as_of"]}
    data |= dict(preview.context["carried"])
    return client.post(reverse("meters:mapping_bulk_accept"), {**data, **extra}, follow=True)


def test_bulk_accept_maps_every_candidate_past_the_old_caps(ops_client, settings):
    meters = _many_candidates(2100)
    left_out = [str(meters[3].meter_id), str(meters[2050].meter_id)]
    preview = _preview(ops_client)
    assert preview.context["total"] == 2100 and len(preview.context["meters"]) == 500
    response = _confirm(ops_client, preview, exclude=left_out)
    # The post carries the filter, the threshold, the preview's time and the opt-outs only.
    assert len(response.redirect_chain) == 1
    assert Meter.objects.filter(site__isnull=False).count() == 2098
    assert set(Meter.objects.filter(site__isnull=True).values_list("meter_id", flat=True)) == {
        uuid.UUID(i) for i in left_out
    }
    assert "2098 meters mapped to their candidate site. 2 left out" in response.content.decode()
    events = MeterEvent.objects.filter(kind=EventKind.SITE_MAPPED)
    assert events.count() == 2098  # one history entry per mapping, by the user
    assert set(events.values_list("user__username", flat=True)) == {"olivia"}
    assert set(events.values_list("field", flat=True)) == {"accepted suggestion"}
    assert not MatchCandidate.objects.filter(meter__site__isnull=False).exists()


def test_bulk_preview_lists_the_pairs_with_opt_outs_and_links(ops_client):
    meter = _many_candidates(1)[0]
    site = MatchCandidate.objects.get(meter=meter).site
    content = _preview(ops_client).content.decode()
    assert f'name="exclude" value="{meter.meter_id}"' in content
    assert f'href="{reverse("meters:meter_detail", args=[meter.meter_id])}"' in content
    assert f'href="{reverse("meters:site_detail", args=[site.pk])}"' in content
    assert 'name="pair"' not in content


def test_bulk_accept_applies_the_queues_filter_again(ops_client):
    by_address = _many_candidates(2)
    by_name = MeterFactory()
    _candidate(by_name, SiteFactory(), 95, MatchReason.NAME)
    queue = ops_client.get(reverse(QUEUE), {"reason": "address"}).content.decode()
    assert 'name="reason" value="address"' in queue  # the queue hands its filter to the preview
    preview = _preview(ops_client, reason="address")
    assert preview.context["total"] == 2
    response = _confirm(ops_client, preview)
    assert {m.pk for m in Meter.objects.filter(site__isnull=False)} == {m.pk for m in by_address}
    assert response.redirect_chain[-1][0].endswith("?reason=address")  # back where it came from


def test_bulk_accept_skips_candidates_changed_after_the_preview(ops_client):
    unchanged, moved, weakened = _many_candidates(3)
    preview = _preview(ops_client)
    later = timezone.now() + timedelta(seconds=1)
    MatchCandidate.objects.filter(meter=moved).update(site=SiteFactory(), changed_at=later)
    MatchCandidate.objects.filter(meter=weakened).update(score=50, changed_at=later)
    newcomer = MeterFactory()
    _candidate(newcomer, SiteFactory(), 99, MatchReason.ADDRESS)  # scored after the preview
    content = _confirm(ops_client, preview).content.decode()
    assert list(Meter.objects.filter(site__isnull=False)) == [unchanged]
    assert "1 meter mapped to its candidate site." in content
    assert "2 skipped: their candidate changed after the preview" in content


def test_bulk_accept_needs_the_change_permission_and_csrf(manager_client, ops_client):
    meter = _many_candidates(1)[0]
    assert manager_client.get(reverse("meters:mapping_bulk_preview")).status_code == 403
    data = {"threshold": 90, "as_of": timezone.now().isoformat()}
    assert manager_client.post(reverse("meters:mapping_bulk_accept"), data).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(get_user_model().objects.get(username="olivia"))
    assert strict.post(reverse("meters:mapping_bulk_accept"), data).status_code == 403
    assert Meter.objects.get(pk=meter.pk).site is None


def test_bulk_accept_without_its_preview_time_maps_nothing(ops_client):
    meter = _many_candidates(1)[0]
    response = ops_client.post(
        reverse("meters:mapping_bulk_accept"), {"threshold": 90}, follow=True
    )
    assert "Preview the bulk accept again" in response.content.decode()
    assert Meter.objects.get(pk=meter.pk).site is None


def test_bulk_accept_with_an_invalid_filter_maps_nothing(ops_client):
    """django-filter drops an invalid value: bulk accept must not map more than asked for."""
    meter = _many_candidates(1)[0]
    preview = _preview(ops_client, reason="bogus")
    assert preview.context["bad_filter"] and "total" not in preview.context
    data = {"threshold": 90, "as_of": timezone.now().isoformat(), "reason": "bogus"}
    ops_client.post(reverse("meters:mapping_bulk_accept"), data)
    assert Meter.objects.get(pk=meter.pk).site is None
