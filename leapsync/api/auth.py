"""Who is calling: `Authorization: Bearer <token>`, the scope each endpoint needs, and the
per-token request rate."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from leapsync.api import tokens
from leapsync.api.models import ApiToken, Scope


class BearerTokenAuthentication(BaseAuthentication):
    """`request.auth` is the ApiToken; `request.user` stays anonymous (a token is no person)."""

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        keyword, _, secret = header.partition(" ")
        secret = secret.strip()
        if keyword.lower() != self.keyword or not secret or " " in secret:
            raise AuthenticationFailed("Expected the header `Authorization: Bearer <token>`.")
        token = tokens.find(secret)
        if token is None:
            raise AuthenticationFailed("No such token.")
        now = timezone.now()
        refusal = token.refusal(now)
        if refusal:
            raise AuthenticationFailed(refusal)
        tokens.touch(token, now)
        return AnonymousUser(), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="leapsync"'


class _HasScope(BasePermission):
    scope: str = ""

    @property
    def message(self) -> str:
        return f"This token lacks the scope `{self.scope}`."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        return isinstance(token, ApiToken) and token.allows(self.scope)


class CanRead(_HasScope):
    scope = Scope.READ


class CanWriteSites(_HasScope):
    scope = Scope.WRITE_SITES


class CanWriteReferences(_HasScope):
    scope = Scope.WRITE_REFERENCES


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per token (settings.API_RATE); a refusal is a 429 with Retry-After."""

    scope = "api_token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
