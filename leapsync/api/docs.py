"""The OpenAPI document and the Swagger UI page that reads it (vendored assets, no inline
script or style: the site's CSP applies)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from leapsync.api.auth import BearerTokenAuthentication, TokenRateThrottle
from leapsync.api.models import ApiToken


class SignedInOrToken(BasePermission):
    """Any valid token, or a signed-in person (the docs page fetches the schema so)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiToken) or bool(request.user.is_authenticated)


class Schema(SpectacularAPIView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [SignedInOrToken]
    throttle_classes = [TokenRateThrottle]

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if response.status_code >= 400:  # a problem is JSON, whichever format was asked for
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


class Docs(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"
    url_name = "api:schema"
    authentication_classes = [SessionAuthentication]
    permission_classes: list[Any] = []
    throttle_classes: list[Any] = []
