"""Issuing, finding and revoking API tokens: the one place that knows a token's format."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from leapsync.api.models import ApiToken, Scope

PREFIX = "lsk_"  # says what the string is when it turns up in a log or a secret scanner
# last_used_at is written at most this often per token: not one UPDATE per request.
TOUCH_EVERY = timedelta(minutes=1)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """32 random bytes, URL-safe, with the prefix."""
    return PREFIX + secrets.token_urlsafe(32)


def issue(
    name: str,
    scopes: Iterable[str],
    *,
    expires_at: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its secret, which is never stored and cannot be shown again."""
    token = ApiToken(name=name, scopes=checked_scopes(scopes), expires_at=expires_at)
    secret = set_secret(token)
    token.created_by = created_by
    token.save()
    return token, secret


def set_secret(token: ApiToken) -> str:
    """Give `token` (unsaved) a fresh secret; returns it."""
    secret = new_secret()
    token.secret_sha256 = digest(secret)
    token.prefix = secret[: len(PREFIX) + 4]
    return secret


def checked_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted(set(scopes))
    unknown = set(chosen) - set(Scope.values)
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(sorted(unknown))}")
    return chosen


def find(secret: str) -> ApiToken | None:
    """The token whose secret this is; one indexed query on the digest (never the secret)."""
    return ApiToken.objects.filter(secret_sha256=digest(secret)).first()


def touch(token: ApiToken, now: datetime) -> None:
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def revoke(token: ApiToken) -> bool:
    """Refuse the token from now on; False when it already was."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return bool(updated)
