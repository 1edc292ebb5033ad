"""Meter pages: the filtered list (and its CSV export), global search, the meter page, sync."""

from __future__ import annotations

import re
import secrets
from uuid import UUID

import msgspec
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F, Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect
from django_q.tasks import async_task
from django_tables2 import RequestConfig

from leapsync.leap.enums import ActionType, labels
from leapsync.lib.search import id_range
from leapsync.models import RunStatus, SyncRun
from leapsync.preferences.models import ListPage
from leapsync.preferences.services import list_state, opening_url
from leapsync.replica import replica_reads
from leapsync.sync import STREAMS
from leapsync.ui.counts import count_rows
from leapsync.ui.csv_download import csv_download, csv_lines
from leapsync.ui.filters import is_filtered
from leapsync.ui.htmx import wants_partial
from leapsync.ui.tables import configure_table, fetch_page_rows
from meters.details import detail_sections, timeline
from meters.exports import EXPORT_COLUMNS, export_row
from meters.filters import MeterFilterSet
from meters.matching import suggest
from meters.models import Meter, MeterEvent, open_changes
from meters.tables import MeterTable

EVENTS_PER_PAGE = 20
REFRESH_TASK = "leapsync.tasks.refresh_meters"
# A queued "Sync this meter" is found again by its runs' trigger: this prefix and a token.
UI_TRIGGER = "ui:"
SYNC_TOKEN = re.compile(r"^[0-9a-f]{16}$")
ACTION_TYPE_LABELS = labels(ActionType)


@require_GET
@replica_reads
@permission_required("meters.view_meter", raise_exception=True)
@vary_on_headers("HX-Request")
def meter_list(request: HttpRequest) -> HttpResponse:
    known = [*MeterFilterSet.base_filters, "sort"]
    if (opening := opening_url(request, ListPage.METERS, known)) is not None:
        return _go_to(request, opening)
    prefs = list_state(
        request, ListPage.METERS, known, columns=MeterTable.choosable(), required=("meter_id",)
    )
    filterset = MeterFilterSet(request.GET, queryset=Meter.objects.all())
    keys = filterset.qs.only("pk", "meter_id")
    total = count_rows(keys, filtered=is_filtered(filterset))
    table = configure_table(request, MeterTable(keys, exclude=prefs.hidden), total=total)
    only = _only_meter_asked_for(request, table)
    if only is not None:
        return _go_to(request, reverse("meters:meter_detail", args=[only]))
    fetch_page_rows(table, Meter.objects.for_list())
    page = (
        "meters/partials/meter_table.html" if wants_partial(request) else "meters/meter_list.html"
    )
    folded = [name for name in filterset.filters if name not in MeterFilterSet.PRIMARY]
    context = {
        "filterset": filterset,
        "table": table,
        "total": total.describe("meter", "meters"),
        "prefs": prefs,
        "more_filters_used": any(request.GET.get(name) for name in folded),
    }
    return render(request, page, context)


def _only_meter_asked_for(request: HttpRequest, table: MeterTable) -> UUID | None:
    """The meter_id, when the search is a meter id (whole or a prefix) and it is the one match."""
    bounds = id_range(request.GET.get("q", ""))
    rows = table.page.object_list
    if bounds is None or table.page.number != 1 or table.page.has_next() or len(rows) != 1:
        return None
    meter_id = rows[0].record.meter_id
    return meter_id if bounds[0] <= meter_id <= bounds[1] else None


def _go_to(request: HttpRequest, url: str) -> HttpResponse:
    """Redirect; an HTMX request is told to load the page itself (a 302 would be swapped in)."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
def meter_export(request: HttpRequest) -> StreamingHttpResponse:
    """Exactly the filtered set as CSV, in the list's order (`?sort=`), streamed in chunks so
    memory stays flat at any size."""
    filterset = MeterFilterSet(request.GET, queryset=Meter.objects.for_list())
    table = MeterTable(filterset.qs)
    RequestConfig(request, paginate=False).configure(table)
    rows = table.data.data.iterator(chunk_size=2000)
    return csv_download(csv_lines(EXPORT_COLUMNS, map(export_row, rows)), "meters")


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
def meter_search(request: HttpRequest) -> HttpResponse:
    """The global search box: straight to the meter on an exact match, else the filtered list.

    An exact match is the one meter whose id is the text (whole, or its first 6 or more hex
    digits as the pages show it), or whose partner_reference or account number it is.
    """
    q = request.GET.get("q", "").strip()
    # A NUL byte can match nothing, and PostgreSQL refuses it in a query parameter.
    if q and "\x00" not in q:
        exact = Q(partner_reference=q) | Q(electric_service_account_number=q)
        bounds = id_range(q)
        if bounds is not None:
            exact |= Q(meter_id__range=bounds)
        matches = list(Meter.objects.filter(exact).values_list("meter_id", flat=True)[:2])
        if len(matches) == 1:
            return _go_to(request, reverse("meters:meter_detail", args=[matches[0]]))
    return _go_to(request, f"{reverse('meters:meter_list')}?{request.GET.urlencode()}")


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
@vary_on_headers("HX-Request", "HX-Target")
def meter_detail(request: HttpRequest, meter_id: UUID) -> HttpResponse:
    meter = get_object_or_404(
        Meter.objects.select_related("enrollment", "site", "mapped_by").prefetch_related(
            open_changes()
        ),
        meter_id=meter_id,
    )
    events = _events_page(request, meter)
    if wants_partial(request) and request.htmx.target == "meter-events-more":
        return render(
            request, "meters/partials/meter_events_more.html", {"meter": meter, "events": events}
        )
    now = timezone.now()
    periods = list(meter.participation.all())
    bars, now_at, window_start, window_end = timeline(periods, now)
    context = {
        "meter": meter,
        "enrollment": getattr(meter, "enrollment", None),
        "events": events,
        "sections": detail_sections(meter.details_raw),
        "programs": _programs(meter, now),
        "bars": bars,
        "now_at": now_at,
        "window": (window_start, window_end),
        "actions": _actions(meter),
        "suggestions": suggest([meter]).get(meter.pk, []) if meter.site_id is None else [],
        "reference_changes": meter.reference_changes.select_related("by")[:20],
        "details_json": _pretty(meter.details_raw),
        "enrollment_json": _pretty(
            getattr(getattr(meter, "enrollment", None), "enrollment_raw", None)
        ),
    }
    if SYNC_TOKEN.match(request.GET.get("sync", "")):
        context["sync"] = _sync_context(meter, request.GET["sync"])
    return render(request, "meters/meter_detail.html", context)


@require_POST
@permission_required("meters.change_meter", raise_exception=True)
def meter_sync(request: HttpRequest, meter_id: UUID) -> HttpResponse:
    """Queue a targeted refresh of one meter; the page follows it (a request never waits on
    Leap: its retries and back-off would outlast a web worker's timeout)."""
    meter = get_object_or_404(Meter, meter_id=meter_id)
    token = secrets.token_hex(8)
    trigger = f"{UI_TRIGGER}{token}"
    transaction.on_commit(lambda: async_task(REFRESH_TASK, [str(meter.meter_id)], trigger))
    if not request.htmx:
        messages.info(request, "Sync queued: this page shows its result when it is done.")
        url = reverse("meters:meter_detail", args=[meter.meter_id])
        return redirect(f"{url}?sync={token}")
    return _render_sync(request, meter, token)


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
def meter_sync_status(request: HttpRequest, meter_id: UUID, token: str) -> HttpResponse:
    """Where a queued "Sync this meter" stands: queued, running, or what it changed."""
    meter = get_object_or_404(Meter, meter_id=meter_id)
    if not SYNC_TOKEN.match(token):
        raise Http404("No such sync")
    return _render_sync(request, meter, token)


def _render_sync(request: HttpRequest, meter: Meter, token: str) -> HttpResponse:
    return render(request, "meters/partials/meter_sync.html", _sync_context(meter, token))


def _sync_context(meter: Meter, token: str) -> dict:
    runs = list(SyncRun.objects.filter(trigger=f"{UI_TRIGGER}{token}"))
    done = len(runs) == len(STREAMS) and all(run.status != RunStatus.RUNNING for run in runs)
    context = {"meter": meter, "token": token, "runs": runs, "done": done}
    if not done:
        context["summary"] = "Syncing from Leap…" if runs else "Queued: waiting for a worker…"
        return context
    events = list(
        MeterEvent.objects.filter(meter=meter, sync_run__in=runs).select_related("sync_run")
    )
    failed = [run for run in runs if run.status != RunStatus.SUCCEEDED]
    return context | {"events": events, "failed": failed, "summary": _sync_summary(events, failed)}


def _sync_summary(events: list[MeterEvent], failed: list[SyncRun]) -> str:
    if failed:
        return "Sync did not complete: " + "; ".join(
            f"{run.stream} {run.get_status_display().lower()}" for run in failed
        )
    if not events:
        return "Synced from Leap: nothing changed."
    return f"Synced from Leap: {len(events)} change{'s' if len(events) != 1 else ''}."


def _events_page(request: HttpRequest, meter: Meter):
    paginator = Paginator(meter.events.select_related("user", "sync_run"), EVENTS_PER_PAGE)
    return paginator.get_page(request.GET.get("events_page"))


def _programs(meter: Meter, now) -> list[dict]:
    """Listed delivery periods grouped by program, the current one found by its dates."""
    programs: dict[str, list] = {}
    rows = meter.program_enrollments.filter(listed=True).prefetch_related("deadlines")
    for row in rows.order_by("program_identifier", "delivery_period_start_date_time"):
        end = row.delivery_period_end_date_time
        row.is_current = row.delivery_period_start_date_time <= now and (end is None or now < end)
        programs.setdefault(row.program_identifier, []).append(row)
    return [{"program": name, "periods": periods} for name, periods in programs.items()]


def _actions(meter: Meter) -> list:
    """Open actions first (soonest deadline first), then resolved ones."""
    actions = list(
        meter.required_actions.select_related("assignee").order_by(
            F("resolved_at").desc(nulls_first=True), "enrollment_deadline_date_time", "id"
        )
    )
    for action in actions:
        action.type_label = ACTION_TYPE_LABELS.get(action.action_type, action.action_type)
    return actions


def _pretty(raw) -> str:
    if not raw:
        return ""
    return msgspec.json.format(msgspec.json.encode(raw, order="sorted"), indent=2).decode()
