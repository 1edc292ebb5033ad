"""Deadline alerts: one email per recipient list per run, each action claimed once per deadline."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actions.models import ActionEmail, ActionNote, EmailKind, EmailStatus, NoteKind
from actions.notify import claims, deadlines
from leapsync.claims import EXPIRY
from tests.meters.factories import MeterFactory, RequiredActionFactory

pytestmark = pytest.mark.django_db
SMTP_DOWN = "django.core.mail.backends.locmem.EmailBackend.send_messages"


def _due(days: float = 2, now=None, **kwargs):
    """An open partner action operations must fix, due `days` from now."""
    return RequiredActionFactory(
        action_type="NO_MISSING_FIELDS",
        action_code="SERV_0005",
        enrollment_deadline_date_time=(now or timezone.now()) + timedelta(days=days),
        **kwargs,
    )


def _by_recipients() -> dict[tuple[str, ...], mail.EmailMultiAlternatives]:
    return {tuple(message.to): message for message in mail.outbox}


def _html(message) -> str:
    return message.alternatives[0][0]


def _links(message) -> list[int]:
    return [int(pk) for pk in re.findall(r"/actions/(\d+)/", message.body)]


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_user("boss", email="boss@example.com")


def test_one_email_per_recipient_list_listing_its_actions(ops_user, boss, django_user_model):
    nobody = django_user_model.objects.create_user("mute")  # assigned, but no email address
    ops = [_due(2.5), _due(1), _due(2, assignee=nobody)]
    mine = [_due(2, assignee=boss), _due(0.5, assignee=boss)]
    _due(5)  # not due within 3 days
    RequiredActionFactory(enrollment_deadline_date_time=timezone.now() + timedelta(days=1))

    assert deadlines.send_deadline_alerts() == {"sent": 5}

    assert len(mail.outbox) == 2
    messages = _by_recipients()
    to_ops, to_boss = messages[("otto@example.com",)], messages[("boss@example.com",)]
    assert to_ops.subject == "[leapsync] 3 actions due within 3 days"
    assert to_boss.subject == "[leapsync] 2 actions due within 3 days"
    # Soonest deadline first.
    assert _links(to_ops) == [ops[1].pk, ops[2].pk, ops[0].pk]
    assert _links(to_boss) == [mine[1].pk, mine[0].pk]
    for action in ops:
        assert f"http://127.0.0.1:8000/actions/{action.pk}/" in _html(to_ops)  # SITE_URL
        for part in (to_ops.body, _html(to_ops)):
            assert str(action.meter.meter_id) in part and action.meter.partner_reference in part
    assert "Partner must supply missing configuration" in _html(to_boss)
    assert "more" not in to_ops.body

    claims = ActionEmail.objects.filter(kind=EmailKind.DEADLINE)
    assert claims.count() == 5 and set(claims.values_list("status", flat=True)) == {"sent"}
    assert set(claims.filter(action__in=mine).values_list("to", "subject")) == {
        ("boss@example.com", "[leapsync] 2 actions due within 3 days")
    }
    notes = ActionNote.objects.filter(kind=NoteKind.ALERT)
    assert sorted(notes.values_list("action_id", flat=True)) == sorted(a.pk for a in ops + mine)
    assert "alerted otto@example.com" in notes.get(action=ops[0]).text


def test_the_same_deadline_is_never_alerted_twice(ops_user):
    _due(), _due()
    assert deadlines.send_deadline_alerts() == {"sent": 2}
    assert deadlines.send_deadline_alerts() == {}
    assert len(mail.outbox) == 1


def test_only_new_actions_go_in_the_next_email(ops_user):
    first = _due()
    deadlines.send_deadline_alerts()
    second = _due()
    assert deadlines.send_deadline_alerts() == {"sent": 1}
    assert len(mail.outbox) == 2 and _links(mail.outbox[1]) == [second.pk]
    assert first.pk not in _links(mail.outbox[1])


def test_a_rolled_over_deadline_is_alerted_again(ops_user):
    rolled, _still = _due(), _due()
    deadlines.send_deadline_alerts()
    rolled.enrollment_deadline_date_time += timedelta(hours=12)
    rolled.save()
    assert deadlines.send_deadline_alerts() == {"sent": 1}
    assert mail.outbox[-1].subject == "[leapsync] 1 action due within 3 days"
    assert _links(mail.outbox[-1]) == [rolled.pk]
    assert ActionEmail.objects.filter(action=rolled, status=EmailStatus.SENT).count() == 2


def test_a_failed_email_fails_every_claim_it_carried_and_the_next_run_retries(ops_user, boss):
    unassigned = [_due(1), _due(2)]
    assigned = _due(2, assignee=boss)

    sent = []

    def boss_only(backend, messages):
        if messages[0].to != ["boss@example.com"]:
            raise ConnectionRefusedError("smtp down")
        sent.extend(messages)
        return len(messages)

    with mock.patch(SMTP_DOWN, boss_only):
        assert deadlines.send_deadline_alerts() == {"failed": 2, "sent": 1}
    assert [m.to for m in sent] == [["boss@example.com"]]
    for action in unassigned:
        claim = ActionEmail.objects.get(action=action, kind=EmailKind.DEADLINE)
        assert claim.status == EmailStatus.FAILED and "smtp down" in claim.error
        action.refresh_from_db()
        assert action.last_email_error.startswith("Deadline alert to otto@example.com")
        assert "smtp down" in action.last_email_error and action.last_email_error_at
        (note,) = ActionNote.objects.filter(action=action, kind=NoteKind.EMAIL_FAILED)
        assert "smtp down" in note.text
    assert not ActionNote.objects.filter(action__in=unassigned, kind=NoteKind.ALERT).exists()
    assert ActionEmail.objects.get(action=assigned).status == EmailStatus.SENT

    assert deadlines.send_deadline_alerts() == {"sent": 2}
    (retry,) = mail.outbox
    assert retry.to == ["otto@example.com"]
    assert _links(retry) == [a.pk for a in unassigned]
    claims = ActionEmail.objects.filter(action__in=unassigned)
    assert claims.count() == 2 and set(claims.values_list("status", "error")) == {("sent", "")}
    assert deadlines.send_deadline_alerts() == {}


def test_more_than_a_hundred_actions_list_a_hundred_and_link_the_rest(ops_user, ops_client):
    actions = [_due(1 + i / 1000) for i in range(103)]
    assert deadlines.send_deadline_alerts() == {"sent": 103}
    (message,) = mail.outbox
    assert message.subject == "[leapsync] 103 actions due within 3 days"
    assert _links(message) == [a.pk for a in actions[:100]]
    html = _html(message)
    assert "and 3 more" in message.body and "and 3 more" in html
    assert f"/actions/{actions[100].pk}/" not in html
    url = "/actions/?deadline=7d&fixer=operations&assignee=none"
    assert f"http://127.0.0.1:8000{url}" in message.body
    assert f"http://127.0.0.1:8000{url.replace('&', '&amp;')}" in html
    # Every claim is sent and noted, listed or not.
    assert ActionEmail.objects.filter(status=EmailStatus.SENT).count() == 103
    assert ActionNote.objects.filter(kind=NoteKind.ALERT).count() == 103
    # The link opens the inbox on those actions.
    response = ops_client.get(url)
    assert response.status_code == 200
    assert response.context["filterset"].qs.count() == 103


def test_leap_strings_are_escaped_in_the_html(ops_user):
    meter = MeterFactory(partner_reference="<b>REF</b>")
    _due(meter=meter, program_identifier='<img src=x onerror="alert(1)">')
    deadlines.send_deadline_alerts()
    (message,) = mail.outbox
    html = _html(message)
    assert "<b>REF</b>" not in html and "&lt;b&gt;REF&lt;/b&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<b>REF</b>" in message.body and "<img src=x" in message.body


def test_deadlines_are_shown_in_the_sites_time_zone(ops_user, settings):
    settings.TIME_ZONE = "Europe/Paris"
    now = datetime(2030, 1, 8, 12, 0, tzinfo=UTC)
    _due(2, now=now)
    assert deadlines.send_deadline_alerts(now) == {"sent": 1}
    (message,) = mail.outbox
    assert "2030-01-10 13:00 CET" in message.body and "2030-01-10 13:00 CET" in _html(message)


def test_nobody_to_alert_is_refused_then_one_email_carries_the_backlog(groups, django_user_model):
    from django.contrib.auth.models import Group

    _due(), _due(), _due()
    assert deadlines.send_deadline_alerts() == {"refused": 3}
    assert mail.outbox == [] and not ActionEmail.objects.exists()
    first = django_user_model.objects.create_user("first", email="first@example.com")
    first.groups.add(Group.objects.get(name="Operations"))
    assert deadlines.send_deadline_alerts() == {"sent": 3}
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["first@example.com"]


def test_queries_do_not_grow_per_action(ops_user, boss):
    def run(n: int) -> int:
        ActionEmail.objects.all().delete()
        for i in range(n):
            _due(1 + i / 1000, assignee=boss if i % 2 else None)
        mail.outbox.clear()
        with CaptureQueriesContext(connection) as queries:
            assert deadlines.send_deadline_alerts()["sent"] > 0
        assert len(mail.outbox) == 2
        return len(queries)

    few = run(4)
    many = run(250)  # 254 candidates in two emails: a few more batches, no query per action
    assert many <= few + 6, (few, many)
    assert many <= 30


def test_a_claim_another_run_made_meanwhile_is_not_ours(ops_user):
    """Two runs that read the claims at the same moment: each action is sent by one of them."""
    a, b, c = _due(1), _due(2), _due(2.5)
    stale: dict = {}
    first = claims.claim_deadlines([a, b], stale, to="x@example.com", subject="s")
    assert set(first) == {a.pk, b.pk}
    second = claims.claim_deadlines([a, b, c], stale, to="x@example.com", subject="s")
    assert set(second) == {c.pk}
    # A claim read as failed, but already taken back by the other run, is not ours either.
    ActionEmail.objects.filter(action=a).update(status=EmailStatus.FAILED)
    seen_failed = claims.deadline_claims([a])
    assert claims.claim_deadlines([a], seen_failed, to="x", subject="s") == {a.pk: first[a.pk]}
    assert claims.claim_deadlines([a], seen_failed, to="x", subject="s") == {}


def test_databases_without_returning_claim_each_action(ops_user, monkeypatch):
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    actions = [_due(1), _due(2)]
    failed = _due(2.5)
    ActionEmail.objects.create(
        action=failed,
        kind=EmailKind.DEADLINE,
        key=claims.deadline_key(failed),
        status=EmailStatus.FAILED,
        error="earlier",
    )
    assert deadlines.send_deadline_alerts() == {"sent": 3}
    (message,) = mail.outbox
    assert _links(message) == [a.pk for a in [*actions, failed]]
    assert deadlines.send_deadline_alerts() == {}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_each_action_once(ops_user, boss, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (two connections writing at once)")
    actions = [_due(1 + i / 100, assignee=boss if i % 3 else None) for i in range(40)]
    both_read = threading.Barrier(2, timeout=30)
    read_claims = claims.deadline_claims

    def read_then_wait(candidates):
        claims = read_claims(candidates)
        both_read.wait()  # both runs saw no claims: only the insert can tell them apart
        return claims

    monkeypatch.setattr(claims, "deadline_claims", read_then_wait)
    results: list = []

    def run() -> None:
        try:
            results.append(deadlines.send_deadline_alerts())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2
    assert sum(r["sent"] for r in results) == 40
    assert sum(r["duplicate"] for r in results) == 40
    listed = [pk for message in mail.outbox for pk in _links(message)]
    assert sorted(listed) == sorted(a.pk for a in actions)
    assert ActionNote.objects.filter(kind=NoteKind.ALERT).count() == 40


def test_claims_left_by_a_crashed_run_are_alerted_once_after_they_expire(ops_user):
    action = _due(2)
    claims.claim_deadlines([action], {}, to="ops@example.com", subject="s")
    # the run died here: the action is claimed, no email went out
    assert deadlines.send_deadline_alerts() == {"duplicate": 1}
    later = timezone.now() + EXPIRY + timedelta(minutes=1)
    with time_machine.travel(later):
        assert deadlines.send_deadline_alerts(now=later - timedelta(hours=2)) == {"sent": 1}
        assert deadlines.send_deadline_alerts(now=later - timedelta(hours=2)) == {}
    (message,) = mail.outbox
    assert _links(message) == [action.pk]
    assert ActionEmail.objects.get().attempts == 2


def test_databases_without_returning_retake_expired_claims_too(ops_user, monkeypatch):
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    action = _due(2)
    claims.claim_deadlines([action], {}, to="ops@example.com", subject="s")
    assert deadlines.send_deadline_alerts() == {"duplicate": 1}
    later = timezone.now() + EXPIRY + timedelta(minutes=1)
    with time_machine.travel(later):
        assert deadlines.send_deadline_alerts(now=later - timedelta(hours=2)) == {"sent": 1}
        assert deadlines.send_deadline_alerts(now=later - timedelta(hours=2)) == {}
    assert len(mail.outbox) == 1
