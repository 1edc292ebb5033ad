"""API tokens: the credentials of the partner's systems (integrations, never people)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models


class Scope(models.TextChoices):
    READ = "read", "Read every list and the change feed"
    WRITE_SITES = "write:sites", "Upsert sites"
    WRITE_REFERENCES = "write:references", "Set partner_reference"


class ApiToken(models.Model):
    """One integration's token: its name (recorded in history for every write it makes), its
    scopes, an optional expiry, when it was last used and whether it was revoked.

    Written by admins (Django admin, `manage.py api_token`); `last_used_at` by the API's
    authentication. Only the SHA-256 of the secret is stored: the secret is shown once.
    """

    name = models.CharField(max_length=64, unique=True)
    # The secret's first characters, to tell tokens apart in admin without storing the secret.
    prefix = models.CharField(max_length=12, editable=False)
    secret_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)  # Scope values
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return self.name

    def refusal(self, now: datetime) -> str:
        """Why this token may not be used at `now` ("" when it may)."""
        if self.revoked_at is not None:
            return "This token was revoked."
        if self.expires_at is not None and self.expires_at <= now:
            return "This token has expired."
        return ""

    def allows(self, scope: str) -> bool:
        return scope in self.scopes
