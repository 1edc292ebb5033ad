"""Sign-in protection: failed sign-ins are throttled per account and per address, on the site's
and the admin's login; password-reset emails are limited; admins unlock; proxies are trusted
only as far as the settings say."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

PASSWORD = "right-pass-42x"
LOGIN = reverse("login")
ADMIN_LOGIN = reverse("admin:login")
RESET = reverse("password_reset")


@pytest.fixture
def pat(db):
    return get_user_model().objects.create_user("pat", "pat@example.com", PASSWORD)


@pytest.fixture
def ada(db):
    return get_user_model().objects.create_user(
        "ada-admin", "ada@example.com", PASSWORD, is_staff=True, is_superuser=True
    )


def _sign_in(client: Client, password: str, username: str = "pat", url: str = LOGIN, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client: Client, times: int, **kwargs) -> list[int]:
    return [_sign_in(client, "wrong-pass", **kwargs).status_code for _ in range(times)]


# --- per account --------------------------------------------------------------------------


def test_signin_wrong_passwords_lock_the_account_with_a_clear_message(client, pat, settings):
    statuses = _fail(client, 50)
    limit = settings.AXES_FAILURE_LIMIT
    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again, "wrong password"
    assert statuses[limit - 1 :] == [429] * (50 - limit + 1)

    response = _sign_in(client, PASSWORD)
    assert response.status_code == 429
    assert not _signed_in(client)
    content = response.content.decode()
    assert "Too many failed sign-ins" in content
    assert f"{settings.LOGIN_LOCKOUT_MINUTES} minutes" in content
    assert "administrator" in content
    assert response["Retry-After"] == str(settings.LOGIN_LOCKOUT_MINUTES * 60)


def test_signin_lockout_ends_after_the_cool_off(client, pat, settings):
    _fail(client, settings.AXES_FAILURE_LIMIT)
    assert _sign_in(client, PASSWORD).status_code == 429
    later = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1)
    with time_machine.travel(later, tick=False):
        response = _sign_in(client, PASSWORD)
    assert response.status_code == 302 and _signed_in(client)


def test_signin_admin_login_is_throttled_too(client, ada, settings):
    statuses = _fail(client, settings.AXES_FAILURE_LIMIT, username="ada-admin", url=ADMIN_LOGIN)
    assert statuses[-1] == 429
    response = _sign_in(client, PASSWORD, username="ada-admin", url=ADMIN_LOGIN)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert not _signed_in(client)


def test_signin_success_resets_the_accounts_count(client, pat, settings):
    limit = settings.AXES_FAILURE_LIMIT
    _fail(client, limit - 1)
    assert _sign_in(client, PASSWORD).status_code == 302
    client.logout()
    assert _fail(client, limit - 1) == [200] * (limit - 1)
    assert _sign_in(client, PASSWORD).status_code == 302


def test_signin_lockout_of_one_address_leaves_others_free(client, pat, settings):
    _fail(client, settings.AXES_FAILURE_LIMIT)
    other = Client(REMOTE_ADDR="198.51.100.20")
    assert _sign_in(other, PASSWORD).status_code == 302


# --- per address --------------------------------------------------------------------------


def test_signin_address_is_locked_after_failures_across_many_usernames(client, pat, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 12
    statuses = [_sign_in(client, "wrong", username=f"guess-{i}").status_code for i in range(12)]
    assert statuses[:11] == [200] * 11 and statuses[11] == 429
    # Every account is now refused from this address, the right password included ...
    assert _sign_in(client, PASSWORD).status_code == 429
    assert _sign_in(client, "wrong", username="guess-new").status_code == 429
    # ... and from another address pat still gets in.
    assert _sign_in(Client(REMOTE_ADDR="198.51.100.20"), PASSWORD).status_code == 302


def test_signin_success_does_not_refill_the_address_budget(client, pat, settings):
    """A valid account of one's own must not buy more guesses at everyone else's."""
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 6
    for i in range(5):
        _sign_in(client, "wrong", username=f"guess-{i}")
    assert _sign_in(client, PASSWORD).status_code == 302
    client.logout()
    assert _sign_in(client, "wrong", username="guess-9").status_code == 429


# --- who the client is --------------------------------------------------------------------


def test_signin_forwarded_for_is_ignored_without_a_trusted_proxy(client, pat, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    statuses = [
        _sign_in(client, "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429
    assert _sign_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_signin_behind_a_proxy_spoofed_entries_do_not_bypass_the_limit(client, pat, settings):
    """nginx appends the address it saw; what the client wrote to the left is not believed."""
    settings.TRUSTED_PROXY_COUNT = 1
    statuses = [
        _sign_in(client, "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}, 198.51.100.7").status_code
        for i in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429
    spoofed = _sign_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99, 198.51.100.7")
    assert spoofed.status_code == 429
    # Another client behind the same proxy (same REMOTE_ADDR) is a different address.
    other = _sign_in(Client(), PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert other.status_code == 302


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "203.0.113.1", "192.0.2.1"),
        (1, "203.0.113.1", "203.0.113.1"),
        (1, "6.6.6.6, 203.0.113.1", "203.0.113.1"),
        (2, "6.6.6.6, 203.0.113.1, 198.51.100.2", "203.0.113.1"),
        (1, "2001:DB8::1", "2001:db8::1"),
        # Fewer entries than proxies: the request did not come through them all.
        (2, "203.0.113.1", "192.0.2.1"),
        (1, "", "192.0.2.1"),
        (1, "not-an-address", "192.0.2.1"),
        (1, "203.0.113.1:4711", "192.0.2.1"),
    ],
)
def test_client_address_trusts_only_the_configured_proxies(settings, count, forwarded, expected):
    from leapsync.signin import client_address

    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


# --- the lockout page ---------------------------------------------------------------------


def test_signin_lockout_page_escapes_what_was_typed(client, db, settings):
    hostile = '<script>alert("x")</script>&'
    responses = [_sign_in(client, "wrong", username=hostile) for _ in range(6)]
    assert [r.status_code for r in responses][-2:] == [429, 429]
    content = responses[-1].content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in content
    assert "<script>alert" not in content


def test_signin_lockout_answers_xhr_with_the_same_page(client, pat, settings):
    _fail(client, settings.AXES_FAILURE_LIMIT)
    response = _sign_in(client, PASSWORD, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.status_code == 429
    assert "Access-Control-Allow-Origin" not in response
    assert "Too many failed sign-ins" in response.content.decode()


# --- unlocking ----------------------------------------------------------------------------


def test_signin_admin_unlocks_from_the_access_attempts_admin(client, pat, ada, settings):
    from axes.models import AccessAttempt

    _fail(client, settings.AXES_FAILURE_LIMIT)
    assert _sign_in(client, PASSWORD).status_code == 429

    admin = Client(REMOTE_ADDR="198.51.100.30")
    admin.force_login(ada)
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = admin.get(changelist, {"q": "pat"})
    assert page.status_code == 200 and "Unlock" in page.content.decode()
    attempts = list(AccessAttempt.objects.filter(username="pat").values_list("pk", flat=True))
    response = admin.post(
        changelist, {"action": "unlock", "_selected_action": attempts}, follow=True
    )
    assert response.status_code == 200
    assert "Unlocked" in response.content.decode()
    assert not AccessAttempt.objects.filter(username="pat").exists()

    assert _sign_in(client, PASSWORD).status_code == 302


def test_signin_axes_reset_command_unlocks(client, pat, settings):
    from django.core.management import call_command

    _fail(client, settings.AXES_FAILURE_LIMIT)
    call_command("axes_reset_username", "pat", verbosity=0)
    assert _sign_in(client, PASSWORD).status_code == 302


# --- password reset -----------------------------------------------------------------------


def test_password_reset_emails_are_limited_per_email(client, pat, settings):
    settings.PASSWORD_RESET_LIMIT_PER_EMAIL = 3
    responses = [client.post(RESET, {"email": "PAT@example.com"}) for _ in range(6)]
    # The same answer every time: a different one would tell who has an account.
    assert {(r.status_code, r["Location"]) for r in responses} == {
        (302, reverse("password_reset_done"))
    }
    assert len(mail.outbox) == 3


def test_password_reset_for_an_unknown_email_answers_the_same(client, pat, settings):
    settings.PASSWORD_RESET_LIMIT_PER_EMAIL = 1
    for email in ("nobody@example.com", "pat@example.com"):
        first, second = (client.post(RESET, {"email": email}) for _ in range(2))
        assert first.status_code == second.status_code == 302
    assert len(mail.outbox) == 1


def test_password_reset_requests_are_limited_per_address(client, pat, settings):
    settings.PASSWORD_RESET_LIMIT_PER_ADDRESS = 4
    statuses = [client.post(RESET, {"email": f"u{i}@example.com"}).status_code for i in range(4)]
    assert statuses == [302] * 4
    response = client.post(RESET, {"email": "pat@example.com"})
    assert response.status_code == 429
    assert "Too many password reset requests" in response.content.decode()
    assert mail.outbox == []
    # Another address still gets its email.
    other = Client(REMOTE_ADDR="198.51.100.40").post(RESET, {"email": "pat@example.com"})
    assert other.status_code == 302
    assert len(mail.outbox) == 1


def test_password_reset_done_page_states_the_email_limit(client, settings):
    settings.PASSWORD_RESET_LIMIT_PER_EMAIL = 3
    content = client.get(reverse("password_reset_done")).content.decode()
    assert "at most 3 reset emails an hour" in content
