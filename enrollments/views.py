"""Enrollment pages: deadlines and calendar, market group rosters and exports, participation
changes, and the digest subscription and preview."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from enrollments import deadlines as periods_
from enrollments.exports import csv_lines as roster_csv_lines
from enrollments.exports import json_chunks
from enrollments.filters import TransitionFilterSet
from enrollments.forms import DigestSubscriptionForm
from enrollments.models import DigestSubscription
from enrollments.roster import roster_rows
from enrollments.services import save_subscription
from enrollments.tables import TransitionTable
from leapsync.dashboard import store
from leapsync.dashboard.digest import build_digest, render_digest
from leapsync.replica import replica_reads
from leapsync.ui.csv_download import csv_download, csv_lines
from leapsync.ui.htmx import wants_partial
from leapsync.ui.security import email_preview_response
from leapsync.ui.tables import configure_table, fetch_page_rows

VIEW = "enrollments.view_programenrollment"
SUBSCRIBE = "enrollments.add_digestsubscription"
MANAGE_ALL = "enrollments.change_digestsubscription"


def _zone() -> str:
    return settings.TIME_ZONE


def _figures(key: str, name: str) -> dict[str, object]:
    """The stored figure set `name` as `key` (empty while it is being computed), with its time."""
    stored = store.figures(name)
    return {
        key: stored.value if stored else [],
        "computed_at": stored.computed_at if stored else None,
        "computing": stored is None,
    }


@require_GET
@replica_reads
@permission_required(VIEW, raise_exception=True)
def deadline_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    context = {**_figures("programs", store.DEADLINES), "now": now, "zone": _zone()}
    return render(request, "enrollments/deadline_list.html", context)


@require_GET
@permission_required(VIEW, raise_exception=True)
def deadline_calendar(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    context = {**_figures("days", store.CALENDAR), "now": now, "zone": _zone()}
    return render(request, "enrollments/deadline_calendar.html", context)


def _chosen_period(request: HttpRequest) -> tuple[dict, periods_.Period | None, bool]:
    """The programs and their listed periods, the period `?program=&period=` picks (default:
    the first program's current period, found from dates), and whether the list of periods
    is still being computed."""
    stored = store.figures(store.PERIODS)
    grouped = periods_.by_program(stored.value if stored else [])
    program = request.GET.get("program") or next(iter(grouped), "")
    options = grouped.get(program, [])
    name = request.GET.get("period")
    chosen = next((p for p in options if p.name == name), None)
    if chosen is None and not name:
        current, upcoming = periods_.current_and_next(options, timezone.now())
        chosen = current or upcoming or next(iter(options), None)
    return grouped, chosen, stored is None


@require_GET
@replica_reads
@permission_required(VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def market_group_list(request: HttpRequest) -> HttpResponse:
    grouped, period, computing = _chosen_period(request)
    roster = None
    if period:
        stored = store.figures(store.roster_name(period))
        roster, computing = (stored.value, False) if stored else (None, True)
    context = {
        "grouped": grouped,
        "period": period,
        "program": period.program if period else request.GET.get("program", ""),
        "roster": roster,
        "computing": computing,
        "requested_period": request.GET.get("period", ""),
        "zone": _zone(),
    }
    page = (
        "enrollments/partials/market_group_view.html"
        if wants_partial(request)
        else "enrollments/market_group_list.html"
    )
    return render(request, page, context)


@require_GET
@permission_required(VIEW, raise_exception=True)
def market_group_export(request: HttpRequest, fmt: str) -> StreamingHttpResponse:
    """The chosen period's roster, streamed (format in docs/exports.md)."""
    if fmt not in ("csv", "json"):
        raise Http404("Unknown export format")
    _, period, _ = _chosen_period(request)
    if period is None:
        raise Http404("No such delivery period")
    rows = roster_rows(period).iterator(chunk_size=2000)
    if fmt == "csv":
        response = StreamingHttpResponse(
            roster_csv_lines(rows), content_type="text/csv; charset=utf-8"
        )
    else:
        chunks = json_chunks(period, rows, timezone.now())
        response = StreamingHttpResponse(chunks, content_type="application/json")
    filename = "".join(c if c.isalnum() or c in "-_" else "_" for c in period.name) or "period"
    response["Content-Disposition"] = f'attachment; filename="market-groups-{filename}.{fmt}"'
    return response


@require_GET
@replica_reads
@permission_required(VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def transition_list(request: HttpRequest) -> HttpResponse:
    filterset = TransitionFilterSet(request.GET or None)
    # The page is chosen among the periods alone; only its rows are joined to their meter,
    # site and enrollment (30,000 changes in 30 days at a million meters: joining them all
    # before sorting took 0.6 s).
    keys = filterset.qs.select_related(None)
    table = configure_table(request, TransitionTable(keys))
    fetch_page_rows(table, filterset.qs)
    page = (
        "enrollments/partials/transition_table.html"
        if wants_partial(request)
        else "enrollments/transition_list.html"
    )
    context = {"filterset": filterset, "table": table, "zone": _zone()}
    return render(request, page, context)


TRANSITION_COLUMNS = (
    "transition_at",
    "transition_to",
    "meter_id",
    "partner_reference",
    "end_customer_name",
    "site_external_id",
    "transmission_region",
    "participation_preference",
    "start_time",
    "end_time",
    "reason",
)


@require_GET
@permission_required(VIEW, raise_exception=True)
def transition_export(request: HttpRequest) -> StreamingHttpResponse:
    filterset = TransitionFilterSet(request.GET or None)
    rows = filterset.qs.iterator(chunk_size=2000)
    return csv_download(
        csv_lines(TRANSITION_COLUMNS, map(_transition_row, rows)), "participation-changes"
    )


def _transition_row(p) -> list[str]:
    site = p.meter.site
    end = "" if p.is_open_ended or p.end_time is None else p.end_time.isoformat()
    return [
        p.transition_at.isoformat(),
        p.transition_to,
        str(p.meter.meter_id),
        p.meter.partner_reference,
        p.meter.end_customer_name,
        site.external_id if site else "",
        p.meter.transmission_region,
        p.participation_preference,
        p.start_time.isoformat(),
        end,
        p.reason,
    ]


def _subscriber(request: HttpRequest, username: str | None):
    """The user whose subscription is shown: oneself, or anyone for admins."""
    if not username or username == request.user.get_username():
        return request.user
    if not request.user.has_perm(MANAGE_ALL):
        raise Http404("No such subscription")
    return get_object_or_404(get_user_model(), username=username)


@require_GET
@permission_required(SUBSCRIBE, raise_exception=True)
def digest_subscription(request: HttpRequest) -> HttpResponse:
    subscriber = _subscriber(request, request.GET.get("user"))
    subscription = DigestSubscription.objects.filter(user=subscriber).first()
    initial = (
        {
            "programs": subscription.programs,
            "cadence": subscription.cadence,
            "weekday": subscription.weekday,
            "window_days": subscription.window_days,
            "is_active": subscription.is_active,
            "email": subscription.email,
        }
        if subscription
        else None
    )
    return _subscription_page(
        request, subscriber, subscription, DigestSubscriptionForm(initial=initial)
    )


def _subscription_page(request, subscriber, subscription, form) -> HttpResponse:
    everyone = None
    if request.user.has_perm(MANAGE_ALL):
        everyone = list(DigestSubscription.objects.select_related("user").prefetch_related("sent"))
    recent = list(subscription.sent.all()[:10]) if subscription else []
    context = {
        "subscriber": subscriber,
        "subscription": subscription,
        "form": form,
        "everyone": everyone,
        "recent": recent,
        "send_time": settings.DIGEST_SEND_TIME,
        "zone": _zone(),
    }
    return render(request, "enrollments/digest_subscription.html", context)


@require_POST
@permission_required(SUBSCRIBE, raise_exception=True)
def digest_subscription_save(request: HttpRequest) -> HttpResponse:
    subscriber = _subscriber(request, request.POST.get("user"))
    subscription = DigestSubscription.objects.filter(user=subscriber).first()
    form = DigestSubscriptionForm(
        request.POST, initial={"programs": subscription.programs if subscription else []}
    )
    if not form.is_valid():
        return _subscription_page(request, subscriber, subscription, form)
    save_subscription(subscriber, actor=request.user, **form.cleaned_data)
    messages.success(request, f"Digest subscription of {subscriber.get_username()} saved.")
    query = "" if subscriber == request.user else f"?user={subscriber.get_username()}"
    return redirect(reverse("enrollments:digest_subscription") + query)


@require_GET
@permission_required(SUBSCRIBE, raise_exception=True)
def digest_preview(request: HttpRequest) -> HttpResponse:
    """Exactly the email the subscriber would receive today: subject, text, and its HTML framed."""
    subscriber = _subscriber(request, request.GET.get("user"))
    digest = build_digest(subscriber, timezone.localdate())
    subject, text, _html = render_digest(digest)
    context = {
        "subscriber": subscriber,
        "recipient": digest.recipient,
        "subject": subject,
        "text": text,
        # The digest is sent by a task, with no request: its links use SITE_URL, which may
        # not be the address this page is served on.
        "site_url": settings.SITE_URL,
        "served_at": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "enrollments/digest_preview.html", context)


@require_GET
@permission_required(SUBSCRIBE, raise_exception=True)
def digest_preview_html(request: HttpRequest) -> HttpResponse:
    """The digest's HTML part as sent, for the sandboxed frame on the preview page."""
    subscriber = _subscriber(request, request.GET.get("user"))
    html = render_digest(build_digest(subscriber, timezone.localdate()))[2]
    return email_preview_response(html)
