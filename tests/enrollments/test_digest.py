"""The managers' digest: the pure builder, the email over real SMTP, claims and replays."""

from __future__ import annotations

import email
import socket
from datetime import timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from actions.catalogue import entry_for, load_catalogue
from actions.models import RequiredAction
from enrollments.models import DigestCadence, DigestSubscription, SentDigest, SentDigestStatus
from leapsync.dashboard import digest as digest_module
from leapsync.dashboard.digest import build_digest, render_digest, send_due_digests
from leapsync.sync import sync_incremental
from leapsync.tasks import send_digests
from meters.models import EventKind, MeterEvent
from tests.meters.factories import RequiredActionFactory


@pytest.fixture
def manager(db):
    user = get_user_model().objects.create_user("mia", "mia@example.com", "unused-pass-1")
    DigestSubscription.objects.create(user=user, cadence=DigestCadence.DAILY, window_days=40)
    return user


def test_build_digest_lists_deadlines_changes_and_health(synced, simulator, manager):
    simulator.mutate(0.4, seed=5)
    sync_incremental(client=synced)
    digest = build_digest(manager, timezone.localdate())
    assert digest.deadlines, "the simulator has deadlines within 40 days"
    first = digest.deadlines[0].deadline
    assert digest.now <= first.deadline < digest.now + timedelta(days=40)
    assert all(f.url.startswith("http") for f in first.statuses)
    moved = MeterEvent.objects.filter(kind=EventKind.MARKET_GROUP).count()
    assert moved and digest.group_changes.total == moved
    assert {h.stream for h in digest.health} == {"details", "enrollments"}
    assert not digest.stale
    assert not digest.nothing_due


def test_build_digest_with_nothing_says_nothing_due(db, manager):
    digest = build_digest(manager, timezone.localdate())
    subject, text, html = render_digest(digest)
    assert digest.nothing_due and digest.stale  # never synced: stale, loudly
    assert subject.startswith("[STALE DATA] Nothing due")
    assert "Nothing due" in text and "Nothing due" in html
    assert "STALE" in text and "stale" in html


def test_build_digest_respects_chosen_programs(synced, manager):
    all_programs = {
        d.deadline.period.program for d in build_digest(manager, timezone.localdate()).deadlines
    }
    chosen = min(all_programs)
    manager.digest_subscription.programs = [chosen]
    manager.digest_subscription.save()
    digest = build_digest(manager, timezone.localdate())
    assert {d.deadline.period.program for d in digest.deadlines} == {chosen}


class _Inbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    inbox = _Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd's readiness check needs a real one)
        probe.bind(("127.0.0.1", 0))
        inbox.port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = inbox.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.SITE_URL = "https://leapsync.example.com"
    yield inbox
    controller.stop()


def test_digest_goes_through_real_smtp_with_both_parts(synced, manager, smtp):
    outcomes = send_due_digests()
    assert [o.status for o in outcomes] == ["sent"]
    (message,) = smtp.messages
    digest = build_digest(manager, timezone.localdate())
    first = digest.deadlines[0].deadline
    assert message["To"] == "mia@example.com"
    assert f"{digest.headline_count} enrollment deadline" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert first.period.name in part
        assert "https://leapsync.example.com/enrollments/deadlines/" in part
        assert "Sync health" in part
    assert f"ACTIVE {first.statuses[0].value}" in text
    assert "<img" not in html and "style=" in html
    assert SentDigest.objects.get().status == SentDigestStatus.SENT


def test_replayed_schedule_sends_nothing_twice(synced, manager, smtp):
    send_digests()
    send_digests()
    call_command("send_digests", verbosity=0)
    assert len(smtp.messages) == 1
    assert SentDigest.objects.count() == 1


def test_failed_send_is_recorded_and_retried_next_run(synced, manager, smtp, settings):
    settings.EMAIL_PORT = 1  # nothing listens there
    outcomes = send_due_digests()
    assert [o.status for o in outcomes] == ["failed"]
    claim = SentDigest.objects.get()
    assert claim.status == SentDigestStatus.FAILED and claim.error
    settings.EMAIL_PORT = smtp.port
    assert [o.status for o in send_due_digests()] == ["sent"]
    claim.refresh_from_db()
    assert claim.status == SentDigestStatus.SENT and claim.attempts == 2
    assert len(smtp.messages) == 1


def test_weekly_digest_waits_for_its_weekday_then_catches_up(db, manager):
    sub = manager.digest_subscription
    sub.cadence, sub.weekday = DigestCadence.WEEKLY, 2  # Wednesday
    sub.save()
    monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday())
    assert not sub.is_due(monday)
    assert sub.is_due(monday + timedelta(days=2)) and sub.is_due(monday + timedelta(days=4))
    assert sub.period_key(monday + timedelta(days=2)) == sub.period_key(monday + timedelta(days=4))


def test_dry_run_claims_nothing(synced, manager, smtp):
    call_command("send_digests", "--dry-run", "--user", "mia", verbosity=0)
    assert not smtp.messages and not SentDigest.objects.exists()


def test_subscribe_page_saves_own_subscription(manager_client):
    url = reverse("enrollments:digest_subscription")
    assert manager_client.get(url).status_code == 200
    response = manager_client.post(
        reverse("enrollments:digest_subscription_save"),
        {"cadence": "weekly", "weekday": "4", "window_days": "21", "is_active": "on"},
    )
    assert response.status_code == 302
    sub = DigestSubscription.objects.get(user__username="max")
    assert (sub.cadence, sub.weekday, sub.window_days, sub.programs) == ("weekly", 4, 21, [])


def test_only_admins_see_and_edit_others(manager_client, admin_client, manager):
    url = reverse("enrollments:digest_subscription") + "?user=mia"
    assert manager_client.get(url).status_code == 404
    response = admin_client.get(reverse("enrollments:digest_subscription"))
    assert [s.user.username for s in response.context["everyone"]] == ["mia"]
    admin_client.post(
        reverse("enrollments:digest_subscription_save"),
        {"user": "mia", "cadence": "daily", "weekday": "0", "window_days": "7"},
    )
    manager.digest_subscription.refresh_from_db()
    assert manager.digest_subscription.window_days == 7
    assert not manager.digest_subscription.is_active


def test_digest_pages_need_the_permission(ops_client, client, db):
    url = reverse("enrollments:digest_preview")
    assert ops_client.get(url).status_code == 403
    assert client.get(url).status_code == 302


def test_preview_shows_exactly_the_email(synced, manager_client):
    response = manager_client.get(reverse("enrollments:digest_preview"))
    assert response.status_code == 200
    assert response.context["subject"] and "Sync health" in response.context["text"]
    url = reverse("enrollments:digest_preview_html")
    assert f'sandbox src="{url}"' in response.content.decode()


def test_preview_html_is_the_email_with_inline_styles_and_no_scripts(synced, manager_client):
    """The frame's own response allows the email's inline styles, and nothing else."""
    response = manager_client.get(reverse("enrollments:digest_preview_html"))
    assert response.status_code == 200 and response["X-Frame-Options"] == "SAMEORIGIN"
    policy = [d.strip() for d in response["Content-Security-Policy"].split(";")]
    assert "style-src 'unsafe-inline'" in policy and "default-src 'none'" in policy
    assert "sandbox" in policy and not [d for d in policy if d.startswith("script-src")]
    assert 'style="' in response.content.decode() and "Sync health" in response.content.decode()


def test_preview_says_where_the_links_point(db, manager_client, settings):
    settings.SITE_URL = "http://127.0.0.1:8100"
    response = manager_client.get(reverse("enrollments:digest_preview"))
    page = response.content.decode()
    assert "http://127.0.0.1:8100/enrollments/deadlines/" in response.context["text"]
    assert "<code>http://127.0.0.1:8100</code>" in page
    assert "This page is served on <code>http://testserver</code>" in page
    settings.SITE_URL = "http://testserver"
    assert (
        "This page is served on"
        not in manager_client.get(response.request["PATH_INFO"]).content.decode()
    )


def test_blocked_actions_show_their_catalogue_names(synced, manager):
    item = next(d for d in build_digest(manager, timezone.localdate()).deadlines if d.blocked)
    action = RequiredAction.objects.filter(
        meter__meter_id=item.blocked[0].meter_id, action_code=item.blocked[0].code
    ).first()
    entry = entry_for(action, load_catalogue())
    entry.title = "Re-authorise <b>utility</b> access"
    entry.save()
    _, text, html = render_digest(build_digest(manager, timezone.localdate()))
    assert f"Re-authorise <b>utility</b> access ({action.action_code})" in text
    assert (
        f"Re-authorise &lt;b&gt;utility&lt;/b&gt; access (<code>{action.action_code}</code>)"
        in html
    )


def _item(digest, deadline):
    key = (deadline.period.program, deadline.period.name, deadline.deadline)
    return next(
        d
        for d in digest.deadlines
        if (d.deadline.period.program, d.deadline.period.name, d.deadline.deadline) == key
    )


def test_a_deadline_lists_its_first_blocked_meters_and_links_to_all(synced, manager, monkeypatch):
    monkeypatch.setattr(digest_module, "TOP_BLOCKED", 2)
    digest = build_digest(manager, timezone.localdate())
    item = next(d for d in digest.deadlines if d.deadline.blocked.value >= 3)
    listed = RequiredAction.objects.filter(
        meter__meter_id=item.blocked[0].meter_id, action_code=item.blocked[0].code
    ).first()
    RequiredActionFactory(  # a second blocking action does not list its meter twice
        meter=listed.meter,
        program_identifier=listed.program_identifier,
        enrollment_deadline_date_time=listed.enrollment_deadline_date_time,
    )
    digest = build_digest(manager, timezone.localdate())
    item = _item(digest, item.deadline)
    figure = item.deadline.blocked
    assert len({b.meter_id for b in item.blocked}) == len(item.blocked) == 2
    assert item.more_blocked == figure.value - 2
    assert figure.url.startswith("http://127.0.0.1:8000/meters/?")
    _, text, html = render_digest(digest)
    assert f"... and {figure.value - 2} more: {figure.url}" in text
    assert (
        f'<a href="{escape(figure.url)}" style="color:#0b5cad;">… and {figure.value - 2} more</a>'
        in html
    )


def test_a_chosen_address_gets_the_digest(db, manager, manager_client):
    manager.digest_subscription.email = "team-deadlines@example.com"
    manager.digest_subscription.save()
    assert [o.status for o in send_due_digests()] == ["sent"]
    (message,) = mail.outbox
    assert message.to == ["team-deadlines@example.com"]


def test_without_a_chosen_address_the_users_own_gets_it(db, manager):
    assert [o.status for o in send_due_digests()] == ["sent"]
    assert mail.outbox[0].to == ["mia@example.com"]


def test_a_user_without_email_is_sent_to_the_chosen_address(db, manager):
    manager.email = ""
    manager.save()
    assert send_due_digests() == []
    manager.digest_subscription.email = "mia.elsewhere@example.com"
    manager.digest_subscription.save()
    assert [o.status for o in send_due_digests()] == ["sent"]
    assert mail.outbox[0].to == ["mia.elsewhere@example.com"]


def test_subscription_form_saves_a_valid_address_and_refuses_another(manager_client):
    save = reverse("enrollments:digest_subscription_save")
    form = {"cadence": "daily", "weekday": "0", "window_days": "14", "is_active": "on"}
    response = manager_client.post(save, {**form, "email": "not an address"})
    assert response.status_code == 200 and "email" in response.context["form"].errors
    assert not DigestSubscription.objects.exists()
    manager_client.post(save, {**form, "email": "team@example.com"})
    assert DigestSubscription.objects.get(user__username="max").email == "team@example.com"
    page = manager_client.get(reverse("enrollments:digest_subscription")).content.decode()
    assert "<strong>team@example.com</strong> (chosen below)" in page
    assert 'value="team@example.com"' in page
    preview = manager_client.get(reverse("enrollments:digest_preview"))
    assert preview.context["recipient"] == "team@example.com"
    assert "<dt>To</dt><dd>team@example.com</dd>" in preview.content.decode()


def test_everyone_table_shows_where_each_digest_goes(admin_client, manager):
    manager.digest_subscription.email = "team@example.com"
    manager.digest_subscription.save()
    page = admin_client.get(reverse("enrollments:digest_subscription")).content.decode()
    assert "team@example.com" in page and "mia@example.com" not in page


def test_admins_see_digest_subscriptions_and_sent_digests_in_admin(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "Digest subscriptions" in index and "Sent digests" in index
    assert "Webhook refreshes" in index and "refreshs" not in index
    for name in ("digestsubscription", "sentdigest"):
        assert admin_client.get(reverse(f"admin:enrollments_{name}_changelist")).status_code == 200
