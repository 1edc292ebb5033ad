"""The claim-once helper: one claimer wins, a finished claim is never taken again, and a claim
left by a crashed sender is taken over once it expires."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from actions.models import ActionEmail, EmailKind, EmailStatus
from leapsync import claims
from tests.meters.factories import RequiredActionFactory


def _claim(action, now=None):
    return claims.claim(
        ActionEmail,
        {"action": action, "kind": EmailKind.CUSTOMER, "key": "k"},
        taken=EmailStatus.SENDING,
        failed=EmailStatus.FAILED,
        now=now or timezone.now(),
    )


@pytest.mark.django_db
def test_claim_is_taken_once_retaken_after_failure_or_expiry_and_never_after_success():
    action = RequiredActionFactory()
    now = timezone.now()
    first = _claim(action, now)
    assert first is not None and first.attempts == 1
    assert _claim(action, now + claims.EXPIRY - timedelta(seconds=1)) is None  # still sending
    crashed = _claim(action, now + claims.EXPIRY + timedelta(seconds=1))  # its sender died
    assert crashed is not None and crashed.attempts == 2
    ActionEmail.objects.update(status=EmailStatus.FAILED)
    assert _claim(action, now + claims.EXPIRY * 2).attempts == 3
    ActionEmail.objects.update(status=EmailStatus.SENT)
    assert _claim(action, now + claims.EXPIRY * 10) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("existing", [None, EmailStatus.FAILED, EmailStatus.SENDING])
def test_two_concurrent_claimers_one_wins(existing):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (two connections writing at once)")
    action = RequiredActionFactory()
    if existing is not None:  # a failed claim, or one a crashed sender left long ago
        _claim(action, timezone.now() - claims.EXPIRY * 2)
        ActionEmail.objects.update(status=existing)
    start = threading.Barrier(2, timeout=30)
    won: list = []

    def claimer() -> None:
        try:
            start.wait()
            won.append(_claim(action))
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 2
    assert len([claim for claim in won if claim is not None]) == 1
