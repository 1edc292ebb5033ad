"""Sync alerts: one email when the sync turns unhealthy, one when it is healthy again.

Unhealthy: a stream's latest finished full or incremental run failed, or its last success is
older than SYNC_FRESHNESS_MINUTES (never included). `check()` runs after every sync task and on
its own schedule (leapsync/tasks.py). The state lives in the database: a spell of ill health is
one `SyncIncident` (at most one open, by a unique constraint), and each of its two emails is
claimed once (`leapsync.claims`), so however many runs fail and checks run during an incident,
one alert goes out, and one "recovered" email when it closes. A failed send is retried by the
next check. Recipients: SYNC_ALERT_EMAILS, else the active members of the Operations group.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from actions.notify.common import operations_emails
from leapsync import claims
from leapsync.freshness import stream_freshness
from leapsync.models import (
    AlertEmailStatus,
    RunStatus,
    Stream,
    SyncAlertEmail,
    SyncIncident,
    SyncMode,
    SyncRun,
)
from leapsync.ui.emails import send_email

logger = logging.getLogger("leapsync.alerts")

# The runs that keep a stream fresh; a targeted refresh failing (one meter, a webhook) is not
# the sync failing.
WATCHED_MODES = (SyncMode.FULL, SyncMode.INCREMENTAL)


def problems(now: datetime) -> list[str]:
    """What is wrong with the sync at `now`, one line each; empty when it is healthy."""
    found = []
    for fresh in stream_freshness(now):
        if fresh.stale:
            last = fresh.last_success
            when = (
                f"last success {timezone.localtime(last.finished_at):%Y-%m-%d %H:%M %Z}"
                if last
                else "never synced"
            )
            found.append(
                f"{fresh.label}: stale, no success in {settings.SYNC_FRESHNESS_MINUTES} min "
                f"({when})"
            )
    for stream, label in Stream.choices:
        latest = SyncRun.objects.filter(
            stream=stream,
            mode__in=WATCHED_MODES,
            status__in=(RunStatus.SUCCEEDED, RunStatus.FAILED),
        ).first()
        if latest is not None and latest.status == RunStatus.FAILED:
            found.append(f"{label}: run #{latest.pk} ({latest.mode}) failed: {latest.error[:300]}")
    return found


def check(now: datetime | None = None) -> str:
    """Open or close the incident as the sync's health says; send what is owed. One line."""
    now = now or timezone.now()
    found = problems(now)
    if found:
        incident = _open_incident(found, now)
        sent = _send(incident, SyncAlertEmail.Kind.ALERT, now)
        return f"unhealthy ({len(found)} problem{'s' * (len(found) != 1)}); alert {sent}"
    SyncIncident.objects.filter(is_open=True).update(is_open=False, closed_at=now)
    last = SyncIncident.objects.filter(is_open=False).first()
    if last is None:
        return "healthy"
    sent = dict(last.emails.filter(status=AlertEmailStatus.SENT).values_list("kind", "sent_at"))
    if SyncAlertEmail.Kind.ALERT not in sent or SyncAlertEmail.Kind.RECOVERED in sent:
        return "healthy"  # nobody was alerted, or they have been told it is over
    return f"healthy again; recovered email {_send(last, SyncAlertEmail.Kind.RECOVERED, now)}"


def _open_incident(found: list[str], now: datetime) -> SyncIncident:
    current = SyncIncident.objects.filter(is_open=True).first()
    if current is not None:
        return current
    try:
        with transaction.atomic():
            return SyncIncident.objects.create(opened_at=now, reason="\n".join(found))
    except IntegrityError:  # another check opened it meanwhile
        return SyncIncident.objects.get(is_open=True)


def recipients() -> list[str]:
    return list(settings.SYNC_ALERT_EMAILS) or operations_emails()


def _send(incident: SyncIncident, kind: str, now: datetime) -> str:
    """Send the incident's `kind` email unless it was sent, or another check is sending it."""
    claim = claims.claim(
        SyncAlertEmail,
        {"incident": incident, "kind": kind},
        taken=AlertEmailStatus.SENDING,
        failed=AlertEmailStatus.FAILED,
        now=now,
    )
    if claim is None:
        return "already sent"
    to = recipients()
    if not to:
        return _failed(claim, "nobody to alert: set SYNC_ALERT_EMAILS or give Operations an email")
    context = {
        "incident": incident,
        "problems": incident.reason.splitlines(),
        "sync_url": f"{settings.SITE_URL}{reverse('sync_run_list')}",
        "freshness_minutes": settings.SYNC_FRESHNESS_MINUTES,
        "now": now,
    }
    try:
        send_email(f"sync_{kind}", context, to)
    except Exception as error:  # noqa: BLE001  (recorded on the claim, retried next check)
        return _failed(claim, f"{type(error).__name__}: {error}", to)
    claim.status, claim.sent_at, claim.to, claim.error = (
        AlertEmailStatus.SENT,
        now,
        ", ".join(to),
        "",
    )
    claim.save(update_fields=["status", "sent_at", "to", "error"])
    return "sent"


def _failed(claim: SyncAlertEmail, error: str, to: list[str] | None = None) -> str:
    logger.warning(
        "sync %s email of incident %s not sent: %s", claim.kind, claim.incident_id, error
    )
    claim.status, claim.error, claim.to = AlertEmailStatus.FAILED, error[:2000], ", ".join(to or ())
    claim.save(update_fields=["status", "error", "to"])
    return "failed"
