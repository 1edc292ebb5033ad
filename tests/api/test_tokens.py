"""Tokens: stored hashed, shown once (admin and command), revoked, last use recorded; the
per-token throttle answers 429 with Retry-After."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse

from leapsync.api.auth import TokenRateThrottle
from leapsync.api.models import ApiToken, Scope
from tests.api.conftest import CheckedClient, bearer, make_token

pytestmark = pytest.mark.django_db


def test_only_the_secrets_hash_is_stored():
    token, secret = make_token("erp", Scope.READ)
    assert secret.startswith("lsk_") and len(secret) >= 4 + 43  # 32 random bytes
    assert token.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    stored = " ".join(str(v) for v in ApiToken.objects.values_list().get())
    assert secret not in stored


def test_admin_creates_a_token_shows_it_once_and_revokes_it(admin_client):
    response = admin_client.post(
        reverse("admin:api_apitoken_add"),
        {"name": "erp", "scopes": [Scope.READ, Scope.WRITE_SITES], "expires_at": ""},
        follow=True,
    )
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    secret = next(word for word in text.split() if word.startswith("lsk_"))
    token = ApiToken.objects.get(name="erp")
    assert token.created_by.username == "ada" and token.scopes == ["read", "write:sites"]
    assert CheckedClient(headers=bearer(secret)).get("/api/v1/sync/").status_code == 200
    assert secret not in admin_client.get(reverse("admin:api_apitoken_change", args=[token.pk]))
    admin_client.post(
        reverse("admin:api_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert CheckedClient(headers=bearer(secret)).get("/api/v1/sync/").status_code == 401


def test_command_creates_lists_and_revokes():
    out = StringIO()
    call_command("api_token", "create", "bi", "--scope", "read", stdout=out, verbosity=0)
    secret = out.getvalue().strip()
    client = CheckedClient(headers=bearer(secret))
    assert client.get("/api/v1/sync/").status_code == 200
    assert ApiToken.objects.get(name="bi").last_used_at is not None
    listing = StringIO()
    call_command("api_token", "list", stdout=listing)
    assert "bi\t" in listing.getvalue() and "live" in listing.getvalue()
    call_command("api_token", "revoke", "bi", stdout=StringIO())
    assert client.get("/api/v1/sync/").status_code == 401
    with pytest.raises(CommandError):
        call_command("api_token", "create", "bi", "--scope", "read", stdout=StringIO())


def test_too_many_requests_is_a_429_with_retry_after(monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"api_token": "3/min"})
    _, secret = make_token("erp", Scope.READ)
    _, other = make_token("bi", Scope.READ)
    client = CheckedClient(headers=bearer(secret))
    codes = [client.get("/api/v1/sync/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/api/v1/sync/")
    assert int(response["Retry-After"]) > 0
    assert response.json()["status"] == 429
    # Per token: another integration is not slowed by this one.
    assert CheckedClient(headers=bearer(other)).get("/api/v1/sync/").status_code == 200
