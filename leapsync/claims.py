"""Claim-once bookkeeping: take a unit of work (an email to send) so that it is done once.

A claim is a row unique per unit of work, with a `status`, a `claimed_at` and an `attempts`
count. Whoever inserts the row, or moves a retakable one back to the taken status with one
conditional UPDATE, holds the claim; everyone else gets None. A claim is retakable when its
attempt failed, or when it has been taken for longer than EXPIRY without finishing (its sender
crashed): so a crash mid-send is retried, and a finished claim is never taken again.

It imports no app of ours: each app passes its model and its status values.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction
from django.db.models import F, Q

# A claim this old whose send never finished (its sender died) is taken over by the next run.
# Far longer than any send takes, so a slow sender is never doubled.
EXPIRY = timedelta(hours=1)

M = TypeVar("M", bound=models.Model)


def retakable(*, taken: str, failed: str, now: datetime) -> Q:
    """Claims another sender may take now: their attempt failed, or their sender died."""
    return Q(status=failed) | Q(status=taken, claimed_at__lt=now - EXPIRY)


def is_retakable(
    status: str, claimed_at: datetime, *, taken: str, failed: str, now: datetime
) -> bool:
    """`retakable()` for a row already read."""
    return status == failed or (status == taken and claimed_at < now - EXPIRY)


def claim(
    model: type[M],
    key: dict[str, Any],
    *,
    taken: str,
    failed: str,
    now: datetime,
    values: dict[str, Any] | None = None,
) -> M | None:
    """The claim on the unit of work `key` names (its unique fields), or None if held or done.

    The unique constraint settles a race to create; the conditional UPDATE settles a race to
    retake (on PostgreSQL the loser re-reads the row and no longer matches), so exactly one
    caller wins either way. `values` are written on the claim both ways.
    """
    values = values or {}
    try:
        with transaction.atomic():
            return model._default_manager.create(
                **key, **values, status=taken, claimed_at=now, attempts=1
            )
    except IntegrityError:
        pass
    rows = model._default_manager.filter(retakable(taken=taken, failed=failed, now=now), **key)
    if not rows.update(status=taken, claimed_at=now, attempts=F("attempts") + 1, **values):
        return None
    return model._default_manager.get(**key)
