"""Probes for load balancers and monitoring: liveness (`/healthz`) and readiness (`/readyz`).

Both are public (no login), never cached, and answer with a minimal JSON body: no versions,
no hosts, no settings. `/healthz` only asks whether the database answers, so a load balancer
keeps every web node in rotation while the sync is behind; `/readyz` adds the sync's freshness
(each stream's last successful run within SYNC_FRESHNESS_MINUTES) for monitoring and alerts.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from leapsync.models import Stream, SyncCursor

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


def stream_freshness() -> dict[str, bool]:
    """{stream: fresh?}: fresh when its last successful run finished within the window."""
    since = timezone.now() - timedelta(minutes=settings.SYNC_FRESHNESS_MINUTES)
    finished = dict(
        SyncCursor.objects.filter(last_success__isnull=False).values_list(
            "stream", "last_success__finished_at"
        )
    )
    return {
        stream: finished.get(stream) is not None and finished[stream] >= since
        for stream in Stream.values
    }


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
    """200 when the database answers and every stream is fresh; 503 with what is wrong."""
    if not database_ok():
        return JsonResponse({"status": "database unavailable"}, status=503)
    try:
        fresh = stream_freshness()
    except DatabaseError:
        return JsonResponse({"status": "database unavailable"}, status=503)
    body = {
        "status": "ok" if all(fresh.values()) else "stale",
        "streams": {stream: "fresh" if ok else "stale" for stream, ok in fresh.items()},
    }
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)
