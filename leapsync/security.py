"""The Content-Security-Policy header: the pages may load only this site's own static files."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# No inline script, no event-handler or style attributes, no eval (htmx is told so in base.html),
# no plugins, no framing; forms post only here. `data:` images: the empty favicon and the
# admin's inline SVG icons.
DIRECTIVES = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
)
POLICY = "; ".join(DIRECTIVES)


class ContentSecurityPolicyMiddleware:
    """Adds POLICY to every response that has none (pages, admin, errors, static files)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = POLICY
        return response
