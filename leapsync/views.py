"""Site-wide pages: the dashboard and the Sync pages (runs and progress, one run, start a run)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, TooManyFieldsSent
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views import defaults
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_q.tasks import async_task

from leapsync import syncpage, trendspage
from leapsync.dashboard import store
from leapsync.dashboard.figures import recent_events, sync_health
from leapsync.forms import MeterRefreshForm
from leapsync.models import RunStatus, SyncRun
from leapsync.tables import SyncRunTable
from leapsync.ui.htmx import wants_partial
from leapsync.ui.tables import configure_table

QUARANTINE_SHOWN = 100
RUN_TASKS = {
    "incremental": "leapsync.tasks.run_incremental",
    "full": "leapsync.tasks.run_full",
}
REFRESH_TASK = "leapsync.tasks.refresh_meters"


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    stored = store.figures(store.DASHBOARD)
    context = {
        **(stored.value if stored else {}),
        "computed_at": stored.computed_at if stored else None,
        "computing": stored is None,
        "health": sync_health(now),
        "freshness_minutes": settings.SYNC_FRESHNESS_MINUTES,
        "events": recent_events(),
    }
    return render(request, "leapsync/dashboard.html", context)


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
def trends(request: HttpRequest) -> HttpResponse:
    """Charts of the stored trends figures (leapsync.dashboard.trends); no aggregate here."""
    now = timezone.now()
    stored = store.figures(store.TRENDS)
    context: dict = {"computing": stored is None}
    if stored is not None:
        figures = stored.value
        daily = figures["daily"]
        program = request.GET.get("program")
        if program not in daily.programs:
            program = next(iter(daily.programs), None)
        context |= {
            **figures,
            "computed_at": stored.computed_at,
            "program": program,
            "charts": trendspage.page_charts(figures, program, now),
        }
    return render(request, "leapsync/trends.html", context)


@require_GET
@permission_required("leapsync.view_syncrun", raise_exception=True)
@vary_on_headers("HX-Request")
def sync_run_list(request: HttpRequest) -> HttpResponse:
    """The runs, live progress while one goes, freshness; the full page adds the schedules and
    what the user may start."""
    if wants_partial(request):
        return render(request, "leapsync/partials/sync_runs.html", _sync_context(request))
    return _sync_page(request, MeterRefreshForm())


def _sync_context(request: HttpRequest) -> dict:
    table = configure_table(request, SyncRunTable(SyncRun.objects.all()), per_page=30)
    return {"table": table, **syncpage.live(request.GET.get("queued", ""), timezone.now())}


def _sync_page(request: HttpRequest, refresh_form: MeterRefreshForm) -> HttpResponse:
    context = _sync_context(request) | {
        "schedules": syncpage.schedules(timezone.now()),
        "refresh_form": refresh_form,
    }
    return render(request, "leapsync/syncrun_list.html", context)


@require_GET
@permission_required("leapsync.view_syncrun", raise_exception=True)
@vary_on_headers("HX-Request")
def sync_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SyncRun, pk=pk)
    progress = (
        syncpage.run_progress(run, timezone.now()) if run.status == RunStatus.RUNNING else None
    )
    ranges = progress.ranges if progress else syncpage.run_ranges(run)
    if wants_partial(request):
        context = {"run": run, "progress": progress, "ranges": ranges}
        return render(request, "leapsync/partials/sync_run.html", context)
    quarantine = list(run.quarantine.all()[:QUARANTINE_SHOWN])
    context = {
        "run": run,
        "progress": progress,
        "ranges": ranges,
        "quarantine": quarantine,
        "quarantine_shown": QUARANTINE_SHOWN,
    }
    return render(request, "leapsync/syncrun_detail.html", context)


@require_POST
@permission_required("leapsync.start_sync", raise_exception=True)
def sync_run_start(request: HttpRequest) -> HttpResponse:
    """Queue an incremental (Operations) or a full sync (admins: add_syncrun) on the cluster."""
    mode = request.POST.get("mode", "")
    if mode not in RUN_TASKS:
        messages.error(request, "Unknown sync mode.")
        return redirect("sync_run_list")
    if mode == "full" and not request.user.has_perm("leapsync.add_syncrun"):
        raise PermissionDenied("A full sync is started by an admin.")
    return _queue(request, RUN_TASKS[mode], f"{mode} sync")


@require_POST
@permission_required("leapsync.start_sync", raise_exception=True)
def sync_refresh_start(request: HttpRequest) -> HttpResponse:
    """Queue a targeted refresh of the meter_ids given (the request never calls Leap)."""
    form = MeterRefreshForm(request.POST)
    if not form.is_valid():
        return _sync_page(request, form)
    meter_ids = form.cleaned_data["meter_ids"]
    label = f"targeted refresh of {len(meter_ids)} meter{pluralize(len(meter_ids))}"
    return _queue(request, REFRESH_TASK, label, meter_ids)


def _queue(request: HttpRequest, task: str, label: str, *args: object) -> HttpResponse:
    """Queue `task` once the request's writes commit; the page then follows it by its token."""
    token = secrets.token_hex(8)
    trigger, name = f"{syncpage.UI_TRIGGER}{token}", syncpage.task_name(token, label)
    transaction.on_commit(lambda: async_task(task, *args, trigger=trigger, task_name=name))
    messages.success(request, f"{label.capitalize()} queued; this page follows it.")
    return redirect(f"{reverse('sync_run_list')}?queued={token}")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400s; a request over DATA_UPLOAD_MAX_NUMBER_FIELDS (a huge bulk selection) says what to do."""
    if isinstance(exception, TooManyFieldsSent):
        context = {"limit": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}
        return render(request, "too_many_fields.html", context, status=400)
    return defaults.bad_request(request, exception)
