"""Storing webhook events and turning them into coalesced, targeted refreshes.

The endpoint only stores the event and makes sure one refresh is queued; events that arrive while
a refresh waits join it. The refresh task waits a short window, claims every queued event,
and re-reads the union of their meters from Leap (the events are never applied themselves).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from leapsync.leap.client import LeapClient
from leapsync.models import RunStatus, Stream, SyncRun
from leapsync.sync import sync_refresh
from leapsync.sync.locks import held_streams
from leapsync.webhooks.envelope import REFRESH_TYPES, STORED_TYPES, Envelope
from leapsync.webhooks.models import (
    RefreshStatus,
    WebhookEvent,
    WebhookRefresh,
    WebhookRejection,
    WebhookState,
)

logger = logging.getLogger("leapsync.webhooks")

REFRESH_TASK = "leapsync.tasks.run_webhook_refresh"
# A refresh that found a sync holding the stream lock tries again this much later.
DEFER_SECONDS = 60
# At most this many events per refresh; the rest stay queued for the next one.
CLAIM_LIMIT = 20_000


def secret_problem(presented: str | None) -> str | None:
    """The rejection reason for the secret header's value, or None when it matches."""
    expected = settings.LEAP_WEBHOOK_SECRET
    if not expected:
        return "not_configured"
    if presented is None:
        return "missing_secret"
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        return "wrong_secret"
    return None


def count_rejection(reason: str) -> None:
    """Add one to the counter of refused deliveries for `reason`."""
    now = timezone.now()
    bumped = WebhookRejection.objects.filter(reason=reason).update(
        count=F("count") + 1, last_at=now
    )
    if not bumped:
        WebhookRejection.objects.bulk_create(
            [WebhookRejection(reason=reason, count=0)], ignore_conflicts=True
        )
        WebhookRejection.objects.filter(reason=reason).update(count=F("count") + 1, last_at=now)


def receive_event(envelope: Envelope) -> bool:
    """Store one event (a redelivery only bumps its counter); False for a duplicate.

    An event naming meters to re-read is stored `queued`, and a refresh is queued unless one
    is already waiting (it will take this event too).
    """
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                webhook_event_id=envelope.webhook_event_id,
                webhook_event_type=envelope.webhook_event_type,
                meter_ids=envelope.meter_ids,
                market_group_id=envelope.market_group_id,
                partner_reference=envelope.partner_reference,
                status=envelope.status,
                body=envelope.body,
                state=_initial_state(envelope),
            )
    except IntegrityError:
        WebhookEvent.objects.filter(webhook_event_id=envelope.webhook_event_id).update(
            duplicates=F("duplicates") + 1, last_duplicate_at=timezone.now()
        )
        return False
    if envelope.needs_refresh:
        queue_refresh()
    return True


def _initial_state(envelope: Envelope) -> str:
    if envelope.needs_refresh:
        return WebhookState.QUEUED
    if envelope.webhook_event_type in REFRESH_TYPES | STORED_TYPES:
        return WebhookState.STORED
    return WebhookState.UNKNOWN


def queue_refresh(*, delay_seconds: int = 0) -> WebhookRefresh | None:
    """Make sure one refresh is queued; return it if this call queued it.

    At most one refresh is queued at a time (a partial unique constraint), so a burst of events
    queues one task, not one per event.
    """
    if WebhookRefresh.objects.filter(status=RefreshStatus.QUEUED).exists():
        return None
    try:
        with transaction.atomic():
            refresh = WebhookRefresh.objects.create()
    except IntegrityError:  # another request queued one a moment ago
        return None
    if delay_seconds:
        Schedule.objects.create(
            name=f"leapsync: webhook refresh #{refresh.pk} (deferred)",
            func=REFRESH_TASK,
            args=repr((refresh.pk,)),
            schedule_type=Schedule.ONCE,
            next_run=timezone.now() + timedelta(seconds=delay_seconds),
        )
    else:
        transaction.on_commit(
            lambda: async_task(
                REFRESH_TASK, refresh.pk, task_name=f"leapsync: webhook refresh #{refresh.pk}"
            )
        )
    return refresh


def run_refresh(
    refresh_id: int,
    *,
    client: LeapClient | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookRefresh | None:
    """The task: wait out the coalescing window, claim queued events, re-read their meters."""
    refresh = WebhookRefresh.objects.filter(pk=refresh_id).first()
    if refresh is None or refresh.status != RefreshStatus.QUEUED:
        return refresh
    window = timedelta(seconds=settings.LEAP_WEBHOOK_COALESCE_SECONDS)
    wait = (refresh.created_at + window - timezone.now()).total_seconds()
    if wait > 0:
        sleep(wait)
    meter_ids = _claim(refresh)
    if meter_ids is None:
        return WebhookRefresh.objects.get(pk=refresh_id)
    if not meter_ids:
        return _finish(refresh, RefreshStatus.EMPTY, WebhookState.REFRESHED)
    if _stream_locked():
        return _defer(refresh)
    runs = sync_refresh(meter_ids, client=client, trigger="webhook")
    return _record_runs(refresh, runs)


def _stream_locked() -> bool:
    """A live sync run holds a stream; a refresh now would only be skipped."""
    return bool(held_streams())


def _claim(refresh: WebhookRefresh) -> list[str] | None:
    """Start the refresh and take every queued event; None if another worker started it."""
    with transaction.atomic():
        started = WebhookRefresh.objects.filter(pk=refresh.pk, status=RefreshStatus.QUEUED).update(
            status=RefreshStatus.RUNNING, started_at=timezone.now()
        )
        if not started:
            return None
        queued = (
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(state=WebhookState.QUEUED)
            .order_by("id")
        )
        claimed = list(queued.values_list("pk", "meter_ids")[:CLAIM_LIMIT])
        pks = [pk for pk, _ in claimed]
        WebhookEvent.objects.filter(pk__in=pks).update(
            state=WebhookState.REFRESHING, refresh=refresh
        )
        meter_ids = sorted({meter_id for _, ids in claimed for meter_id in ids})
        refresh.status = RefreshStatus.RUNNING
        refresh.event_count, refresh.meter_count = len(pks), len(meter_ids)
        refresh.save(update_fields=["event_count", "meter_count"])
    if len(pks) == CLAIM_LIMIT:
        queue_refresh()
    return meter_ids


def _record_runs(refresh: WebhookRefresh, runs: list[SyncRun]) -> WebhookRefresh:
    by_stream = {run.stream: run for run in runs}
    refresh.details_run = by_stream.get(Stream.DETAILS)
    refresh.enrollments_run = by_stream.get(Stream.ENROLLMENTS)
    if any(run.status == RunStatus.SKIPPED for run in runs):
        return _defer(refresh)
    failed = [run for run in runs if run.status != RunStatus.SUCCEEDED]
    if failed:
        refresh.error = "; ".join(f"{run.stream}: {run.error or run.status}" for run in failed)
        logger.warning("webhook refresh #%s failed: %s", refresh.pk, refresh.error)
        return _finish(refresh, RefreshStatus.FAILED, WebhookState.FAILED)
    return _finish(refresh, RefreshStatus.SUCCEEDED, WebhookState.REFRESHED)


def _defer(refresh: WebhookRefresh) -> WebhookRefresh:
    """A sync holds a stream: put the events back and try again a minute later."""
    refresh.error = "A sync held the stream lock; the events were queued again."
    with transaction.atomic():
        refresh.events.update(state=WebhookState.QUEUED, refresh=None)
        _finish(refresh, RefreshStatus.DEFERRED, None)
    queue_refresh(delay_seconds=DEFER_SECONDS)
    return refresh


def _finish(refresh: WebhookRefresh, status: str, event_state: str | None) -> WebhookRefresh:
    refresh.status = status
    refresh.finished_at = timezone.now()
    refresh.save()
    if event_state is not None:
        refresh.events.update(state=event_state)
    return refresh
