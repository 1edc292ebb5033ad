"""Writes of the enrollments app: digest subscriptions, and the claim that sends each digest
period at most once (the sending itself: leapsync.dashboard.digest)."""

from __future__ import annotations

import logging
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from enrollments.models import DigestSubscription, SentDigest, SentDigestStatus
from leapsync import claims

logger = logging.getLogger(__name__)


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
    email: str = "",
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
            "email": email,
        },
    )
    logger.info("digest subscription of %s saved by %s", user, actor)
    return subscription


def due_subscriptions(today: date, username: str | None = None):
    subscriptions = DigestSubscription.objects.filter(is_active=True).select_related("user")
    if username:
        subscriptions = subscriptions.filter(user__username=username)
    return [s for s in subscriptions if s.is_due(today) and s.user.is_active and s.recipient]


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


def finish_claim(claim: SentDigest, status: str, *, subject: str = "", error: str = "") -> None:
    claim.status = status
    claim.subject = subject[:256]
    claim.error = error
    claim.sent_at = timezone.now() if status == SentDigestStatus.SENT else None
    claim.save(update_fields=["status", "subject", "error", "sent_at"])
