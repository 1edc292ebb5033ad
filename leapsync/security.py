"""The Content-Security-Policy header: the pages may load only this site's own static files."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# No inline script, no event-handler or style attributes, no eval (htmx is told so in base.html),
# no plugins, no framing by others; frames only of our own pages (the email preview); forms post
# only here. `data:` images: the empty favicon and the admin's inline SVG icons.
DIRECTIVES = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "frame-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
)
POLICY = "; ".join(DIRECTIVES)

# An email as it will be sent, shown in a sandboxed frame on our own pages. Emails must carry
# their styles inline, so this one response allows inline styles; still no scripts, no fetches
# (not even the email's remote images), no forms, and sandboxed even if opened on its own.
EMAIL_PREVIEW_DIRECTIVES = (
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    "img-src data:",
    "form-action 'none'",
    "frame-ancestors 'self'",
    "base-uri 'none'",
    "sandbox",
)
EMAIL_PREVIEW_POLICY = "; ".join(EMAIL_PREVIEW_DIRECTIVES)


def email_preview_response(html: str) -> HttpResponse:
    """An email's HTML part for a sandboxed frame on our pages, under EMAIL_PREVIEW_POLICY."""
    response = HttpResponse(html)
    response["Content-Security-Policy"] = EMAIL_PREVIEW_POLICY
    response["X-Frame-Options"] = "SAMEORIGIN"  # XFrameOptionsMiddleware keeps one already set
    return response


class ContentSecurityPolicyMiddleware:
    """Adds POLICY to every response that has none (pages, admin, errors, static files)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = POLICY
        return response
