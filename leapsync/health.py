"""Probes for load balancers and monitoring: liveness (`/healthz`) and readiness (`/readyz`).

Both are public (no login), never cached, and answer with a minimal JSON body: no versions,
no hosts, no settings. `/healthz` only asks whether the database answers, so a load balancer
keeps every web node in rotation while the sync is behind; `/readyz` adds the sync's freshness
(each stream's last successful run within SYNC_FRESHNESS_MINUTES, and no run left "running"
by a process that died) for monitoring and alerts.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from leapsync.freshness import stream_freshness
from leapsync.models import RunStatus, Stream, SyncRun
from leapsync.sync.locks import held_streams

logger = logging.getLogger("leapsync.health")


def database_ok() -> bool:
    """One trivial query; any database error means "not healthy"."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("health check: database unreachable (%s)", type(error).__name__)
        return False
    return True


def stream_states() -> dict[str, str]:
    """{stream: "fresh" | "stale" | "stuck"} for /readyz.

    stuck: a run of the stream is recorded as running but no live process holds its lock (it
    was killed; the next run will mark it abandoned). stale: its last successful run finished
    longer ago than SYNC_FRESHNESS_MINUTES (or never).
    """
    stale = {f.stream for f in stream_freshness(timezone.now()) if f.stale}
    running = set(SyncRun.objects.filter(status=RunStatus.RUNNING).values_list("stream", flat=True))
    stuck = running - held_streams()
    states = {}
    for stream in Stream.values:
        if stream in stuck:
            states[stream] = "stuck"
        elif stream in stale:
            states[stream] = "stale"
        else:
            states[stream] = "fresh"
    return states


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, else 503 (take this node out of rotation)."""
    if database_ok():
        return JsonResponse({"status": "ok"})
    return JsonResponse({"status": "database unavailable"}, status=503)


@login_not_required
@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and every stream is fresh; 503 saying which stream is
    stale or stuck otherwise."""
    if not database_ok():
        return JsonResponse({"status": "database unavailable"}, status=503)
    try:
        states = stream_states()
    except DatabaseError:
        return JsonResponse({"status": "database unavailable"}, status=503)
    worst = next((state for state in ("stuck", "stale") if state in states.values()), "ok")
    return JsonResponse({"status": worst, "streams": states}, status=200 if worst == "ok" else 503)
