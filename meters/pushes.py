"""Sending one recorded partner_reference change to Leap and recording Leap's answer."""

from __future__ import annotations

import json

import httpx
from django.db import transaction
from django.utils import timezone

from leapsync.client import LeapClient, LeapError, LeapUnavailableError
from meters.models import EventKind, Meter, MeterEvent, PartnerReferenceChange, PushStatus


def push_change(change_pk: int, *, client: LeapClient) -> str:
    """Push one change to Leap; returns a one-line outcome for the task log.

    Leap confirming sets the meter's partner_reference (it mirrors Leap) and writes the
    history event. Leap refusing marks the change failed with Leap's answer; Leap unreachable
    leaves it pending with the error. Either way the change can be retried from the UI.
    """
    change = PartnerReferenceChange.objects.select_related("meter").filter(pk=change_pk).first()
    if change is None or not change.is_open:
        return f"change {change_pk}: nothing to push"
    meter = change.meter
    if meter.partner_reference not in (change.old, change.new):
        return _record(
            change,
            PushStatus.FAILED,
            error=(
                f"Not sent: Leap's partner_reference is now “{meter.partner_reference}”, "
                f"not “{change.old}” as when this change was made. Edit it again if needed."
            ),
        )
    try:
        answer = client.update_partner_reference(meter.meter_id, change.new)
    except LeapUnavailableError as error:
        return _record(change, PushStatus.PENDING, error=f"Leap unreachable: {error}")
    except httpx.HTTPError as error:
        return _record(
            change, PushStatus.PENDING, error=f"Leap unreachable: {type(error).__name__}"
        )
    except LeapError as error:
        return _record(
            change, PushStatus.FAILED, error=f"Leap refused: {error}", answer=_answer(error)
        )
    except ValueError as error:
        return _record(change, PushStatus.FAILED, error=f"Not sent: {error}")
    return _confirm(change, answer)


def _answer(error: LeapError) -> str:
    return json.dumps(
        {"status": error.status, "title": error.title, "details": error.details},
        ensure_ascii=False,
        default=str,
    )


def _record(change: PartnerReferenceChange, status: str, *, error: str, answer: str = "") -> str:
    with transaction.atomic():
        locked = PartnerReferenceChange.objects.select_for_update().get(pk=change.pk)
        if not locked.is_open:  # superseded meanwhile: keep that outcome
            return f"change {change.pk}: superseded"
        locked.push_status = status
        locked.error = error
        locked.leap_answer = answer
        locked.attempts += 1
        locked.last_attempt_at = timezone.now()
        locked.save(
            update_fields=["push_status", "error", "leap_answer", "attempts", "last_attempt_at"]
        )
    return f"change {change.pk}: {status}: {error}"


def _confirm(change: PartnerReferenceChange, answer: dict) -> str:
    confirmed = answer.get("partner_reference") if isinstance(answer, dict) else None
    value = confirmed if isinstance(confirmed, str) else change.new
    now = timezone.now()
    with transaction.atomic():
        locked = PartnerReferenceChange.objects.select_for_update().get(pk=change.pk)
        locked.push_status = PushStatus.PUSHED
        locked.pushed_at = locked.last_attempt_at = now
        locked.attempts += 1
        locked.error = ""
        locked.leap_answer = json.dumps(answer, ensure_ascii=False, default=str)
        locked.save()
        meter = Meter.objects.select_for_update().get(pk=change.meter_id)
        if meter.partner_reference != value:
            MeterEvent.objects.create(
                meter=meter,
                kind=EventKind.PARTNER_REFERENCE,
                field="partner_reference",
                old=meter.partner_reference,
                new=value,
                observed_at=now,
                user_id=change.by_id,
            )
            meter.partner_reference = value
            meter.save(update_fields=["partner_reference", "updated_at"])
    return f"change {change.pk}: pushed"
