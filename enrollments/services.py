"""Writes of the enrollments app: digest subscriptions, and sending digests exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from enrollments.digest import Digest, build_digest
from enrollments.models import DigestSubscription, SentDigest, SentDigestStatus
from leapsync import claims
from leapsync.ui.emails import render_email, send_email

logger = logging.getLogger(__name__)
EMAIL_NAME = "digest"


@dataclass
class Outcome:
    username: str
    period: str
    status: str  # "sent", "failed", "skipped" (already sent or being sent), "dry-run"
    subject: str = ""
    error: str = ""


@transaction.atomic
def save_subscription(
    user,
    *,
    actor,
    programs: list[str],
    cadence: str,
    weekday: int,
    window_days: int,
    is_active: bool,
) -> DigestSubscription:
    """Create or update `user`'s subscription (an admin may act for anyone)."""
    subscription, _ = DigestSubscription.objects.update_or_create(
        user=user,
        defaults={
            "programs": sorted(set(programs)),
            "cadence": cadence,
            "weekday": weekday,
            "window_days": window_days,
            "is_active": is_active,
        },
    )
    logger.info("digest subscription of %s saved by %s", user, actor)
    return subscription


def digest_context(digest: Digest) -> dict:
    return {"digest": digest}


def render_digest(digest: Digest) -> tuple[str, str, str]:
    """(subject, text, html): exactly what `send_due_digests` would send."""
    return render_email(EMAIL_NAME, digest_context(digest))


def due_subscriptions(today: date, username: str | None = None):
    subscriptions = DigestSubscription.objects.filter(is_active=True).select_related("user")
    if username:
        subscriptions = subscriptions.filter(user__username=username)
    return [s for s in subscriptions if s.is_due(today) and s.user.is_active and s.user.email]


def send_due_digests(
    today: date | None = None, *, dry_run: bool = False, username: str | None = None
) -> list[Outcome]:
    """Send each due subscription its digest for the current period, at most once.

    The period's SentDigest row is claimed first (unique per subscription and period); a
    sent or in-flight claim is skipped, a failed one is retried. Errors are recorded on the
    row, never raised, so one bad address does not stop the others.
    """
    today = today or timezone.localdate()
    outcomes = []
    for subscription in due_subscriptions(today, username):
        period = subscription.period_key(today)
        if dry_run:
            subject, _, _ = render_digest(build_digest(subscription.user, today))
            outcomes.append(Outcome(subscription.user.get_username(), period, "dry-run", subject))
            continue
        outcomes.append(_send_one(subscription, period, today))
    return outcomes


def _send_one(subscription: DigestSubscription, period: str, today: date) -> Outcome:
    name = subscription.user.get_username()
    claim = claim_period(subscription, period, timezone.now())
    if claim is None:
        return Outcome(name, period, "skipped")
    try:
        digest = build_digest(subscription.user, today)
        message = send_email(EMAIL_NAME, digest_context(digest), [subscription.user.email])
    except Exception as exc:
        logger.exception("digest for %s (%s) failed", name, period)
        _finish(claim, SentDigestStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return Outcome(name, period, "failed", error=str(exc))
    _finish(claim, SentDigestStatus.SENT, subject=message.subject)
    return Outcome(name, period, "sent", message.subject)


def claim_period(subscription: DigestSubscription, period: str, now: datetime) -> SentDigest | None:
    """Take the (subscription, period) claim, or None if it is sent or being sent.

    A failed claim, or one whose sender died mid-send, is taken again (leapsync.claims).
    """
    return claims.claim(
        SentDigest,
        {"subscription": subscription, "period": period},
        taken=SentDigestStatus.CLAIMED,
        failed=SentDigestStatus.FAILED,
        now=now,
    )


def _finish(claim: SentDigest, status: str, *, subject: str = "", error: str = "") -> None:
    claim.status = status
    claim.subject = subject[:256]
    claim.error = error
    claim.sent_at = timezone.now() if status == SentDigestStatus.SENT else None
    claim.save(update_fields=["status", "subject", "error", "sent_at"])
