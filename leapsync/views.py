"""Site-wide pages: the dashboard and the sync pages (runs, one run, run now)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import defaults
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_q.tasks import async_task

from leapsync.dashboard import store
from leapsync.dashboard.figures import recent_events, sync_health
from leapsync.models import RunStatus, SyncRun
from leapsync.tables import SyncRunTable
from leapsync.ui.htmx import wants_partial
from leapsync.ui.tables import configure_table

QUARANTINE_SHOWN = 100
RUN_TASKS = {
    "incremental": "leapsync.tasks.run_incremental",
    "full": "leapsync.tasks.run_full",
}


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    stored = store.figures(store.DASHBOARD)
    context = {
        **(stored.value if stored else {}),
        "computing": stored is None,
        "health": sync_health(now),
        "freshness_minutes": settings.SYNC_FRESHNESS_MINUTES,
        "events": recent_events(),
    }
    return render(request, "leapsync/dashboard.html", context)


@require_GET
@permission_required("leapsync.view_syncrun", raise_exception=True)
@vary_on_headers("HX-Request")
def sync_run_list(request: HttpRequest) -> HttpResponse:
    table = configure_table(request, SyncRunTable(SyncRun.objects.all()), per_page=30)
    context = {
        "table": table,
        "running": SyncRun.objects.filter(status=RunStatus.RUNNING).exists(),
        "queued": request.GET.get("queued") == "1",
    }
    page = (
        "leapsync/partials/sync_runs.html"
        if wants_partial(request)
        else "leapsync/syncrun_list.html"
    )
    return render(request, page, context)


@require_GET
@permission_required("leapsync.view_syncrun", raise_exception=True)
@vary_on_headers("HX-Request")
def sync_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SyncRun, pk=pk)
    if wants_partial(request):
        return render(request, "leapsync/partials/sync_run.html", {"run": run})
    quarantine = list(run.quarantine.all()[:QUARANTINE_SHOWN])
    context = {"run": run, "quarantine": quarantine, "quarantine_shown": QUARANTINE_SHOWN}
    return render(request, "leapsync/syncrun_detail.html", context)


@require_POST
@permission_required("leapsync.add_syncrun", raise_exception=True)
def sync_run_start(request: HttpRequest) -> HttpResponse:
    """Queue a full or incremental sync on the django-q2 cluster (admins only)."""
    mode = request.POST.get("mode", "")
    if mode not in RUN_TASKS:
        messages.error(request, "Unknown sync mode.")
        return redirect("sync_run_list")
    async_task(RUN_TASKS[mode], trigger="ui", task_name=f"leapsync: {mode} sync (UI)")
    messages.success(
        request, f"{mode.capitalize()} sync queued; it starts when a worker picks it up."
    )
    return redirect(f"{reverse('sync_run_list')}?queued=1")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400s; a request over DATA_UPLOAD_MAX_NUMBER_FIELDS (a huge bulk selection) says what to do."""
    if isinstance(exception, TooManyFieldsSent):
        context = {"limit": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}
        return render(request, "too_many_fields.html", context, status=400)
    return defaults.bad_request(request, exception)
