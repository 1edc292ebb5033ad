"""The endpoint Leap delivers webhook events to, and the webhooks page staff read."""

from __future__ import annotations

import msgspec
from django.conf import settings
from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from leapsync.ui.htmx import wants_partial
from leapsync.ui.tables import configure_table
from leapsync.webhooks.envelope import MAX_BODY_BYTES, EnvelopeError, parse_envelope
from leapsync.webhooks.filters import WebhookEventFilterSet
from leapsync.webhooks.models import RefreshStatus, WebhookEvent, WebhookRefresh, WebhookRejection
from leapsync.webhooks.services import count_rejection, receive_event, secret_problem
from leapsync.webhooks.tables import WebhookEventTable


# Leap authenticates with our secret header only, so the endpoint is exempt from login and CSRF
# (and from nothing else); the secret is compared in constant time before the body is read.
@login_not_required
@csrf_exempt
@require_POST
def webhook_receive(request: HttpRequest) -> HttpResponse:
    """Store the event and answer 2xx at once; the refresh it cues runs in django-q2."""
    problem = secret_problem(request.headers.get(settings.LEAP_WEBHOOK_HEADER))
    if problem:
        count_rejection(problem)
        return _refuse(401, "Unauthorized", "missing or wrong secret header")
    if _chunked_unreadable(request):
        count_rejection("length_required")
        return _refuse(411, "Length Required", "this server cannot read a chunked body")
    body = _bounded_body(request)
    if body is None:
        count_rejection("too_large")
        return _refuse(400, "Bad Request", f"body exceeds {MAX_BODY_BYTES} bytes")
    try:
        envelope = parse_envelope(body)
    except EnvelopeError as exc:
        count_rejection(exc.reason)
        return _refuse(400, "Bad Request", str(exc))
    stored = receive_event(envelope)
    return JsonResponse({"received": envelope.webhook_event_id, "duplicate": not stored})


def _chunked_unreadable(request: HttpRequest) -> bool:
    """A chunked body the WSGI server does not end for us (Django's runserver): unreadable."""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked and not request.META.get("wsgi.input_terminated")


def _bounded_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over the limit (read at most one byte past it).

    A chunked body has no Content-Length, and Django's request stream reads as many bytes as
    that announces: none. A server that decodes chunked input ends its own stream with the
    body and says so (the `wsgi.input_terminated` flag, which gunicorn and mod_wsgi set), so
    that stream is read instead, with the same limit.
    """
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        announced = 0
    if announced > MAX_BODY_BYTES:
        return None
    stream = request
    if not request.META.get("CONTENT_LENGTH") and request.META.get("wsgi.input_terminated"):
        stream = request.META["wsgi.input"]
    body = stream.read(MAX_BODY_BYTES + 1)
    return None if len(body) > MAX_BODY_BYTES else body


def _refuse(status: int, error: str, message: str) -> JsonResponse:
    return JsonResponse({"error": error, "message": message}, status=status)


@require_GET
@permission_required("webhooks.view_webhookevent", raise_exception=True)
@vary_on_headers("HX-Request")
def webhook_event_list(request: HttpRequest) -> HttpResponse:
    filterset = WebhookEventFilterSet(request.GET, queryset=WebhookEvent.objects.for_list())
    table = configure_table(request, WebhookEventTable(filterset.qs), per_page=50)
    context = {"filterset": filterset, "table": table}
    if wants_partial(request):
        return render(request, "webhooks/partials/webhook_events.html", context)
    context |= {
        "rejections": list(WebhookRejection.objects.all()),
        "waiting": WebhookRefresh.objects.filter(status=RefreshStatus.QUEUED).first(),
        "configured": bool(settings.LEAP_WEBHOOK_SECRET),
        "receiver_url": settings.LEAP_WEBHOOK_URL,
        "header": settings.LEAP_WEBHOOK_HEADER,
    }
    return render(request, "webhooks/webhookevent_list.html", context)


@require_GET
@permission_required("webhooks.view_webhookevent", raise_exception=True)
def webhook_event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(WebhookEvent.objects.for_list().defer(None), pk=pk)
    context = {"event": event, "body": _pretty(event.body)}
    return render(request, "webhooks/webhookevent_detail.html", context)


def _pretty(body: str) -> str:
    try:
        # Decoded and encoded again first, so that escapes such as \u00e9 read as the character.
        return msgspec.json.format(
            msgspec.json.encode(msgspec.json.decode(body)), indent=2
        ).decode()
    except msgspec.DecodeError:
        return body
