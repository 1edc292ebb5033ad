"""Response and request guards: the Content-Security-Policy header, and no NUL from the URL."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

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


class RefuseNulInQueryMiddleware:
    """Answers 400 to a query string holding a NUL character, in a name or a value.

    PostgreSQL cannot compare or store NUL in text, so one would make any lookup fail with a
    500. Forms refuse it already (Django's CharField), but views also read the query string
    themselves (`?user=`, `?program=`); refusing it here covers every one, and the admin.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return HttpResponseBadRequest(
                    "The query string holds a NUL character.", content_type="text/plain"
                )
        return self.get_response(request)
